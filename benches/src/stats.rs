//! Latency samples and the few statistics the reports print.

use std::time::Duration;

/// Round-trip samples, sorted once so percentiles are lookups.
#[derive(Debug, Clone, Default)]
pub struct Latencies {
    sorted_ns: Vec<u64>,
}

impl Latencies {
    pub fn from_nanos(mut samples: Vec<u64>) -> Latencies {
        samples.sort_unstable();
        Latencies { sorted_ns: samples }
    }

    pub fn len(&self) -> usize {
        self.sorted_ns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sorted_ns.is_empty()
    }

    /// The `q` quantile (0.0..=1.0) by nearest rank; zero when empty.
    pub fn quantile(&self, q: f64) -> Duration {
        if self.sorted_ns.is_empty() {
            return Duration::ZERO;
        }
        let rank = (q.clamp(0.0, 1.0) * self.sorted_ns.len() as f64).ceil() as usize;
        let index = rank.saturating_sub(1).min(self.sorted_ns.len() - 1);
        Duration::from_nanos(self.sorted_ns[index])
    }
}

/// The median of `values` (mean of the middle two for an even count); `NaN`
/// when empty, so a missing figure never reads as zero.
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len() % 2 == 1 {
        v[mid]
    } else {
        (v[mid - 1] + v[mid]) / 2.0
    }
}

/// A duration in microseconds, for tables.
pub fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let l = Latencies::from_nanos((1..=100).rev().collect());
        assert_eq!(l.quantile(0.5), Duration::from_nanos(50));
        assert_eq!(l.quantile(0.99), Duration::from_nanos(99));
        assert_eq!(l.quantile(1.0), Duration::from_nanos(100));
        assert_eq!(l.quantile(0.0), Duration::from_nanos(1));
        assert_eq!(Latencies::default().quantile(0.5), Duration::ZERO);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
