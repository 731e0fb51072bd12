//! Picking a backend from a pool: which members are eligible, and round
//! robin over them. Pure.
//!
//! [`choose`] is the whole decision for one request: the member its
//! affinity cookie names when that member may take it, else a (weighted)
//! round-robin pick over [`selection`]. The selection follows Front Door's
//! documented flow (available, then top priority, then the latency window);
//! Application Gateway members all share one priority and have no latency
//! signal, so for them it is simply the healthy members.

use std::time::Duration;

/// Round-robin cursor over a pool. Pure state: the caller says which members
/// are eligible (health arrives with the probe issue) and gets an index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundRobin {
    next: usize,
    /// Slots in weighted order, each naming a member ([`RoundRobin::weighted`]);
    /// `None` for equal weights, where slot `i` is member `i`.
    schedule: Option<Vec<usize>>,
}

impl RoundRobin {
    pub fn new() -> RoundRobin {
        RoundRobin::default()
    }

    /// A cursor that deals members in the ratio of `weights` (Front Door's
    /// origin weights). The deal is a fixed cycle of slots, interleaved by
    /// smooth weighted round robin (nginx's), so weights 1:3 deal
    /// `b a b b`, not `a b b b`; over whole cycles each member gets exactly
    /// its share of the eligible slots. Equal weights give plain round
    /// robin, the same picks as [`RoundRobin::new`]. A weight of 0 counts
    /// as 1: every member keeps a slot.
    pub fn weighted(weights: &[u16]) -> RoundRobin {
        let weights: Vec<u64> = weights.iter().map(|&w| u64::from(w.max(1))).collect();
        if weights.windows(2).all(|w| w[0] == w[1]) {
            return RoundRobin::new();
        }
        let divisor = weights.iter().copied().fold(0, gcd);
        let weights: Vec<i64> = weights.iter().map(|&w| (w / divisor.max(1)) as i64).collect();
        let total: i64 = weights.iter().sum();
        let mut credit = vec![0i64; weights.len()];
        let mut schedule = Vec::with_capacity(usize::try_from(total).unwrap_or(0));
        for _ in 0..total {
            for (c, w) in credit.iter_mut().zip(&weights) {
                *c += w;
            }
            // The first of the largest credits: ties go to pool order.
            let (best, _) = credit.iter().enumerate().fold(
                (0, i64::MIN),
                |(bi, bc), (i, &c)| if c > bc { (i, c) } else { (bi, bc) },
            );
            credit[best] -= total;
            schedule.push(best);
        }
        RoundRobin {
            next: 0,
            schedule: Some(schedule),
        }
    }

    /// The next eligible member at or after the cursor, wrapping around, or
    /// `None` when no member is eligible. Advances past the pick so the
    /// following call starts at the member after it.
    pub fn pick(&mut self, eligible: &[bool]) -> Option<usize> {
        let slots = match &self.schedule {
            Some(schedule) => schedule.len(),
            None => eligible.len(),
        };
        if slots == 0 {
            return None;
        }
        let member = |slot: usize| match &self.schedule {
            Some(schedule) => schedule[slot],
            None => slot,
        };
        let start = self.next % slots;
        let found = (0..slots)
            .map(|step| (start + step) % slots)
            .find(|&slot| eligible.get(member(slot)) == Some(&true))?;
        self.next = (found + 1) % slots;
        Some(member(found))
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// A member's state as routing sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MemberState {
    /// In the pool: takes new requests.
    Healthy,
    /// Out of the pool: it failed its probes, or has not passed one yet.
    Unhealthy,
    /// Removed from the pool and finishing what it carries (connection
    /// draining): it takes no new request except one that gateway-managed
    /// affinity binds to it. The Application Gateway settings page: the
    /// only exception "are requests bound for deregistering instances
    /// because of gateway-managed session affinity. These requests continue
    /// to be forwarded to the deregistering instances."
    Draining,
    /// Removed from the pool and not draining (its drain ran out, or the
    /// profile never drains): it takes nothing, not even as a fallback.
    Removed,
}

/// A run-time member's routing state: whether it was removed from its pool,
/// whether that removal's drain is still running, and its probe health.
/// A removed member that fails its probes is not drained to: a request
/// bound to it would only meet a dead backend, so it is balanced instead.
pub fn member_state(removed: bool, draining: bool, healthy: bool) -> MemberState {
    match (removed, draining, healthy) {
        (false, _, true) => MemberState::Healthy,
        (false, _, false) => MemberState::Unhealthy,
        (true, true, true) => MemberState::Draining,
        (true, _, _) => MemberState::Removed,
    }
}

/// One pool member as a pick sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub state: MemberState,
    /// Front Door origins can be disabled in the config; other members are
    /// always enabled.
    pub enabled: bool,
    /// 1 (first) to 5 (Front Door); Application Gateway members all have 1.
    pub priority: u8,
    /// The member's last measured probe round trip (Front Door's latency
    /// signal); `None` before a measurement, and for members whose pool
    /// has no latency window.
    pub latency: Option<Duration>,
}

