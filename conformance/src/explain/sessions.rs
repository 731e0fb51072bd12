//! Sessions as each side saw them, and which gateway session carried which
//! client session. Pure functions over the typed trace.
//!
//! Nothing in the trace names both ends of a session at once: the client
//! records `Opened { key }` with its `Sec-WebSocket-Key`, the backend records
//! `SessionOpened { key }` under its host name, and the gateway records
//! `RequestRouted`/`UpgradeCompleted`/`SessionClosed` under its instance name
//! with its own session id and the backend address. So the key names the
//! backend, and time does the rest: the gateway's `UpgradeCompleted` comes
//! one link hop before the client's `Opened`, and its `SessionClosed` within
//! a hop or two of the client's `Closed` (before it when the gateway ends the
//! session, after it when the backend does). [`match_sessions`] pairs them
//! by the smallest total distance in time, among gateway sessions on the
//! client's backend.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use backend::BackendEvent;
use gateway::config::BackendAddr;
use gateway::event::{CloseReason, Side};
use gateway::Event;
use sim::client::{ClientEvent, CloseCause};
use sim::trace::{TraceEvent, TraceLine};

/// One upgraded session as a gateway instance reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewaySession {
    /// The instance's host name (the trace line's source).
    pub instance: String,
    /// The instance's id for it (`#N`); ids start again when an instance
    /// restarts, so (instance, id) is unique only together with `routed_at`.
    pub id: u64,
    pub backend: BackendAddr,
    pub routed_at: Duration,
    /// When the backend's 101 came back; `None` for an upgrade that was
    /// declined or failed.
    pub upgraded_at: Option<Duration>,
    pub closed: Option<GatewayClose>,
}

/// How a gateway session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayClose {
    pub at: Duration,
    pub by: Side,
    pub reason: CloseReason,
}

/// How a client session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientEnd {
    /// `Closed` at `at`, on trace line `line`.
    Closed {
        at: Duration,
        code: u16,
        cause: CloseCause,
        line: usize,
    },
    /// Still open when the trace ends.
    Open,
}

/// One WebSocket session as a client saw it: from `Opened` to `Closed`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientSession {
    /// The client's name (the trace line's source).
    pub client: String,
    pub key: Arc<str>,
    pub opened_at: Duration,
    /// The backend host whose `SessionOpened` carries the same key.
    pub backend_host: Option<String>,
    pub end: ClientEnd,
}

impl ClientSession {
    fn closed_at(&self) -> Option<Duration> {
        match self.end {
            ClientEnd::Closed { at, .. } => Some(at),
            ClientEnd::Open => None,
        }
    }
}

/// Every session in a trace, from both sides, and the pairing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sessions {
    pub gateway: Vec<GatewaySession>,
    pub clients: Vec<ClientSession>,
    /// For each client session (same index), the gateway session that
    /// carried it, as an index into `gateway`.
    pub carried_by: Vec<Option<usize>>,
}

impl Sessions {
    /// The gateway session that carried client session `i`.
    pub fn gateway_of(&self, i: usize) -> Option<&GatewaySession> {
        self.carried_by
            .get(i)
            .copied()
            .flatten()
            .and_then(|g| self.gateway.get(g))
    }
}

