//! Session timers: when an upgraded session must be closed.
//!
//! Pure. Times are offsets from the moment the session opened (the 101), so
//! the functions need no clock; the tunnel feeds them tokio time.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::profile::{Behaviour, IdleRule, ProfileName};

/// Where a timer's value comes from, so a close can say why it happened
/// ("why did my socket die at 15 s?").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A config key, such as `backend_settings[0].request_timeout`.
    Key(Arc<str>),
    /// The profile's documented default.
    Profile(ProfileName),
}

/// A timer and the setting behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    pub after: Duration,
    pub origin: Origin,
}

impl Timer {
    pub fn new(after: Duration, origin: Origin) -> Timer {
        Timer { after, origin }
    }

    /// A timer set by the config key `key`.
    pub fn key(after: Duration, key: &str) -> Timer {
        Timer::new(after, Origin::Key(Arc::from(key)))
    }
}

impl fmt::Display for Timer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = humantime::format_duration(self.after);
        match &self.origin {
            Origin::Key(key) => write!(f, "{key} = {value}"),
            Origin::Profile(profile) => write!(f, "{value}, the {profile} default"),
        }
    }
}

/// The timers that apply to one session.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionPolicy {
    /// Closed after this long with no byte in either direction.
    pub idle: Option<Timer>,
    /// Closed this long after opening, whatever the traffic.
    pub lifetime: Option<Timer>,
    /// The listener's frontend TCP idle timeout: closed after this long
    /// with no byte either way on the client's connection. Every byte of a
    /// session crosses that connection, so it counts the same activity as
    /// `idle`, with its own value and its own reason.
    pub frontend_idle: Option<Timer>,
}

/// Config values that override a profile's session defaults.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Overrides {
    /// Top-level `idle_timeout`.
    pub idle_timeout: Option<Timer>,
    /// Top-level `max_lifetime`.
    pub max_lifetime: Option<Timer>,
}

impl SessionPolicy {
    /// The policy for a route: the profile's rules, with `request_timeout`
    /// being the route's backend settings value, then the overrides.
    pub fn resolve(behaviour: &Behaviour, request_timeout: &Timer, overrides: &Overrides) -> SessionPolicy {
        let profile = Origin::Profile(behaviour.name);
        let profile_idle = match behaviour.idle {
            IdleRule::RequestTimeout => Some(request_timeout.clone()),
            IdleRule::Fixed(d) => Some(Timer::new(d, profile.clone())),
            IdleRule::Never => None,
        };
        SessionPolicy {
            idle: overrides.idle_timeout.clone().or(profile_idle),
            lifetime: overrides
                .max_lifetime
                .clone()
                .or(behaviour.max_lifetime.map(|d| Timer::new(d, profile))),
            frontend_idle: None,
        }
    }

    fn idle_after(&self) -> Option<Duration> {
        self.idle.as_ref().map(|t| t.after)
    }

    fn lifetime_after(&self) -> Option<Duration> {
        self.lifetime.as_ref().map(|t| t.after)
    }

    fn frontend_idle_after(&self) -> Option<Duration> {
        self.frontend_idle.as_ref().map(|t| t.after)
    }
}

/// Why a timer closed a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Expiry {
    /// No data in either direction for the idle timeout.
    Idle,
    /// The maximum lifetime was reached.
    Lifetime,
    /// The frontend IP's TCP idle timeout: no byte either way on the
    /// client's connection.
    FrontendIdle,
}

/// The next moment a timer fires, given the last byte seen at
/// `last_activity` (both offsets from opening), and which timer it is. When
/// both fire at the same moment the lifetime is reported, since it would
/// have closed the session regardless of traffic.
pub fn next_deadline(last_activity: Duration, policy: &SessionPolicy) -> Option<(Duration, Expiry)> {
    let idle = policy
        .idle_after()
        .map(|d| (last_activity.saturating_add(d), Expiry::Idle));
    let frontend = policy
        .frontend_idle_after()
        .map(|d| (last_activity.saturating_add(d), Expiry::FrontendIdle));
    let lifetime = policy.lifetime_after().map(|d| (d, Expiry::Lifetime));
    // The earliest wins; on a tie the lifetime (it closes whatever the
    // traffic), then the session's own idle timer, then the frontend's.
    [lifetime, idle, frontend]
        .into_iter()
        .flatten()
        .min_by_key(|(at, why)| (*at, *why != Expiry::Lifetime, *why == Expiry::FrontendIdle))
}

