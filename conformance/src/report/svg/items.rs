//! What the timeline shows, before any geometry: each client session and
//! handshake outcome as an [`Item`] with its [`Mark`] and tooltip, and each
//! backend's pool membership as [`Health`] spans. Pure functions of the
//! trace.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use gateway::config::BackendAddr;
use gateway::{Event, ProfileName};
use sim::client::{ClientEvent, CloseCause};
use sim::trace::{TraceEvent, TraceLine};

use crate::catalogue::Requirement;
use crate::explain::{self, secs, ClientEnd, Sessions};

/// What one mark on the timeline means; each has its own colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mark {
    /// Closed with 1000–1003: a normal close.
    Normal,
    /// Closed with 1006: no Close frame.
    Abnormal,
    /// Closed with an application code, 4000–4999.
    Application,
    /// Closed with any other code.
    OtherCode,
    /// Still open when the run ended.
    StillOpen,
    /// A handshake answered 4xx.
    Refused4xx,
    /// A handshake answered 5xx.
    Refused5xx,
    /// A handshake answered something else, or broken.
    RefusedOther,
    /// No connection: refused, reset or timed out before any answer.
    NoConnection,
    /// A plain HTTP request and its answer.
    Response,
}

impl Mark {
    /// The mark for a session closed with `code`. Pure.
    pub fn for_close(code: u16) -> Mark {
        match code {
            1000..=1003 => Mark::Normal,
            1006 => Mark::Abnormal,
            4000..=4999 => Mark::Application,
            _ => Mark::OtherCode,
        }
    }

    /// The mark for a handshake answered `status`. Pure.
    pub fn for_refusal(status: u16) -> Mark {
        match status {
            400..=499 => Mark::Refused4xx,
            500..=599 => Mark::Refused5xx,
            _ => Mark::RefusedOther,
        }
    }

    /// Drawn as a point (a diamond) rather than a bar.
    pub fn is_point(self) -> bool {
        matches!(
            self,
            Mark::Refused4xx | Mark::Refused5xx | Mark::RefusedOther | Mark::NoConnection | Mark::Response
        )
    }

    /// Colours from the Okabe–Ito palette, which stays distinct under the
    /// common colour-vision deficiencies.
    pub fn colour(self) -> &'static str {
        match self {
            Mark::Normal => "#0072b2",
            Mark::Abnormal => "#d55e00",
            Mark::Application => "#cc79a7",
            Mark::OtherCode => "#8c8c8c",
            Mark::StillOpen => "#009e73",
            Mark::Refused4xx => "#e69f00",
            Mark::Refused5xx => "#7a3b00",
            Mark::RefusedOther => "#a6761d",
            Mark::NoConnection => "#000000",
            Mark::Response => "#56b4e9",
        }
    }

    /// Whether the label can be left out when it does not fit inside the
    /// bar: the colour alone says "closed normally" or "answered".
    pub fn label_optional(self) -> bool {
        matches!(self, Mark::Normal | Mark::Response)
    }

    /// Whether a label on this mark's colour should be white.
    pub fn dark(self) -> bool {
        !matches!(self, Mark::Refused4xx | Mark::Response)
    }

    /// What the legend says.
    pub fn legend(self) -> &'static str {
        match self {
            Mark::Normal => "closed normally (1000-1003)",
            Mark::Abnormal => "closed abnormally (1006, no close frame)",
            Mark::Application => "closed by the application (4000-4999)",
            Mark::OtherCode => "closed with another code",
            Mark::StillOpen => "still open at the end",
            Mark::Refused4xx => "handshake refused 4xx",
            Mark::Refused5xx => "handshake refused 5xx",
            Mark::RefusedOther => "handshake failed",
            Mark::NoConnection => "no connection",
            Mark::Response => "plain request answered",
        }
    }
}

/// A backend in the pool.
pub const IN_POOL: &str = "#cfe8d6";
/// A backend out of the pool: hatched dark grey, unlike every [`Mark`].
pub const OUT_OF_POOL: &str = "#3d3d3d";

/// One thing in a client row: a session bar or a point.
#[derive(Debug, Clone, PartialEq)]
pub struct Item {
    pub row: String,
    pub from: Duration,
    pub to: Duration,
    pub mark: Mark,
    pub label: String,
    pub tooltip: String,
}

/// The row a client session goes in: the client, and where it went.
fn row_label(client: &str, via: Option<(&str, &BackendAddr)>, several_instances: bool) -> String {
    match via {
        Some((instance, backend)) if several_instances => format!("{client} → {instance} → {backend}"),
        Some((_, backend)) => format!("{client} → {backend}"),
        None => client.to_string(),
    }
}

pub(super) fn span_text(from: Duration, to: Duration) -> String {
    format!("{} → {} ({})", secs(from), secs(to), secs(to.saturating_sub(from)))
}

