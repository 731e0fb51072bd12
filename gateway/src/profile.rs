//! The documented systems a gateway can behave like.
//!
//! Each profile names one of the source documents in `shared/seeds/`. The
//! behaviours a profile selects (session timers, probe defaults, what happens
//! when every backend is unhealthy) are looked up from the profile as typed
//! values, never by comparing names in the data path.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::health::HealthRule;

use serde::Deserialize;

/// A conformance profile: which document's behaviour the gateway follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProfileName {
    /// Azure Application Gateway, current text (docs 000 and 003).
    ApplicationGateway,
    /// Azure Application Gateway as published in 2016 (doc 001).
    // kebab-case alone would give "application-gateway2016".
    #[serde(rename = "application-gateway-2016")]
    ApplicationGateway2016,
    /// Azure Front Door WebSocket preview (doc 002).
    FrontDoor,
}

impl ProfileName {
    /// Every profile, in a stable order.
    pub const ALL: [ProfileName; 3] = [
        ProfileName::ApplicationGateway,
        ProfileName::ApplicationGateway2016,
        ProfileName::FrontDoor,
    ];

    /// The name used in config files and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ProfileName::ApplicationGateway => "application-gateway",
            ProfileName::ApplicationGateway2016 => "application-gateway-2016",
            ProfileName::FrontDoor => "front-door",
        }
    }
}

impl fmt::Display for ProfileName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a request gets when its backend does not answer within the request
/// timeout, and when it was never reached at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeoutPolicy {
    /// The status sent when the timeout is final.
    pub status: u16,
    /// Try one other healthy member before giving up (bodiless requests
    /// only, since a streamed body cannot be replayed).
    pub retry_other_member: bool,
    /// Try one other member when the connection could not be made or the
    /// backend closed it before a response head: the request never reached
    /// an answer, so sending it elsewhere is safe (Front Door; a WebSocket
    /// handshake is such a request). Bodies read whole only, as above.
    pub retry_unreached: bool,
}

/// Where a session's idle timer comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdleRule {
    /// The backend settings' request timeout is the idle timer (doc 000:
    /// "The request timeout value in HTTP Settings also applies to the
    /// WebSocket session").
    RequestTimeout,
    /// A fixed idle timeout (Front Door: 5 minutes, doc 002).
    Fixed(Duration),
    /// No idle timer (doc 001: request timeouts "are not relevant to
    /// WebSocket traffic").
    Never,
}

/// Everything a profile decides, as one typed value. The data path reads
/// these fields; it never compares profile names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Behaviour {
    /// The profile these behaviours belong to, for naming where a default
    /// came from.
    pub name: ProfileName,
    /// The backend settings' request timeout when the config sets none.
    pub default_request_timeout: Duration,
    /// Whether the request timeout also bounds the wait for a backend's
    /// answer to a WebSocket upgrade request.
    pub upgrade_timeout: bool,
    pub idle: IdleRule,
    /// Every session is closed this long after it opened, whatever its
    /// traffic (Front Door: 4 hours).
    pub max_lifetime: Option<Duration>,
    pub http_timeout: TimeoutPolicy,
    /// Whether a route may enable caching (a Front Door route option). With
    /// caching on, the Upgrade header is not forwarded (doc 002).
    pub caching: bool,
    /// Whether header/URL rewrite sets exist (Application Gateway, doc 000).
    pub rewrites: bool,
    /// The probe used when backend settings name none, and the defaults a
    /// custom probe inherits.
    pub probe: ProbeDefaults,
    /// What happens when no member of a pool is healthy.
    pub all_unhealthy: AllUnhealthy,
    /// Client connections one instance holds at once when the config sets
    /// no `max_connections`; beyond it new connections get 503.
    pub max_connections: Option<u32>,
    /// The frontend IP's TCP idle timeout on a public IP when a listener
    /// sets none (Application Gateway's FAQ: 4 minutes), and whether the
    /// 4-30 minute range and the private IP's fixed 5 minutes apply.
    pub frontend_idle: Option<Duration>,
    /// How long a removed member's sessions, and every session at a
    /// configuration update, run on when the settings enable no connection
    /// draining (30 s, the backend-settings page). `None`: the profile
    /// never drains, it leaves open sessions alone (Front Door).
    pub drain: Option<Duration>,
    /// Whether `maintenance = { drain, update_domains }` applies
    /// (Application Gateway updates one update domain at a time).
    pub graceful_maintenance: bool,
    /// Cookie-based affinity: where it is configured and what it covers.
    pub affinity: AffinityRules,
    /// Whether pools are origin groups: origins with priorities, weights
    /// and enabled states, a latency window and session affinity (Front
    /// Door's routing methods).
    pub origin_groups: bool,
    /// The range a backend settings' `request_timeout` must fall in, when
    /// the profile documents one (Front Door's origin response timeout).
    pub request_timeout_range: Option<(Duration, Duration)>,
}

