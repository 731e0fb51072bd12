//! What the gateway sends a backend, and what it does when that fails.
//! Pure: request parts in, request parts out; an error in, a next step
//! out. [`crate::proxy`] does the I/O around these.

use http::{header, HeaderValue, Uri};

use crate::headers::{self, Forwarding};
use crate::profile::TimeoutPolicy;
use crate::rewrite::Rewrite;
use crate::upstream::{Kind, UpstreamError};

/// How the forwarded body's length is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyLength {
    /// Read whole before forwarding: hyper writes its Content-Length.
    Known,
    /// Streamed: the client's Content-Length if it sent one, else chunked.
    Streamed,
}

/// The Host the backend should see for a request: the authority of an
/// absolute-form target (RFC 9112 §3.2.2: a server "MUST ignore the
/// received Host header field" then), else the client's Host.
pub fn effective_host(uri: &Uri) -> Option<HeaderValue> {
    let authority = uri.authority()?;
    // Userinfo never belongs in Host.
    let host = authority.as_str().rsplit('@').next().unwrap_or(authority.as_str());
    HeaderValue::from_str(host).ok()
}

/// The target in origin form (`/path?query`), as a backend expects it.
pub fn origin_form(uri: &Uri) -> Uri {
    let target = match uri.path_and_query() {
        Some(pq) => Uri::from(pq.clone()),
        None => return Uri::from_static("/"),
    };
    // A fragment right after the authority (`://m#`) leaves a path and
    // query that is empty, though it reads as `/`: the target would be too.
    if target.path().is_empty() {
        return Uri::from_static("/");
    }
    target
}

/// Rewrites a request's head for the backend: origin-form target, the
/// forwarding headers, Host (absolute-form authority, then the settings'
/// override), the route's rewrite set, and framing for a streamed body.
pub fn outbound(parts: &mut http::request::Parts, fwd: &Forwarding<'_>, rewrite: Option<&Rewrite>, body: BodyLength) {
    let host = effective_host(&parts.uri);
    let streamed_without_length = body == BodyLength::Streamed && !parts.headers.contains_key(header::CONTENT_LENGTH);
    parts.uri = origin_form(&parts.uri);
    if let Some(host) = host {
        parts.headers.insert(header::HOST, host);
    }
    headers::request_headers(&mut parts.headers, fwd);
    if streamed_without_length {
        // hyper sends no body at all for a GET of unknown length unless told
        // to chunk it; the client's own Transfer-Encoding is hop-by-hop and
        // already gone.
        parts
            .headers
            .insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
    }
    if let Some(rewrite) = rewrite {
        parts.uri = rewrite.apply(&parts.uri, &mut parts.headers);
    }
}

/// What to do after an attempt at a backend failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    /// Try one other healthy member.
    Retry,
    /// Give up and answer the client with this status.
    Answer(u16),
}

/// Decides the next step after `error`. `replayable` says whether the
/// request can be sent again (its body was read whole), `retried` whether
/// this was already the second attempt.
pub fn on_failure(error: &UpstreamError, policy: &TimeoutPolicy, replayable: bool, retried: bool) -> NextStep {
    let again = replayable && !retried;
    match error.kind() {
        Kind::ClientBody => NextStep::Answer(400),
        Kind::Timeout if policy.retry_other_member && again => NextStep::Retry,
        // No connection, or closed before a response head: the request got
        // no answer from anyone, so another member may have it.
        Kind::Connect | Kind::Response if policy.retry_unreached && again => NextStep::Retry,
        _ => NextStep::Answer(final_status(error, policy)),
    }
}

