//! The admin endpoint: `wsgate serve --admin ADDR`.
//!
//! - `POST /maintenance` drops every open session at once, as an instance
//!   restart does; `POST /maintenance?drain=30s` refuses new requests with
//!   503 for 30 s (at most an hour), then drops whatever is still open. A
//!   later call replaces an earlier drain; `DELETE /maintenance` cancels
//!   one.
//! - `GET /sessions` counts open sessions, per backend.
//! - `GET /backends` lists every backend: pool, health, last probe result
//!   and how long ago, consecutive failures, open sessions.
//! - `GET /metrics` serves Prometheus metrics in the OpenMetrics text
//!   format, when the gateway was given a [`Metrics`] sink.
//!
//! Off unless asked for, and meant for loopback: it has no authentication.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};

use crate::config::Duration;
use crate::metrics::{self, Metrics};
use crate::registry::{GatewayHandle, MAX_DRAIN};
use crate::transport::Listener;

/// What an admin request asks for. Pure, from method, path and query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminAction {
    Maintenance { drain: Option<Duration> },
    CancelMaintenance,
    Sessions,
    Backends,
    Metrics,
    BadRequest(String),
    NotFound,
    MethodNotAllowed,
}

/// Decides what an admin request is.
pub fn route(method: &Method, path: &str, query: Option<&str>) -> AdminAction {
    match (path, method) {
        ("/maintenance", &Method::POST) => {
            let drain = query
                .unwrap_or("")
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == "drain")
                .map(|(_, v)| v.parse::<Duration>());
            match drain {
                None => AdminAction::Maintenance { drain: None },
                Some(Ok(d)) if d.is_zero() || d.get() > MAX_DRAIN => AdminAction::BadRequest(format!(
                    "drain: expected a duration from 1s to {}, found {d}",
                    Duration::from(MAX_DRAIN)
                )),
                Some(Ok(d)) => AdminAction::Maintenance { drain: Some(d) },
                Some(Err(e)) => AdminAction::BadRequest(format!("drain: {e}")),
            }
        }
        ("/maintenance", &Method::DELETE) => AdminAction::CancelMaintenance,
        ("/sessions", &Method::GET) => AdminAction::Sessions,
        ("/backends", &Method::GET) => AdminAction::Backends,
        ("/metrics", &Method::GET) => AdminAction::Metrics,
        ("/maintenance" | "/sessions" | "/backends" | "/metrics", _) => AdminAction::MethodNotAllowed,
        _ => AdminAction::NotFound,
    }
}

fn json(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(format!("{value}\n"))));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    resp
}

