//! A scenario's backends, WebSocket client groups and request groups.

use std::time::Duration;

use ::gateway::config::{KeyPath, Protocol};
use ::gateway::Config;
use backend::{SessionScript, UpgradeAnswer};
use sim::app::ClientProtocol;
use sim::client::Backoff;
use sim::script::{ClientScript, Messages, Payload, RequestScript};

use super::file::{AppWord, Behaviour, ProtocolWord, RequestEntry, ScenarioFile};
use super::{unknown, BackendSpec, ClientSpec, Entry, Issues, RequestSpec, BACKEND_PORT};

/// The `Host` header clients send unless they say otherwise: the same on
/// every target, so traces compare.
pub const DEFAULT_HOST: &str = "app.example";

fn positive(d: Option<::gateway::config::Duration>, at: KeyPath, issues: &mut Issues) -> Option<Duration> {
    let d = d?;
    if d.is_zero() {
        issues.push((at, "expected a duration greater than zero".into()));
    }
    Some(d.get())
}

/// A close code a client or backend may send: 1000, or 3000-4999 for
/// applications (RFC 6455 §7.4; 1004-1006 and 1015 are never sent).
fn close_code(code: u16, at: KeyPath, issues: &mut Issues) {
    let sendable = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
    if !sendable {
        issues.push((
            at,
            format!("expected a close code that may be sent: 1000-1003, 1007-1014 or 3000-4999, found {code}"),
        ));
    }
}

pub(super) fn backends(file: &ScenarioFile, issues: &mut Issues) -> Vec<BackendSpec> {
    file.backends
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let at = KeyPath::item("backends", i);
            if b.upgrade_status.is_some() && b.behaviour != Behaviour::RefuseUpgrades {
                issues.push((
                    at.clone().key("upgrade_status"),
                    "`upgrade_status` applies to behaviour = \"refuse-upgrades\"".into(),
                ));
            }
            let upgrade = match b.behaviour {
                Behaviour::RefuseUpgrades => {
                    let status = b.upgrade_status.unwrap_or(403);
                    if !(200..=599).contains(&status) || status == 101 {
                        issues.push((
                            at.clone().key("upgrade_status"),
                            format!("expected a status from 200 to 599, found {status}"),
                        ));
                    }
                    UpgradeAnswer::Refuse(status)
                }
                Behaviour::WrongAccept => UpgradeAnswer::WrongAccept,
                Behaviour::SwitchProtocol => UpgradeAnswer::SwitchTo("h2c".into()),
                Behaviour::HangUpUpgrades => UpgradeAnswer::HangUp,
                Behaviour::Echo | Behaviour::WebsocketOnly => UpgradeAnswer::Accept,
            };
            let push = b.push.as_ref().map(|p| {
                if p.every.is_zero() {
                    issues.push((
                        at.clone().key("push").key("every"),
                        "expected a duration greater than zero".into(),
                    ));
                }
                backend::Push {
                    every: p.every.get(),
                    size: p.size,
                }
            });
            let close = b.close.as_ref().map(|c| {
                close_code(c.code, at.clone().key("close").key("code"), issues);
                backend::Close {
                    after: c.after.get(),
                    code: c.code,
                }
            });
            let app = match b.app {
                None => backend::App::Echo,
                Some(AppWord::Signalr) => backend::App::SignalR,
                Some(AppWord::Socketio) => backend::App::SocketIo,
            };
            if b.app.is_some() && b.behaviour != Behaviour::Echo {
                issues.push((
                    at.clone().key("app"),
                    "an application runs on the echo backend; leave `behaviour` out".into(),
                ));
            }
            BackendSpec {
                app,
                name: b.name.clone(),
                port: b.port.unwrap_or(BACKEND_PORT),
                tls: b.tls,
                websocket_only: b.behaviour == Behaviour::WebsocketOnly,
                upgrade,
                script: SessionScript {
                    push,
                    ping_interval: positive(b.ping_interval, at.clone().key("ping_interval"), issues),
                    close,
                },
                latency: b.latency.map(|d| d.get()),
                health: b.health.unwrap_or(200),
                health_latency: b.health_latency.map(|d| d.get()),
            }
        })
        .collect()
}