/// The status a client gets when `error` ends its request: the profile's
/// for a timeout, else the error's own (400 for the client's body, 502).
/// Also what a retry that found no other member answers.
pub fn final_status(error: &UpstreamError, policy: &TimeoutPolicy) -> u16 {
    match error.kind() {
        Kind::Timeout => policy.status,
        _ => error.status(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn parts(target: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut req = http::Request::builder().uri(target);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(()).unwrap().into_parts().0
    }

    fn fwd() -> Forwarding<'static> {
        Forwarding {
            client_ip: "10.0.0.1".parse().unwrap(),
            proto: "http",
            host_override: None,
            upgrade: false,
        }
    }

    #[test]
    fn an_absolute_form_target_sets_host_and_travels_in_origin_form() {
        let mut p = parts("http://real.example:8080/a?b=1", &[("host", "spoofed.example")]);
        outbound(&mut p, &fwd(), None, BodyLength::Known);
        assert_eq!(p.uri, "/a?b=1");
        assert_eq!(p.headers[header::HOST], "real.example:8080");
        let mut user = parts("http://me:pw@real.example/", &[("host", "x")]);
        outbound(&mut user, &fwd(), None, BodyLength::Known);
        assert_eq!(user.headers[header::HOST], "real.example");
    }

    #[test]
    fn origin_form_is_never_empty() {
        // Found by the `headers` fuzz target (minimised input `0G ://m#`):
        // the fragment leaves an empty path and query, and the backend
        // would have been sent `G  HTTP/1.1`.
        let mut p = parts("://m#", &[]);
        outbound(&mut p, &fwd(), None, BodyLength::Known);
        assert_eq!(p.uri, "/");
        assert_eq!(p.headers[header::HOST], "m");
    }

    #[test]
    fn origin_form_keeps_the_client_host() {
        let mut p = parts("/chat", &[("host", "public.example")]);
        outbound(&mut p, &fwd(), None, BodyLength::Known);
        assert_eq!(p.headers[header::HOST], "public.example");
    }

    #[test]
    fn a_streamed_body_without_length_is_chunked() {
        let mut p = parts("/up", &[("host", "h"), ("transfer-encoding", "chunked")]);
        outbound(&mut p, &fwd(), None, BodyLength::Streamed);
        assert_eq!(p.headers[header::TRANSFER_ENCODING], "chunked");
        let mut sized = parts("/up", &[("host", "h"), ("content-length", "99999")]);
        outbound(&mut sized, &fwd(), None, BodyLength::Streamed);
        assert!(sized.headers.get(header::TRANSFER_ENCODING).is_none());
        let mut known = parts("/up", &[("host", "h"), ("transfer-encoding", "chunked")]);
        outbound(&mut known, &fwd(), None, BodyLength::Known);
        assert!(
            known.headers.get(header::TRANSFER_ENCODING).is_none(),
            "hyper sets the length"
        );
    }

    #[test]
    fn failures_map_to_the_profile_and_the_side_at_fault() {
        let agw = TimeoutPolicy {
            status: 504,
            retry_other_member: true,
            retry_unreached: false,
        };
        let timeout = UpstreamError::timeout(Duration::from_secs(20));
        assert_eq!(on_failure(&timeout, &agw, true, false), NextStep::Retry);
        assert_eq!(on_failure(&timeout, &agw, true, true), NextStep::Answer(504));
        assert_eq!(on_failure(&timeout, &agw, false, false), NextStep::Answer(504));
        let agw2016 = TimeoutPolicy {
            status: 502,
            retry_other_member: false,
            retry_unreached: false,
        };
        assert_eq!(on_failure(&timeout, &agw2016, true, false), NextStep::Answer(502));
        let refused = UpstreamError::new(Kind::Connect, "refused");
        assert_eq!(on_failure(&refused, &agw, true, false), NextStep::Answer(502));
        let body = UpstreamError::new(Kind::ClientBody, "bad chunk");
        assert_eq!(on_failure(&body, &agw, true, false), NextStep::Answer(400));
    }

    /// FD-RETRY-1: Front Door sends a request that reached no answer (no
    /// connection, or closed before a response head) to another origin,
    /// once, when it can be replayed; a timeout is final.
    #[test]
    fn front_door_retries_a_request_that_reached_no_answer() {
        let fd = crate::profile::ProfileName::FrontDoor.behaviour().http_timeout;
        let refused = UpstreamError::new(Kind::Connect, "refused");
        let closed = UpstreamError::new(Kind::Response, "connection closed before a response head");
        for error in [&refused, &closed] {
            assert_eq!(on_failure(error, &fd, true, false), NextStep::Retry);
            assert_eq!(on_failure(error, &fd, true, true), NextStep::Answer(502), "once");
            assert_eq!(
                on_failure(error, &fd, false, false),
                NextStep::Answer(502),
                "streamed body"
            );
        }
        let tls = UpstreamError::new(Kind::Tls, "unknown issuer");
        assert_eq!(on_failure(&tls, &fd, true, false), NextStep::Answer(502), "it answered");
        let timeout = UpstreamError::timeout(Duration::from_secs(30));
        assert_eq!(on_failure(&timeout, &fd, true, false), NextStep::Answer(504));
        assert_eq!(final_status(&refused, &fd), 502);
        assert_eq!(final_status(&timeout, &fd), 504);
    }
}
