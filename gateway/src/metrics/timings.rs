//! When a routed request ends, for the duration histogram: pure rules over
//! start times kept by request id, given `now`.
//!
//! A request ends with a response, a 101, the backend's refusal, or the
//! gateway's own error. A failed attempt is judged as the proxy judges it
//! ([`forward::on_failure`]): an answer now, or a retry on another member,
//! which is routed under the same id and keeps the first start.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::forward::{self, NextStep};
use crate::profile::TimeoutPolicy;
use crate::upstream::UpstreamError;

/// The most requests timed at once. A request whose client goes away before
/// any answer never ends; past the bound the oldest is forgotten, so those
/// cannot pile up.
pub const MAX_TIMED: usize = 16_384;

/// How long a failed attempt that the gateway could still retry waits
/// before it counts as the final answer. The retry is routed in the same
/// step as the failure, so a failure still pending after this had none.
const SETTLE_AFTER: Duration = Duration::from_secs(1);

/// The request's final answer, for the counters and the histogram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Finished {
    /// Whether the request asked for an upgrade; `None` when it was never
    /// routed (or was forgotten), so the sink cannot tell.
    pub(crate) upgrade: Option<bool>,
    pub(crate) status: u16,
    /// From the first routing to the answer, when that is known.
    pub(crate) elapsed: Option<Duration>,
}

/// One routed request being timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Timing {
    start: Instant,
    upgrade: bool,
    /// Backends tried so far.
    attempts: u8,
    /// A failed attempt the gateway may still retry: when, and the status
    /// the client gets if it does not.
    pending: Option<(Instant, u16)>,
}

/// Start times of routed requests, by id, and the pure rules that end
/// them. Ordered, so the oldest is the one forgotten at the bound.
#[derive(Debug)]
pub(crate) struct Timings {
    open: BTreeMap<u64, Timing>,
    bound: usize,
}

impl Timings {
    pub(crate) fn new(bound: usize) -> Timings {
        Timings {
            open: BTreeMap::new(),
            bound: bound.max(1),
        }
    }

    /// A request was routed to a backend; a second routing of the same id is
    /// a retry, which keeps the first start and cancels the pending failure.
    /// Returns the answer of a request forgotten to stay within the bound,
    /// if it had one pending.
    pub(crate) fn routed(&mut self, id: u64, upgrade: bool, now: Instant) -> Option<Finished> {
        if let Some(t) = self.open.get_mut(&id) {
            t.attempts = t.attempts.saturating_add(1);
            t.pending = None;
            return None;
        }
        self.open.insert(
            id,
            Timing {
                start: now,
                upgrade,
                attempts: 1,
                pending: None,
            },
        );
        if self.open.len() <= self.bound {
            return None;
        }
        let (_, oldest) = self.open.pop_first()?;
        oldest.pending.map(|(at, status)| Finished {
            upgrade: Some(oldest.upgrade),
            status,
            elapsed: Some(at.saturating_duration_since(oldest.start)),
        })
    }

    /// The request `id` got its final answer `status`.
    pub(crate) fn answered(&mut self, id: u64, status: u16, now: Instant) -> Finished {
        match self.open.remove(&id) {
            Some(t) => Finished {
                upgrade: Some(t.upgrade),
                status,
                elapsed: Some(now.saturating_duration_since(t.start)),
            },
            None => Finished {
                upgrade: None,
                status,
                elapsed: None,
            },
        }
    }

    /// An attempt at a backend failed. Decided as the proxy decides
    /// ([`forward::on_failure`]): an answer now, or a retry the proxy may
    /// make if another member is healthy and the body was kept. A possible
    /// retry stays pending until the retry is routed or [`Self::settle`]
    /// finds it old.
    pub(crate) fn failed(
        &mut self,
        id: u64,
        error: &UpstreamError,
        policy: &TimeoutPolicy,
        now: Instant,
    ) -> Option<Finished> {
        let retried = self.open.get(&id).is_some_and(|t| t.attempts > 1);
        match forward::on_failure(error, policy, true, retried) {
            NextStep::Answer(status) => Some(self.answered(id, status, now)),
            NextStep::Retry => {
                if let Some(t) = self.open.get_mut(&id) {
                    t.pending = Some((now, policy.status));
                }
                None
            }
        }
    }

