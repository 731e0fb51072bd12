//! What a run may ask of the machine, checked before anything runs, and
//! warnings about settings that blur a run's results.
//!
//! The simulator holds every session, and every event in its trace, in
//! memory, and steps through virtual time tick by tick. A file asking for a
//! million sessions, or ten thousand hours at a 1 ms tick, would exhaust
//! memory or never end; it is refused with the limit it broke and how to
//! raise it.

use std::time::Duration;

use ::gateway::config::KeyPath;

use super::file::ScenarioFile;
use super::{root, Issues, Scenario};

/// Bounds on one run. The defaults fit a 2-core, 8 GiB machine with room
/// to spare; `wsgate run --max-sessions N --max-steps N --max-events N`
/// raises them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// WebSocket sessions opened at once across every client group (a
    /// group's `count`, summed). turmoil also gives each client host about
    /// 16,000 ephemeral ports.
    pub max_sessions: usize,
    /// Simulator steps: `duration / tick`.
    pub max_steps: u64,
    /// Trace events the clients' schedules would produce (messages and
    /// pings, about four events each).
    pub max_events: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sessions: 20_000,
            max_steps: 20_000_000,
            max_events: 20_000_000,
        }
    }
}

/// The most sessions one client group may open: turmoil hands each client
/// host ports from 49152 to 65535, and reconnects need spare ones.
pub const MAX_GROUP: usize = 10_000;

fn times_in(duration: Duration, every: Duration) -> u64 {
    if every.is_zero() {
        return 0;
    }
    (duration.as_nanos() / every.as_nanos()).try_into().unwrap_or(u64::MAX)
}

/// Refuses a run too large for the machine, naming the limit and how to
/// raise it, and entries scheduled after the run ends.
pub(super) fn check_size(file: &ScenarioFile, limits: &Limits, issues: &mut Issues) {
    let duration = file.duration.get();
    let tick = file.tick.map(|d| d.get()).unwrap_or(Duration::from_millis(10));
    let steps = times_in(duration, tick);
    if steps > limits.max_steps {
        issues.push((
            root("duration"),
            format!(
                "{} at a {} tick is {steps} simulator steps, over the limit of {} (raise `tick`, shorten `duration`, \
                 or pass --max-steps N)",
                file.duration,
                ::gateway::config::Duration::from(tick),
                limits.max_steps
            ),
        ));
    }
    let mut sessions = 0usize;
    let mut events = 0u64;
    for (i, c) in file.clients.iter().enumerate() {
        let at = KeyPath::item("clients", i);
        let count = c.count.unwrap_or(1);
        if count > MAX_GROUP {
            issues.push((
                at.clone().key("count"),
                format!(
                    "{count} sessions from one client host is over the limit of {MAX_GROUP} (each needs an ephemeral \
                     port on its host); split the group into several [[clients]]"
                ),
            ));
        }
        sessions = sessions.saturating_add(count);
        let per_session = c
            .messages
            .as_ref()
            .map_or(0, |m| times_in(duration, m.every.get()).saturating_mul(4))
            + c.ping_interval
                .map_or(0, |p| times_in(duration, p.get()).saturating_mul(2));
        events = events.saturating_add(per_session.saturating_mul(count as u64));
        if let Some(start) = c.start {
            if start.get() > duration {
                issues.push((
                    at.key("start"),
                    format!("starts at {start}, after the run ends at {}", file.duration),
                ));
            }
        }
    }
    for (i, r) in file.requests.iter().enumerate() {
        events = events.saturating_add(r.count.unwrap_or(1) as u64 * 4);
        if let Some(start) = r.start {
            if start.get() > duration {
                issues.push((
                    KeyPath::item("requests", i).key("start"),
                    format!("starts at {start}, after the run ends at {}", file.duration),
                ));
            }
        }
    }
    if sessions > limits.max_sessions {
        issues.push((
            root("clients"),
            format!(
                "{sessions} sessions in all is over the limit of {} (pass --max-sessions N if the machine has the \
                 memory: about 50 KiB a session)",
                limits.max_sessions
            ),
        ));
    }
    if events > limits.max_events {
        issues.push((
            root("clients"),
            format!(
                "the clients' schedules make about {events} trace events, over the limit of {} (send less often, \
                 shorten `duration`, or pass --max-events N)",
                limits.max_events
            ),
        ));
    }
    for (i, t) in file.timeline.iter().enumerate() {
        if t.at.get() > duration {
            issues.push((
                KeyPath::item("timeline", i).key("at"),
                format!("at {}, after the run ends at {}", t.at, file.duration),
            ));
        }
    }
}

/// Valid settings that blur a run: every hop is rounded up to a tick, so a
/// tick coarser than a link's latency or a client's attempt timeout makes
/// timings coarser than the file says.
pub(super) fn warnings(file: &ScenarioFile, scenario: &Scenario) -> Vec<(KeyPath, String)> {
    let mut out = Vec::new();
    let tick = scenario.tick;
    if tick > scenario.latency {
        out.push((
            root("latency"),
            format!(
                "the {} tick is coarser than the {} link latency: every hop takes a whole tick",
                ::gateway::config::Duration::from(tick),
                ::gateway::config::Duration::from(scenario.latency)
            ),
        ));
    }
    for (i, c) in file.clients.iter().enumerate() {
        if let Some(timeout) = c.retry.as_ref().and_then(|r| r.attempt_timeout) {
            if tick > timeout.get() {
                out.push((
                    KeyPath::item("clients", i).key("retry").key("attempt_timeout"),
                    format!(
                        "the {} tick is coarser than this {timeout} attempt timeout",
                        ::gateway::config::Duration::from(tick)
                    ),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_whole_intervals() {
        assert_eq!(times_in(Duration::from_secs(60), Duration::from_secs(20)), 3);
        assert_eq!(times_in(Duration::from_secs(1), Duration::ZERO), 0);
        assert_eq!(
            times_in(Duration::from_secs(36_000_000), Duration::from_millis(1)),
            36_000_000_000
        );
    }
}