impl Candidate {
    /// An Application Gateway member: enabled, one priority, no latency.
    pub fn member(state: MemberState) -> Candidate {
        Candidate {
            state,
            enabled: true,
            priority: 1,
            latency: None,
        }
    }
}

/// What a pool does beyond its members' own state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// With no healthy enabled member: every enabled member takes traffic
    /// (Front Door), rather than none (Application Gateway, so 502).
    pub use_all_when_none_healthy: bool,
    /// Front Door's latency window: only members whose latency is within
    /// this much of the fastest. `None`: no latency signal (Application
    /// Gateway).
    pub latency_sensitivity: Option<Duration>,
}

/// Where a request goes, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    /// The member the request's affinity cookie names.
    Bound(usize),
    /// Balanced over the selection. With a binding that could not be
    /// honoured, the caller issues a new cookie for this member.
    Balanced(usize),
}

impl Choice {
    pub fn index(self) -> usize {
        match self {
            Choice::Bound(i) | Choice::Balanced(i) => i,
        }
    }
}

/// The members a balanced pick may choose, in Front Door's documented
/// order: the available members (enabled and healthy; every enabled one
/// when none is healthy and the pool falls back), then those of the top
/// priority among them, then those within `latency_sensitivity` of the
/// fastest. `skip` (the member a retry already tried) is never selected.
/// The fallback set is taken whole ("round robin distribution across all
/// of them"): priority and latency apply to healthy members only. A member
/// not yet measured is within the window: nothing says it is slow.
pub fn selection(members: &[Candidate], skip: Option<usize>, rules: &Rules) -> Vec<bool> {
    let healthy = |m: &Candidate| m.enabled && m.state == MemberState::Healthy;
    if !members.iter().any(healthy) {
        return members
            .iter()
            .enumerate()
            .map(|(i, m)| {
                rules.use_all_when_none_healthy && m.enabled && m.state == MemberState::Unhealthy && Some(i) != skip
            })
            .collect();
    }
    let mut chosen: Vec<bool> = members
        .iter()
        .enumerate()
        .map(|(i, m)| healthy(m) && Some(i) != skip)
        .collect();
    let Some(top) = members
        .iter()
        .zip(&chosen)
        .filter(|(_, &c)| c)
        .map(|(m, _)| m.priority)
        .min()
    else {
        return chosen;
    };
    for (c, m) in chosen.iter_mut().zip(members) {
        *c = *c && m.priority == top;
    }
    if let Some(sensitivity) = rules.latency_sensitivity {
        let fastest = members
            .iter()
            .zip(&chosen)
            .filter(|(_, &c)| c)
            .filter_map(|(m, _)| m.latency)
            .min();
        if let Some(fastest) = fastest {
            for (c, m) in chosen.iter_mut().zip(members) {
                *c = *c && m.latency.is_none_or(|l| l <= fastest + sensitivity);
            }
        }
    }
    chosen
}