/// Which listener, TLS and instances a group uses.
/// `gateway = "any"`: through the frontend's rotation.
pub const ANY_INSTANCE: &str = "any";

fn entry(
    at: &KeyPath,
    listener: Option<&String>,
    tls: Option<bool>,
    gateway: Option<&String>,
    config: &Config,
    instances: &[String],
    issues: &mut Issues,
) -> Option<Entry> {
    let index = match listener {
        None => 0,
        Some(name) => match config.listeners.iter().position(|l| &l.name == name) {
            Some(i) => i,
            None => {
                let known: Vec<&String> = config.listeners.iter().map(|l| &l.name).collect();
                issues.push((at.clone().key("listener"), unknown("listener", name, &known)));
                return None;
            }
        },
    };
    let https = config
        .listeners
        .get(index)
        .is_some_and(|l| l.protocol == Protocol::Https);
    let rotate = gateway.is_some_and(|g| g == ANY_INSTANCE);
    let instances = match gateway {
        Some(g) if g == ANY_INSTANCE => instances.to_vec(),
        Some(g) if instances.contains(g) => vec![g.clone()],
        Some(g) => {
            issues.push((at.clone().key("gateway"), unknown("gateway instance", g, instances)));
            return None;
        }
        None => instances.to_vec(),
    };
    Some(Entry {
        listener: index,
        tls: tls.unwrap_or(https),
        instances,
        rotate,
    })
}

pub(super) fn clients(
    file: &ScenarioFile,
    config: &Config,
    instances: &[String],
    duration: Duration,
    issues: &mut Issues,
) -> Vec<ClientSpec> {
    let mut out = Vec::new();
    for (i, c) in file.clients.iter().enumerate() {
        let at = KeyPath::item("clients", i);
        if c.count == Some(0) {
            issues.push((at.clone().key("count"), "expected at least 1".into()));
        }
        let Some(entry) = entry(
            &at,
            c.listener.as_ref(),
            c.tls,
            c.gateway.as_ref(),
            config,
            instances,
            issues,
        ) else {
            continue;
        };
        let messages = match &c.messages {
            None => None,
            Some(m) => {
                let payload = match (&m.size, &m.text) {
                    (Some(n), None) => Payload::Size(*n),
                    (None, Some(t)) => Payload::Text(t.clone()),
                    _ => {
                        issues.push((
                            at.clone().key("messages"),
                            "expected exactly one of `size` or `text`".into(),
                        ));
                        continue;
                    }
                };
                if m.every.is_zero() {
                    issues.push((
                        at.clone().key("messages").key("every"),
                        "expected a duration greater than zero".into(),
                    ));
                }
                Some(Messages {
                    every: m.every.get(),
                    payload,
                })
            }
        };
        if let Some(r) = &c.retry {
            if !(0.0..=1.0).contains(&r.jitter) {
                issues.push((
                    at.clone().key("retry").key("jitter"),
                    "expected a fraction between 0 and 1".into(),
                ));
            }
        }
        let retry = c.retry.as_ref().map(|r| Backoff {
            initial: r.initial.get(),
            max: r.max.get(),
            multiplier: r.multiplier,
            jitter: r.jitter,
            max_attempts: r.max_attempts,
            attempt_timeout: r.attempt_timeout.map(|d| d.get()).unwrap_or(Duration::from_secs(10)),
        });
        let close_code = c.close_code.unwrap_or(1000);
        if c.close_code.is_some() {
            close_code_check(close_code, &at, c.close_after.is_some(), issues);
        }
        let protocol = match c.protocol {
            ProtocolWord::Websocket => ClientProtocol::WebSocket,
            ProtocolWord::Signalr => ClientProtocol::SignalR,
            ProtocolWord::Socketio => ClientProtocol::SocketIo,
        };
        if protocol != ClientProtocol::WebSocket && !c.path.as_deref().unwrap_or("/").starts_with('/') {
            issues.push((at.clone().key("path"), "expected a path starting with `/`".into()));
        }
        let pong_timeout = positive(c.pong_timeout, at.clone().key("pong_timeout"), issues);
        if pong_timeout.is_some() && c.ping_interval.is_none() {
            issues.push((
                at.clone().key("pong_timeout"),
                "a pong timeout needs `ping_interval`: pongs answer pings".into(),
            ));
        }
        out.push(ClientSpec {
            script: ClientScript {
                name: c.name.clone(),
                count: c.count.unwrap_or(1).max(1),
                start: c.start.map(|d| d.get()).unwrap_or(Duration::from_secs(1)),
                path: c.path.clone().unwrap_or_else(|| default_path(protocol).to_string()),
                host: c.host.clone().unwrap_or_else(|| DEFAULT_HOST.to_string()),
                subprotocols: c.subprotocols.clone(),
                headers: c.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                targets: Vec::new(),
                ping_interval: positive(c.ping_interval, at.clone().key("ping_interval"), issues),
                pong_timeout,
                messages,
                close_after: c.close_after.map(|d| d.get()),
                close_code,
                reopen_after: c.reopen_after.map(|d| d.get()),
                retry,
                stop_at: duration,
                rotation: None,
                protocol,
            },
            entry,
        });
    }
    out
}

