//! The trace: an ordered record of `(time, source, event)`, every event a
//! typed value.
//!
//! Expectations, invariants and reports match on [`TraceEvent`] variants;
//! the text rendering is for people and snapshots only.
//!
//! Inside the simulator, time is turmoil's virtual clock, so the same seed
//! gives the same trace byte for byte. On a real network time is tokio's
//! clock since the trace was created.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backend::BackendEvent;
use gateway::Event;

use crate::client::ClientEvent;
use crate::world::Action;

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TraceEvent {
    /// What a gateway instance reported.
    Gateway(Event),
    /// What a backend did or saw.
    Backend(BackendEvent),
    /// What a client did or saw.
    Client(ClientEvent),
    /// A timeline action the world applied to itself.
    World(Action),
}

impl From<Event> for TraceEvent {
    fn from(e: Event) -> Self {
        TraceEvent::Gateway(e)
    }
}

impl From<BackendEvent> for TraceEvent {
    fn from(e: BackendEvent) -> Self {
        TraceEvent::Backend(e)
    }
}

impl From<ClientEvent> for TraceEvent {
    fn from(e: ClientEvent) -> Self {
        TraceEvent::Client(e)
    }
}

impl From<Action> for TraceEvent {
    fn from(a: Action) -> Self {
        TraceEvent::World(a)
    }
}

impl fmt::Display for TraceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TraceEvent::Gateway(e) => e.fmt(f),
            TraceEvent::Backend(e) => e.fmt(f),
            TraceEvent::Client(e) => e.fmt(f),
            TraceEvent::World(a) => a.fmt(f),
        }
    }
}

impl TraceEvent {
    /// Events that repeat for every message or probe and carry no news:
    /// left out of the readable trace.
    pub fn is_chatter(&self) -> bool {
        match self {
            TraceEvent::Gateway(Event::ProbeCompleted { .. }) => true,
            TraceEvent::Backend(BackendEvent::Accepted { .. } | BackendEvent::Message { .. }) => true,
            TraceEvent::Backend(BackendEvent::Request(r)) => r.is_probe(),
            TraceEvent::Client(c) => c.is_chatter(),
            _ => false,
        }
    }
}

/// One line of the trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceLine {
    pub at: Duration,
    pub source: String,
    pub event: TraceEvent,
}

#[derive(Debug, Clone, Copy)]
enum Clock {
    Simulated,
    Real(tokio::time::Instant),
}

/// A shared, append-only trace. Cloning shares the same record.
#[derive(Debug, Clone)]
pub struct Trace {
    lines: Arc<Mutex<Vec<TraceLine>>>,
    /// Host names by address, so renderings say `c1` rather than an IP.
    names: Arc<Mutex<BTreeMap<IpAddr, String>>>,
    clock: Clock,
}

impl Trace {
    /// A trace stamped with turmoil's virtual time.
    pub fn simulated() -> Trace {
        Trace {
            lines: Arc::default(),
            names: Arc::default(),
            clock: Clock::Simulated,
        }
    }

    /// A trace stamped with tokio time since now; must be created inside a
    /// tokio runtime.
    pub fn real() -> Trace {
        Trace {
            lines: Arc::default(),
            names: Arc::default(),
            clock: Clock::Real(tokio::time::Instant::now()),
        }
    }

    /// The current time on the trace's clock.
    pub fn now(&self) -> Duration {
        match self.clock {
            Clock::Simulated => turmoil::sim_elapsed().unwrap_or_default(),
            Clock::Real(start) => start.elapsed(),
        }
    }

    /// Appends an event from `source` at the current time.
    pub fn record(&self, source: &str, event: impl Into<TraceEvent>) {
        self.record_at(self.now(), source, event);
    }

    /// Appends an event stamped with an explicit time (for the world's own
    /// actions, recorded between simulation steps where no host is
    /// current).
    pub fn record_at(&self, at: Duration, source: &str, event: impl Into<TraceEvent>) {
        let line = TraceLine {
            at,
            source: source.to_string(),
            event: event.into(),
        };
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
    }

    /// Names the host at `ip`, for renderings.
    pub fn name_host(&self, ip: IpAddr, name: &str) {
        self.names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(ip, name.to_string());
    }

    /// A copy of every line so far.
    pub fn lines(&self) -> Vec<TraceLine> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The host names known for addresses.
    pub fn names(&self) -> BTreeMap<IpAddr, String> {
        self.names.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The full rendering: one line per event.
    pub fn render(&self) -> String {
        render(&self.lines(), &self.names())
    }

    /// The readable rendering: without per-message and routine probe lines.
    pub fn render_readable(&self) -> String {
        let kept: Vec<TraceLine> = self.lines().into_iter().filter(|l| !l.event.is_chatter()).collect();
        render(&kept, &self.names())
    }
}

/// One event as text, with peer addresses named where a name is known.
pub fn describe(event: &TraceEvent, names: &BTreeMap<IpAddr, String>) -> String {
    match event {
        TraceEvent::Backend(BackendEvent::Accepted { peer }) => match names.get(&peer.ip()) {
            Some(name) => format!("accepted connection from {name}"),
            None => event.to_string(),
        },
        _ => event.to_string(),
    }
}

/// Renders lines as text: `seconds.millis source event`, sources padded so
/// the columns line up.
pub fn render(lines: &[TraceLine], names: &BTreeMap<IpAddr, String>) -> String {
    let width = lines.iter().map(|l| l.source.len()).max().unwrap_or(0);
    let mut out = String::new();
    for l in lines {
        let _ = writeln!(
            out,
            "{:>6}.{:03}s  {:<width$}  {}",
            l.at.as_secs(),
            l.at.subsec_millis(),
            l.source,
            describe(&l.event, names)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_aligned_columns_and_names_peers() {
        let peer: std::net::SocketAddr = "192.168.0.3:49152".parse().unwrap();
        let lines = vec![
            TraceLine {
                at: Duration::from_millis(1500),
                source: "b1".into(),
                event: TraceEvent::Backend(BackendEvent::Accepted { peer }),
            },
            TraceLine {
                at: Duration::from_secs(3600),
                source: "world".into(),
                event: TraceEvent::World(Action::Crash("b1".into())),
            },
        ];
        let names = [(peer.ip(), "gateway".to_string())].into_iter().collect();
        assert_eq!(
            render(&lines, &names),
            "     1.500s  b1     accepted connection from gateway\n  3600.000s  world  crash b1\n"
        );
        assert!(render(&lines, &BTreeMap::new()).contains("from 192.168.0.3:49152"));
    }
}
