//! Why a session ended, for the people reading a report.
//!
//! A client that sees 1006 learns nothing from the code: the connection
//! just ended. The trace knows more. [`sessions::match_sessions`] finds the
//! gateway session that carried the client's; its `SessionClosed` says who
//! ended it and why (an idle or lifetime timer with the config value behind
//! it, maintenance, the backend closing); a timeline action just before
//! says what set that off; and [`predicted_by`] names the requirement whose
//! sentence predicts that close under the scenario's profile.
//!
//! ```text
//! TraceLine* ─▶ sessions::match_sessions ─▶ Sessions ─▶ explain_closes ─▶ {line: Explanation}
//!                                         catalogue ─┘ (predicted_by, checked against it)
//! ```
//!
//! Everything here is a pure function of the trace, the profile and the
//! catalogue.

pub mod sessions;

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use gateway::config::BackendAddr;
use gateway::event::{CloseReason, DrainCause, Side};
use gateway::session::Timer;
use gateway::ProfileName;
use sim::client::CloseCause;
use sim::trace::{TraceEvent, TraceLine};
use sim::Action;

use crate::catalogue::Requirement;
pub use sessions::{match_sessions, ClientEnd, ClientSession, GatewaySession, Sessions};

/// What ended a session, in the terms the requirements use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CauseKind {
    /// The gateway's idle timer: no data either way for its timeout.
    IdleTimeout,
    /// The gateway's lifetime cap.
    Lifetime,
    /// The instance dropped it for maintenance (a restart or a drain).
    Maintenance,
    /// Dropped when its instance restarted at the end of a graceful
    /// maintenance drain (it had left the frontend's rotation first).
    GracefulMaintenance,
    /// The instance crashed.
    GatewayCrash,
    /// The backend closed its side, or its connection failed.
    BackendClosed,
    /// No gateway close explains it; the network between the client and
    /// the gateway was cut (a partition).
    Disruption,
    /// The client itself gave up: no pong in time.
    ClientGaveUp,
    /// The listener's frontend TCP idle timeout.
    FrontendIdle,
    /// The end of connection draining after its member left the pool.
    DrainedRemoved,
    /// The end of connection draining after a configuration update.
    DrainedUpdate,
    /// Nothing in the trace explains it.
    Unknown,
}

impl CauseKind {
    /// Every kind, for tests that walk the mapping.
    pub const ALL: [CauseKind; 12] = [
        CauseKind::IdleTimeout,
        CauseKind::Lifetime,
        CauseKind::Maintenance,
        CauseKind::GracefulMaintenance,
        CauseKind::GatewayCrash,
        CauseKind::BackendClosed,
        CauseKind::Disruption,
        CauseKind::ClientGaveUp,
        CauseKind::FrontendIdle,
        CauseKind::DrainedRemoved,
        CauseKind::DrainedUpdate,
        CauseKind::Unknown,
    ];
}

impl CauseKind {
    /// A word or two for a label: `idle timeout`, `maintenance`.
    pub fn short(self) -> Option<&'static str> {
        match self {
            CauseKind::IdleTimeout => Some("idle timeout"),
            CauseKind::Lifetime => Some("lifetime"),
            CauseKind::Maintenance => Some("maintenance"),
            CauseKind::GracefulMaintenance => Some("maintenance after drain"),
            CauseKind::GatewayCrash => Some("gateway crash"),
            CauseKind::BackendClosed => Some("backend closed"),
            CauseKind::Disruption => Some("network cut"),
            CauseKind::ClientGaveUp => Some("no pong"),
            CauseKind::FrontendIdle => Some("frontend idle"),
            CauseKind::DrainedRemoved => Some("drained: backend removed"),
            CauseKind::DrainedUpdate => Some("drained: config update"),
            CauseKind::Unknown => None,
        }
    }
}

