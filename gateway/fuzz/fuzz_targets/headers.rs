//! The request a backend gets: a request built from fuzz input through
//! `forward::outbound`, then checked for what must never be forwarded
//! (hop-by-hop headers, a second Upgrade protocol) and what must always be
//! (Host, the WebSocket key, an origin-form target). Requests the gateway
//! refuses before this point (`handshake::check_target`) are skipped.
//!
//! Input is decoded by [`Input`]'s `Arbitrary` impl from something that
//! reads as a request head, so seeds are requests a person can edit: byte
//! 0's low bit is `upgrade` and the next bit asks for a Host override
//! (`'0'` plain, `'1'` upgrade, `'2'`/`'3'` the same with an override); then
//! a request line `METHOD target` and `name: value` lines.

#![no_main]
#![allow(clippy::unwrap_used)]

use arbitrary::{Arbitrary, Unstructured};
use gateway::forward::{self, BodyLength};
use gateway::handshake;
use gateway::headers::Forwarding;
use http::{header, HeaderMap, HeaderName, HeaderValue, Method, Uri};
use libfuzzer_sys::fuzz_target;

#[derive(Debug)]
struct Input {
    method: Vec<u8>,
    target: Vec<u8>,
    headers: Vec<(Vec<u8>, Vec<u8>)>,
    upgrade: bool,
    host_override: Option<HeaderValue>,
}

impl<'a> Arbitrary<'a> for Input {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let flags = u8::arbitrary(u)?;
        let text = u.bytes(u.len())?;
        let mut lines = text.split(|b| *b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
        let request_line = lines.next().unwrap_or_default();
        let mut words = request_line.splitn(3, |b| *b == b' ');
        let method = words.next().unwrap_or_default().to_vec();
        let target = words.next().unwrap_or_default().to_vec();
        let headers = lines
            .take_while(|l| !l.is_empty())
            .filter_map(|l| {
                let colon = l.iter().position(|b| *b == b':')?;
                Some((l[..colon].to_vec(), l[colon + 1..].trim_ascii().to_vec()))
            })
            .collect();
        Ok(Input {
            method,
            target,
            headers,
            upgrade: flags & 1 == 1,
            host_override: (flags & 2 == 2).then(|| HeaderValue::from_static("backend.internal")),
        })
    }
}

fuzz_target!(|input: Input| {
    // Only what hyper would hand the gateway (a valid method and target)
    // and the gateway would forward (a target that suits the method).
    let (Ok(method), Ok(uri)) = (
        Method::from_bytes(&input.method),
        Uri::try_from(input.target.as_slice()),
    ) else {
        return;
    };
    if handshake::check_target(&method, &uri).is_some() {
        return;
    }
    let options = method == Method::OPTIONS;
    let mut headers = HeaderMap::new();
    for (n, v) in &input.headers {
        // hyper refuses a whole head with such a line; skipping it keeps
        // the rest of the input useful.
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(n), HeaderValue::from_bytes(v)) {
            headers.append(n, v);
        }
    }

    let had_host = headers.contains_key(header::HOST) || uri.authority().is_some();
    let keys: Vec<HeaderValue> = headers.get_all(header::SEC_WEBSOCKET_KEY).iter().cloned().collect();
    let mut req = http::Request::new(());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.headers_mut() = headers;
    let (mut parts, ()) = req.into_parts();
    let fwd = Forwarding {
        client_ip: "192.0.2.7".parse().unwrap(),
        proto: "http",
        host_override: input.host_override.as_ref(),
        upgrade: input.upgrade,
    };
    forward::outbound(&mut parts, &fwd, None, BodyLength::Known);

    let out = &parts.headers;
    let upgrades: Vec<&HeaderValue> = out.get_all(header::UPGRADE).iter().collect();
    if input.upgrade {
        assert_eq!(upgrades, [&HeaderValue::from_static("websocket")], "{out:?}");
        let after: Vec<HeaderValue> = out.get_all(header::SEC_WEBSOCKET_KEY).iter().cloned().collect();
        assert_eq!(keys, after, "the key changed: {out:?}");
    } else {
        assert!(upgrades.is_empty(), "{out:?}");
    }
    for never in [
        "http2-settings",
        "transfer-encoding",
        "keep-alive",
        "te",
        "trailer",
        "proxy-connection",
    ] {
        assert!(!out.contains_key(never), "{never} forwarded: {out:?}");
    }
    if had_host || input.host_override.is_some() {
        assert!(out.contains_key(header::HOST), "Host lost: {out:?}");
    }
    let uri = &parts.uri;
    // Origin form, or `OPTIONS *` as it came (RFC 9112 §3.2.4).
    assert!(
        uri.scheme().is_none() && uri.authority().is_none() && (uri.path().starts_with('/') || (options && uri == "*")),
        "not origin-form: {uri}"
    );
});