/// Application Gateway's frontend TCP idle timeout on a public IP, by
/// default (its FAQ: "a 4-minute default on the frontend virtual IP").
pub const AGW_FRONTEND_IDLE: Duration = Duration::from_secs(4 * 60);
/// The accepted range on a public frontend IP: 4 to 30 minutes.
pub const AGW_FRONTEND_IDLE_RANGE: (Duration, Duration) = (Duration::from_secs(4 * 60), Duration::from_secs(30 * 60));
/// The fixed idle timeout of a private frontend IP: 5 minutes.
pub const AGW_PRIVATE_FRONTEND_IDLE: Duration = Duration::from_secs(5 * 60);
/// Connection draining's timeout when the settings do not enable it.
pub const AGW_DEFAULT_DRAIN: Duration = Duration::from_secs(30);
/// The connection-draining timeouts the settings accept: 1 to 3600 s.
pub const AGW_DRAIN_RANGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(3600));
/// The longest graceful maintenance drain: "for up to 5 minutes".
pub const AGW_MAINTENANCE_DRAIN: Duration = Duration::from_secs(5 * 60);

/// A profile's cookie-based affinity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AffinityRules {
    /// Switched on per backend settings (`cookie_affinity`, Application
    /// Gateway) rather than per origin group (`session_affinity`, Front
    /// Door).
    pub on_settings: bool,
    /// The cookie's default name.
    pub cookie: &'static str,
    /// Whether a WebSocket handshake is routed by the cookie and its 101
    /// sets one.
    pub websocket: bool,
    /// Whether only a response no cache would keep establishes affinity.
    pub uncacheable_only: bool,
}

/// Application Gateway's affinity: the settings' `cookie_affinity`, the
/// `ApplicationGatewayAffinity` cookie, on every response (the backend
/// settings page).
const AGW_AFFINITY: AffinityRules = AffinityRules {
    on_settings: true,
    cookie: crate::affinity::APPLICATION_GATEWAY_COOKIE,
    websocket: true,
    uncacheable_only: false,
};

/// A profile's probe defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeDefaults {
    /// `HEAD` (Front Door) rather than `GET` (Application Gateway).
    pub head: bool,
    /// Host header 127.0.0.1 (Application Gateway's default probe) rather
    /// than the backend's own host (Front Door).
    pub loopback_host: bool,
    pub interval: Duration,
    pub timeout: Duration,
    /// The healthy status range.
    pub healthy: (u16, u16),
    pub rule: HealthRule,
    /// Whether a backend is routable before this instance's first probe of
    /// it has passed.
    pub initially_healthy: bool,
}

impl ProbeDefaults {
    /// Whether health is decided over a sample window (Front Door).
    pub const fn uses_samples(&self) -> bool {
        matches!(self.rule, HealthRule::Window { .. })
    }
}

/// What a pool does when every member is unhealthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllUnhealthy {
    /// Refuse with 502 (Application Gateway).
    BadGateway,
    /// Send traffic round-robin to every member anyway (Front Door).
    UseAll,
}

/// Application Gateway's default probe: GET / on the backend's port with
/// Host 127.0.0.1 every 30 s, 30 s timeout, out after 3 consecutive
/// failures, 200-399 healthy (Azure's health probe overview; the
/// catalogue's AGW-PROBE-DEFAULTS-1 records the page). A backend gets no
/// traffic until it has passed a probe of this instance (docs 000, 003:
/// "Each backend server must respond to HTTP probes for application
/// gateway to route WebSocket traffic to the server").
const AGW_PROBE: ProbeDefaults = ProbeDefaults {
    head: false,
    loopback_host: true,
    interval: Duration::from_secs(30),
    timeout: Duration::from_secs(30),
    healthy: (200, 399),
    rule: HealthRule::Consecutive { unhealthy_after: 3 },
    initially_healthy: false,
};

/// Application Gateway's documented capacity: "up to 30,000 concurrent WS
/// connections and 13,500 WSS connections per instance" (the live
/// application-gateway-websocket page; catalogue AGW-CAPACITY-1). wsgate
/// counts client connections of either kind against the first figure.
pub const AGW_MAX_CONNECTIONS: u32 = 30_000;

