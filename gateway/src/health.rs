//! Probe health: judging one probe answer, and the state machine that turns a
//! run of results into pool membership. Pure: results and `now` go in,
//! transitions come out.
//!
//! Two rules, from the documents and Azure's probe docs they point to:
//! - Application Gateway: unhealthy after N consecutive failures (default
//!   3); one success restores the backend.
//! - Front Door: healthy while at least `required` of the last `size`
//!   samples succeeded (default 2 of 4).

use std::collections::VecDeque;
use std::fmt;
use std::ops::RangeInclusive;
use std::time::Duration;

/// Why one probe failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeFailure {
    /// The backend answered with a status outside the healthy range.
    Status(u16),
    /// The body lacked the configured `match_body` text.
    Body(u16),
    /// No answer within the probe timeout.
    Timeout,
    /// Refused, reset, or the TLS or HTTP exchange broke.
    Upstream(crate::upstream::UpstreamError),
}

impl fmt::Display for ProbeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeFailure::Status(s) => write!(f, "status {s}"),
            ProbeFailure::Body(s) => write!(f, "status {s} without the expected body"),
            ProbeFailure::Timeout => f.write_str("timeout"),
            ProbeFailure::Upstream(e) => write!(f, "{e}"),
        }
    }
}

/// One probe's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeResult {
    Success(u16),
    Failure(ProbeFailure),
}

impl ProbeResult {
    pub fn is_success(&self) -> bool {
        matches!(self, ProbeResult::Success(_))
    }
}

impl fmt::Display for ProbeResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeResult::Success(s) => write!(f, "status {s}"),
            ProbeResult::Failure(e) => e.fmt(f),
        }
    }
}

/// Judges an answer: healthy when the status is in one of `healthy` and,
/// if `match_body` is set, the body contains it.
pub fn judge(
    status: u16,
    body: Option<&[u8]>,
    healthy: &[RangeInclusive<u16>],
    match_body: Option<&str>,
) -> ProbeResult {
    if !healthy.iter().any(|r| r.contains(&status)) {
        return ProbeResult::Failure(ProbeFailure::Status(status));
    }
    if let Some(needle) = match_body {
        let found = body.is_some_and(|b| String::from_utf8_lossy(b).contains(needle));
        if !found {
            return ProbeResult::Failure(ProbeFailure::Body(status));
        }
    }
    ProbeResult::Success(status)
}

/// How results become health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthRule {
    /// Unhealthy after `unhealthy_after` consecutive failures; healthy again
    /// after one success.
    Consecutive { unhealthy_after: u32 },
    /// Healthy while at least `required` of the last `size` samples
    /// succeeded; decided once `size` samples exist.
    Window { size: u32, required: u32 },
}

/// A change of pool membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    BecameHealthy,
    /// `failures` is the failure count that decided it (consecutive, or
    /// within the window).
    BecameUnhealthy {
        failures: u32,
    },
}

/// One backend's health as seen by one gateway instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    rule: HealthRule,
    healthy: bool,
    consecutive_failures: u32,
    window: VecDeque<bool>,
    last: Option<(Duration, ProbeResult)>,
}

impl Health {
    /// A backend in `initially_healthy` state before its first probe.
    pub fn new(rule: HealthRule, initially_healthy: bool) -> Health {
        Health {
            rule,
            healthy: initially_healthy,
            consecutive_failures: 0,
            window: VecDeque::new(),
            last: None,
        }
    }

    pub fn is_healthy(&self) -> bool {
        self.healthy
    }

    /// The latest result and when it arrived.
    pub fn last(&self) -> Option<&(Duration, ProbeResult)> {
        self.last.as_ref()
    }

    /// Consecutive failures so far (the AGW rule's counter).
    pub fn consecutive_failures(&self) -> u32 {
        self.consecutive_failures
    }

