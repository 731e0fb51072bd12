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
//! - `POST /backends/{host:port}/remove` takes a backend out of its pool:
//!   no new sessions, and its open ones close when its settings'
//!   connection draining runs out (30 s without draining);
//!   `POST /backends/{host:port}/add` puts it back.
//! - `POST /config` with a config file as the body switches to it; `POST
//!   /reload` re-reads the file the gateway was started with (as SIGHUP
//!   does). Every session open before closes when its drain runs out, as
//!   Application Gateway's configuration updates do; new handshakes work
//!   throughout. An invalid config changes nothing and is answered 400
//!   with every problem, located.
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

use http_body_util::{BodyExt, Limited};

use crate::config::{BackendAddr, Config, ConfigError, Duration};
use crate::metrics::{self, Metrics};
use crate::registry::{GatewayHandle, UpdateError, MAX_DRAIN};
use crate::transport::Listener;

/// The largest config `POST /config` accepts.
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;

/// Reads the gateway's config again, for `POST /reload` and SIGHUP.
pub type Reload = Arc<dyn Fn() -> Result<Config, ConfigError> + Send + Sync>;

/// What the admin endpoint can do beyond the handle.
#[derive(Clone, Default)]
pub struct AdminOptions {
    /// The sink the gateway was bound with; without it `/metrics` is 404.
    pub metrics: Option<Arc<Metrics>>,
    /// How to re-read the config file; without it `/reload` is 404.
    pub reload: Option<Reload>,
    /// What relative paths in a `POST /config` body resolve against.
    pub base_dir: std::path::PathBuf,
}

impl std::fmt::Debug for AdminOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminOptions")
            .field("metrics", &self.metrics.is_some())
            .field("reload", &self.reload.is_some())
            .field("base_dir", &self.base_dir)
            .finish()
    }
}

/// What an admin request asks for. Pure, from method, path and query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminAction {
    Maintenance {
        drain: Option<Duration>,
    },
    CancelMaintenance,
    Sessions,
    Backends,
    Metrics,
    RemoveBackend(BackendAddr),
    AddBackend(BackendAddr),
    /// The body is the new config.
    UpdateConfig,
    Reload,
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
        ("/config", &Method::POST) => AdminAction::UpdateConfig,
        ("/reload", &Method::POST) => AdminAction::Reload,
        ("/maintenance" | "/sessions" | "/backends" | "/metrics" | "/config" | "/reload", _) => {
            AdminAction::MethodNotAllowed
        }
        _ => backend_action(method, path),
    }
}

/// `POST /backends/{host:port}/remove|add`.
fn backend_action(method: &Method, path: &str) -> AdminAction {
    let Some(rest) = path.strip_prefix("/backends/") else {
        return AdminAction::NotFound;
    };
    let Some((addr, verb)) = rest.rsplit_once('/') else {
        return AdminAction::NotFound;
    };
    if !matches!(verb, "remove" | "add") {
        return AdminAction::NotFound;
    }
    if method != Method::POST {
        return AdminAction::MethodNotAllowed;
    }
    match BackendAddr::parse(addr) {
        Ok(addr) if verb == "remove" => AdminAction::RemoveBackend(addr),
        Ok(addr) => AdminAction::AddBackend(addr),
        Err(e) => AdminAction::BadRequest(format!("backend address: {e}")),
    }
}

