//! Cookie-based affinity: the cookie a gateway issues so that a client's
//! later requests reach the member that served its first one, and reading
//! it back. Pure: headers in, a member or header values out.
//!
//! Application Gateway calls its cookie `ApplicationGatewayAffinity` (the
//! name can be changed), Front Door `ASLBSA`; each also issues the same
//! value under the name with `CORS` appended, with `SameSite=None; Secure`,
//! which a browser keeps only over HTTPS, so wsgate issues it on https
//! listeners only. The value is an opaque hash of the pool and the member,
//! never the member's address ("the data in the cookie is generated using a
//! one-way hash"), and the same on every gateway instance, so a client that
//! reconnects through another instance keeps its member.
//!
//! Which member a binding may reach is [`crate::pool::choose`]'s decision;
//! whether a response may carry a cookie is [`establishes`] (Front Door)
//! and the profile's [`AffinityPlan`].

use std::fmt;

use http::{header, HeaderMap, HeaderValue, Method, StatusCode};

use crate::config::BackendAddr;

/// Application Gateway's default affinity cookie name.
pub const APPLICATION_GATEWAY_COOKIE: &str = "ApplicationGatewayAffinity";
/// Front Door's session affinity cookie.
pub const FRONT_DOOR_COOKIE: &str = "ASLBSA";
/// What the second cookie's name adds to the first's.
pub const CORS_SUFFIX: &str = "CORS";

/// How one backend set does affinity, resolved from the config and the
/// profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffinityPlan {
    /// The cookie's name; the CORS cookie is this plus [`CORS_SUFFIX`].
    pub cookie: String,
    /// Whether a WebSocket handshake is routed by the cookie and its 101
    /// sets one. Not under application-gateway-2016, whose document says
    /// cookie-based affinity is "not relevant to WebSocket traffic".
    pub websocket: bool,
    /// Front Door: affinity is established only by a response no cache
    /// would keep ([`establishes`]).
    pub uncacheable_only: bool,
}

impl AffinityPlan {
    /// The CORS cookie's name.
    pub fn cors_cookie(&self) -> String {
        format!("{}{CORS_SUFFIX}", self.cookie)
    }
}

/// A member's affinity token: a hash of its pool and address, hex. One-way,
/// so the cookie does not tell a client where the member is; the same
/// everywhere, so every instance reads every other's cookies. (SHA-1, the
/// digest the gateway already carries for WebSocket accept keys: the token
/// needs to be opaque and stable, not collision-proof against an attacker,
/// who could only pick a member a balanced pick would give them anyway.)
pub fn token(pool: &str, member: &BackendAddr) -> String {
    use sha1::{Digest, Sha1};
    let mut sha = Sha1::new();
    sha.update(b"wsgate affinity\0");
    sha.update(pool.as_bytes());
    sha.update(b"\0");
    sha.update(member.to_string().as_bytes());
    data_encoding::HEXLOWER.encode(&sha.finalize())
}

/// What a request's cookies say about affinity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// No affinity cookie.
    None,
    /// The cookie names this member (an index into the tokens).
    Member(usize),
    /// An affinity cookie that names no member: stale (the member left the
    /// config) or made up. The request is balanced and gets a new cookie.
    Unknown,
}

/// Reads the affinity cookie (or, failing it, the CORS cookie: a browser
/// sends only that one on a cross-site request) from every `Cookie`
/// header, and finds the member whose token it holds.
pub fn binding(headers: &HeaderMap, plan: &AffinityPlan, tokens: &[String]) -> Binding {
    let cors = plan.cors_cookie();
    let found = cookie(headers, &plan.cookie).or_else(|| cookie(headers, &cors));
    match found {
        None => Binding::None,
        Some(value) => tokens
            .iter()
            .position(|t| t == value)
            .map_or(Binding::Unknown, Binding::Member),
    }
}

/// The first value of cookie `name` in the request's `Cookie` headers
/// (RFC 6265 §5.4: `name=value` pairs separated by `; `), without the
/// optional double quotes around it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| n.trim() == name)
        .map(|(_, v)| {
            let v = v.trim();
            v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v)
        })
}

/// The `Set-Cookie` values that bind a client to the member with `token`:
/// the affinity cookie, and on an https listener the CORS cookie as well.
/// Session cookies (no expiry), for the whole site (`Path=/`); not
/// `HttpOnly` or `Secure` on the first, as the gateways' own are not.
pub fn set_cookies(plan: &AffinityPlan, token: &str, https: bool) -> Vec<HeaderValue> {
    let mut out = vec![format!("{}={token}; Path=/", plan.cookie)];
    if https {
        out.push(format!("{}={token}; Path=/; SameSite=None; Secure", plan.cors_cookie()));
    }
    // A token is hex and a configured name is checked to be a cookie-name
    // token, so these are always valid header values.
    out.into_iter().filter_map(|v| HeaderValue::from_str(&v).ok()).collect()
}

/// Whether `name` can be a cookie's name: an RFC 9110 token (visible ASCII
/// without separators), which is what RFC 6265 asks of cookie names.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&b))
}

/// Whether a response may establish Front Door session affinity. The
/// routing-methods page: "session affinity will **not** be established if
/// the origin sends a cacheable response", and it is established beyond
/// "the standard non-cacheable scenarios" when the response has
/// `Cache-Control: no-store` or is a 302. wsgate reads the standard
/// non-cacheable scenarios as a 101 (never stored) and the answer to a
/// request other than GET or HEAD (RFC 9110 §9.3.3: POST responses are
/// cacheable only with explicit freshness, which wsgate does not weigh).
/// The page's expired-`Authorization` rule is not modelled.
pub fn establishes(method: &Method, status: StatusCode, headers: &HeaderMap) -> bool {
    let no_store = headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|d| d.trim().eq_ignore_ascii_case("no-store"));
    status == StatusCode::SWITCHING_PROTOCOLS
        || status == StatusCode::FOUND
        || no_store
        || !(method == Method::GET || method == Method::HEAD)
}

