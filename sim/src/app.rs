//! Application clients: what a SignalR or socket.io client does before its
//! WebSocket, on any transport. Each request carries the session's cookie
//! jar and fills it from the answer, so an affinity cookie the gateway sets
//! on the first request reaches the WebSocket handshake, as a browser's
//! would:
//!
//! - SignalR: `POST {hub}/negotiate?negotiateVersion=1`, then the WebSocket
//!   `GET {hub}?id=<connectionToken>`.
//! - socket.io (Engine.IO 4): the polling open `GET
//!   /socket.io/?EIO=4&transport=polling` (the sid comes back in the `0`
//!   open packet), the CONNECT packet `40` posted for that sid, then the
//!   WebSocket `GET /socket.io/?EIO=4&transport=websocket&sid=<sid>`.
//!
//! Each request and its answer is a typed [`ClientEvent::AppStep`] in the
//! trace; a start that is not answered 200 ends the attempt with that
//! status, as the libraries give up on it.

use std::fmt;

use bytes::Bytes;
use gateway::transport::Transport;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde::Deserialize;

use crate::client::{self, ClientEvent, ConnectError, Target};
use crate::cookies::CookieJar;
use crate::trace::Trace;

/// What a scripted client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum ClientProtocol {
    /// A plain WebSocket: the handshake and nothing before it.
    #[default]
    WebSocket,
    /// An ASP.NET Core SignalR client: negotiate, then the WebSocket.
    SignalR,
    /// A socket.io client: long-polling start, then the WebSocket upgrade.
    SocketIo,
}

/// One request of an application's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AppStep {
    /// SignalR's `POST {hub}/negotiate?negotiateVersion=1`.
    Negotiate,
    /// socket.io's polling open, which returns the session id.
    Open,
    /// socket.io's CONNECT packet (`40`), posted for the session id.
    Connect,
}

impl fmt::Display for AppStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AppStep::Negotiate => "signalr negotiate",
            AppStep::Open => "socket.io polling open",
            AppStep::Connect => "socket.io connect",
        })
    }
}

/// What the client needs to know to make its requests.
#[derive(Debug, Clone, Copy)]
pub struct Start<'a> {
    pub name: &'a str,
    pub target: &'a Target,
    /// The `Host` header.
    pub host: &'a str,
    /// SignalR: the hub path; socket.io: where it serves (`/socket.io/`).
    pub path: &'a str,
    pub trace: &'a Trace,
}

/// Runs `protocol`'s start and returns the path (and query) of its
/// WebSocket handshake. A plain WebSocket has no start: its path as given.
pub async fn start<T: Transport>(
    protocol: ClientProtocol,
    transport: &T,
    start: &Start<'_>,
    jar: &mut CookieJar,
) -> Result<String, ConnectError> {
    match protocol {
        ClientProtocol::WebSocket => Ok(start.path.to_string()),
        ClientProtocol::SignalR => {
            let hub = start.path.trim_end_matches('/');
            let uri = format!("{hub}/negotiate?negotiateVersion=1");
            let body = request(transport, start, jar, AppStep::Negotiate, http::Method::POST, &uri, "").await?;
            let token = signalr_token(&body).ok_or_else(|| unreadable(start, AppStep::Negotiate))?;
            Ok(format!("{hub}?id={token}"))
        }
        ClientProtocol::SocketIo => {
            let base = start.path;
            let uri = format!("{base}?EIO=4&transport=polling");
            let body = request(transport, start, jar, AppStep::Open, http::Method::GET, &uri, "").await?;
            let sid = socket_io_sid(&body).ok_or_else(|| unreadable(start, AppStep::Open))?;
            let uri = format!("{base}?EIO=4&transport=polling&sid={sid}");
            request(transport, start, jar, AppStep::Connect, http::Method::POST, &uri, "40").await?;
            Ok(format!("{base}?EIO=4&transport=websocket&sid={sid}"))
        }
    }
}

fn unreadable(start: &Start<'_>, step: AppStep) -> ConnectError {
    let error = "the answer carries no id".to_string();
    start.trace.record(
        start.name,
        ClientEvent::AppStepFailed {
            step,
            error: error.clone(),
        },
    );
    ConnectError::Request(error)
}

/// The `connectionToken` of a negotiate answer.
fn signalr_token(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Negotiate {
        #[serde(rename = "connectionToken")]
        connection_token: String,
    }
    serde_json::from_slice::<Negotiate>(body)
        .ok()
        .map(|n| n.connection_token)
}

/// The `sid` of an Engine.IO open packet: `0` then JSON.
fn socket_io_sid(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Open {
        sid: String,
    }
    let json = body.strip_prefix(b"0")?;
    serde_json::from_slice::<Open>(json).ok().map(|o| o.sid)
}

/// One request of a start on a new connection, with the jar's cookies;
/// stores the cookies it sets and returns its body when answered 200.
async fn request<T: Transport>(
    transport: &T,
    start: &Start<'_>,
    jar: &mut CookieJar,
    step: AppStep,
    method: http::Method,
    uri: &str,
    body: &'static str,
) -> Result<Bytes, ConnectError> {
    let (name, trace) = (start.name, start.trace);
    let fail = |error: String| {
        trace.record(
            name,
            ClientEvent::AppStepFailed {
                step,
                error: error.clone(),
            },
        );
        ConnectError::Request(error)
    };
    let stream = client::dial(transport, name, start.target, trace).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| fail(e.to_string()))?;
    tokio::spawn(conn);
    let mut req = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("host", start.host);
    if let Some(cookies) = jar.header() {
        req = req.header("cookie", cookies);
    }
    let req = req
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .map_err(|e| fail(e.to_string()))?;
    let resp = sender.send_request(req).await.map_err(|e| fail(e.to_string()))?;
    let status = resp.status().as_u16();
    trace.record(name, ClientEvent::AppStep { step, status });
    let set = jar.store(
        resp.headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str(), v.to_str().ok()?))),
    );
    for c in set {
        trace.record(
            name,
            ClientEvent::CookieStored {
                name: c.name,
                attributes: c.attributes,
            },
        );
    }
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| fail(e.to_string()))?
        .to_bytes();
    if status == 200 {
        Ok(body)
    } else {
        Err(ConnectError::Status(status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_read_from_the_answers() {
        let negotiate =
            br#"{"negotiateVersion":1,"connectionId":"c","connectionToken":"tok-1","availableTransports":[]}"#;
        assert_eq!(signalr_token(negotiate).as_deref(), Some("tok-1"));
        assert_eq!(signalr_token(b"not json"), None);
        assert_eq!(
            socket_io_sid(br#"0{"sid":"s-1","upgrades":["websocket"]}"#).as_deref(),
            Some("s-1")
        );
        assert_eq!(socket_io_sid(br#"{"sid":"s-1"}"#), None, "not an open packet");
    }
}
