//! `wsgate serve`'s file-descriptor budget.
//!
//! A proxied WebSocket session holds two descriptors: the client's socket
//! and the backend's. Linux starts processes with a soft limit of 1024 (or
//! whatever the shell set) under a much higher hard limit, so a gateway that
//! keeps the soft limit runs out of descriptors long before its configured
//! `max_connections`, and then fails `accept` with EMFILE: clients see
//! connections hang or reset instead of a 503. Like nginx's
//! `worker_rlimit_nofile`, `wsgate serve` raises the soft limit to the hard
//! one at start, logs the session capacity that gives, and caps
//! `max_connections` at that capacity so a client beyond it is answered 503.

/// Descriptors kept back for what is not a session: listeners, the admin
/// endpoint, probes, the config file on reload, stdio, tokio's own.
pub const RESERVED: u64 = 64;

/// How many client connections `nofile` descriptors can carry, two each.
pub fn session_capacity(nofile: u64) -> u64 {
    nofile.saturating_sub(RESERVED) / 2
}

/// The connection cap to run with: the configured (or profile) cap when the
/// descriptors allow it, otherwise the capacity. The second value says
/// whether the descriptors set the cap, for the log.
pub fn connection_cap(configured: Option<u32>, nofile: u64) -> (Option<u32>, bool) {
    let capacity = u32::try_from(session_capacity(nofile)).unwrap_or(u32::MAX);
    match configured {
        Some(cap) if cap <= capacity => (Some(cap), false),
        _ => (Some(capacity), true),
    }
}

/// `config` with its connection cap fitted to `nofile` descriptors; whether
/// the descriptors set it.
pub fn fit(config: &mut gateway::Config, nofile: u64) -> bool {
    let configured = config.max_connections.or(config.profile.behaviour().max_connections);
    let (cap, lowered) = connection_cap(configured, nofile);
    config.max_connections = cap;
    lowered
}

/// The descriptor limit after raising the soft limit as far as the hard one
/// allows; `None` where the platform has no such limit.
pub fn raise() -> Option<std::io::Result<u64>> {
    #[cfg(unix)]
    {
        Some(rlimit::increase_nofile_limit(u64::MAX))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_session_takes_two_descriptors_after_the_reserve() {
        assert_eq!(session_capacity(1024), 480);
        assert_eq!(session_capacity(65_536), 32_736);
        assert_eq!(
            session_capacity(10),
            0,
            "a tiny limit leaves no sessions, not an underflow"
        );
    }

    #[test]
    fn the_cap_is_lowered_only_when_descriptors_run_out_first() {
        // Application Gateway's 30,000 fits under a 65,536 limit…
        assert_eq!(connection_cap(Some(30_000), 65_536), (Some(30_000), false));
        // …but not under the usual soft 1024: 503 beyond 480 instead of EMFILE.
        assert_eq!(connection_cap(Some(30_000), 1024), (Some(480), true));
        // Front Door has no per-instance cap; the descriptors give one.
        assert_eq!(connection_cap(None, 1024), (Some(480), true));
        // An unlimited hard limit does not overflow.
        assert_eq!(connection_cap(None, u64::MAX), (Some(u32::MAX), true));
    }

    #[test]
    fn fitting_a_config_uses_the_profile_cap_when_none_is_set() {
        let mut config = gateway::Config::single_route(
            gateway::ProfileName::ApplicationGateway,
            "127.0.0.1:0".parse().unwrap(),
            vec!["127.0.0.1:9001".into()],
            None,
        );
        assert!(!fit(&mut config, 65_536));
        assert_eq!(config.max_connections, Some(30_000), "the profile's documented cap");
        assert!(fit(&mut config, 1024));
        assert_eq!(config.max_connections, Some(480));
    }

    #[cfg(unix)]
    #[test]
    fn raising_reaches_the_hard_limit() {
        let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        let raised = raise().unwrap().unwrap();
        assert!(raised > 0);
        // Linux caps the soft limit at nr_open as well as the hard limit.
        assert!(raised <= hard);
        let (soft, _) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
        assert_eq!(soft, raised);
    }
}
