//! Time on a real network: which scale a run uses, whether it fits the
//! wall-clock limit, and how far its expectations' time bounds are
//! widened. Pure.
//!
//! A scenario's windows are exact in the simulator, where every link takes
//! its latency and nothing else takes time. On loopback a hop takes
//! microseconds and a busy machine wakes a task late by milliseconds (tens
//! on 2 busy cores), so a real run's windows are widened on both sides by
//! a **tolerance**: [`DEFAULT_TOLERANCE`] of wall-clock time for
//! scheduling, plus [`HOPS`] times the scenario's (scaled) link latency,
//! which the simulator adds to every handshake and the loopback does not.
//! Measured in scenario time the tolerance is K times larger, so a higher
//! scale blurs more: the output says the scale and tolerance of every run.

use std::time::Duration;

use gateway::Plan;

use crate::peer::PeerKind;

/// How much a real run's clock may stray from the simulator's, in wall
/// time, before latency: 150 ms. A loopback hop is microseconds; what
/// remains is scheduling (a timer or socket wake-up on a busy 2-core CI
/// machine with tests running beside it, measured at up to ~50 ms) and,
/// on nginx, its lazy timers (re-armed only when they move by 300 ms or
/// more, so a timer kept alive by traffic can fire up to 300 ms early:
/// see `src/peer/README.md`). 150 ms covers the first with a margin and
/// most of the second; a peer's lazy timer that fires earlier still is a
/// finding.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_millis(150);

/// The number of link hops the tolerance allows for: a session's opening
/// takes about six in the simulator (client to gateway, gateway to backend
/// and back, and the TCP handshakes'), a retry a few more.
pub const HOPS: u32 = 10;

/// The default limit on a scaled run's length.
pub const DEFAULT_LIMIT: Duration = Duration::from_secs(60);

/// The scales `auto` chooses from, smallest (most faithful) first.
pub const LADDER: [u32; 10] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

/// `--time-scale`: a fixed K, or the smallest on [`LADDER`] that fits.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Scale {
    Fixed(f64),
    #[default]
    Auto,
}

impl std::str::FromStr for Scale {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "auto" {
            return Ok(Scale::Auto);
        }
        match s.parse::<f64>() {
            Ok(k) if k.is_finite() && k >= 1.0 => Ok(Scale::Fixed(k)),
            _ => Err(format!("expected `auto` or a number of at least 1, found `{s}`")),
        }
    }
}

/// How a real-network run maps scenario time to wall time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    pub scale: Scale,
    /// A scaled run longer than this is skipped, not run.
    pub limit: Duration,
    /// Wall-clock slack on every time bound, before latency.
    pub tolerance: Duration,
    /// The largest scale `auto` may choose: beyond it the tolerance, K
    /// times larger in scenario time, blurs what a scenario tells apart.
    pub max_scale: f64,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            scale: Scale::Auto,
            limit: DEFAULT_LIMIT,
            tolerance: DEFAULT_TOLERANCE,
            max_scale: f64::from(LADDER[LADDER.len() - 1]),
        }
    }
}

/// The scale a run of `duration` uses, or why it is skipped.
pub fn choose(duration: Duration, timing: &Timing) -> Result<f64, String> {
    let fits = |k: f64| duration.div_f64(k) <= timing.limit;
    match timing.scale {
        Scale::Fixed(k) if fits(k) => Ok(k),
        Scale::Fixed(k) => Err(too_long(duration, k, timing.limit)),
        Scale::Auto => {
            let allowed = || LADDER.iter().map(|k| f64::from(*k)).filter(|k| *k <= timing.max_scale);
            let largest = allowed().next_back().unwrap_or(1.0);
            allowed()
                .find(|k| fits(*k))
                .ok_or_else(|| too_long(duration, largest, timing.limit))
        }
    }
}

fn too_long(duration: Duration, k: f64, limit: Duration) -> String {
    format!(
        "too long for real time at scale {k}: {} of wall time, over the {} limit",
        humantime::format_duration(round_ms(duration.div_f64(k))),
        humantime::format_duration(limit)
    )
}

fn round_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis().try_into().unwrap_or(u64::MAX))
}