/// What affinity did for one request, for the event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AffinityAction {
    /// The cookie named this member, and the request went there.
    Honoured { backend: BackendAddr },
    /// The cookie named a member that cannot take the request now (out of
    /// the pool, or outside Front Door's latency window); it was balanced.
    Unroutable { named: BackendAddr },
    /// The cookie named no member of the pool; the request was balanced.
    Unknown,
    /// A WebSocket handshake under application-gateway-2016: the cookie
    /// was not consulted.
    IgnoredForWebSocket,
    /// The response carries a new cookie binding the client to `backend`.
    Issued { backend: BackendAddr },
}

impl fmt::Display for AffinityAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AffinityAction::Honoured { backend } => write!(f, "names {backend}: routed there"),
            AffinityAction::Unroutable { named } => {
                write!(f, "names {named}, which cannot take it now: balanced instead")
            }
            AffinityAction::Unknown => f.write_str("names no member of the pool: balanced"),
            AffinityAction::IgnoredForWebSocket => {
                f.write_str("ignored: affinity is not relevant to WebSocket traffic (application-gateway-2016)")
            }
            AffinityAction::Issued { backend } => write!(f, "set for {backend}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> AffinityPlan {
        AffinityPlan {
            cookie: APPLICATION_GATEWAY_COOKIE.into(),
            websocket: true,
            uncacheable_only: false,
        }
    }

    fn headers(cookies: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for c in cookies {
            h.append(header::COOKIE, HeaderValue::from_str(c).unwrap());
        }
        h
    }

    fn addr(text: &str) -> BackendAddr {
        BackendAddr::parse(text).unwrap()
    }

    #[test]
    fn tokens_are_opaque_stable_and_distinct() {
        let a = token("chat", &addr("10.0.0.4:8080"));
        assert_eq!(a, token("chat", &addr("10.0.0.4:8080")), "every instance agrees");
        assert_eq!(a.len(), 40);
        assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!a.contains("10.0.0.4") && !a.contains("8080"), "no address in clear");
        assert_ne!(a, token("chat", &addr("10.0.0.5:8080")));
        assert_ne!(a, token("other", &addr("10.0.0.4:8080")), "per pool");
    }

    #[test]
    fn the_cookie_is_found_among_others_and_names_its_member() {
        let tokens = vec!["aaa".to_string(), "bbb".to_string()];
        let h = headers(&["theme=dark; ApplicationGatewayAffinity=bbb; lang=en"]);
        assert_eq!(binding(&h, &plan(), &tokens), Binding::Member(1));
        assert_eq!(
            binding(
                &headers(&["a=1", "ApplicationGatewayAffinity=\"aaa\""]),
                &plan(),
                &tokens
            ),
            Binding::Member(0),
            "a second Cookie header, a quoted value"
        );
        assert_eq!(binding(&headers(&["x=aaa"]), &plan(), &tokens), Binding::None);
        assert_eq!(binding(&HeaderMap::new(), &plan(), &tokens), Binding::None);
        assert_eq!(
            binding(&headers(&["ApplicationGatewayAffinity=zzz"]), &plan(), &tokens),
            Binding::Unknown
        );
    }

    #[test]
    fn the_cors_cookie_alone_binds_too() {
        let tokens = vec!["aaa".to_string()];
        let h = headers(&["ApplicationGatewayAffinityCORS=aaa"]);
        assert_eq!(binding(&h, &plan(), &tokens), Binding::Member(0));
        // A prefix of the name is another cookie.
        let h = headers(&["ApplicationGatewayAffinityX=aaa"]);
        assert_eq!(binding(&h, &plan(), &tokens), Binding::None);
    }

    #[test]
    fn https_listeners_also_get_the_cors_cookie() {
        let plain = set_cookies(&plan(), "abc", false);
        assert_eq!(plain, ["ApplicationGatewayAffinity=abc; Path=/"]);
        let custom = AffinityPlan {
            cookie: "Sticky".into(),
            ..plan()
        };
        assert_eq!(
            set_cookies(&custom, "abc", true),
            ["Sticky=abc; Path=/", "StickyCORS=abc; Path=/; SameSite=None; Secure"]
        );
    }

    #[test]
    fn cookie_names_are_tokens() {
        assert!(valid_name("ApplicationGatewayAffinity"));
        assert!(valid_name("my-app_1"));
        for bad in ["", "a b", "a;b", "a=b", "ä", "a\"b"] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn only_uncacheable_responses_establish_front_door_affinity() {
        let none = HeaderMap::new();
        assert!(establishes(&Method::GET, StatusCode::SWITCHING_PROTOCOLS, &none));
        assert!(establishes(&Method::POST, StatusCode::OK, &none));
        assert!(establishes(&Method::GET, StatusCode::FOUND, &none));
        assert!(!establishes(&Method::GET, StatusCode::OK, &none));
        assert!(!establishes(&Method::HEAD, StatusCode::OK, &none));
        let mut no_store = HeaderMap::new();
        no_store.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, No-Store"));
        assert!(establishes(&Method::GET, StatusCode::OK, &no_store));
        let mut no_cache = HeaderMap::new();
        no_cache.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        assert!(
            !establishes(&Method::GET, StatusCode::OK, &no_cache),
            "no-cache is still stored"
        );
    }
}