fn answer(handle: &GatewayHandle, metrics: Option<&Metrics>, req: &Request<Incoming>) -> Response<Full<Bytes>> {
    match route(req.method(), req.uri().path(), req.uri().query()) {
        AdminAction::Metrics => match metrics {
            Some(metrics) => {
                let mut resp = Response::new(Full::new(Bytes::from(metrics.encode())));
                resp.headers_mut().insert(
                    http::header::CONTENT_TYPE,
                    http::HeaderValue::from_static(metrics::CONTENT_TYPE),
                );
                resp
            }
            None => json(
                StatusCode::NOT_FOUND,
                &serde_json::json!({ "error": "this gateway keeps no metrics" }),
            ),
        },
        AdminAction::Maintenance { drain: None } => {
            let dropped = handle.maintenance(None);
            json(StatusCode::OK, &serde_json::json!({ "dropped": dropped }))
        }
        AdminAction::Maintenance { drain: Some(d) } => {
            let open = handle.maintenance(Some(d.get()));
            json(
                StatusCode::ACCEPTED,
                &serde_json::json!({ "draining": d.to_string(), "open": open }),
            )
        }
        AdminAction::CancelMaintenance => {
            let cancelled = handle.cancel_maintenance();
            json(StatusCode::OK, &serde_json::json!({ "cancelled": cancelled }))
        }
        AdminAction::Sessions => {
            let by_backend: serde_json::Map<String, serde_json::Value> = handle
                .sessions_by_backend()
                .into_iter()
                .map(|(b, n)| (b.to_string(), n.into()))
                .collect();
            json(
                StatusCode::OK,
                &serde_json::json!({
                    "open": handle.open_sessions(),
                    "draining": handle.is_draining(),
                    "by_backend": by_backend,
                }),
            )
        }
        AdminAction::Backends => {
            let rows: Vec<serde_json::Value> = handle
                .backends()
                .into_iter()
                .map(|b| {
                    serde_json::json!({
                        "pool": b.pool,
                        "address": b.address.to_string(),
                        "healthy": b.healthy,
                        "last_probe": b.last_probe.map(|r| r.to_string()),
                        "last_probe_secs_ago": b.last_probe_at.map(|at| handle.uptime().saturating_sub(at).as_secs_f64()),
                        "consecutive_failures": b.consecutive_failures,
                        "open_sessions": b.open_sessions,
                    })
                })
                .collect();
            json(StatusCode::OK, &serde_json::json!({ "backends": rows }))
        }
        AdminAction::BadRequest(why) => json(StatusCode::BAD_REQUEST, &serde_json::json!({ "error": why })),
        AdminAction::NotFound => json(StatusCode::NOT_FOUND, &serde_json::json!({ "error": "not found" })),
        AdminAction::MethodNotAllowed => json(
            StatusCode::METHOD_NOT_ALLOWED,
            &serde_json::json!({ "error": "method not allowed" }),
        ),
    }
}

/// Serves the admin endpoint on `listener` until dropped, without metrics
/// (`/metrics` is 404).
pub async fn serve<L: Listener>(listener: L, handle: GatewayHandle) {
    serve_with_metrics(listener, handle, None).await;
}

/// Serves the admin endpoint on `listener` until dropped. `metrics` is the
/// sink the gateway was bound with, if any; without it `/metrics` is 404.
pub async fn serve_with_metrics<L: Listener>(mut listener: L, handle: GatewayHandle, metrics: Option<Arc<Metrics>>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        };
        let handle = handle.clone();
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let resp = answer(&handle, metrics.as_deref(), &req);
                async move { Ok::<_, Infallible>(resp) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).auto_date_header(false);
            let _ = builder.serve_connection(TokioIo::new(stream), service).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(
            route(&Method::POST, "/maintenance", None),
            AdminAction::Maintenance { drain: None }
        );
        assert_eq!(
            route(&Method::POST, "/maintenance", Some("drain=30s")),
            AdminAction::Maintenance {
                drain: Some(Duration::from_secs(30))
            }
        );
        assert!(matches!(
            route(&Method::POST, "/maintenance", Some("drain=soon")),
            AdminAction::BadRequest(_)
        ));
        assert!(matches!(
            route(&Method::POST, "/maintenance", Some("drain=500000000000y")),
            AdminAction::BadRequest(_)
        ));
        assert!(matches!(
            route(&Method::POST, "/maintenance", Some("drain=2h")),
            AdminAction::BadRequest(_)
        ));
        assert_eq!(
            route(&Method::DELETE, "/maintenance", None),
            AdminAction::CancelMaintenance
        );
        assert_eq!(route(&Method::GET, "/maintenance", None), AdminAction::MethodNotAllowed);
        assert_eq!(route(&Method::GET, "/sessions", None), AdminAction::Sessions);
        assert_eq!(route(&Method::GET, "/backends", None), AdminAction::Backends);
        assert_eq!(route(&Method::GET, "/metrics", None), AdminAction::Metrics);
        assert_eq!(route(&Method::POST, "/metrics", None), AdminAction::MethodNotAllowed);
        assert_eq!(route(&Method::GET, "/", None), AdminAction::NotFound);
    }
}