/// The requirement whose sentence predicts a close of this kind under
/// `profile`, by id. Ids are checked against the catalogue by
/// [`requirement_for`] at run time and by this module's tests: a renamed
/// id fails `every_id_the_mapping_names_is_in_the_catalogue`.
pub fn predicted_by(profile: ProfileName, kind: CauseKind) -> Option<&'static str> {
    use CauseKind as K;
    use ProfileName as P;
    match (profile, kind) {
        // "the request timeout ... also applies to the WebSocket session";
        // the 1006 itself is AGW-CLOSE-UNCLEAN-1, wsgate's choice.
        (P::ApplicationGateway, K::IdleTimeout) => Some("AGW-TIMEOUT-1"),
        // "data flows both ways ... until the WebSocket connection is closed".
        (P::ApplicationGateway, K::BackendClosed) => Some("AGW-UPGRADE-1"),
        // An instance restart drops what it carries (a choice for both
        // Application Gateway texts, which say nothing of maintenance).
        (P::ApplicationGateway | P::ApplicationGateway2016, K::Maintenance) => Some("AGW-MAINT-1"),
        // Graceful maintenance by update domain (the FAQ).
        (P::ApplicationGateway | P::ApplicationGateway2016, K::GracefulMaintenance) => Some("AGW-MAINT-DRAIN-1"),
        // The frontend IP's TCP idle timeout (Application Gateway's FAQ).
        (P::ApplicationGateway | P::ApplicationGateway2016, K::FrontendIdle) => Some("AGW-FRONTEND-IDLE-1"),
        // Connection draining ends (the backend-settings page).
        (P::ApplicationGateway | P::ApplicationGateway2016, K::DrainedRemoved) => Some("AGW-DRAIN-1"),
        (P::ApplicationGateway | P::ApplicationGateway2016, K::DrainedUpdate) => Some("AGW-CONFIG-UPDATE-1"),
        (P::FrontDoor, K::IdleTimeout) => Some("FD-IDLE-1"),
        (P::FrontDoor, K::Lifetime) => Some("FD-LIFETIME-1"),
        (P::FrontDoor, K::Maintenance) => Some("FD-MAINT-1"),
        // "remains active until terminated by either party".
        (P::FrontDoor, K::BackendClosed) => Some("FD-ACTIVE-1"),
        // "disconnected by the client or server, or by a network
        // disruption": an instance outage or a partition.
        (P::FrontDoor, K::GatewayCrash | K::Disruption) => Some("FD-RECONNECT-1"),
        // The 2016 text has no session timer (an `idle_timeout` override is
        // wsgate's, not the document's), and no lifetime cap is stated for
        // Application Gateway.
        _ => None,
    }
}

/// The requirement predicting `kind` under `profile`, if the catalogue has
/// it and it applies to that profile.
pub fn requirement_for(profile: ProfileName, kind: CauseKind, catalogue: &[Requirement]) -> Option<String> {
    let id = predicted_by(profile, kind)?;
    catalogue
        .iter()
        .find(|r| r.id == id && r.profiles.contains(&profile))
        .map(|r| r.id.clone())
}

/// Why one client session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub kind: CauseKind,
    /// The gateway session that carried it, when one was found.
    pub session: Option<SessionRef>,
    /// What the gateway reported when it closed that session.
    pub gateway_close: Option<(Side, CloseReason)>,
    /// The timeline action that set it off, and when.
    pub trigger: Option<(Duration, Action)>,
    /// The requirement whose sentence predicts it.
    pub requirement: Option<String>,
}

/// A gateway session, by instance and id, and the backend it used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRef {
    pub instance: String,
    pub id: u64,
    pub backend: BackendAddr,
}

impl fmt::Display for SessionRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} #{}", self.instance, self.id)
    }
}

fn timer_phrase(what: &str, t: &Timer) -> String {
    format!("{what} ({t})")
}

/// Seconds with up to three decimals, as the trace prints them: `40s`,
/// `16.005s`.
pub fn secs(d: Duration) -> String {
    let ms = d.as_millis();
    if ms % 1000 == 0 {
        format!("{}s", ms / 1000)
    } else {
        let text = format!("{}.{:03}", ms / 1000, ms % 1000);
        format!("{}s", text.trim_end_matches('0'))
    }
}