/// The gateway's upgraded sessions, in the order they were routed.
pub fn gateway_sessions(lines: &[TraceLine]) -> Vec<GatewaySession> {
    let mut out: Vec<GatewaySession> = Vec::new();
    // The latest session for (instance, id): ids repeat after a restart.
    let mut current: BTreeMap<(&str, u64), usize> = BTreeMap::new();
    for l in lines {
        let TraceEvent::Gateway(event) = &l.event else { continue };
        match event {
            Event::RequestRouted {
                id,
                backend,
                upgrade: true,
                ..
            } => {
                current.insert((l.source.as_str(), *id), out.len());
                out.push(GatewaySession {
                    instance: l.source.clone(),
                    id: *id,
                    backend: backend.clone(),
                    routed_at: l.at,
                    upgraded_at: None,
                    closed: None,
                });
            }
            Event::UpgradeCompleted { id, backend, .. } => {
                if let Some(s) = current.get(&(l.source.as_str(), *id)).and_then(|&i| out.get_mut(i)) {
                    s.upgraded_at = Some(l.at);
                    // A retry may have picked another member than the route.
                    s.backend = backend.clone();
                }
            }
            Event::SessionClosed { id, by, reason, .. } => {
                if let Some(s) = current.get(&(l.source.as_str(), *id)).and_then(|&i| out.get_mut(i)) {
                    s.closed = Some(GatewayClose {
                        at: l.at,
                        by: *by,
                        reason: reason.clone(),
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// The clients' sessions, in the order they opened.
pub fn client_sessions(lines: &[TraceLine]) -> Vec<ClientSession> {
    let backend_of: BTreeMap<&str, &str> = lines
        .iter()
        .filter_map(|l| match &l.event {
            TraceEvent::Backend(BackendEvent::SessionOpened { key, .. }) => Some((key.as_ref(), l.source.as_str())),
            _ => None,
        })
        .collect();
    let mut out: Vec<ClientSession> = Vec::new();
    let mut open: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, l) in lines.iter().enumerate() {
        match &l.event {
            TraceEvent::Client(ClientEvent::Opened { key, .. }) => {
                open.insert(l.source.as_str(), out.len());
                out.push(ClientSession {
                    client: l.source.clone(),
                    key: key.clone(),
                    opened_at: l.at,
                    backend_host: backend_of.get(key.as_ref()).map(|b| b.to_string()),
                    end: ClientEnd::Open,
                });
            }
            TraceEvent::Client(ClientEvent::Closed { code, cause }) => {
                if let Some(s) = open.remove(l.source.as_str()).and_then(|s| out.get_mut(s)) {
                    s.end = ClientEnd::Closed {
                        at: l.at,
                        code: *code,
                        cause: *cause,
                        line: i,
                    };
                }
            }
            _ => {}
        }
    }
    out
}

/// How far apart a client session and a gateway session are in time, or
/// `None` when the gateway session cannot have carried it: it never
/// upgraded, upgraded after the client opened, or went to another backend.
fn distance(client: &ClientSession, gateway: &GatewaySession) -> Option<Duration> {
    /// Charged when one side ended and the other did not: possible (the
    /// trace may end between the two records) but a worse fit than any
    /// pair whose ends are both recorded.
    const ONE_SIDE_OPEN: Duration = Duration::from_secs(365 * 24 * 3600);
    let upgraded = gateway.upgraded_at?;
    if upgraded > client.opened_at {
        return None;
    }
    if client.backend_host.as_ref().is_some_and(|h| *h != gateway.backend.host) {
        return None;
    }
    let open_gap = client.opened_at - upgraded;
    let close_gap = match (client.closed_at(), &gateway.closed) {
        (Some(a), Some(b)) => a.abs_diff(b.at),
        (None, None) => Duration::ZERO,
        _ => ONE_SIDE_OPEN,
    };
    Some(open_gap.saturating_add(close_gap))
}

/// Pairs each client session with the gateway session that carried it:
/// the closest pairs in time first, each session used once. Ties go to the
/// earlier client and the earlier gateway session, so the result is the
/// same on every run.
pub fn match_sessions(lines: &[TraceLine]) -> Sessions {
    let gateway = gateway_sessions(lines);
    let clients = client_sessions(lines);
    let mut pairs: Vec<(Duration, usize, usize)> = Vec::new();
    for (c, client) in clients.iter().enumerate() {
        for (g, session) in gateway.iter().enumerate() {
            if let Some(d) = distance(client, session) {
                pairs.push((d, c, g));
            }
        }
    }
    pairs.sort();
    let mut carried_by = vec![None; clients.len()];
    let mut taken = vec![false; gateway.len()];
    for (_, c, g) in pairs {
        if carried_by[c].is_none() && !taken[g] {
            carried_by[c] = Some(g);
            taken[g] = true;
        }
    }
    Sessions {
        gateway,
        clients,
        carried_by,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use gateway::session::Timer;

    pub(crate) fn at(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    pub(crate) fn line(ms: u64, source: &str, event: impl Into<TraceEvent>) -> TraceLine {
        TraceLine {
            at: at(ms),
            source: source.into(),
            event: event.into(),
        }
    }

    pub(crate) fn addr(host: &str) -> BackendAddr {
        BackendAddr {
            host: host.into(),
            port: 9001,
        }
    }

    /// The lines of one session: routed, backend open, upgraded, client
    /// open, `hop` ms apart from `start`.
    pub(crate) fn open(start: u64, instance: &str, id: u64, backend: &str, client: &str, key: &str) -> Vec<TraceLine> {
        vec![
            line(
                start,
                instance,
                Event::RequestRouted {
                    id,
                    rule: "rule".into(),
                    backend: addr(backend),
                    upgrade: true,
                    path: "/chat".into(),
                },
            ),
            line(
                start + 2,
                backend,
                BackendEvent::SessionOpened {
                    key: Arc::from(key),
                    path: "/chat".into(),
                    subprotocol: None,
                },
            ),
            line(
                start + 3,
                instance,
                Event::UpgradeCompleted {
                    id,
                    backend: addr(backend),
                    subprotocol: None,
                },
            ),
            line(
                start + 4,
                client,
                ClientEvent::Opened {
                    path: "/chat".into(),
                    key: Arc::from(key),
                    subprotocol: None,
                    headers: vec![],
                },
            ),
        ]
    }

    pub(crate) fn gateway_close(ms: u64, instance: &str, id: u64, by: Side, reason: CloseReason) -> TraceLine {
        line(
            ms,
            instance,
            Event::SessionClosed {
                id,
                by,
                reason,
                bytes_from_client: 0,
                bytes_from_backend: 0,
            },
        )
    }

    pub(crate) fn client_close(ms: u64, client: &str, code: u16) -> TraceLine {
        line(
            ms,
            client,
            ClientEvent::Closed {
                code,
                cause: if code == 1006 {
                    CloseCause::NoFrame
                } else {
                    CloseCause::Frame
                },
            },
        )
    }

    #[test]
    fn the_key_names_the_backend_and_the_gateway_session_follows_in_time() {
        let mut lines = open(1000, "gateway", 1, "b1", "c1", "k1");
        lines.extend(open(1000, "gateway", 2, "b2", "c2", "k2"));
        let idle = CloseReason::IdleTimeout(Timer::key(Duration::from_secs(15), "request_timeout"));
        lines.push(gateway_close(16_003, "gateway", 2, Side::Gateway, idle.clone()));
        lines.push(client_close(16_004, "c2", 1006));
        let s = match_sessions(&lines);
        assert_eq!(s.clients.len(), 2);
        assert_eq!(s.clients[0].backend_host.as_deref(), Some("b1"));
        assert_eq!(s.gateway_of(0).map(|g| g.id), Some(1));
        let g = s.gateway_of(1).expect("c2 is matched");
        assert_eq!((g.id, g.backend.host.as_str()), (2, "b2"));
        assert_eq!(g.closed.as_ref().map(|c| &c.reason), Some(&idle));
        assert!(matches!(
            s.clients[1].end,
            ClientEnd::Closed {
                code: 1006,
                line: 9,
                ..
            }
        ));
    }

    #[test]
    fn simultaneous_sessions_on_two_instances_are_told_apart_by_their_close() {
        // Four sessions open at the same instant on two instances and one
        // backend; only gateway-2's are dropped at 40 s. The clients that
        // saw 1006 must be matched to gateway-2's sessions, whatever order
        // the opens were recorded in.
        let mut lines = Vec::new();
        lines.extend(open(1000, "gateway-1", 1, "b1", "c.1", "k1"));
        lines.extend(open(1000, "gateway-1", 2, "b1", "c.3", "k3"));
        lines.extend(open(1000, "gateway-2", 1, "b1", "c.2", "k2"));
        lines.extend(open(1000, "gateway-2", 2, "b1", "c.4", "k4"));
        lines.push(gateway_close(
            40_000,
            "gateway-2",
            1,
            Side::Gateway,
            CloseReason::Maintenance,
        ));
        lines.push(gateway_close(
            40_000,
            "gateway-2",
            2,
            Side::Gateway,
            CloseReason::Maintenance,
        ));
        lines.push(client_close(40_010, "c.2", 1006));
        lines.push(client_close(40_010, "c.4", 1006));
        let s = match_sessions(&lines);
        for (i, c) in s.clients.iter().enumerate() {
            let g = s.gateway_of(i).expect("every client is matched");
            let dropped = matches!(c.end, ClientEnd::Closed { .. });
            assert_eq!(
                g.instance == "gateway-2",
                dropped,
                "{} matched to {} #{}",
                c.client,
                g.instance,
                g.id
            );
        }
    }

    #[test]
    fn ids_that_repeat_after_a_restart_are_new_sessions() {
        let mut lines = open(1000, "gateway", 1, "b1", "c1", "k1");
        lines.push(gateway_close(
            30_000,
            "gateway",
            1,
            Side::Gateway,
            CloseReason::Maintenance,
        ));
        lines.push(client_close(30_010, "c1", 1006));
        lines.extend(open(34_000, "gateway", 1, "b1", "c1", "k2"));
        let s = match_sessions(&lines);
        assert_eq!(s.gateway.len(), 2);
        assert_eq!(s.carried_by, vec![Some(0), Some(1)]);
        assert!(s.gateway[1].closed.is_none(), "the second #1 is still open");
    }

    #[test]
    fn a_backend_close_reaches_the_client_before_the_gateway_records_it() {
        let mut lines = open(1000, "gateway", 1, "b1", "c1", "k1");
        lines.push(client_close(20_020, "c1", 1006));
        lines.push(gateway_close(20_030, "gateway", 1, Side::Backend, CloseReason::Closed));
        let s = match_sessions(&lines);
        let g = s.gateway_of(0).expect("matched");
        assert_eq!(g.closed.as_ref().map(|c| c.by), Some(Side::Backend));
    }

    #[test]
    fn a_declined_upgrade_carries_no_session() {
        let lines = vec![
            line(
                1000,
                "gateway",
                Event::RequestRouted {
                    id: 1,
                    rule: "rule".into(),
                    backend: addr("b1"),
                    upgrade: true,
                    path: "/chat".into(),
                },
            ),
            line(
                1010,
                "c1",
                ClientEvent::Refused {
                    path: "/chat".into(),
                    status: 502,
                },
            ),
        ];
        let s = match_sessions(&lines);
        assert_eq!(s.gateway.len(), 1);
        assert!(s.clients.is_empty());
    }
}
