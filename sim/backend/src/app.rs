//! Application models: what a SignalR or socket.io server answers before
//! the WebSocket, and which WebSockets it accepts. Each backend keeps the
//! connection tokens (SignalR) or session ids (socket.io) it issued, so a
//! WebSocket that reaches a server other than the one that issued its id
//! is refused as the real servers refuse it:
//!
//! - SignalR: `POST {hub}/negotiate?negotiateVersion=1` answers JSON with a
//!   `connectionToken`; `GET {hub}?id=<token>` (the WebSocket) with a token
//!   this server did not issue gets 404 (dotnet/aspnetcore issues 11678 and
//!   24572: negotiate and WebSocket on different servers).
//! - socket.io (Engine.IO 4): `GET /socket.io/?EIO=4&transport=polling`
//!   answers the open packet `0{"sid":...}`; a polling request or a
//!   WebSocket (`transport=websocket&sid=<sid>`) with a sid this server did
//!   not issue gets 400 `{"code":1,"message":"Session ID unknown"}`
//!   (socketio/socket.io issue 4881).
//!
//! Ids are drawn from the backend's seed and its listener's address, so
//! they repeat run to run and differ between backends. A restarted backend
//! starts with none, as a restarted server does. After the 101 the session
//! is the backend's ordinary echo session: the gateway never reads frames,
//! so nothing after the handshake depends on the application.
//!
//! [`answer`] is the decision, pure over the request and the issued ids.

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;

use http::{Method, StatusCode, Uri};

/// Which application a backend plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum App {
    /// No application: echo, with the health answers.
    #[default]
    Echo,
    /// An ASP.NET Core SignalR hub, on any path.
    SignalR,
    /// A socket.io (Engine.IO 4) server under `/socket.io/`.
    SocketIo,
}

impl App {
    pub fn name(self) -> &'static str {
        match self {
            App::Echo => "echo",
            App::SignalR => "signalr",
            App::SocketIo => "socket.io",
        }
    }
}

/// The path socket.io serves under.
pub const SOCKET_IO_PATH: &str = "/socket.io/";

/// The ids one backend incarnation issued, and where the next comes from.
#[derive(Debug, Clone)]
pub struct Issued {
    seed: u64,
    next: u64,
    ids: BTreeSet<String>,
}

impl Issued {
    /// An empty set for a backend with `seed` listening on `local`.
    pub fn new(seed: u64, local: Option<SocketAddr>) -> Issued {
        let place = local.map(|a| a.to_string()).unwrap_or_default();
        Issued {
            seed: crate::digest(format!("{seed}/{place}").as_bytes()),
            next: 0,
            ids: BTreeSet::new(),
        }
    }

    /// A fresh id, remembered.
    fn issue(&mut self) -> String {
        self.next += 1;
        // SplitMix64's finaliser over seed and count: ids look random and
        // never repeat within a backend.
        let mut z = self.seed.wrapping_add(self.next.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        let id = format!("{:016x}", z ^ (z >> 31));
        self.ids.insert(id.clone());
        id
    }

    fn knows(&self, id: &str) -> bool {
        self.ids.contains(id)
    }
}

/// What an application did with a request, for the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppEvent {
    /// It issued an id: a SignalR connection token, a socket.io sid.
    Issued { app: App, id: String },
    /// It refused a request for an id it did not issue (or none).
    Refused {
        app: App,
        status: u16,
        reason: &'static str,
    },
    /// A socket.io polling request for a session it issued.
    Polled { id: String },
}

impl fmt::Display for AppEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AppEvent::Issued { app: App::SignalR, id } => write!(f, "signalr: issued connection token {id}"),
            AppEvent::Issued { app, id } => write!(f, "{}: issued session id {id}", app.name()),
            AppEvent::Refused { app, status, reason } => write!(f, "{}: {status} {reason}", app.name()),
            AppEvent::Polled { id } => write!(f, "socket.io: polling request for session {id}"),
        }
    }
}

/// How the application answers a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Not the application's: the backend's usual answer (echo, health,
    /// and for an upgrade the 101).
    Pass,
    /// This response.
    Respond {
        status: StatusCode,
        content_type: &'static str,
        body: String,
        event: AppEvent,
    },
    /// A WebSocket for an id this server issued: accept it.
    Accept,
}

