//! The trace: an ordered record of `(time, source, event)`.
//!
//! Inside the simulator, time is turmoil's virtual clock, so the same seed
//! gives the same trace byte for byte. On a real network (the parity tests)
//! time is tokio's clock since the trace was created.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceLine {
    pub at: Duration,
    pub source: String,
    pub event: String,
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
    clock: Clock,
}

impl Trace {
    /// A trace stamped with turmoil's virtual time.
    pub fn simulated() -> Trace {
        Trace {
            lines: Arc::default(),
            clock: Clock::Simulated,
        }
    }

    /// A trace stamped with tokio time since now; must be created inside a
    /// tokio runtime.
    pub fn real() -> Trace {
        Trace {
            lines: Arc::default(),
            clock: Clock::Real(tokio::time::Instant::now()),
        }
    }

    fn now(&self) -> Duration {
        match self.clock {
            Clock::Simulated => turmoil::sim_elapsed().unwrap_or_default(),
            Clock::Real(start) => start.elapsed(),
        }
    }

    /// Appends an event from `source` at the current time.
    pub fn record(&self, source: &str, event: impl Into<String>) {
        let line = TraceLine {
            at: self.now(),
            source: source.to_string(),
            event: event.into(),
        };
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
    }

    /// Appends an event stamped with an explicit time (for the world's own
    /// actions, recorded between simulation steps where no host is
    /// current).
    pub fn record_at(&self, at: Duration, source: &str, event: impl Into<String>) {
        let line = TraceLine {
            at,
            source: source.to_string(),
            event: event.into(),
        };
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).push(line);
    }

    /// A copy of every line so far.
    pub fn lines(&self) -> Vec<TraceLine> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The readable rendering: one line per event, `seconds.millis source
    /// event`, sources padded so the columns line up.
    pub fn render(&self) -> String {
        render(&self.lines())
    }
}

/// Renders lines as text.
pub fn render(lines: &[TraceLine]) -> String {
    let width = lines.iter().map(|l| l.source.len()).max().unwrap_or(0);
    let mut out = String::new();
    for l in lines {
        let _ = writeln!(
            out,
            "{:>6}.{:03}s  {:<width$}  {}",
            l.at.as_secs(),
            l.at.subsec_millis(),
            l.source,
            l.event
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_aligned_columns() {
        let lines = vec![
            TraceLine {
                at: Duration::from_millis(1500),
                source: "gateway".into(),
                event: "listener bound".into(),
            },
            TraceLine {
                at: Duration::from_secs(3600),
                source: "c1".into(),
                event: "open".into(),
            },
        ];
        assert_eq!(
            render(&lines),
            "     1.500s  gateway  listener bound\n  3600.000s  c1       open\n"
        );
    }
}