    /// Records a probe result at `now` and says whether membership changed.
    pub fn observe(&mut self, now: Duration, result: ProbeResult) -> Option<Transition> {
        let success = result.is_success();
        self.last = Some((now, result));
        self.consecutive_failures = if success { 0 } else { self.consecutive_failures + 1 };
        let (next, failures) = match self.rule {
            HealthRule::Consecutive { unhealthy_after } => {
                if success {
                    (true, 0)
                } else if self.consecutive_failures >= unhealthy_after {
                    (false, self.consecutive_failures)
                } else {
                    (self.healthy, 0)
                }
            }
            HealthRule::Window { size, required } => {
                self.window.push_back(success);
                while self.window.len() > size as usize {
                    self.window.pop_front();
                }
                if self.window.len() < size as usize {
                    (self.healthy, 0)
                } else {
                    let ok = self.window.iter().filter(|s| **s).count() as u32;
                    (ok >= required, size - ok)
                }
            }
        };
        let transition = match (self.healthy, next) {
            (false, true) => Some(Transition::BecameHealthy),
            (true, false) => Some(Transition::BecameUnhealthy { failures }),
            _ => None,
        };
        self.healthy = next;
        transition
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_results_read_as_the_answer_or_the_failure() {
        // What `GET /backends` and the probe events show.
        assert_eq!(ProbeResult::Success(200).to_string(), "status 200");
        assert_eq!(
            ProbeResult::Failure(ProbeFailure::Status(500)).to_string(),
            "status 500"
        );
        assert_eq!(
            ProbeResult::Failure(ProbeFailure::Body(200)).to_string(),
            "status 200 without the expected body"
        );
        assert_eq!(ProbeResult::Failure(ProbeFailure::Timeout).to_string(), "timeout");
        let refused = crate::upstream::UpstreamError::new(crate::upstream::Kind::Connect, "refused");
        assert_eq!(
            ProbeResult::Failure(ProbeFailure::Upstream(refused)).to_string(),
            "connect: refused"
        );
    }
    use proptest::prelude::*;

    const OK: ProbeResult = ProbeResult::Success(200);
    fn fail() -> ProbeResult {
        ProbeResult::Failure(ProbeFailure::Status(500))
    }

    #[test]
    fn judges_status_ranges_and_body() {
        let agw = [200..=399];
        assert_eq!(judge(302, None, &agw, None), ProbeResult::Success(302));
        assert_eq!(
            judge(426, None, &agw, None),
            ProbeResult::Failure(ProbeFailure::Status(426))
        );
        let fd = [200..=200];
        assert_eq!(
            judge(204, None, &fd, None),
            ProbeResult::Failure(ProbeFailure::Status(204))
        );
        assert_eq!(
            judge(200, Some(b"all good"), &fd, Some("good")),
            ProbeResult::Success(200)
        );
        assert_eq!(
            judge(200, Some(b"degraded"), &fd, Some("good")),
            ProbeResult::Failure(ProbeFailure::Body(200))
        );
    }

    #[test]
    fn agw_leaves_after_three_failures_and_one_success_restores() {
        let mut h = Health::new(HealthRule::Consecutive { unhealthy_after: 3 }, true);
        assert_eq!(h.observe(Duration::ZERO, fail()), None);
        assert_eq!(h.observe(Duration::ZERO, fail()), None);
        assert_eq!(
            h.observe(Duration::ZERO, fail()),
            Some(Transition::BecameUnhealthy { failures: 3 })
        );
        assert_eq!(h.observe(Duration::ZERO, fail()), None);
        assert_eq!(h.observe(Duration::ZERO, OK), Some(Transition::BecameHealthy));
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let mut h = Health::new(HealthRule::Consecutive { unhealthy_after: 3 }, true);
        for r in [fail(), fail(), OK, fail(), fail()] {
            assert_eq!(h.observe(Duration::ZERO, r), None);
        }
        assert!(h.is_healthy());
    }

    #[test]
    fn front_door_needs_two_of_the_last_four() {
        let mut h = Health::new(HealthRule::Window { size: 4, required: 2 }, true);
        // Not decided until four samples exist.
        for r in [fail(), fail(), fail()] {
            assert_eq!(h.observe(Duration::ZERO, r), None);
        }
        assert_eq!(
            h.observe(Duration::ZERO, fail()),
            Some(Transition::BecameUnhealthy { failures: 4 })
        );
        assert_eq!(h.observe(Duration::ZERO, OK), None, "1 of 4");
        assert_eq!(h.observe(Duration::ZERO, OK), Some(Transition::BecameHealthy), "2 of 4");
    }

    #[test]
    fn a_window_that_goes_unhealthy_counts_only_its_failures() {
        // One success among four samples: three failures, which the event
        // and the metrics report.
        let mut h = Health::new(HealthRule::Window { size: 4, required: 2 }, true);
        for r in [OK, fail(), fail()] {
            assert_eq!(h.observe(Duration::ZERO, r), None);
        }
        assert_eq!(
            h.observe(Duration::ZERO, fail()),
            Some(Transition::BecameUnhealthy { failures: 3 })
        );
    }

    #[test]
    fn the_admin_view_has_the_last_result_and_the_failure_count() {
        // What `GET /backends` shows for a member.
        let mut h = Health::new(HealthRule::Consecutive { unhealthy_after: 3 }, true);
        assert_eq!(h.last(), None);
        h.observe(Duration::from_secs(30), fail());
        h.observe(Duration::from_secs(60), fail());
        assert_eq!(h.consecutive_failures(), 2);
        assert_eq!(h.last(), Some(&(Duration::from_secs(60), fail())));
        h.observe(Duration::from_secs(90), OK);
        assert_eq!(h.consecutive_failures(), 0);
        assert_eq!(h.last(), Some(&(Duration::from_secs(90), OK)));
    }

    #[test]
    fn an_initially_unhealthy_backend_joins_on_success() {
        let mut h = Health::new(HealthRule::Consecutive { unhealthy_after: 3 }, false);
        assert!(!h.is_healthy());
        assert_eq!(h.observe(Duration::ZERO, OK), Some(Transition::BecameHealthy));
    }

    proptest! {
        /// For any run of results, an AGW backend is out of the pool exactly
        /// when its last `threshold` results all failed (and it had at least
        /// that many), and back exactly on the next success.
        #[test]
        fn consecutive_rule_is_exact(results in proptest::collection::vec(any::<bool>(), 0..80), threshold in 1u32..6) {
            let mut h = Health::new(HealthRule::Consecutive { unhealthy_after: threshold }, true);
            for (i, &ok) in results.iter().enumerate() {
                let r = if ok { OK } else { fail() };
                let before = h.is_healthy();
                let t = h.observe(Duration::from_secs(i as u64 * 30), r);
                let tail = &results[..=i];
                let failing_run = tail.iter().rev().take_while(|&&ok| !ok).count() as u32;
                let expect_healthy = if ok { true } else if failing_run >= threshold { false } else { before };
                prop_assert_eq!(h.is_healthy(), expect_healthy);
                prop_assert_eq!(t.is_some(), before != expect_healthy);
            }
        }

        /// For any run of results, a Front Door backend is healthy exactly
        /// when at least `required` of the last `size` samples succeeded,
        /// once `size` samples exist.
        #[test]
        fn window_rule_is_exact(results in proptest::collection::vec(any::<bool>(), 0..80), size in 1u32..8, required_frac in 0.0f64..=1.0) {
            let required = ((f64::from(size) * required_frac).round() as u32).max(1);
            let mut h = Health::new(HealthRule::Window { size, required }, true);
            for (i, &ok) in results.iter().enumerate() {
                h.observe(Duration::from_secs(i as u64), if ok { OK } else { fail() });
                let seen = &results[..=i];
                if seen.len() >= size as usize {
                    let last = &seen[seen.len() - size as usize..];
                    let successes = last.iter().filter(|&&ok| ok).count() as u32;
                    prop_assert_eq!(h.is_healthy(), successes >= required);
                } else {
                    prop_assert!(h.is_healthy(), "undecided: keeps its initial state");
                }
            }
        }
    }
}
