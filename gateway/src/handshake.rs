//! Deciding what a request is before anything is forwarded: a plain HTTP
//! request, a WebSocket upgrade, or bad input the gateway answers itself.
//!
//! Pure: it looks at the method, version and headers and returns a verdict.

use http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};

/// The only WebSocket version there is (RFC 6455 §4.1).
pub const WEBSOCKET_VERSION: &str = "13";

/// What to do with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Forward as ordinary HTTP.
    Plain,
    /// Forward as a WebSocket handshake and relay bytes after 101.
    Upgrade,
    /// Answer it here; it never reaches a backend.
    Reject(Rejection),
}

/// A response the gateway gives on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub status: StatusCode,
    pub reason: &'static str,
    /// A header the answer must carry: `Sec-WebSocket-Version: 13` on a
    /// 426 (RFC 6455 §4.4), `Allow` on a 405 (RFC 9110 §15.5.6).
    pub header: Option<(HeaderName, HeaderValue)>,
}

impl Rejection {
    fn bad_request(reason: &'static str) -> Verdict {
        Verdict::Reject(Rejection {
            status: StatusCode::BAD_REQUEST,
            reason,
            header: None,
        })
    }
}

/// The methods the gateway forwards, for `Allow` on a refused CONNECT.
pub const ALLOWED_METHODS: &str = "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS";

/// Whether a comma-separated header holds `token` (case-insensitive), as
/// `Connection: keep-alive, Upgrade` holds `upgrade`.
pub fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// A `Sec-WebSocket-Key` must be 16 bytes in base64: 22 characters of the
/// base64 alphabet followed by `==` (RFC 6455 §4.1, item 7).
pub fn is_valid_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/')
}

/// The `Sec-WebSocket-Accept` value a server must answer `key` with: the
/// base64 of the SHA-1 of the key and the RFC 6455 GUID (§4.2.2, item 5.4).
pub fn accept_key(key: &[u8]) -> String {
    use sha1::{Digest, Sha1};
    const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(GUID);
    data_encoding::BASE64.encode(&sha.finalize())
}

/// Why a backend's `101 Switching Protocols` does not complete the
/// WebSocket handshake the client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadSwitch {
    /// The request was not a WebSocket handshake, so nothing may switch.
    NotRequested,
    /// `Upgrade` is not exactly `websocket`.
    Protocol,
    /// `Connection` lacks `upgrade`.
    Connection,
    /// `Sec-WebSocket-Accept` is missing or does not match the key.
    Accept,
}

impl std::fmt::Display for BadSwitch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BadSwitch::NotRequested => "101 to a request that asked for no WebSocket upgrade",
            BadSwitch::Protocol => "101 whose Upgrade is not websocket",
            BadSwitch::Connection => "101 without Connection: Upgrade",
            BadSwitch::Accept => "101 whose Sec-WebSocket-Accept does not match the key",
        })
    }
}

/// Judges a backend's 101. The tunnel opens only when the switch is to
/// `websocket` and proves the backend read this client's key (RFC 6455
/// §4.1, client items 1-4 of the response checks). Anything else is a 502:
/// a switch to another protocol (h2c, say) would carry bytes past every
/// check the gateway makes on requests, the WAF included. `key` is the
/// client's `Sec-WebSocket-Key`, `None` for a request that was not a
/// WebSocket handshake.
pub fn check_switch(headers: &HeaderMap, key: Option<&HeaderValue>) -> Result<(), BadSwitch> {
    let Some(key) = key else {
        return Err(BadSwitch::NotRequested);
    };
    let upgrades: Vec<&HeaderValue> = headers.get_all(header::UPGRADE).iter().collect();
    match upgrades.as_slice() {
        [only] if only.as_bytes().trim_ascii().eq_ignore_ascii_case(b"websocket") => {}
        _ => return Err(BadSwitch::Protocol),
    }
    if !has_token(headers, header::CONNECTION, "upgrade") {
        return Err(BadSwitch::Connection);
    }
    let expected = accept_key(key.as_bytes());
    let accepts: Vec<&HeaderValue> = headers.get_all(header::SEC_WEBSOCKET_ACCEPT).iter().collect();
    match accepts.as_slice() {
        [only] if only.as_bytes().trim_ascii() == expected.as_bytes() => Ok(()),
        _ => Err(BadSwitch::Accept),
    }
}