/// Where a client connects unless it says: a chat path for a plain
/// WebSocket, a hub for SignalR, socket.io's own path.
fn default_path(protocol: ClientProtocol) -> &'static str {
    match protocol {
        ClientProtocol::WebSocket => "/chat",
        ClientProtocol::SignalR => "/hub",
        ClientProtocol::SocketIo => backend::app::SOCKET_IO_PATH,
    }
}

fn close_code_check(code: u16, at: &KeyPath, has_close_after: bool, issues: &mut Issues) {
    close_code(code, at.clone().key("close_code"), issues);
    if !has_close_after {
        issues.push((
            at.clone().key("close_code"),
            "`close_code` is the code of the close at `close_after`; set `close_after`".into(),
        ));
    }
}

pub(super) fn requests(
    file: &ScenarioFile,
    config: &Config,
    instances: &[String],
    duration: Duration,
    issues: &mut Issues,
) -> Vec<RequestSpec> {
    let mut out = Vec::new();
    for (i, r) in file.requests.iter().enumerate() {
        let at = KeyPath::item("requests", i);
        if r.count == Some(0) {
            issues.push((at.clone().key("count"), "expected at least 1".into()));
        }
        let Some(entry) = entry(
            &at,
            r.listener.as_ref(),
            r.tls,
            r.gateway.as_ref(),
            config,
            instances,
            issues,
        ) else {
            continue;
        };
        let method = match r.method.as_deref().unwrap_or("GET").parse::<http::Method>() {
            Ok(m) => m,
            Err(_) => {
                issues.push((
                    at.clone().key("method"),
                    "expected an HTTP method such as \"GET\"".into(),
                ));
                continue;
            }
        };
        let path = r.path.clone().unwrap_or_else(|| "/".to_string());
        // `*` is asterisk-form (RFC 9112 section 3.2.4), for OPTIONS and
        // for scenarios that check a gateway refuses it elsewhere.
        if !path.starts_with('/') && path != "*" {
            issues.push((
                at.clone().key("path"),
                format!("expected a path starting with `/` (or `*`), found `{path}`"),
            ));
        }
        let raw = raw_bytes(r, &at, issues);
        out.push(RequestSpec {
            script: RequestScript {
                name: r.name.clone(),
                count: r.count.unwrap_or(1).max(1),
                start: r.start.map(|d| d.get()).unwrap_or(Duration::from_secs(1)),
                every: positive(r.every, at.clone().key("every"), issues),
                method,
                path,
                host: r.host.clone().unwrap_or_else(|| DEFAULT_HOST.to_string()),
                headers: r.headers.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                targets: Vec::new(),
                raw,
                timeout: positive(r.timeout, at.clone().key("timeout"), issues).unwrap_or(Duration::from_secs(60)),
                stop_at: duration,
                rotation: None,
            },
            entry,
        });
    }
    out
}

/// The largest `raw_filler`: well past any gateway's head limit, small
/// enough to build in memory for every request of a group.
pub const MAX_RAW_FILLER: usize = 1 << 20;