/// The member one request goes to. `bound` is the member its affinity
/// cookie names, if any; `skip` the member a retry already tried (a retry
/// is balanced: the binding already failed). A bound member is honoured
/// while a balanced pick could have chosen it (so, under Front Door, while
/// it is within the latency window) or while it drains; otherwise the
/// request is balanced as if it carried no cookie. A bound pick does not
/// move the round-robin cursor. `None` when nothing is eligible.
pub fn choose(
    members: &[Candidate],
    bound: Option<usize>,
    skip: Option<usize>,
    rules: &Rules,
    cursor: &mut RoundRobin,
) -> Option<Choice> {
    if let (Some(b), None) = (bound, skip) {
        let draining = members
            .get(b)
            .is_some_and(|m| m.enabled && m.state == MemberState::Draining);
        if draining || selection(members, None, rules).get(b) == Some(&true) {
            return Some(Choice::Bound(b));
        }
    }
    cursor.pick(&selection(members, skip, rules)).map(Choice::Balanced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cycles_through_every_member() {
        let mut rr = RoundRobin::new();
        let picks: Vec<_> = (0..6).map(|_| rr.pick(&[true, true, true]).unwrap()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn skips_ineligible_members() {
        let mut rr = RoundRobin::new();
        let picks: Vec<_> = (0..4).map(|_| rr.pick(&[true, false, true]).unwrap()).collect();
        assert_eq!(picks, [0, 2, 0, 2]);
    }

    #[test]
    fn none_when_nothing_is_eligible() {
        assert_eq!(RoundRobin::new().pick(&[false, false]), None);
        assert_eq!(RoundRobin::new().pick(&[]), None);
    }

    const AGW: Rules = Rules {
        use_all_when_none_healthy: false,
        latency_sensitivity: None,
    };
    const FD: Rules = Rules {
        use_all_when_none_healthy: true,
        latency_sensitivity: Some(Duration::ZERO),
    };

    fn origin(state: MemberState, priority: u8, latency_ms: Option<u64>) -> Candidate {
        Candidate {
            state,
            enabled: true,
            priority,
            latency: latency_ms.map(Duration::from_millis),
        }
    }

    use MemberState::{Draining, Healthy, Removed, Unhealthy};

    #[test]
    fn weights_deal_an_interleaved_cycle_in_their_ratio() {
        let mut rr = RoundRobin::weighted(&[1, 3]);
        let picks: Vec<_> = (0..8).map(|_| rr.pick(&[true, true]).unwrap()).collect();
        assert_eq!(picks, [1, 0, 1, 1, 1, 0, 1, 1]);
        // The routing-methods page's example: 5:8.
        let mut rr = RoundRobin::weighted(&[500, 800]);
        let picks: Vec<_> = (0..26).map(|_| rr.pick(&[true, true]).unwrap()).collect();
        assert_eq!(picks.iter().filter(|&&p| p == 0).count(), 10);
        assert_eq!(picks.iter().filter(|&&p| p == 1).count(), 16);
    }

    #[test]
    fn equal_weights_are_plain_round_robin() {
        assert_eq!(RoundRobin::weighted(&[50, 50, 50]), RoundRobin::new());
        let mut weighted = RoundRobin::weighted(&[0, 1]);
        assert_eq!(weighted, RoundRobin::new(), "0 counts as 1");
        assert_eq!(weighted.pick(&[true, true]), Some(0));
    }

    #[test]
    fn an_ineligible_member_gives_up_its_slots() {
        let mut rr = RoundRobin::weighted(&[1, 3, 2]);
        for _ in 0..12 {
            assert_eq!(rr.pick(&[true, false, false]), Some(0));
        }
        assert_eq!(rr.pick(&[false, false, false]), None);
    }

    #[test]
    fn selection_is_available_then_top_priority_then_the_latency_window() {
        // The page's example: C unhealthy, E disabled; F has priority 2.
        let mut members = vec![
            origin(Healthy, 1, Some(15)),
            origin(Healthy, 1, Some(30)),
            origin(Unhealthy, 1, Some(1)),
            origin(Healthy, 1, Some(60)),
            origin(Healthy, 1, Some(1)),
            origin(Healthy, 2, Some(1)),
        ];
        members[4].enabled = false;
        let window = |ms| Rules {
            latency_sensitivity: Some(Duration::from_millis(ms)),
            ..FD
        };
        assert_eq!(
            selection(&members, None, &window(30)),
            [true, true, false, false, false, false],
            "D is beyond 30 ms of A"
        );
        assert_eq!(
            selection(&members, None, &window(0)),
            [true, false, false, false, false, false],
            "0 ms: the fastest only"
        );
        assert_eq!(
            selection(&members, None, &window(1000)),
            [true, true, false, true, false, false]
        );
        // The primaries gone, the secondary takes over.
        for m in &mut members[..4] {
            m.state = Unhealthy;
        }
        assert_eq!(
            selection(&members, None, &FD),
            [false, false, false, false, false, true]
        );
    }

    #[test]
    fn an_unmeasured_member_is_within_the_window() {
        let members = [origin(Healthy, 1, Some(5)), origin(Healthy, 1, None)];
        assert_eq!(selection(&members, None, &FD), [true, true]);
    }

    #[test]
    fn a_retry_skips_the_member_tried_and_may_fall_to_the_next_priority() {
        let members = [origin(Healthy, 1, None), origin(Healthy, 2, None)];
        assert_eq!(selection(&members, Some(0), &FD), [false, true]);
        assert_eq!(selection(&members, Some(1), &FD), [true, false]);
    }

    #[test]
    fn with_none_healthy_the_fallback_takes_every_enabled_member_whole() {
        let mut members = vec![
            origin(Unhealthy, 1, Some(1)),
            origin(Unhealthy, 2, Some(500)),
            origin(Draining, 1, None),
            origin(Unhealthy, 1, None),
            origin(Removed, 1, None),
        ];
        members[3].enabled = false;
        assert_eq!(selection(&members, None, &FD), [true, true, false, false, false]);
        assert_eq!(selection(&members, Some(0), &FD), [false, true, false, false, false]);
        assert_eq!(selection(&members, None, &AGW), [false; 5], "application gateway: 502");
    }

    #[test]
    fn a_retry_after_the_only_healthy_member_does_not_fall_back() {
        let members = [origin(Healthy, 1, None), origin(Unhealthy, 1, None)];
        assert_eq!(selection(&members, Some(0), &FD), [false, false]);
    }

    #[test]
    fn a_bound_member_is_honoured_while_a_pick_could_choose_it() {
        let members = [Candidate::member(Healthy), Candidate::member(Healthy)];
        let mut rr = RoundRobin::new();
        assert_eq!(choose(&members, Some(1), None, &AGW, &mut rr), Some(Choice::Bound(1)));
        assert_eq!(choose(&members, Some(1), None, &AGW, &mut rr), Some(Choice::Bound(1)));
        assert_eq!(rr, RoundRobin::new(), "a bound pick leaves the cursor alone");
        assert_eq!(choose(&members, None, None, &AGW, &mut rr), Some(Choice::Balanced(0)));
    }

    #[test]
    fn a_binding_to_an_unhealthy_member_is_balanced_instead() {
        let members = [Candidate::member(Unhealthy), Candidate::member(Healthy)];
        let mut rr = RoundRobin::new();
        assert_eq!(
            choose(&members, Some(0), None, &AGW, &mut rr),
            Some(Choice::Balanced(1))
        );
        // A cookie naming no member at all (stale, forged) never gets here:
        // the caller found no index for it.
        assert_eq!(
            choose(&members, Some(7), None, &AGW, &mut rr),
            Some(Choice::Balanced(1))
        );
    }

    #[test]
    fn a_draining_member_takes_bound_requests_only() {
        let members = [Candidate::member(Draining), Candidate::member(Healthy)];
        let mut rr = RoundRobin::new();
        assert_eq!(choose(&members, Some(0), None, &AGW, &mut rr), Some(Choice::Bound(0)));
        for _ in 0..3 {
            assert_eq!(choose(&members, None, None, &AGW, &mut rr), Some(Choice::Balanced(1)));
        }
        let alone = [Candidate::member(Draining)];
        assert_eq!(choose(&alone, None, None, &FD, &mut rr), None, "not even as a fallback");
    }

    #[test]
    fn a_removed_member_takes_nothing_once_its_drain_is_over() {
        let members = [Candidate::member(Removed), Candidate::member(Healthy)];
        let mut rr = RoundRobin::new();
        assert_eq!(
            choose(&members, Some(0), None, &AGW, &mut rr),
            Some(Choice::Balanced(1))
        );
        let alone = [Candidate::member(Removed)];
        assert_eq!(choose(&alone, Some(0), None, &FD, &mut rr), None);
    }

    #[test]
    fn member_states_come_from_removal_drain_and_health() {
        assert_eq!(member_state(false, false, true), Healthy);
        assert_eq!(member_state(false, false, false), Unhealthy);
        assert_eq!(member_state(true, true, true), Draining, "removed, drain running");
        assert_eq!(member_state(true, false, true), Removed, "the drain ran out, or none");
        assert_eq!(
            member_state(true, true, false),
            Removed,
            "a dead member is not drained to"
        );
    }

    #[test]
    fn front_door_affinity_holds_only_within_the_latency_window() {
        let members = [origin(Healthy, 1, Some(10)), origin(Healthy, 1, Some(200))];
        let window = Rules {
            latency_sensitivity: Some(Duration::from_millis(50)),
            ..FD
        };
        let mut rr = RoundRobin::new();
        assert_eq!(
            choose(&members, Some(0), None, &window, &mut rr),
            Some(Choice::Bound(0))
        );
        assert_eq!(
            choose(&members, Some(1), None, &window, &mut rr),
            Some(Choice::Balanced(0))
        );
        let lower = [origin(Healthy, 1, None), origin(Healthy, 2, None)];
        assert_eq!(
            choose(&lower, Some(1), None, &FD, &mut rr),
            Some(Choice::Balanced(0)),
            "nor to an origin of a lower priority"
        );
    }

    #[test]
    fn a_retry_is_balanced_whatever_the_binding() {
        let members = [Candidate::member(Healthy), Candidate::member(Healthy)];
        let mut rr = RoundRobin::new();
        assert_eq!(
            choose(&members, Some(0), Some(0), &AGW, &mut rr),
            Some(Choice::Balanced(1))
        );
    }

    proptest! {
        /// Over any eligibility mask, `len` consecutive picks visit every
        /// eligible member exactly once per eligible count, and never an
        /// ineligible one.
        #[test]
        fn fair_over_eligible_members(mask in proptest::collection::vec(any::<bool>(), 1..12), warmup in 0usize..20) {
            let mut rr = RoundRobin::new();
            let all = vec![true; mask.len()];
            for _ in 0..warmup { rr.pick(&all); }
            let eligible = mask.iter().filter(|&&e| e).count();
            let mut seen = vec![0usize; mask.len()];
            for _ in 0..eligible {
                let i = rr.pick(&mask).unwrap();
                prop_assert!(mask[i]);
                seen[i] += 1;
            }
            for (i, &n) in seen.iter().enumerate() {
                prop_assert_eq!(n, usize::from(mask[i]));
            }
        }

        /// Over whole cycles of a weighted deal, each member gets exactly
        /// its weight's share, whatever the warm-up.
        #[test]
        fn weighted_deals_are_exact_over_whole_cycles(
            weights in proptest::collection::vec(1u16..=20, 1..6),
            warmup in 0usize..50,
        ) {
            let mut rr = RoundRobin::weighted(&weights);
            let all = vec![true; weights.len()];
            for _ in 0..warmup { rr.pick(&all); }
            let divisor = weights.iter().map(|&w| u64::from(w)).fold(0, gcd);
            let cycle: u64 = weights.iter().map(|&w| u64::from(w) / divisor).sum();
            let mut seen = vec![0u64; weights.len()];
            for _ in 0..cycle * 3 {
                seen[rr.pick(&all).unwrap()] += 1;
            }
            for (i, &n) in seen.iter().enumerate() {
                prop_assert_eq!(n, 3 * u64::from(weights[i]) / divisor);
            }
        }
    }
}