/// Classifies a request. With `websocket` false (a Front Door route with
/// caching on) an `Upgrade: websocket` request is treated as plain HTTP: its
/// Upgrade header is hop-by-hop and is not forwarded.
pub fn classify(method: &Method, version: Version, headers: &HeaderMap, websocket: bool) -> Verdict {
    if method == Method::CONNECT {
        // A reverse proxy has no tunnel to offer: 405, as Envoy and
        // HAProxy answer (nginx says 400), naming what it does forward.
        return Verdict::Reject(Rejection {
            status: StatusCode::METHOD_NOT_ALLOWED,
            reason: "CONNECT is not forwarded",
            header: Some((header::ALLOW, HeaderValue::from_static(ALLOWED_METHODS))),
        });
    }
    if version == Version::HTTP_11 && !headers.contains_key(header::HOST) {
        // RFC 9112 §3.2: a server must answer 400 to an HTTP/1.1 request
        // without Host.
        return Rejection::bad_request("missing Host header");
    }
    if headers.get_all(header::HOST).iter().count() > 1 {
        return Rejection::bad_request("more than one Host header");
    }
    if !websocket || !has_token(headers, header::UPGRADE, "websocket") {
        // Any other Upgrade (h2c, …) is hop-by-hop and is dropped: the
        // request is forwarded as plain HTTP.
        return Verdict::Plain;
    }
    if method != Method::GET {
        return Rejection::bad_request("WebSocket handshake must use GET");
    }
    if version != Version::HTTP_11 {
        return Rejection::bad_request("WebSocket handshake must use HTTP/1.1");
    }
    if !has_token(headers, header::CONNECTION, "upgrade") {
        return Rejection::bad_request("WebSocket handshake without Connection: Upgrade");
    }
    let keys: Vec<_> = headers.get_all(header::SEC_WEBSOCKET_KEY).iter().collect();
    match keys.as_slice() {
        [] => return Rejection::bad_request("WebSocket handshake without Sec-WebSocket-Key"),
        [key] if is_valid_key(key.as_bytes()) => {}
        _ => return Rejection::bad_request("invalid Sec-WebSocket-Key"),
    }
    let versions: Vec<_> = headers.get_all(header::SEC_WEBSOCKET_VERSION).iter().collect();
    match versions.as_slice() {
        [] => Rejection::bad_request("WebSocket handshake without Sec-WebSocket-Version"),
        [v] if v.as_bytes() == WEBSOCKET_VERSION.as_bytes() => Verdict::Upgrade,
        _ => Verdict::Reject(Rejection {
            status: StatusCode::UPGRADE_REQUIRED,
            reason: "unsupported Sec-WebSocket-Version",
            header: Some((
                header::SEC_WEBSOCKET_VERSION,
                HeaderValue::from_static(WEBSOCKET_VERSION),
            )),
        }),
    }
}

