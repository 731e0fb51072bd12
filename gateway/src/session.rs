//! Session timers: when an upgraded session must be closed.
//!
//! Pure. Times are offsets from the moment the session opened (the 101), so
//! the functions need no clock; the tunnel feeds them tokio time.

use std::time::Duration;

use crate::profile::{Behaviour, IdleRule};

/// The timers that apply to one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SessionPolicy {
    /// Closed after this long with no byte in either direction.
    pub idle: Option<Duration>,
    /// Closed this long after opening, whatever the traffic.
    pub lifetime: Option<Duration>,
}

/// Config values that override a profile's session defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Overrides {
    /// Top-level `idle_timeout`.
    pub idle_timeout: Option<Duration>,
    /// Top-level `max_lifetime`.
    pub max_lifetime: Option<Duration>,
}

impl SessionPolicy {
    /// The policy for a route: the profile's rules, with `request_timeout`
    /// being the route's backend settings value, then the overrides.
    pub fn resolve(behaviour: &Behaviour, request_timeout: Duration, overrides: Overrides) -> SessionPolicy {
        let profile_idle = match behaviour.idle {
            IdleRule::RequestTimeout => Some(request_timeout),
            IdleRule::Fixed(d) => Some(d),
            IdleRule::Never => None,
        };
        SessionPolicy {
            idle: overrides.idle_timeout.or(profile_idle),
            lifetime: overrides.max_lifetime.or(behaviour.max_lifetime),
        }
    }
}

/// Why a timer closed a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Expiry {
    /// No data in either direction for the idle timeout.
    Idle,
    /// The maximum lifetime was reached.
    Lifetime,
}

/// The next moment a timer fires, given the last byte seen at
/// `last_activity` (both offsets from opening), and which timer it is. When
/// both fire at the same moment the lifetime is reported, since it would
/// have closed the session regardless of traffic.
pub fn next_deadline(last_activity: Duration, policy: &SessionPolicy) -> Option<(Duration, Expiry)> {
    let idle = policy.idle.map(|d| (last_activity.saturating_add(d), Expiry::Idle));
    let lifetime = policy.lifetime.map(|d| (d, Expiry::Lifetime));
    match (idle, lifetime) {
        (Some(i), Some(l)) => Some(if l.0 <= i.0 { l } else { i }),
        (i, l) => i.or(l),
    }
}

/// Whether the session must be closed at `now`, and why.
pub fn expired(now: Duration, last_activity: Duration, policy: &SessionPolicy) -> Option<Expiry> {
    next_deadline(last_activity, policy).and_then(|(at, why)| (now >= at).then_some(why))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::ProfileName;
    use proptest::prelude::*;

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn application_gateway_idles_on_the_request_timeout() {
        let p = SessionPolicy::resolve(
            &ProfileName::ApplicationGateway.behaviour(),
            S(40),
            Overrides::default(),
        );
        assert_eq!(
            p,
            SessionPolicy {
                idle: Some(S(40)),
                lifetime: None
            }
        );
    }

    #[test]
    fn application_gateway_2016_never_idles() {
        let p = SessionPolicy::resolve(
            &ProfileName::ApplicationGateway2016.behaviour(),
            S(40),
            Overrides::default(),
        );
        assert_eq!(p, SessionPolicy::default());
    }

    #[test]
    fn front_door_has_five_minutes_and_four_hours() {
        let p = SessionPolicy::resolve(&ProfileName::FrontDoor.behaviour(), S(30), Overrides::default());
        assert_eq!(
            p,
            SessionPolicy {
                idle: Some(S(300)),
                lifetime: Some(S(4 * 3600))
            }
        );
    }

    #[test]
    fn overrides_win() {
        let o = Overrides {
            idle_timeout: Some(S(7)),
            max_lifetime: Some(S(30)),
        };
        for profile in ProfileName::ALL {
            let p = SessionPolicy::resolve(&profile.behaviour(), S(20), o);
            assert_eq!(
                p,
                SessionPolicy {
                    idle: Some(S(7)),
                    lifetime: Some(S(30))
                }
            );
        }
    }

    #[test]
    fn the_documents_ping_example() {
        // 20 s pings against a 40 s timeout: never idle. Against 15 s: closed at 15 s.
        let p40 = SessionPolicy {
            idle: Some(S(40)),
            lifetime: None,
        };
        assert_eq!(expired(S(39), S(0), &p40), None);
        assert_eq!(expired(S(59), S(20), &p40), None);
        let p15 = SessionPolicy {
            idle: Some(S(15)),
            lifetime: None,
        };
        assert_eq!(next_deadline(S(0), &p15), Some((S(15), Expiry::Idle)));
        assert_eq!(expired(S(15), S(0), &p15), Some(Expiry::Idle));
    }

    #[test]
    fn lifetime_wins_a_tie() {
        let p = SessionPolicy {
            idle: Some(S(10)),
            lifetime: Some(S(10)),
        };
        assert_eq!(next_deadline(S(0), &p), Some((S(10), Expiry::Lifetime)));
    }

    proptest! {
        /// For any activity pattern, the session closes exactly when the
        /// policy says: at the first moment `last byte + idle` or `lifetime`
        /// is reached, never earlier, never later.
        #[test]
        fn closes_exactly_when_the_profile_says(
            gaps in proptest::collection::vec(1u64..400, 0..60),
            idle in proptest::option::of(1u64..300),
            lifetime in proptest::option::of(1u64..20_000),
        ) {
            let policy = SessionPolicy { idle: idle.map(S), lifetime: lifetime.map(S) };
            // Simulate second by second: activity at the cumulative gap times.
            let mut activity: Vec<u64> = gaps.iter().scan(0u64, |t, g| { *t += g; Some(*t) }).collect();
            activity.dedup();
            let mut last = 0u64;
            let mut closed_at = None;
            let horizon = activity.last().copied().unwrap_or(0) + 20_001;
            let mut next_act = activity.iter().peekable();
            for now in 0..=horizon {
                if let Some(why) = expired(S(now), S(last), &policy) {
                    closed_at = Some((now, why));
                    break;
                }
                if next_act.peek() == Some(&&now) {
                    last = now;
                    next_act.next();
                }
            }
            // The reference answer, computed independently.
            let mut expected = None;
            let mut prev = 0u64;
            for &t in activity.iter().chain(std::iter::once(&u64::MAX)) {
                let idle_close = idle.map(|i| prev + i).filter(|&c| c <= t);
                let life_close = lifetime.filter(|&l| l <= t.min(idle_close.unwrap_or(u64::MAX)));
                if let Some(l) = life_close {
                    expected = Some((l, Expiry::Lifetime));
                    break;
                }
                if let Some(c) = idle_close {
                    expected = Some((c, Expiry::Idle));
                    break;
                }
                prev = t;
            }
            if idle.is_none() && lifetime.is_none() {
                expected = None;
            }
            prop_assert_eq!(closed_at, expected);
        }
    }
}
