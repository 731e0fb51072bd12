//! Picking a backend from a pool: round robin over the eligible members.

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