/// The value of `name` in the query of `uri`.
fn query<'a>(uri: &'a Uri, name: &str) -> Option<&'a str> {
    uri.query()?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

fn refuse(app: App, status: StatusCode, content_type: &'static str, body: &str, reason: &'static str) -> Answer {
    Answer::Respond {
        status,
        content_type,
        body: body.to_string(),
        event: AppEvent::Refused {
            app,
            status: status.as_u16(),
            reason,
        },
    }
}

/// What `app` answers to a request (`upgrade`: a WebSocket handshake).
pub fn answer(app: App, issued: &mut Issued, method: &Method, uri: &Uri, upgrade: bool) -> Answer {
    match app {
        App::Echo => Answer::Pass,
        App::SignalR => signalr(issued, method, uri, upgrade),
        App::SocketIo => socket_io(issued, method, uri, upgrade),
    }
}

fn signalr(issued: &mut Issued, method: &Method, uri: &Uri, upgrade: bool) -> Answer {
    let app = App::SignalR;
    if !upgrade && method == Method::POST && uri.path().ends_with("/negotiate") {
        let token = issued.issue();
        let body = format!(
            "{{\"negotiateVersion\":1,\"connectionId\":\"{token}\",\"connectionToken\":\"{token}\",\
             \"availableTransports\":[{{\"transport\":\"WebSockets\",\"transferFormats\":[\"Text\",\"Binary\"]}}]}}"
        );
        return Answer::Respond {
            status: StatusCode::OK,
            content_type: "application/json",
            body,
            event: AppEvent::Issued { app, id: token },
        };
    }
    if !upgrade {
        return Answer::Pass;
    }
    match query(uri, "id") {
        // ASP.NET Core's HttpConnectionDispatcher answers these.
        None => refuse(
            app,
            StatusCode::BAD_REQUEST,
            "text/plain",
            "Connection ID required",
            "connection ID required",
        ),
        Some(id) if issued.knows(id) => Answer::Accept,
        Some(_) => refuse(
            app,
            StatusCode::NOT_FOUND,
            "text/plain",
            "No Connection with that ID",
            "no connection with that ID",
        ),
    }
}

const SESSION_UNKNOWN: &str = "{\"code\":1,\"message\":\"Session ID unknown\"}";