/// The sessions and handshake outcomes of a trace as timeline items.
pub fn items(lines: &[TraceLine], end: Duration, profile: ProfileName, catalogue: &[Requirement]) -> Vec<Item> {
    let sessions: Sessions = explain::match_sessions(lines);
    let several = {
        let mut instances: Vec<&str> = sessions.gateway.iter().map(|g| g.instance.as_str()).collect();
        instances.sort_unstable();
        instances.dedup();
        instances.len() > 1
    };
    let mut out = Vec::new();
    for (i, c) in sessions.clients.iter().enumerate() {
        let carried = sessions.gateway_of(i);
        let row = row_label(&c.client, carried.map(|g| (g.instance.as_str(), &g.backend)), several);
        let (to, mark, label, how) = match c.end {
            ClientEnd::Closed { at, code, cause, .. } => {
                let how = match cause {
                    CloseCause::Frame => format!("closed {code} (close frame)"),
                    CloseCause::NoFrame => format!("closed {code} (no close frame)"),
                    CloseCause::PongTimeout => format!("closed {code} (no pong in time)"),
                };
                (at, Mark::for_close(code), code.to_string(), how)
            }
            ClientEnd::Open => (
                end,
                Mark::StillOpen,
                "open".to_string(),
                "still open at the end".to_string(),
            ),
        };
        let mut tooltip = format!("{} session {}\n{}", c.client, i + 1, span_text(c.opened_at, to));
        if let Some(g) = carried {
            let _ = write!(tooltip, "\nbackend {} via {} #{}", g.backend, g.instance, g.id);
        }
        let _ = write!(tooltip, "\n{how}");
        let explained = matches!(c.end, ClientEnd::Closed { code, .. } if explain::needs_explaining(code));
        let mut label = label;
        if explained {
            if let Some(e) = explain::explain(lines, &sessions, i, profile, catalogue) {
                let _ = write!(tooltip, "\n{e}");
                if let Some(short) = e.kind.short() {
                    label = format!("{label} {short}");
                }
            }
        } else if let Some(close) = carried.and_then(|g| g.closed.as_ref()) {
            let _ = write!(tooltip, "\ngateway: closed by {} ({})", close.by, close.reason);
        }
        out.push(Item {
            row,
            from: c.opened_at,
            to,
            mark,
            label,
            tooltip,
        });
    }
    for l in lines {
        let TraceEvent::Client(event) = &l.event else { continue };
        let (mark, label) = match event {
            ClientEvent::Refused { status, .. } => (Mark::for_refusal(*status), status.to_string()),
            ClientEvent::HandshakeFailed { .. } => (Mark::RefusedOther, "failed".to_string()),
            ClientEvent::ConnectFailed { .. } | ClientEvent::TlsFailed { .. } | ClientEvent::RequestFailed { .. } => {
                (Mark::NoConnection, "no conn".to_string())
            }
            ClientEvent::TimedOut { .. } => (Mark::NoConnection, "timeout".to_string()),
            ClientEvent::Response { status } => (Mark::Response, status.to_string()),
            _ => continue,
        };
        out.push(Item {
            row: l.source.clone(),
            from: l.at,
            to: l.at,
            mark,
            label,
            tooltip: format!("{} at {}\n{event}", l.source, secs(l.at)),
        });
    }
    out.sort_by(|a, b| a.from.cmp(&b.from).then(a.to.cmp(&b.to)));
    out
}

/// Pool membership of one backend as one instance saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub instance: String,
    pub backend: BackendAddr,
    /// Contiguous spans: (from, to, in the pool).
    pub spans: Vec<(Duration, Duration, bool)>,
}

/// Each (instance, backend) that was ever out of the pool after its first
/// probe, with its membership over time. Before an instance's first probe
/// of a backend (and after a restart, until the next) membership is
/// unknown and not drawn.
pub fn health(lines: &[TraceLine], end: Duration) -> Vec<Health> {
    type Key = (String, BackendAddr);
    let mut state: BTreeMap<Key, (Duration, Option<bool>)> = BTreeMap::new();
    let mut spans: BTreeMap<Key, Vec<(Duration, Duration, bool)>> = BTreeMap::new();
    let mut close = |key: &Key, at: Duration, since: Duration, was: Option<bool>| {
        if let Some(in_pool) = was {
            if at > since {
                spans.entry(key.clone()).or_default().push((since, at, in_pool));
            }
        }
    };
    for l in lines {
        let TraceEvent::Gateway(e) = &l.event else { continue };
        match e {
            Event::ListenerBound { .. } => {
                for (key, (since, was)) in state.iter_mut().filter(|(k, _)| k.0 == l.source) {
                    close(key, l.at, *since, *was);
                    *since = l.at;
                    *was = None;
                }
            }
            Event::ProbeCompleted { backend, healthy, .. } | Event::BackendHealthChanged { backend, healthy, .. } => {
                let key = (l.source.clone(), backend.clone());
                let (since, was) = state.get(&key).copied().unwrap_or((l.at, None));
                if was != Some(*healthy) {
                    close(&key, l.at, since, was);
                    state.insert(key, (l.at, Some(*healthy)));
                }
            }
            _ => {}
        }
    }
    for (key, (since, was)) in &state {
        close(key, end, *since, *was);
    }
    spans
        .into_iter()
        .filter(|(_, s)| s.iter().any(|(_, _, in_pool)| !in_pool))
        .map(|((instance, backend), spans)| Health {
            instance,
            backend,
            spans,
        })
        .collect()
}
