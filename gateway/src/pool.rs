//! Picking a backend from a pool: which members are eligible, and round
//! robin over them. Pure.

/// Round-robin cursor over a pool. Pure state: the caller says which members
/// are eligible (health arrives with the probe issue) and gets an index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoundRobin {
    next: usize,
}

impl RoundRobin {
    pub fn new() -> RoundRobin {
        RoundRobin::default()
    }

    /// The next eligible member at or after the cursor, wrapping around, or
    /// `None` when no member is eligible. Advances past the pick so the
    /// following call starts at the member after it.
    pub fn pick(&mut self, eligible: &[bool]) -> Option<usize> {
        let len = eligible.len();
        if len == 0 {
            return None;
        }
        let start = self.next % len;
        let found = (0..len).map(|step| (start + step) % len).find(|&i| eligible[i])?;
        self.next = (found + 1) % len;
        Some(found)
    }
}

/// Which members a pick may choose: the healthy ones, except `skip` (the
/// member a retry already tried). When none is healthy and
/// `use_all_when_none_healthy` (Front Door), every member but `skip`;
/// otherwise (Application Gateway) none, which the caller answers with 502.
pub fn eligible(healthy: &[bool], skip: Option<usize>, use_all_when_none_healthy: bool) -> Vec<bool> {
    let use_all = use_all_when_none_healthy && !healthy.contains(&true);
    healthy
        .iter()
        .enumerate()
        .map(|(i, &h)| (h || use_all) && Some(i) != skip)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn eligibility_follows_health_and_skips_the_retried_member() {
        assert_eq!(eligible(&[true, false, true], None, false), [true, false, true]);
        assert_eq!(eligible(&[true, false, true], Some(0), false), [false, false, true]);
        assert_eq!(
            eligible(&[true, false], None, true),
            [true, false],
            "one healthy: no fallback"
        );
    }

    #[test]
    fn with_none_healthy_front_door_uses_all_and_application_gateway_none() {
        assert_eq!(eligible(&[false, false], None, true), [true, true]);
        assert_eq!(eligible(&[false, false], Some(1), true), [true, false]);
        assert_eq!(eligible(&[false, false], None, false), [false, false]);
    }

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
    }
}