impl Explanation {
    /// The cause in words, without the requirement: `gateway #1 idle
    /// timeout (backend_settings[0].request_timeout = 15s)`.
    pub fn cause(&self) -> String {
        let session = self.session.as_ref().map(ToString::to_string).unwrap_or_default();
        let after = self
            .trigger
            .as_ref()
            .map(|(at, a)| format!(", after \"{a}\" at {}", secs(*at)))
            .unwrap_or_default();
        let what = match (&self.kind, &self.gateway_close) {
            (CauseKind::IdleTimeout, Some((_, CloseReason::IdleTimeout(t)))) => timer_phrase("idle timeout", t),
            (CauseKind::Lifetime, Some((_, CloseReason::Lifetime(t)))) => timer_phrase("lifetime reached", t),
            (CauseKind::IdleTimeout, _) => "idle timeout".into(),
            (CauseKind::Lifetime, _) => "lifetime reached".into(),
            (CauseKind::Maintenance, _) => format!("dropped by maintenance{after}"),
            (CauseKind::GracefulMaintenance, _) => format!("dropped by maintenance at the end of its drain{after}"),
            (CauseKind::GatewayCrash, _) => format!("dropped when its instance crashed{after}"),
            (CauseKind::BackendClosed, Some((_, reason))) => {
                let backend = self.session.as_ref().map(|s| s.backend.to_string()).unwrap_or_default();
                match reason {
                    CloseReason::Error(e) => format!("backend {backend} failed ({e}){after}"),
                    _ => format!("backend {backend} closed its side{after}"),
                }
            }
            (CauseKind::BackendClosed, None) => format!("the backend closed its side{after}"),
            (CauseKind::Disruption, _) => format!("no gateway close{after}"),
            (CauseKind::ClientGaveUp, _) => "the client gave up: no pong in time".into(),
            (CauseKind::FrontendIdle, Some((_, CloseReason::FrontendIdle(t)))) => {
                timer_phrase("frontend idle timeout", t)
            }
            (CauseKind::FrontendIdle, _) => "frontend idle timeout".into(),
            (
                CauseKind::DrainedRemoved | CauseKind::DrainedUpdate,
                Some((_, CloseReason::Drained { cause, timer })),
            ) => {
                format!("closed at the end of connection draining after {cause} ({timer}){after}")
            }
            (CauseKind::DrainedRemoved, _) => format!("drained after its backend was removed{after}"),
            (CauseKind::DrainedUpdate, _) => format!("drained after a configuration update{after}"),
            (CauseKind::Unknown, Some((by, reason))) => format!("closed by {by} ({reason})"),
            (CauseKind::Unknown, None) => "no gateway close recorded".into(),
        };
        match (session.is_empty(), self.kind) {
            (_, CauseKind::Disruption | CauseKind::ClientGaveUp) | (true, _) => what,
            (false, CauseKind::BackendClosed) => format!("{session}: {what}"),
            (false, _) => format!("{session} {what}"),
        }
    }
}

impl fmt::Display for Explanation {
    /// `cause: gateway #1 idle timeout (backend_settings[0].request_timeout
    /// = 15s); predicted by AGW-TIMEOUT-1`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cause: {}", self.cause())?;
        match &self.requirement {
            Some(id) => write!(f, "; predicted by {id}"),
            None => f.write_str("; no requirement predicts it"),
        }
    }
}

/// Whether a timeline action is aimed at `host` (or, for a link, at one
/// of its ends).
fn targets(action: &Action, host: &str) -> bool {
    match action {
        Action::Maintenance(h)
        | Action::Crash(h)
        | Action::Restart(h)
        | Action::SetHealth(h, _)
        | Action::SetDelay(h, _)
        | Action::SetHealthDelay(h, _)
        | Action::SetWebSocketOnly(h)
        | Action::SetUpgrade(h, _)
        | Action::Drain(h, _)
        | Action::RotationOut(h)
        | Action::RotationIn(h) => h == host,
        Action::RemoveBackend(b) | Action::AddBackend(b) => b.host == host,
        // Every gateway instance.
        Action::ConfigUpdate(_) => true,
        Action::Partition(a, b) | Action::Heal(a, b) | Action::SetLinkLatency(a, b, _) => a == host || b == host,
    }
}