/// The answer to a membership change or a configuration update.
fn updated(result: Result<(), UpdateError>, done: serde_json::Value) -> Response<Full<Bytes>> {
    match result {
        Ok(()) => json(StatusCode::OK, &done),
        Err(UpdateError::UnknownBackend(b)) => json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({ "error": format!("no backend {b} in any pool") }),
        ),
        Err(UpdateError::Stopped) => json(
            StatusCode::SERVICE_UNAVAILABLE,
            &serde_json::json!({ "error": "the gateway has stopped" }),
        ),
        Err(e) => json(StatusCode::BAD_REQUEST, &serde_json::json!({ "error": e.to_string() })),
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

async fn answer(handle: &GatewayHandle, options: &AdminOptions, req: Request<Incoming>) -> Response<Full<Bytes>> {
    match route(req.method(), req.uri().path(), req.uri().query()) {
        AdminAction::RemoveBackend(addr) => {
            let done = serde_json::json!({ "removed": addr.to_string() });
            updated(handle.remove_backend(&addr), done)
        }
        AdminAction::AddBackend(addr) => {
            let done = serde_json::json!({ "added": addr.to_string() });
            updated(handle.add_backend(&addr), done)
        }
        AdminAction::UpdateConfig => {
            let body = match Limited::new(req.into_body(), MAX_CONFIG_BYTES).collect().await {
                Ok(body) => body.to_bytes(),
                Err(_) => {
                    return json(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        &serde_json::json!({ "error": format!("expected a config of at most {MAX_CONFIG_BYTES} bytes") }),
                    )
                }
            };
            let Ok(text) = std::str::from_utf8(&body) else {
                return json(
                    StatusCode::BAD_REQUEST,
                    &serde_json::json!({ "error": "expected a UTF-8 TOML config" }),
                );
            };
            match Config::from_toml(text, "POST /config", options.base_dir.clone()) {
                Ok(config) => updated(handle.update(&config), serde_json::json!({ "updated": true })),
                Err(e) => json(StatusCode::BAD_REQUEST, &serde_json::json!({ "error": e.to_string() })),
            }
        }
        AdminAction::Reload => match &options.reload {
            None => json(
                StatusCode::NOT_FOUND,
                &serde_json::json!({ "error": "this gateway was not started from a config file" }),
            ),
            Some(reload) => match reload() {
                Ok(config) => updated(handle.update(&config), serde_json::json!({ "reloaded": true })),
                Err(e) => json(StatusCode::BAD_REQUEST, &serde_json::json!({ "error": e.to_string() })),
            },
        },
        AdminAction::Metrics => match options.metrics.as_deref() {
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
                        "removed": b.removed,
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
pub async fn serve_with_metrics<L: Listener>(listener: L, handle: GatewayHandle, metrics: Option<Arc<Metrics>>) {
    serve_with(
        listener,
        handle,
        AdminOptions {
            metrics,
            ..AdminOptions::default()
        },
    )
    .await;
}

/// Serves the admin endpoint on `listener` until dropped, with `options`.
pub async fn serve_with<L: Listener>(mut listener: L, handle: GatewayHandle, options: AdminOptions) {
    let options = Arc::new(options);
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            continue;
        };
        let handle = handle.clone();
        let options = Arc::clone(&options);
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let (handle, options) = (handle.clone(), Arc::clone(&options));
                async move { Ok::<_, Infallible>(answer(&handle, &options, req).await) }
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
        assert_eq!(route(&Method::POST, "/config", None), AdminAction::UpdateConfig);
        assert_eq!(route(&Method::POST, "/reload", None), AdminAction::Reload);
        assert_eq!(route(&Method::GET, "/reload", None), AdminAction::MethodNotAllowed);
        assert_eq!(
            route(&Method::POST, "/backends/10.0.0.4:80/remove", None),
            AdminAction::RemoveBackend(BackendAddr::parse("10.0.0.4:80").unwrap())
        );
        assert_eq!(
            route(&Method::POST, "/backends/chat.internal:443/add", None),
            AdminAction::AddBackend(BackendAddr::parse("chat.internal:443").unwrap())
        );
        assert_eq!(
            route(&Method::GET, "/backends/10.0.0.4:80/remove", None),
            AdminAction::MethodNotAllowed
        );
        assert!(matches!(
            route(&Method::POST, "/backends/no-port/remove", None),
            AdminAction::BadRequest(_)
        ));
        assert_eq!(
            route(&Method::POST, "/backends/10.0.0.4:80/pause", None),
            AdminAction::NotFound
        );
    }
}