/// Checks the request target's form against the method. Asterisk-form
/// (`*`) is only for a server-wide OPTIONS (RFC 9112 §3.2.4), and a server
/// answers an invalid request line with 400 (§3): `GET *` is refused here,
/// not handed to a backend as a target no origin form can express.
/// `OPTIONS *` is forwarded as it came. Checked after [`classify`], so a
/// request it refuses keeps its answer.
pub fn check_target(method: &Method, target: &Uri) -> Option<Rejection> {
    let asterisk = target.scheme().is_none() && target.authority().is_none() && target.path() == "*";
    (asterisk && method != Method::OPTIONS).then_some(Rejection {
        status: StatusCode::BAD_REQUEST,
        reason: "asterisk-form target on a method other than OPTIONS",
        header: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_switch_says_what_was_wrong() {
        // The reason lands in the gateway's BackendError event and the trace.
        assert_eq!(
            BadSwitch::NotRequested.to_string(),
            "101 to a request that asked for no WebSocket upgrade"
        );
        assert_eq!(BadSwitch::Protocol.to_string(), "101 whose Upgrade is not websocket");
        assert_eq!(BadSwitch::Connection.to_string(), "101 without Connection: Upgrade");
        assert_eq!(
            BadSwitch::Accept.to_string(),
            "101 whose Sec-WebSocket-Accept does not match the key"
        );
    }

    fn upgrade_headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("server.example.com"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        h.insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        h
    }

    fn status(v: Verdict) -> Option<u16> {
        match v {
            Verdict::Reject(r) => Some(r.status.as_u16()),
            _ => None,
        }
    }

    #[test]
    fn the_documents_sample_handshake_is_an_upgrade() {
        assert_eq!(
            classify(&Method::GET, Version::HTTP_11, &upgrade_headers(), true),
            Verdict::Upgrade
        );
    }

    #[test]
    fn connection_tokens_are_case_insensitive_lists() {
        let mut h = upgrade_headers();
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("WebSocket"));
        assert_eq!(classify(&Method::GET, Version::HTTP_11, &h, true), Verdict::Upgrade);
    }

    #[test]
    fn missing_key_is_400() {
        let mut h = upgrade_headers();
        h.remove(header::SEC_WEBSOCKET_KEY);
        // A missing key and a malformed one are both 400, each with its
        // own reason in the event a user reads.
        match classify(&Method::GET, Version::HTTP_11, &h, true) {
            Verdict::Reject(r) => {
                assert_eq!(r.status, StatusCode::BAD_REQUEST);
                assert_eq!(r.reason, "WebSocket handshake without Sec-WebSocket-Key");
            }
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn malformed_key_is_400() {
        let mut h = upgrade_headers();
        h.insert(header::SEC_WEBSOCKET_KEY, HeaderValue::from_static("short"));
        assert_eq!(status(classify(&Method::GET, Version::HTTP_11, &h, true)), Some(400));
    }

    #[test]
    fn other_versions_get_426_naming_13() {
        let mut h = upgrade_headers();
        h.insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("8"));
        match classify(&Method::GET, Version::HTTP_11, &h, true) {
            Verdict::Reject(r) => {
                assert_eq!(r.status, StatusCode::UPGRADE_REQUIRED);
                assert_eq!(
                    r.header.unwrap(),
                    (header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"))
                );
            }
            other => panic!("expected 426, got {other:?}"),
        }
    }

    #[test]
    fn an_asterisk_target_is_for_options_only() {
        // Found by the `headers` fuzz target (minimised input `3p *`): any
        // method with `*` went to the backend as `p * HTTP/1.1`.
        let star = Uri::from_static("*");
        let p = Method::from_bytes(b"p").unwrap();
        assert_eq!(check_target(&p, &star).map(|r| r.status), Some(StatusCode::BAD_REQUEST));
        assert!(check_target(&Method::GET, &star).is_some());
        assert_eq!(check_target(&Method::OPTIONS, &star), None);
        assert_eq!(check_target(&Method::GET, &Uri::from_static("/*")), None);
        assert_eq!(check_target(&Method::GET, &Uri::from_static("http://h/*")), None);
    }

    #[test]
    fn connect_is_405_naming_the_methods_forwarded() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("backend:22"));
        match classify(&Method::CONNECT, Version::HTTP_11, &h, true) {
            Verdict::Reject(r) => {
                assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
                assert_eq!(r.header.unwrap().0, header::ALLOW);
            }
            other => panic!("expected 405, got {other:?}"),
        }
    }

    #[test]
    fn post_upgrade_is_400() {
        assert_eq!(
            status(classify(&Method::POST, Version::HTTP_11, &upgrade_headers(), true)),
            Some(400)
        );
    }

    #[test]
    fn missing_host_is_400() {
        let mut h = upgrade_headers();
        h.remove(header::HOST);
        assert_eq!(status(classify(&Method::GET, Version::HTTP_11, &h, true)), Some(400));
    }

    #[test]
    fn without_websocket_an_upgrade_is_plain() {
        assert_eq!(
            classify(&Method::GET, Version::HTTP_11, &upgrade_headers(), false),
            Verdict::Plain
        );
        let mut h = upgrade_headers();
        h.remove(header::SEC_WEBSOCKET_KEY);
        assert_eq!(classify(&Method::GET, Version::HTTP_11, &h, false), Verdict::Plain);
    }

    fn switch(upgrade: &'static str, accept: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::UPGRADE, HeaderValue::from_static(upgrade));
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::SEC_WEBSOCKET_ACCEPT, HeaderValue::from_str(accept).unwrap());
        h
    }

    #[test]
    fn the_rfc_sample_key_gives_the_rfc_sample_accept() {
        // RFC 6455 §1.3 (and document 002's example).
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn only_a_websocket_switch_with_the_right_accept_opens_a_tunnel() {
        let key = HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ==");
        let good = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
        assert_eq!(check_switch(&switch("websocket", good), Some(&key)), Ok(()));
        assert_eq!(check_switch(&switch("WebSocket", good), Some(&key)), Ok(()));
        assert_eq!(check_switch(&switch("h2c", good), Some(&key)), Err(BadSwitch::Protocol));
        assert_eq!(
            check_switch(&switch("websocket, h2c", good), Some(&key)),
            Err(BadSwitch::Protocol)
        );
        assert_eq!(
            check_switch(&switch("websocket", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="), Some(&key)),
            Err(BadSwitch::Accept)
        );
        let mut no_conn = switch("websocket", good);
        no_conn.remove(header::CONNECTION);
        assert_eq!(check_switch(&no_conn, Some(&key)), Err(BadSwitch::Connection));
        let mut no_accept = switch("websocket", good);
        no_accept.remove(header::SEC_WEBSOCKET_ACCEPT);
        assert_eq!(check_switch(&no_accept, Some(&key)), Err(BadSwitch::Accept));
        assert_eq!(
            check_switch(&switch("websocket", good), None),
            Err(BadSwitch::NotRequested)
        );
    }

    #[test]
    fn plain_and_other_upgrades_are_plain() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("a"));
        assert_eq!(classify(&Method::GET, Version::HTTP_11, &h, true), Verdict::Plain);
        h.insert(header::UPGRADE, HeaderValue::from_static("h2c"));
        assert_eq!(classify(&Method::GET, Version::HTTP_11, &h, true), Verdict::Plain);
    }
}