/// The latest timeline action in `[from, to]` that `wanted` accepts.
fn last_action(
    lines: &[TraceLine],
    from: Duration,
    to: Duration,
    wanted: impl Fn(&Action) -> bool,
) -> Option<(Duration, Action)> {
    lines
        .iter()
        .filter(|l| l.at >= from && l.at <= to)
        .filter_map(|l| match &l.event {
            TraceEvent::World(a) if wanted(a) => Some((l.at, a.clone())),
            _ => None,
        })
        .last()
}

/// Why client session `i` of `sessions` ended, when it ended.
pub fn explain(
    lines: &[TraceLine],
    sessions: &Sessions,
    i: usize,
    profile: ProfileName,
    catalogue: &[Requirement],
) -> Option<Explanation> {
    let client = sessions.clients.get(i)?;
    let ClientEnd::Closed { at, cause, .. } = client.end else {
        return None;
    };
    let carried = sessions.gateway_of(i);
    let session = carried.map(|g| SessionRef {
        instance: g.instance.clone(),
        id: g.id,
        backend: g.backend.clone(),
    });
    let gateway_close = carried.and_then(|g| g.closed.as_ref());
    let (kind, trigger) = match (cause, gateway_close) {
        (CloseCause::PongTimeout, _) => (CauseKind::ClientGaveUp, None),
        (_, Some(close)) => {
            let instance = carried.map(|g| g.instance.as_str()).unwrap_or_default();
            let backend = carried.map(|g| g.backend.host.as_str()).unwrap_or_default();
            let since = client.opened_at;
            match (&close.by, &close.reason) {
                (_, CloseReason::IdleTimeout(_)) => (CauseKind::IdleTimeout, None),
                (_, CloseReason::Lifetime(_)) => (CauseKind::Lifetime, None),
                (_, CloseReason::FrontendIdle(_)) => (CauseKind::FrontendIdle, None),
                (_, CloseReason::Drained { cause, .. }) => {
                    let t = last_action(lines, since, close.at, |a| match cause {
                        DrainCause::BackendRemoved => matches!(a, Action::RemoveBackend(b) if b.host == backend),
                        DrainCause::ConfigUpdate => matches!(a, Action::ConfigUpdate(_)),
                    });
                    match cause {
                        DrainCause::BackendRemoved => (CauseKind::DrainedRemoved, t),
                        DrainCause::ConfigUpdate => (CauseKind::DrainedUpdate, t),
                    }
                }
                (_, CloseReason::Maintenance) => {
                    let t = last_action(lines, since, close.at, |a| {
                        targets(a, instance)
                            && matches!(a, Action::Maintenance(_) | Action::Crash(_) | Action::Drain(..))
                    });
                    let drained_first = last_action(
                        lines,
                        since,
                        close.at,
                        |a| matches!(a, Action::RotationOut(h) if h == instance),
                    )
                    .is_some();
                    match t {
                        Some((_, Action::Crash(_))) => (CauseKind::GatewayCrash, t),
                        _ if drained_first => (CauseKind::GracefulMaintenance, t),
                        _ => (CauseKind::Maintenance, t),
                    }
                }
                (Side::Backend, _) | (_, CloseReason::Error(_)) => {
                    let t = last_action(lines, since, at.max(close.at), |a| targets(a, backend));
                    (CauseKind::BackendClosed, t)
                }
                _ => (CauseKind::Unknown, None),
            }
        }
        (_, None) => {
            let instance = session.as_ref().map(|s| s.instance.as_str());
            let t = last_action(lines, client.opened_at, at, |a| {
                let cuts = matches!(a, Action::Partition(..) | Action::Crash(_));
                cuts && (targets(a, &client.client) || instance.is_some_and(|i| targets(a, i)))
            });
            match t {
                Some(_) => (CauseKind::Disruption, t),
                None => (CauseKind::Unknown, None),
            }
        }
    };
    Some(Explanation {
        kind,
        requirement: requirement_for(profile, kind, catalogue),
        gateway_close: gateway_close.map(|c| (c.by, c.reason.clone())),
        session,
        trigger,
    })
}