impl ProfileName {
    /// The behaviours this profile selects, from the documents (see the
    /// README's profile table).
    pub const fn behaviour(self) -> Behaviour {
        match self {
            ProfileName::ApplicationGateway => Behaviour {
                name: self,
                default_request_timeout: Duration::from_secs(20),
                upgrade_timeout: true,
                idle: IdleRule::RequestTimeout,
                max_lifetime: None,
                http_timeout: TimeoutPolicy {
                    status: 504,
                    retry_other_member: true,
                    retry_unreached: false,
                },
                caching: false,
                rewrites: true,
                probe: AGW_PROBE,
                all_unhealthy: AllUnhealthy::BadGateway,
                max_connections: Some(AGW_MAX_CONNECTIONS),
                frontend_idle: Some(AGW_FRONTEND_IDLE),
                drain: Some(AGW_DEFAULT_DRAIN),
                graceful_maintenance: true,
                affinity: AGW_AFFINITY,
                origin_groups: false,
                request_timeout_range: None,
            },
            ProfileName::ApplicationGateway2016 => Behaviour {
                name: self,
                default_request_timeout: Duration::from_secs(20),
                // Doc 001: requestTimeouts "are not relevant to WebSocket
                // traffic". The opening handshake is part of that traffic
                // (RFC 6455 §1.3), so a slow 101 is waited for.
                upgrade_timeout: false,
                idle: IdleRule::Never,
                max_lifetime: None,
                http_timeout: TimeoutPolicy {
                    status: 502,
                    retry_other_member: false,
                    retry_unreached: false,
                },
                caching: false,
                rewrites: false,
                probe: AGW_PROBE,
                all_unhealthy: AllUnhealthy::BadGateway,
                max_connections: Some(AGW_MAX_CONNECTIONS),
                frontend_idle: Some(AGW_FRONTEND_IDLE),
                drain: Some(AGW_DEFAULT_DRAIN),
                graceful_maintenance: true,
                // Doc 001: "Properties for cookie-based affinity and
                // requestTimeouts are not relevant to WebSocket traffic."
                // As with the request timeout (AGW16-TIMEOUT-2), the
                // handshake is WebSocket traffic: it is balanced as if it
                // carried no cookie, and its 101 sets none.
                affinity: AffinityRules {
                    websocket: false,
                    ..AGW_AFFINITY
                },
                origin_groups: false,
                request_timeout_range: None,
            },
            ProfileName::FrontDoor => Behaviour {
                name: self,
                // Front Door's origin response timeout.
                default_request_timeout: Duration::from_secs(30),
                upgrade_timeout: true,
                idle: IdleRule::Fixed(Duration::from_secs(5 * 60)),
                max_lifetime: Some(Duration::from_secs(4 * 60 * 60)),
                http_timeout: TimeoutPolicy {
                    status: 504,
                    retry_other_member: false,
                    // Front Door retries on another origin when the TCP
                    // connect fails or the origin closes before a
                    // response head (FD-RETRY-1).
                    retry_unreached: true,
                },
                caching: true,
                rewrites: false,
                probe: ProbeDefaults {
                    head: true,
                    loopback_host: false,
                    interval: Duration::from_secs(30),
                    // Front Door documents no probe timeout; wsgate uses the
                    // interval.
                    timeout: Duration::from_secs(30),
                    healthy: (200, 200),
                    rule: HealthRule::Window { size: 4, required: 2 },
                    // Doc 002 says nothing of origins before their first
                    // probe, and Front Door falls back to every origin
                    // when none is healthy: start healthy (a choice).
                    initially_healthy: true,
                },
                all_unhealthy: AllUnhealthy::UseAll,
                // Front Door documents no per-instance connection limit.
                max_connections: None,
                // Front Door's own 5-minute idle timeout covers the client
                // side; no separate frontend timer unless a listener sets one.
                frontend_idle: None,
                // "Since Front Door doesn't work at a VM/container level, so
                // it cannot do Connection Draining" (its FAQ): configuration
                // changes are "seamless", open sessions are left alone.
                drain: None,
                // Doc 002: connections "can be dropped" in maintenance.
                graceful_maintenance: false,
                affinity: AffinityRules {
                    on_settings: false,
                    cookie: crate::affinity::FRONT_DOOR_COOKIE,
                    websocket: true,
                    uncacheable_only: true,
                },
                origin_groups: true,
                // "enter a value between 16 and 240 seconds" (the Front
                // Door troubleshooting page).
                request_timeout_range: Some((Duration::from_secs(16), Duration::from_secs(240))),
            },
        }
    }
}

/// The error for a name that is not a profile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown profile `{0}`; expected one of application-gateway, application-gateway-2016, front-door")]
pub struct UnknownProfile(pub String);

impl FromStr for ProfileName {
    type Err = UnknownProfile;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ProfileName::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| UnknownProfile(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_config_and_command_line_spellings_both_ways() {
        for (profile, name) in [
            (ProfileName::ApplicationGateway, "application-gateway"),
            (ProfileName::ApplicationGateway2016, "application-gateway-2016"),
            (ProfileName::FrontDoor, "front-door"),
        ] {
            assert_eq!(profile.as_str(), name);
            assert_eq!(profile.to_string(), name);
            assert_eq!(name.parse::<ProfileName>(), Ok(profile));
        }
        assert!("front_door".parse::<ProfileName>().is_err());
    }

    #[test]
    fn config_files_use_the_same_names() {
        #[derive(Deserialize)]
        struct P {
            profile: ProfileName,
        }
        for p in ProfileName::ALL {
            let parsed: P = toml::from_str(&format!("profile = \"{p}\"")).unwrap();
            assert_eq!(parsed.profile, p);
        }
    }

    #[test]
    fn names_round_trip() {
        for p in ProfileName::ALL {
            assert_eq!(p.as_str().parse::<ProfileName>().unwrap(), p);
        }
        assert!("azure".parse::<ProfileName>().is_err());
    }
}
