//! Header rewriting between client and backend: hop-by-hop removal, the
//! forwarding headers and the Host override. Pure functions over a
//! `HeaderMap`.

use std::net::IpAddr;

use http::{header, HeaderMap, HeaderName, HeaderValue};

/// Appends `headers` as an HTTP/1.1 head carries them: one `name: value`
/// line each, in order, names in lower case as hyper writes them. The one
/// encoding of a header block, for the request heads the gateway writes to
/// backends and the 101s it writes to clients.
pub fn encode(headers: &HeaderMap, out: &mut Vec<u8>) {
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
}

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1),
/// plus `Proxy-Connection`, which old clients still send, and
/// `HTTP2-Settings`, which belongs to an h2c upgrade (RFC 7540 §3.2.1) and
/// so to the one connection it was sent on.
const HOP_BY_HOP: [HeaderName; 8] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    HeaderName::from_static("http2-settings"),
];

/// Headers the gateway requires or sets. `Connection` naming one never
/// removes it: `Connection: close, Host` would otherwise send an HTTP/1.1
/// request without Host, and `Connection: Upgrade, Sec-WebSocket-Key` a
/// handshake without its key, after both were checked.
const PROTECTED: [HeaderName; 8] = [
    header::HOST,
    header::CONTENT_LENGTH,
    header::SEC_WEBSOCKET_KEY,
    header::SEC_WEBSOCKET_VERSION,
    header::SEC_WEBSOCKET_PROTOCOL,
    header::SEC_WEBSOCKET_EXTENSIONS,
    HeaderName::from_static("x-forwarded-for"),
    HeaderName::from_static("x-forwarded-proto"),
];

/// Removes hop-by-hop headers, including any named in `Connection`
/// (except the [`PROTECTED`] ones).
pub fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .filter(|name| !PROTECTED.contains(name))
        .collect();
    for name in named.iter().chain(HOP_BY_HOP.iter()) {
        headers.remove(name);
    }
}

/// What the gateway knows about the client side of a request.
#[derive(Debug, Clone)]
pub struct Forwarding<'a> {
    pub client_ip: IpAddr,
    /// `http` or `https`: the listener's scheme.
    pub proto: &'static str,
    pub host_override: Option<&'a HeaderValue>,
    /// Keep the upgrade headers: this is a WebSocket handshake.
    pub upgrade: bool,
}

/// Rewrites a request's headers for the backend.
pub fn request_headers(headers: &mut HeaderMap, fwd: &Forwarding<'_>) {
    remove_hop_by_hop(headers);
    if fwd.upgrade {
        // The backend is asked for exactly the upgrade the gateway checked
        // and will relay: websocket, whatever else the client listed. A
        // second protocol (h2c) would let a backend switch to something
        // the gateway never inspects.
        headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    }
    let xff = HeaderName::from_static("x-forwarded-for");
    let ip = fwd.client_ip.to_string();
    let chain = match headers.get(&xff).and_then(|v| v.to_str().ok()) {
        Some(prior) if !prior.trim().is_empty() => format!("{prior}, {ip}"),
        _ => ip,
    };
    if let Ok(value) = HeaderValue::from_str(&chain) {
        headers.insert(xff, value);
    }
    headers.insert(
        HeaderName::from_static("x-forwarded-proto"),
        HeaderValue::from_static(fwd.proto),
    );
    if let Some(host) = fwd.host_override {
        headers.insert(header::HOST, host.clone());
    }
}

/// Rewrites a response's headers for the client. A 101 keeps its
/// `Connection`/`Upgrade` pair: the client needs them to accept the switch.
pub fn response_headers(headers: &mut HeaderMap, switching: bool) {
    if switching {
        return;
    }
    remove_hop_by_hop(headers);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fwd(upgrade: bool) -> Forwarding<'static> {
        Forwarding {
            client_ip: "10.1.2.3".parse().unwrap(),
            proto: "https",
            host_override: None,
            upgrade,
        }
    }

    #[test]
    fn strips_hop_by_hop_and_connection_named_headers() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TE, HeaderValue::from_static("trailers"));
        h.insert("x-kept", HeaderValue::from_static("yes"));
        request_headers(&mut h, &fwd(false));
        assert!(h.get("x-secret").is_none());
        assert!(h.get(header::CONNECTION).is_none());
        assert!(h.get("keep-alive").is_none());
        assert!(h.get(header::TE).is_none());
        assert_eq!(h["x-kept"], "yes");
    }

    #[test]
    fn connection_cannot_remove_what_the_gateway_requires() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("public.example"));
        h.insert(
            header::CONNECTION,
            HeaderValue::from_static("close, Host, Sec-WebSocket-Key, Content-Length, X-Forwarded-For"),
        );
        h.insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        request_headers(&mut h, &fwd(true));
        assert_eq!(h[header::HOST], "public.example");
        assert_eq!(h[header::SEC_WEBSOCKET_KEY], "dGhlIHNhbXBsZSBub25jZQ==");
        assert_eq!(h[header::CONTENT_LENGTH], "0");
        assert_eq!(h["x-forwarded-for"], "10.1.2.3");
    }

    #[test]
    fn upgrade_headers_survive_for_websocket() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(
            header::SEC_WEBSOCKET_KEY,
            HeaderValue::from_static("dGhlIHNhbXBsZSBub25jZQ=="),
        );
        request_headers(&mut h, &fwd(true));
        assert_eq!(h[header::CONNECTION], "Upgrade");
        assert_eq!(h[header::UPGRADE], "websocket");
        assert_eq!(h[header::SEC_WEBSOCKET_KEY], "dGhlIHNhbXBsZSBub25jZQ==");
    }

    #[test]
    fn an_upgrade_asks_the_backend_for_websocket_only() {
        let mut h = HeaderMap::new();
        h.append(header::UPGRADE, HeaderValue::from_static("h2c"));
        h.append(header::UPGRADE, HeaderValue::from_static("websocket"));
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade, HTTP2-Settings"));
        h.insert("http2-settings", HeaderValue::from_static("AAMAAABkAARAAAAAAAIAAAAA"));
        request_headers(&mut h, &fwd(true));
        let upgrades: Vec<_> = h.get_all(header::UPGRADE).iter().collect();
        assert_eq!(upgrades, ["websocket"]);
        assert!(h.get("http2-settings").is_none());
        let mut plain = HeaderMap::new();
        plain.insert("http2-settings", HeaderValue::from_static("AAMAAABkAARAAAAAAAIAAAAA"));
        request_headers(&mut plain, &fwd(false));
        assert!(plain.get("http2-settings").is_none(), "hop-by-hop even when not named");
    }

    #[test]
    fn forwarded_for_appends_and_proto_is_set() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("192.0.2.1"));
        h.insert("x-forwarded-proto", HeaderValue::from_static("spoofed"));
        request_headers(&mut h, &fwd(false));
        assert_eq!(h["x-forwarded-for"], "192.0.2.1, 10.1.2.3");
        assert_eq!(h["x-forwarded-proto"], "https");
    }

    #[test]
    fn host_is_kept_unless_overridden() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("public.example"));
        request_headers(&mut h, &fwd(false));
        assert_eq!(h[header::HOST], "public.example");
        let over = HeaderValue::from_static("chat.internal");
        let mut f = fwd(false);
        f.host_override = Some(&over);
        request_headers(&mut h, &f);
        assert_eq!(h[header::HOST], "chat.internal");
    }

    #[test]
    fn switching_responses_keep_their_upgrade_pair() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        response_headers(&mut h, true);
        assert_eq!(h.len(), 2);
        response_headers(&mut h, false);
        assert!(h.is_empty());
    }
}