/// Whether a client close is one a reader needs explained: a 1006, which
/// says only that the connection ended without a Close frame.
pub fn needs_explaining(code: u16) -> bool {
    code == 1006
}

/// The explanation of every client close that needs one, by the index of
/// the client's `Closed` line in `lines`.
pub fn explain_closes(
    lines: &[TraceLine],
    profile: ProfileName,
    catalogue: &[Requirement],
) -> BTreeMap<usize, Explanation> {
    let sessions = match_sessions(lines);
    sessions
        .clients
        .iter()
        .enumerate()
        .filter_map(|(i, c)| match c.end {
            ClientEnd::Closed { code, line, .. } if needs_explaining(code) => {
                explain(lines, &sessions, i, profile, catalogue).map(|e| (line, e))
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::sessions::tests::{client_close, gateway_close, line, open};
    use super::*;
    use crate::catalogue;

    #[test]
    fn every_id_the_mapping_names_is_in_the_catalogue() {
        let reqs = catalogue::requirements();
        let mut named = 0;
        for profile in ProfileName::ALL {
            for kind in CauseKind::ALL {
                let Some(id) = predicted_by(profile, kind) else {
                    continue;
                };
                named += 1;
                let r = reqs.iter().find(|r| r.id == id).unwrap_or_else(|| {
                    panic!(
                        "explain::predicted_by({profile}, {kind:?}) names {id}, which requirements.toml no \
                         longer has: pick the id whose sentence now predicts this close"
                    )
                });
                assert!(
                    r.profiles.contains(&profile),
                    "{id} does not apply to {profile}, yet predicted_by maps {kind:?} under {profile} to it"
                );
                assert_eq!(requirement_for(profile, kind, &reqs).as_deref(), Some(id));
            }
        }
        assert!(named >= 6, "the mapping covers the documented closes");
    }

    #[test]
    fn the_documented_closes_map_to_their_sentences() {
        use CauseKind as K;
        use ProfileName as P;
        assert_eq!(
            predicted_by(P::ApplicationGateway, K::IdleTimeout),
            Some("AGW-TIMEOUT-1")
        );
        assert_eq!(predicted_by(P::FrontDoor, K::IdleTimeout), Some("FD-IDLE-1"));
        assert_eq!(predicted_by(P::FrontDoor, K::Lifetime), Some("FD-LIFETIME-1"));
        assert_eq!(predicted_by(P::FrontDoor, K::Maintenance), Some("FD-MAINT-1"));
        assert_eq!(
            predicted_by(P::ApplicationGateway2016, K::IdleTimeout),
            None,
            "2016 has no idle timer"
        );
        assert_eq!(predicted_by(P::ApplicationGateway, K::Unknown), None);
    }

    #[test]
    fn an_id_missing_from_the_catalogue_resolves_to_none() {
        let reqs: Vec<Requirement> = catalogue::requirements()
            .into_iter()
            .filter(|r| r.id != "FD-IDLE-1")
            .collect();
        assert_eq!(
            requirement_for(ProfileName::FrontDoor, CauseKind::IdleTimeout, &reqs),
            None
        );
    }

    fn idle() -> CloseReason {
        CloseReason::IdleTimeout(Timer::key(
            Duration::from_secs(15),
            "backend_settings[0].request_timeout",
        ))
    }

    #[test]
    fn an_idle_timeout_names_its_setting_and_requirement() {
        let mut lines = open(1000, "gateway", 1, "b1", "c1", "k1");
        lines.push(gateway_close(16_003, "gateway", 1, Side::Gateway, idle()));
        lines.push(client_close(16_004, "c1", 1006));
        let e = explain_closes(&lines, ProfileName::ApplicationGateway, &catalogue::requirements());
        let only = e.get(&5).expect("the close on line 5 is explained");
        assert_eq!(only.kind, CauseKind::IdleTimeout);
        assert_eq!(
            only.to_string(),
            "cause: gateway #1 idle timeout (backend_settings[0].request_timeout = 15s); predicted by AGW-TIMEOUT-1"
        );
    }

    #[test]
    fn maintenance_and_crashes_name_the_timeline_action() {
        let reqs = catalogue::requirements();
        for (action, kind, text) in [
            (
                Action::Maintenance("gateway-2".into()),
                CauseKind::Maintenance,
                "cause: gateway-2 #1 dropped by maintenance, after \"maintenance: restarting gateway-2\" at 40s; predicted by FD-MAINT-1",
            ),
            (
                Action::Crash("gateway-2".into()),
                CauseKind::GatewayCrash,
                "cause: gateway-2 #1 dropped when its instance crashed, after \"crash gateway-2\" at 40s; predicted by FD-RECONNECT-1",
            ),
        ] {
            let mut lines = open(1000, "gateway-2", 1, "b1", "c1", "k1");
            lines.push(line(40_000, "world", action));
            lines.push(gateway_close(40_000, "gateway-2", 1, Side::Gateway, CloseReason::Maintenance));
            lines.push(client_close(40_010, "c1", 1006));
            let e = explain_closes(&lines, ProfileName::FrontDoor, &reqs);
            let e = e.get(&6).expect("explained");
            assert_eq!(e.kind, kind);
            assert_eq!(e.to_string(), text);
        }
    }

    #[test]
    fn a_backend_crash_is_the_backend_closing_its_side() {
        let mut lines = open(1000, "gateway", 1, "b1", "c1", "k1");
        lines.push(line(20_000, "world", Action::Crash("b1".into())));
        lines.push(client_close(20_020, "c1", 1006));
        lines.push(gateway_close(20_030, "gateway", 1, Side::Backend, CloseReason::Closed));
        let e = explain_closes(&lines, ProfileName::ApplicationGateway, &catalogue::requirements());
        assert_eq!(
            e.get(&5).map(ToString::to_string).as_deref(),
            Some("cause: gateway #1: backend b1:9001 closed its side, after \"crash b1\" at 20s; predicted by AGW-UPGRADE-1")
        );
    }

    #[test]
    fn a_partition_without_a_gateway_close_is_a_disruption() {
        let mut lines = open(1000, "gateway", 1, "b1", "c1", "k1");
        lines.push(line(30_000, "world", Action::Partition("c1".into(), "gateway".into())));
        lines.push(line(
            45_000,
            "c1",
            sim::client::ClientEvent::Closed {
                code: 1006,
                cause: CloseCause::NoFrame,
            },
        ));
        let e = explain_closes(&lines, ProfileName::FrontDoor, &catalogue::requirements());
        let e = e.get(&5).expect("explained");
        assert_eq!(e.kind, CauseKind::Disruption);
        assert_eq!(
            e.to_string(),
            "cause: no gateway close, after \"partition c1 <-> gateway\" at 30s; predicted by FD-RECONNECT-1"
        );
    }

    #[test]
    fn normal_closes_need_no_explanation() {
        let mut lines = open(1000, "gateway", 1, "b1", "c1", "k1");
        lines.push(client_close(3000, "c1", 1000));
        lines.push(gateway_close(3010, "gateway", 1, Side::Backend, CloseReason::Closed));
        assert!(explain_closes(&lines, ProfileName::ApplicationGateway, &catalogue::requirements()).is_empty());
    }

    #[test]
    fn seconds_read_like_the_trace() {
        assert_eq!(secs(Duration::from_secs(40)), "40s");
        assert_eq!(secs(Duration::from_millis(16_005)), "16.005s");
        assert_eq!(secs(Duration::from_millis(1_500)), "1.5s");
    }
}