/// The shortest a session idle timer may be on nginx after scaling. nginx
/// moves a timer only when the new deadline is 300 ms or more past the
/// old one (`NGX_TIMER_LAZY_DELAY`), so traffic that comes more often than
/// every 300 ms of wall time does not re-arm `proxy_read_timeout`, and the
/// session closes while busy. At full speed that needs traffic every
/// 300 ms for nothing; scaled by K it happens to traffic every 300 ms × K
/// of scenario time (a ping every 10 s at K = 50), which would be a
/// finding about the harness, not nginx. Keeping the scaled timer at 1 s
/// or more keeps the traffic that matters (at least half the timer apart,
/// in the scenarios here) above 300 ms.
pub const NGINX_MIN_IDLE: Duration = Duration::from_secs(1);

/// Wall time a peer instance may take to restart (stop, start, answer on
/// its listeners): HAProxy took 70 ms on 2 idle cores (measured from the
/// harness's `peer stopped`/`peer restarted` log lines), and a busy
/// machine takes longer, hence 250 ms. Unlike wsgate's in-process restart, this does
/// not shrink with the scale, so what a scenario does after a restart must
/// stay at least this far behind it in wall time.
pub const PEER_RESTART: Duration = Duration::from_millis(250);

/// The largest scale a run on a peer may use, and why, if the peer limits
/// it: `shortest_idle` is the shortest session idle timer the peer runs
/// (unscaled), `after_restart` the shortest time from a restart of an
/// instance to the scenario's next event. Pure.
pub fn peer_cap(
    kind: PeerKind,
    shortest_idle: Option<Duration>,
    after_restart: Option<Duration>,
) -> Option<(f64, String)> {
    let idle = shortest_idle.filter(|_| kind == PeerKind::Nginx).map(|idle| {
        (
            idle.as_secs_f64() / NGINX_MIN_IDLE.as_secs_f64(),
            format!(
                "nginx re-arms timers lazily, by 300 ms steps, so the {} idle timer must stay {} or more",
                secs(idle),
                secs(NGINX_MIN_IDLE)
            ),
        )
    });
    let restart = after_restart.map(|gap| {
        (
            gap.as_secs_f64() / PEER_RESTART.as_secs_f64(),
            format!(
                "a {kind} restart takes up to {} of wall time, and the scenario acts {} after one",
                secs(PEER_RESTART),
                secs(gap)
            ),
        )
    });
    [idle, restart].into_iter().flatten().min_by(|a, b| a.0.total_cmp(&b.0))
}

fn secs(d: Duration) -> String {
    humantime::format_duration(round_ms(d)).to_string()
}

/// The tolerance a run gets, in wall time: the scheduling slack plus
/// [`HOPS`] hops of the scaled scenario's link latency.
pub fn tolerance(timing: &Timing, scaled_latency: Duration) -> Duration {
    timing.tolerance + scaled_latency * HOPS
}