    /// Ends every pending failure older than [`SETTLE_AFTER`]: no retry
    /// followed, so the client got the gateway's status.
    pub(crate) fn settle(&mut self, now: Instant) -> Vec<Finished> {
        let due: Vec<u64> = self
            .open
            .iter()
            .filter(|(_, t)| {
                t.pending
                    .is_some_and(|(at, _)| now.saturating_duration_since(at) >= SETTLE_AFTER)
            })
            .map(|(id, _)| *id)
            .collect();
        due.into_iter()
            .filter_map(|id| {
                let t = self.open.remove(&id)?;
                let (at, status) = t.pending?;
                Some(Finished {
                    upgrade: Some(t.upgrade),
                    status,
                    elapsed: Some(at.saturating_duration_since(t.start)),
                })
            })
            .collect()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upstream::Kind;

    const RETRYING: TimeoutPolicy = TimeoutPolicy {
        status: 504,
        retry_other_member: true,
        retry_unreached: false,
    };

    #[tokio::test(start_paused = true)]
    async fn a_retry_keeps_the_first_start_and_only_the_final_answer_counts() {
        let mut t = Timings::new(8);
        let start = Instant::now();
        t.routed(1, false, start);
        tokio::time::advance(Duration::from_secs(20)).await;
        let timeout = UpstreamError::timeout(Duration::from_secs(20));
        assert_eq!(t.failed(1, &timeout, &RETRYING, Instant::now()), None, "may be retried");
        t.routed(1, false, Instant::now());
        tokio::time::advance(Duration::from_secs(1)).await;
        let done = t.answered(1, 200, Instant::now());
        assert_eq!(done.status, 200);
        assert_eq!(done.elapsed, Some(Duration::from_secs(21)));
        assert_eq!(t.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_second_timeout_is_final_and_an_unretried_one_settles_later() {
        let mut t = Timings::new(8);
        let timeout = UpstreamError::timeout(Duration::from_secs(20));
        t.routed(1, false, Instant::now());
        t.failed(1, &timeout, &RETRYING, Instant::now());
        t.routed(1, false, Instant::now());
        let done = t.failed(1, &timeout, &RETRYING, Instant::now());
        assert_eq!(done.map(|f| f.status), Some(504));

        // No member to retry on: nothing follows the failure.
        t.routed(2, true, Instant::now());
        t.failed(2, &timeout, &RETRYING, Instant::now());
        assert!(t.settle(Instant::now()).is_empty(), "a retry may still come");
        tokio::time::advance(SETTLE_AFTER).await;
        let settled = t.settle(Instant::now());
        assert_eq!(settled.len(), 1);
        assert_eq!(settled[0].upgrade, Some(true));
        assert_eq!(settled[0].status, 504);
        assert_eq!(settled[0].elapsed, Some(Duration::ZERO));
    }

    #[test]
    fn a_connect_failure_is_final_at_once() {
        let mut t = Timings::new(8);
        t.routed(1, false, Instant::now());
        let refused = UpstreamError::new(Kind::Connect, "refused");
        let done = t.failed(1, &refused, &RETRYING, Instant::now());
        assert_eq!(done.map(|f| f.status), Some(502));
    }

    #[test]
    fn the_oldest_request_is_forgotten_at_the_bound() {
        let mut t = Timings::new(2);
        for id in 1..=3 {
            t.routed(id, false, Instant::now());
        }
        assert_eq!(t.len(), 2);
        assert_eq!(t.answered(1, 200, Instant::now()).elapsed, None, "forgotten");
        assert!(t.answered(3, 200, Instant::now()).elapsed.is_some());
    }
}