/// `base + after`, saturating: a deadline too far to represent is the
/// farthest one tokio has, never an overflow panic.
pub fn deadline(base: tokio::time::Instant, after: Duration) -> tokio::time::Instant {
    base.checked_add(after).unwrap_or_else(|| {
        // tokio's own far future: about thirty years on.
        base.checked_add(Duration::from_secs(86_400 * 365 * 30)).unwrap_or(base)
    })
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

    /// A timer of `secs` from an arbitrary key; the pure functions read only
    /// its length.
    fn t(secs: u64) -> Timer {
        Timer::key(S(secs), "test")
    }

    fn policy(idle: Option<u64>, lifetime: Option<u64>) -> SessionPolicy {
        SessionPolicy {
            idle: idle.map(t),
            lifetime: lifetime.map(t),
            frontend_idle: None,
        }
    }

    #[test]
    fn on_a_tie_the_lifetime_is_reported_then_the_sessions_own_idle_timer() {
        // All three fire at 60 s: the lifetime would have closed the
        // session whatever the traffic, so it is the cause.
        let mut p = policy(Some(60), Some(60));
        p.frontend_idle = Some(t(60));
        assert_eq!(next_deadline(S(0), &p), Some((S(60), Expiry::Lifetime)));
        // Idle and frontend idle tie: the session's own timer.
        p.lifetime = None;
        assert_eq!(next_deadline(S(0), &p), Some((S(60), Expiry::Idle)));
        p.idle = None;
        assert_eq!(next_deadline(S(0), &p), Some((S(60), Expiry::FrontendIdle)));
    }

    #[test]
    fn a_deadline_too_far_to_represent_is_decades_away_not_now() {
        let base = tokio::time::Instant::now();
        let far = deadline(base, Duration::MAX);
        assert!(far >= base + S(86_400 * 365 * 29), "{:?}", far - base);
        assert_eq!(deadline(base, S(5)), base + S(5));
    }

    #[test]
    fn application_gateway_idles_on_the_request_timeout() {
        let timeout = Timer::key(S(40), "backend_settings[0].request_timeout");
        let p = SessionPolicy::resolve(
            &ProfileName::ApplicationGateway.behaviour(),
            &timeout,
            &Overrides::default(),
        );
        assert_eq!(
            p,
            SessionPolicy {
                idle: Some(timeout),
                lifetime: None,
                frontend_idle: None,
            }
        );
        assert_eq!(
            p.idle.unwrap().to_string(),
            "backend_settings[0].request_timeout = 40s",
            "a close can name the setting behind it"
        );
    }

    #[test]
    fn application_gateway_2016_never_idles() {
        let p = SessionPolicy::resolve(
            &ProfileName::ApplicationGateway2016.behaviour(),
            &t(40),
            &Overrides::default(),
        );
        assert_eq!(p, SessionPolicy::default());
    }

    #[test]
    fn front_door_has_five_minutes_and_four_hours() {
        let p = SessionPolicy::resolve(&ProfileName::FrontDoor.behaviour(), &t(30), &Overrides::default());
        let fd = Origin::Profile(ProfileName::FrontDoor);
        assert_eq!(
            p,
            SessionPolicy {
                idle: Some(Timer::new(S(300), fd.clone())),
                lifetime: Some(Timer::new(S(4 * 3600), fd)),
                frontend_idle: None,
            }
        );
        assert_eq!(p.lifetime.unwrap().to_string(), "4h, the front-door default");
    }

    #[test]
    fn overrides_win() {
        let o = Overrides {
            idle_timeout: Some(t(7)),
            max_lifetime: Some(t(30)),
        };
        for profile in ProfileName::ALL {
            let p = SessionPolicy::resolve(&profile.behaviour(), &t(20), &o);
            assert_eq!(p, policy(Some(7), Some(30)));
        }
    }

    #[test]
    fn the_documents_ping_example() {
        // 20 s pings against a 40 s timeout: never idle. Against 15 s: closed at 15 s.
        let p40 = policy(Some(40), None);
        assert_eq!(expired(S(39), S(0), &p40), None);
        assert_eq!(expired(S(59), S(20), &p40), None);
        let p15 = policy(Some(15), None);
        assert_eq!(next_deadline(S(0), &p15), Some((S(15), Expiry::Idle)));
        assert_eq!(expired(S(15), S(0), &p15), Some(Expiry::Idle));
    }

    #[test]
    fn deadlines_saturate_instead_of_overflowing() {
        let now = tokio::time::Instant::now();
        assert_eq!(deadline(now, S(5)), now + S(5));
        assert!(deadline(now, Duration::MAX) > now + S(86_400 * 365 * 29));
    }

    #[test]
    fn lifetime_wins_a_tie() {
        let p = policy(Some(10), Some(10));
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
            let policy = policy(idle, lifetime);
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