/// `raw`, then `raw_filler` bytes of `X-Filler` header lines: the bytes a
/// raw request sends. `raw` replaces the fields a request is built from.
fn raw_bytes(r: &RequestEntry, at: &KeyPath, issues: &mut Issues) -> Option<Vec<u8>> {
    let Some(raw) = &r.raw else {
        if r.raw_filler.is_some() {
            issues.push((
                at.clone().key("raw_filler"),
                "expected `raw` beside `raw_filler`".into(),
            ));
        }
        return None;
    };
    let built = [
        ("method", r.method.is_some()),
        ("path", r.path.is_some()),
        ("host", r.host.is_some()),
        ("headers", !r.headers.is_empty()),
    ];
    for (key, set) in built {
        if set {
            issues.push((
                at.clone().key(key),
                format!("`raw` sends its bytes as they are: remove `{key}` or `raw`"),
            ));
        }
    }
    let filler = r.raw_filler.unwrap_or(0);
    if filler > MAX_RAW_FILLER {
        issues.push((
            at.clone().key("raw_filler"),
            format!("expected at most {MAX_RAW_FILLER} bytes, found {filler}"),
        ));
        return Some(raw.clone().into_bytes());
    }
    Some(with_filler(raw, filler))
}

/// `raw` with exactly `filler` bytes of `X-Filler` header lines (up to 1000
/// bytes each: `X-Filler: `, letters, CRLF; none shorter than 13). A head
/// that ends in a blank line gets them before it; an unfinished head gets
/// them appended. Exact sizes let a scenario put a head's end one byte past
/// the limit.
fn with_filler(raw: &str, filler: usize) -> Vec<u8> {
    const LINE: usize = 1000;
    const SHORTEST: usize = 13;
    let mut lines = Vec::with_capacity(filler);
    let mut left = filler;
    while left > 0 {
        let mut len = left.min(LINE);
        if (1..SHORTEST).contains(&(left - len)) {
            // Leave enough for one last whole line.
            len = left - SHORTEST;
        }
        if len < SHORTEST {
            // Fewer bytes than one line holds: pad with letters only.
            lines.extend(std::iter::repeat_n(b'a', len));
            break;
        }
        lines.extend_from_slice(b"X-Filler: ");
        lines.extend(std::iter::repeat_n(b'a', len - 12));
        lines.extend_from_slice(b"\r\n");
        left -= len;
    }
    let blank = ["\r\n\r\n", "\n\n"].into_iter().find(|end| raw.ends_with(end));
    let split = match blank {
        // Keep the last header's line ending, then the filler, then the
        // blank line.
        Some(end) => raw.len() - end.len() / 2,
        None => raw.len(),
    };
    let mut bytes = raw.as_bytes()[..split].to_vec();
    bytes.extend_from_slice(&lines);
    bytes.extend_from_slice(&raw.as_bytes()[split..]);
    bytes
}

#[cfg(test)]
mod raw_tests {
    use super::with_filler;

    #[test]
    fn filler_goes_before_the_blank_line_or_after_an_unfinished_head() {
        let done = with_filler("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1500);
        assert_eq!(done.len(), 27 + 1500, "exact");
        assert!(done.starts_with(b"GET / HTTP/1.1\r\nHost: a\r\nX-Filler: aaa"));
        assert!(done.ends_with(b"aaa\r\n\r\n"));
        let lf = with_filler("GET / HTTP/1.1\nHost: a\n\n", 20);
        assert!(lf.starts_with(b"GET / HTTP/1.1\nHost: a\nX-Filler: "));
        assert!(lf.ends_with(b"aaa\r\n\n"));
        let open = with_filler("GET / HTTP/1.1\r\n", 32_768 - 16);
        assert_eq!(open.len(), 32_768, "exact when unfinished");
        assert_eq!(with_filler("GET /", 0), b"GET /");
        for n in [1, 12, 13, 14, 999, 1000, 1001, 1005, 1012, 1013, 32_732] {
            let head = with_filler("GET / HTTP/1.1\r\nHost: a\r\n\r\n", n);
            assert_eq!(head.len(), 27 + n, "{n} bytes");
            if n >= 13 {
                let text = std::str::from_utf8(&head).unwrap();
                assert!(
                    text.lines()
                        .filter(|l| l.starts_with("X-Filler"))
                        .all(|l| l.len() >= 11),
                    "{n}"
                );
            }
        }
    }
}