/// The plan a real run serves: its timers divided by `k`, and each Front
/// Door latency window widened by `slack`, the scheduling slack of the
/// run's wall clock.
///
/// Front Door measures probe round trips in whole milliseconds, so on an
/// idle loopback every origin is equally near. On a busy machine one probe
/// can take a millisecond or more by scheduling alone, and with the
/// default window of 0 that one late wake-up sends every session to the
/// other origins until the next probe. That is noise, not latency. The
/// caller passes the tolerance as `slack` when the scenario means its
/// origins to be equally near, and zero when a backend's probes answer
/// late on purpose (`needs::late_probes`), whose delay is the signal.
pub fn wall_clock_plan(plan: &Plan, k: f64, slack: Duration) -> Plan {
    let mut plan = plan.time_scaled(k);
    for set in &mut plan.backend_sets {
        if let Some(window) = set.latency_sensitivity.as_mut() {
            *window += slack;
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_windows_get_the_slack_and_nothing_else_does() {
        let src = "profile = \"front-door\"\n\
            [[listeners]]\nname = \"l\"\naddress = \"127.0.0.1:0\"\n\
            [[backend_pools]]\nname = \"p\"\naddresses = [\"b1:80\", \"b2:80\"]\nlatency_sensitivity = \"10ms\"\n\
            [[backend_settings]]\nname = \"s\"\nrequest_timeout = \"30s\"\n\
            [[rules]]\nname = \"r\"\nlistener = \"l\"\npool = \"p\"\nsettings = \"s\"\n";
        let config: gateway::Config = toml::from_str(src).unwrap();
        let (plan, _) = Plan::resolve(&config).unwrap();
        let wall = wall_clock_plan(&plan, 2.0, Duration::from_millis(150));
        // The window as configured (time_scaled leaves it: it compares
        // measured round trips, which loopback does not scale), plus the slack.
        assert_eq!(
            plan.time_scaled(2.0).backend_sets[0].latency_sensitivity,
            Some(Duration::from_millis(10))
        );
        assert_eq!(
            wall.backend_sets[0].latency_sensitivity,
            Some(Duration::from_millis(160))
        );
        let scaled = plan.time_scaled(2.0);
        assert_eq!(wall.routes[0].session, scaled.routes[0].session);
        assert_eq!(
            wall.backend_sets[0].settings.request_timeout,
            scaled.backend_sets[0].settings.request_timeout
        );
    }

    const S: fn(u64) -> Duration = Duration::from_secs;

    #[test]
    fn auto_picks_the_smallest_scale_that_fits() {
        let t = Timing::default();
        assert_eq!(choose(S(20), &t), Ok(1.0));
        assert_eq!(choose(S(60), &t), Ok(1.0), "the limit itself fits");
        assert_eq!(choose(S(61), &t), Ok(2.0));
        assert_eq!(choose(S(300), &t), Ok(5.0));
        assert_eq!(choose(S(3600), &t), Ok(100.0));
        let short = Timing { limit: S(5), ..t };
        assert_eq!(choose(S(60), &short), Ok(20.0));
        let never = choose(S(100_000), &short).unwrap_err();
        assert!(never.starts_with("too long for real time at scale 1000"), "{never}");
        let sane = Timing {
            max_scale: 200.0,
            ..short
        };
        assert_eq!(choose(S(600), &sane), Ok(200.0));
        let capped = choose(S(3600), &sane).unwrap_err();
        assert_eq!(
            capped,
            "too long for real time at scale 200: 18s of wall time, over the 5s limit"
        );
    }

    #[test]
    fn a_fixed_scale_is_kept_or_the_run_skipped() {
        let t = Timing {
            scale: Scale::Fixed(10.0),
            ..Timing::default()
        };
        assert_eq!(choose(S(600), &t), Ok(10.0));
        assert_eq!(
            choose(S(4 * 3600), &t).unwrap_err(),
            "too long for real time at scale 10: 24m of wall time, over the 1m limit"
        );
    }

    #[test]
    fn scales_parse() {
        assert_eq!("auto".parse::<Scale>(), Ok(Scale::Auto));
        assert_eq!("12.5".parse::<Scale>(), Ok(Scale::Fixed(12.5)));
        for bad in ["0", "0.5", "-3", "inf", "NaN", "fast"] {
            assert!(bad.parse::<Scale>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_tolerance_adds_the_hops_the_loopback_does_not_take() {
        let t = Timing::default();
        assert_eq!(tolerance(&t, Duration::ZERO), DEFAULT_TOLERANCE);
        assert_eq!(
            tolerance(&t, Duration::from_millis(2)),
            DEFAULT_TOLERANCE + Duration::from_millis(20)
        );
    }

    #[test]
    fn peers_cap_the_scale_where_wall_time_does_not_shrink() {
        let s = Duration::from_secs;
        let (k, why) = peer_cap(PeerKind::Nginx, Some(s(20)), None).expect("capped");
        assert_eq!(k, 20.0);
        assert!(why.starts_with("nginx re-arms timers lazily"), "{why}");
        assert_eq!(
            peer_cap(PeerKind::Haproxy, Some(s(20)), None),
            None,
            "HAProxy's timers are exact"
        );
        let (k, why) = peer_cap(PeerKind::Haproxy, Some(s(20)), Some(s(1))).expect("capped");
        assert_eq!(k, 4.0);
        assert_eq!(
            why,
            "a haproxy restart takes up to 250ms of wall time, and the scenario acts 1s after one"
        );
        let (k, _) = peer_cap(PeerKind::Nginx, Some(s(20)), Some(s(30))).expect("capped");
        assert_eq!(k, 20.0, "the tighter cap wins");
        assert_eq!(peer_cap(PeerKind::Nginx, None, None), None);
    }
}