fn socket_io(issued: &mut Issued, method: &Method, uri: &Uri, upgrade: bool) -> Answer {
    let app = App::SocketIo;
    if !uri.path().starts_with(SOCKET_IO_PATH) {
        return Answer::Pass;
    }
    let sid = query(uri, "sid");
    match (query(uri, "transport"), sid) {
        (Some("polling"), None) if !upgrade && method == Method::GET => {
            let sid = issued.issue();
            let body = format!(
                "0{{\"sid\":\"{sid}\",\"upgrades\":[\"websocket\"],\"pingInterval\":25000,\"pingTimeout\":20000,\
                 \"maxPayload\":1000000}}"
            );
            Answer::Respond {
                status: StatusCode::OK,
                content_type: "text/plain; charset=UTF-8",
                body,
                event: AppEvent::Issued { app, id: sid },
            }
        }
        (Some("polling" | "websocket"), Some(sid)) if !issued.knows(sid) => refuse(
            app,
            StatusCode::BAD_REQUEST,
            "application/json",
            SESSION_UNKNOWN,
            "Session ID unknown",
        ),
        (Some("polling"), Some(sid)) if !upgrade => Answer::Respond {
            status: StatusCode::OK,
            content_type: "text/plain; charset=UTF-8",
            // A POST delivers packets ("ok"); a GET poll gets a noop packet
            // rather than waiting for data.
            body: if method == Method::POST { "ok" } else { "6" }.to_string(),
            event: AppEvent::Polled { id: sid.to_string() },
        },
        // A WebSocket with a known sid upgrades its session; one without a
        // sid starts a session of its own (Engine.IO allows both).
        (Some("websocket"), _) if upgrade => Answer::Accept,
        _ => refuse(
            app,
            StatusCode::BAD_REQUEST,
            "application/json",
            "{\"code\":0,\"message\":\"Transport unknown\"}",
            "Transport unknown",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    fn issued_id(a: &Answer) -> String {
        match a {
            Answer::Respond {
                event: AppEvent::Issued { id, .. },
                ..
            } => id.clone(),
            other => panic!("no id issued: {other:?}"),
        }
    }

    fn status(a: &Answer) -> Option<u16> {
        match a {
            Answer::Respond { status, .. } => Some(status.as_u16()),
            _ => None,
        }
    }

    #[test]
    fn signalr_accepts_only_the_tokens_it_negotiated() {
        let mut here = Issued::new(1, Some("10.0.0.1:80".parse().unwrap()));
        let mut there = Issued::new(1, Some("10.0.0.2:80".parse().unwrap()));
        let negotiate = uri("/hub/negotiate?negotiateVersion=1");
        let a = answer(App::SignalR, &mut here, &Method::POST, &negotiate, false);
        let token = issued_id(&a);
        let Answer::Respond { body, .. } = &a else {
            unreachable!()
        };
        assert!(body.contains(&format!("\"connectionToken\":\"{token}\"")), "{body}");
        let ws = uri(&format!("/hub?id={token}"));
        assert_eq!(answer(App::SignalR, &mut here, &Method::GET, &ws, true), Answer::Accept);
        assert_eq!(
            status(&answer(App::SignalR, &mut there, &Method::GET, &ws, true)),
            Some(404)
        );
        assert_eq!(
            status(&answer(App::SignalR, &mut here, &Method::GET, &uri("/hub"), true)),
            Some(400)
        );
        assert_eq!(
            answer(App::SignalR, &mut here, &Method::GET, &uri("/health"), false),
            Answer::Pass
        );
        assert_ne!(
            issued_id(&answer(App::SignalR, &mut there, &Method::POST, &negotiate, false)),
            token,
            "another server issues other tokens"
        );
    }

    #[test]
    fn socket_io_knows_only_its_own_sessions() {
        let mut here = Issued::new(7, None);
        let mut there = Issued::new(8, None);
        let open = uri("/socket.io/?EIO=4&transport=polling");
        let a = answer(App::SocketIo, &mut here, &Method::GET, &open, false);
        let sid = issued_id(&a);
        let Answer::Respond { body, .. } = &a else {
            unreachable!()
        };
        assert!(body.starts_with(&format!("0{{\"sid\":\"{sid}\"")), "{body}");
        let post = uri(&format!("/socket.io/?EIO=4&transport=polling&sid={sid}"));
        assert_eq!(
            status(&answer(App::SocketIo, &mut here, &Method::POST, &post, false)),
            Some(200)
        );
        let elsewhere = answer(App::SocketIo, &mut there, &Method::POST, &post, false);
        let Answer::Respond { body, status: code, .. } = &elsewhere else {
            panic!("{elsewhere:?}")
        };
        assert_eq!((code.as_u16(), body.as_str()), (400, SESSION_UNKNOWN));
        let ws = uri(&format!("/socket.io/?EIO=4&transport=websocket&sid={sid}"));
        assert_eq!(
            answer(App::SocketIo, &mut here, &Method::GET, &ws, true),
            Answer::Accept
        );
        assert_eq!(
            status(&answer(App::SocketIo, &mut there, &Method::GET, &ws, true)),
            Some(400)
        );
        let direct = uri("/socket.io/?EIO=4&transport=websocket");
        assert_eq!(
            answer(App::SocketIo, &mut there, &Method::GET, &direct, true),
            Answer::Accept
        );
        assert_eq!(
            answer(App::SocketIo, &mut here, &Method::GET, &uri("/"), false),
            Answer::Pass
        );
    }

    #[test]
    fn ids_repeat_for_the_same_seed_and_place() {
        let place = Some("10.0.0.1:80".parse().unwrap());
        let (mut a, mut b) = (Issued::new(3, place), Issued::new(3, place));
        assert_eq!(a.issue(), b.issue());
        assert_ne!(a.issue(), Issued::new(4, place).issue());
    }
}
