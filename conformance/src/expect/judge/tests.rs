//! Each check against hand-made traces: the trace a right gateway leaves
//! passes, and each wrong gateway's trace fails with a message that says
//! what happened.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use backend::{BackendEvent, Direction, SeenRequest};
use gateway::handshake;
use sim::client::{ClientEvent, CloseCause};
use sim::trace::{TraceEvent, TraceLine};

use super::*;
use crate::expect::Group;

fn s(secs: f64) -> Duration {
    Duration::from_secs_f64(secs)
}

fn client(at: f64, source: &str, event: ClientEvent) -> TraceLine {
    TraceLine {
        at: s(at),
        source: source.into(),
        event: TraceEvent::Client(event),
    }
}

fn backend(at: f64, source: &str, event: BackendEvent) -> TraceLine {
    TraceLine {
        at: s(at),
        source: source.into(),
        event: TraceEvent::Backend(event),
    }
}

/// A 101 that is right for `key`, or with `headers` instead.
fn opened(at: f64, source: &str, key: &str) -> TraceLine {
    let accept = handshake::accept_key(key.as_bytes());
    client(
        at,
        source,
        ClientEvent::Opened {
            path: "/chat".into(),
            key: Arc::from(key),
            subprotocol: Some("chat".into()),
            headers: vec![
                ("upgrade".into(), "websocket".into()),
                ("connection".into(), "Upgrade".into()),
                ("sec-websocket-accept".into(), accept),
                ("sec-websocket-protocol".into(), "chat".into()),
            ],
        },
    )
}

fn closed(at: f64, source: &str, code: u16) -> TraceLine {
    let cause = if code == 1006 {
        CloseCause::NoFrame
    } else {
        CloseCause::Frame
    };
    client(at, source, ClientEvent::Closed { code, cause })
}

fn refused(at: f64, source: &str, status: u16) -> TraceLine {
    client(
        at,
        source,
        ClientEvent::Refused {
            path: "/chat".into(),
            status,
        },
    )
}

fn group(name: &str, n: usize) -> Group {
    if n == 1 {
        return Group::single(name);
    }
    Group {
        name: name.into(),
        members: (1..=n).map(|i| format!("{name}.{i}")).collect(),
    }
}

fn on_client(group: Group, check: ClientCheck, quantity: Quantity, window: Option<(f64, f64)>) -> Expect {
    Expect::Client {
        group,
        check,
        quantity,
        window: window.map(|(a, b)| (s(a), s(b))),
    }
}

fn on_backend(name: &str, check: BackendCheck, window: Option<(f64, f64)>) -> Expect {
    Expect::Backend {
        name: name.into(),
        check,
        quantity: Quantity::Every,
        window: window.map(|(a, b)| (s(a), s(b))),
    }
}

fn judge(expect: &Expect, lines: &[TraceLine]) -> Result<(), String> {
    check(expect, lines, &Context::default()).map_err(|f| f.actual)
}

// --- closes ---

#[test]
fn a_group_close_holds_for_every_member_not_just_one() {
    let every = on_client(group("c", 2), ClientCheck::Closed(1000), Quantity::Every, None);
    let good = [closed(5.0, "c.1", 1000), closed(5.0, "c.2", 1000)];
    assert_eq!(judge(&every, &good), Ok(()));
    // The wrong gateway: it drops one of the two sessions.
    let one_dropped = [closed(5.0, "c.1", 1000), closed(3.0, "c.2", 1006)];
    let err = judge(&every, &one_dropped).unwrap_err();
    assert!(err.contains("c.2: closed 1006 at 3.000s"), "{err}");
    // `members = "any"` is the explicit weaker form.
    let any = on_client(group("c", 2), ClientCheck::Closed(1000), Quantity::Any, None);
    assert_eq!(judge(&any, &one_dropped), Ok(()));
}

#[test]
fn every_close_of_a_reconnecting_member_counts() {
    let expect = on_client(group("c", 1), ClientCheck::Closed(1000), Quantity::Every, None);
    // The first session was dropped, the second closed cleanly: not "closed 1000".
    let lines = [closed(10.0, "c", 1006), closed(20.0, "c", 1000)];
    assert!(judge(&expect, &lines).is_err());
    // A window picks the close that is meant.
    let windowed = on_client(
        group("c", 1),
        ClientCheck::Closed(1006),
        Quantity::Every,
        Some((9.0, 11.0)),
    );
    assert_eq!(judge(&windowed, &lines), Ok(()));
    // Nothing in the window is a failure, not a pass.
    let empty = on_client(
        group("c", 1),
        ClientCheck::Closed(1006),
        Quantity::Every,
        Some((30.0, 40.0)),
    );
    assert!(judge(&empty, &lines).is_err());
}

#[test]
fn never_closed_needs_a_session_and_no_close() {
    let expect = on_client(group("c", 1), ClientCheck::NeverClosed, Quantity::Every, None);
    assert_eq!(judge(&expect, &[opened(1.0, "c", "k1")]), Ok(()));
    assert!(judge(&expect, &[opened(1.0, "c", "k1"), closed(60.0, "c", 1006)])
        .unwrap_err()
        .contains("closed 1006 at 60.000s"));
    // A client that never got in was never closed either, and proves nothing.
    assert!(judge(&expect, &[refused(1.0, "c", 502)])
        .unwrap_err()
        .contains("never opened"));
}

#[test]
fn counts_are_exact() {
    let lines = [
        refused(1.0, "c.1", 503),
        opened(1.0, "c.2", "k2"),
        opened(1.0, "c.3", "k3"),
    ];
    let one = on_client(group("c", 3), ClientCheck::Handshake(503), Quantity::Times(1), None);
    assert_eq!(judge(&one, &lines), Ok(()));
    let two = on_client(group("c", 3), ClientCheck::Handshake(503), Quantity::Times(2), None);
    assert!(judge(&two, &lines).unwrap_err().starts_with("1 matching"));
    let at_most = on_client(group("c", 3), ClientCheck::Handshake(101), Quantity::AtMost(1), None);
    assert!(judge(&at_most, &lines).is_err());
    let at_least = on_client(group("c", 3), ClientCheck::Handshake(101), Quantity::AtLeast(2), None);
    assert_eq!(judge(&at_least, &lines), Ok(()));
}

// --- handshakes and the 101 ---

#[test]
fn every_handshake_answer_must_be_the_status() {
    let expect = on_client(group("c", 1), ClientCheck::Handshake(502), Quantity::Every, None);
    assert_eq!(
        judge(&expect, &[refused(1.0, "c", 502), refused(6.0, "c", 502)]),
        Ok(())
    );
    // The wrong gateway: it lets the fourth attempt through to a failing backend.
    assert!(judge(&expect, &[refused(1.0, "c", 502), opened(6.0, "c", "k")]).is_err());
    // An attempt that got no answer at all is not a 502.
    let reset = client(
        1.0,
        "c",
        ClientEvent::ConnectFailed {
            target: "gateway:80".into(),
            error: std::io::ErrorKind::ConnectionReset,
        },
    );
    assert!(judge(&expect, &[reset]).is_err());
}

#[test]
fn upgraded_checks_the_accept_value_against_the_key() {
    let expect = on_client(group("c", 1), ClientCheck::Upgraded, Quantity::Every, None);
    assert_eq!(judge(&expect, &[opened(1.0, "c", "dGhlIHNhbXBsZSBub25jZQ==")]), Ok(()));
    // A 101 carrying another key's accept value (a gateway that answers the
    // client itself, or passes a wrong backend answer through).
    let mut wrong = opened(1.0, "c", "dGhlIHNhbXBsZSBub25jZQ==");
    if let TraceEvent::Client(ClientEvent::Opened { headers, .. }) = &mut wrong.event {
        headers[2].1 = handshake::accept_key(b"another key");
    }
    assert!(judge(&expect, &[wrong]).unwrap_err().contains("Sec-WebSocket-Accept"));
    let mut no_upgrade = opened(1.0, "c", "k");
    if let TraceEvent::Client(ClientEvent::Opened { headers, .. }) = &mut no_upgrade.event {
        headers.remove(0);
    }
    assert!(judge(&expect, &[no_upgrade]).unwrap_err().contains("Upgrade"));
}

#[test]
fn subprotocol_and_response_headers_read_the_101() {
    let lines = [opened(1.0, "c", "k")];
    let chat = on_client(
        group("c", 1),
        ClientCheck::Subprotocol("chat".into()),
        Quantity::Every,
        None,
    );
    assert_eq!(judge(&chat, &lines), Ok(()));
    let other = on_client(
        group("c", 1),
        ClientCheck::Subprotocol("superchat".into()),
        Quantity::Every,
        None,
    );
    assert!(judge(&other, &lines).is_err());
    let headers = BTreeMap::from([("Upgrade".to_string(), "websocket".to_string())]);
    let ok = on_client(
        group("c", 1),
        ClientCheck::ResponseHeaders(headers),
        Quantity::Every,
        None,
    );
    assert_eq!(judge(&ok, &lines), Ok(()), "names are case-insensitive");
    let missing = BTreeMap::from([("x-extra".to_string(), "1".to_string())]);
    let absent = on_client(
        group("c", 1),
        ClientCheck::ResponseHeaders(missing),
        Quantity::Every,
        None,
    );
    assert!(judge(&absent, &lines).unwrap_err().contains("x-extra: (absent)"));
}

// --- payloads ---

fn sent(at: f64, key: &str, digest: u64) -> TraceLine {
    client(
        at,
        "c",
        ClientEvent::Sent {
            key: Arc::from(key),
            binary: true,
            len: 8,
            digest,
        },
    )
}

fn received(at: f64, key: &str, digest: u64) -> TraceLine {
    client(
        at,
        "c",
        ClientEvent::Received {
            key: Arc::from(key),
            binary: true,
            len: 8,
            digest,
        },
    )
}

fn at_backend(at: f64, key: &str, direction: Direction, digest: u64) -> TraceLine {
    backend(
        at,
        "b1",
        BackendEvent::Message {
            key: Arc::from(key),
            direction,
            binary: true,
            len: 8,
            digest,
        },
    )
}

#[test]
fn echoed_compares_every_payload_both_ways() {
    let expect = on_client(group("c", 1), ClientCheck::Echoed, Quantity::Every, None);
    let good = [
        opened(1.0, "c", "k"),
        sent(2.0, "k", 1),
        at_backend(2.0, "k", Direction::In, 1),
        at_backend(2.0, "k", Direction::Out, 1),
        received(2.0, "k", 1),
        sent(3.0, "k", 2),
        at_backend(3.0, "k", Direction::In, 2),
        at_backend(3.0, "k", Direction::Out, 2),
        received(3.0, "k", 2),
    ];
    assert_eq!(judge(&expect, &good), Ok(()));
    // The wrong gateway: it rewrote the second message on its way in
    // (messages are counted from 1).
    let mut altered = good.clone();
    altered[6] = at_backend(3.0, "k", Direction::In, 99);
    let err = judge(&expect, &altered).unwrap_err();
    assert!(err.contains("client to backend, message 2"), "{err}");
    // ... or on its way out.
    let mut altered_out = good.clone();
    altered_out[8] = received(3.0, "k", 99);
    assert!(judge(&expect, &altered_out)
        .unwrap_err()
        .contains("backend to client, message 2"));
    // ... or lost it, either way.
    let lost_in: Vec<TraceLine> = good.iter().take(6).cloned().collect();
    assert!(judge(&expect, &lost_in)
        .unwrap_err()
        .contains("the backend got nothing"));
    let lost_out: Vec<TraceLine> = good.iter().take(8).cloned().collect();
    assert!(judge(&expect, &lost_out)
        .unwrap_err()
        .contains("the client got nothing"));
    // A session with nothing exchanged proves nothing.
    assert!(judge(&expect, &[opened(1.0, "c", "k")])
        .unwrap_err()
        .contains("no message exchange"));
}

// --- reconnects ---

#[test]
fn reconnects_follow_every_close_the_client_did_not_ask_for() {
    let expect = on_client(
        group("c", 1),
        ClientCheck::ReconnectedWithin(s(2.0)),
        Quantity::Every,
        None,
    );
    let back_fast = [opened(1.0, "c", "k1"), closed(10.0, "c", 1006), opened(11.0, "c", "k2")];
    assert_eq!(judge(&expect, &back_fast), Ok(()));
    let back_slow = [opened(1.0, "c", "k1"), closed(10.0, "c", 1006), opened(13.0, "c", "k2")];
    assert!(judge(&expect, &back_slow)
        .unwrap_err()
        .contains("reopened 3.000s later"));
    // A server's close (here 1001) needs a reconnect too.
    let server_closed = [opened(1.0, "c", "k1"), closed(10.0, "c", 1001)];
    assert!(judge(&expect, &server_closed).unwrap_err().contains("never reopened"));
    // The client's own close does not.
    let own = [
        opened(1.0, "c", "k1"),
        client(10.0, "c", ClientEvent::CloseSent { code: 1000 }),
        closed(10.0, "c", 1000),
    ];
    assert!(judge(&expect, &own).is_err(), "nothing to judge is not a pass");
}

// --- requests ---

#[test]
fn every_answer_to_a_request_member_must_be_the_status() {
    let expect = Expect::Request {
        group: group("r", 1),
        check: RequestCheck::Status(502),
        quantity: Quantity::Every,
        window: None,
    };
    let answer = |at, status| client(at, "r", ClientEvent::Response { status });
    assert_eq!(judge(&expect, &[answer(1.0, 502), answer(2.0, 502)]), Ok(()));
    assert!(judge(&expect, &[answer(1.0, 502), answer(2.0, 200)])
        .unwrap_err()
        .contains("r got 502, 200"));
    let failed = client(1.0, "r", ClientEvent::RequestFailed { error: "reset".into() });
    assert!(judge(&expect, &[failed]).unwrap_err().contains("no answer"));
}

// --- backends ---

fn request(at: f64, uri: &str, headers: &[(&str, &str)]) -> TraceLine {
    backend(
        at,
        "b1",
        BackendEvent::Request(SeenRequest {
            method: "GET".into(),
            uri: uri.into(),
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body_len: 0,
        }),
    )
}

fn probe(at: f64, method: &str) -> TraceLine {
    backend(
        at,
        "b1",
        BackendEvent::Request(SeenRequest {
            method: method.into(),
            uri: "/".into(),
            headers: vec![
                ("host".into(), "127.0.0.1".into()),
                ("user-agent".into(), gateway::probe::USER_AGENT.into()),
            ],
            body_len: 0,
        }),
    )
}

fn session(at: f64, key: &str) -> TraceLine {
    backend(
        at,
        "b1",
        BackendEvent::SessionOpened {
            key: Arc::from(key),
            path: "/chat".into(),
            subprotocol: None,
        },
    )
}

#[test]
fn absent_headers_catch_a_forwarded_upgrade() {
    let expect = on_backend(
        "b1",
        BackendCheck::Request {
            path: Some("/chat".into()),
            headers: BTreeMap::new(),
            absent: vec!["upgrade".into()],
        },
        None,
    );
    assert_eq!(judge(&expect, &[request(1.0, "/chat", &[("host", "a")])]), Ok(()));
    assert!(judge(&expect, &[request(1.0, "/chat", &[("upgrade", "websocket")])])
        .unwrap_err()
        .contains("had upgrade: websocket"));
    // No such request at all is not "the header was absent".
    assert!(judge(&expect, &[request(1.0, "/other", &[])])
        .unwrap_err()
        .contains("no such request"));
}

#[test]
fn probes_and_requests_are_told_apart() {
    let lines = [probe(0.0, "GET"), probe(30.0, "GET"), request(5.0, "/api", &[])];
    let requests = on_backend("b1", BackendCheck::Requests(1), None);
    assert_eq!(judge(&requests, &lines), Ok(()), "probes are not requests");
    let probes = |method: &str, count| {
        on_backend(
            "b1",
            BackendCheck::Probes {
                method: Some(method.into()),
                path: Some("/".into()),
                host: Some("127.0.0.1".into()),
                count: Some(count),
            },
            None,
        )
    };
    assert_eq!(judge(&probes("GET", 2), &lines), Ok(()));
    assert!(judge(&probes("GET", 3), &lines).unwrap_err().starts_with("2 probes"));
    assert!(judge(&probes("HEAD", 2), &lines)
        .unwrap_err()
        .contains("a probe was GET /"));
}

#[test]
fn close_received_needs_the_code_on_every_session() {
    let expect = on_backend("b1", BackendCheck::CloseReceived(4000), None);
    let got = |key: &str, code| {
        backend(
            9.0,
            "b1",
            BackendEvent::CloseReceived {
                key: Arc::from(key),
                code,
            },
        )
    };
    assert_eq!(
        judge(
            &expect,
            &[
                session(1.0, "a"),
                session(1.0, "b"),
                got("a", Some(4000)),
                got("b", Some(4000))
            ]
        ),
        Ok(())
    );
    // The wrong gateway replaced the client's code.
    assert!(judge(&expect, &[session(1.0, "a"), got("a", Some(1000))])
        .unwrap_err()
        .contains("received close 1000"));
    // ... or dropped the Close frame.
    assert!(
        judge(&expect, &[session(1.0, "a"), session(1.0, "b"), got("a", Some(4000))])
            .unwrap_err()
            .contains("received no Close frame")
    );
    assert!(judge(&expect, &[]).unwrap_err().contains("opened no session"));
}

#[test]
fn session_counts_respect_their_window() {
    let lines = [session(10.0, "a"), session(100.0, "b"), session(200.0, "c")];
    let none_late = on_backend(
        "b1",
        BackendCheck::Sessions {
            count: 0,
            at_least: false,
        },
        Some((150.0, 300.0)),
    );
    assert_eq!(judge(&none_late, &lines).unwrap_err(), "1 sessions");
    let some_early = on_backend(
        "b1",
        BackendCheck::Sessions {
            count: 2,
            at_least: true,
        },
        Some((0.0, 150.0)),
    );
    assert_eq!(judge(&some_early, &lines), Ok(()));
    let after = on_backend("b1", BackendCheck::NoNewSessionsAfter(s(150.0)), None);
    assert!(judge(&after, &lines)
        .unwrap_err()
        .contains("session opened at 200.000s"));
}

// --- health, widened for a real network ---

fn probe_result(at: f64, healthy: bool) -> TraceLine {
    TraceLine {
        at: s(at),
        source: "gateway".into(),
        event: TraceEvent::Gateway(gateway::Event::ProbeCompleted {
            backend: gateway::config::BackendAddr {
                host: "b1".into(),
                port: 80,
            },
            result: if healthy {
                gateway::health::ProbeResult::Success(200)
            } else {
                gateway::health::ProbeResult::Failure(gateway::health::ProbeFailure::Status(500))
            },
            healthy,
        }),
    }
}

#[test]
fn a_widened_health_check_holds_if_the_state_held_near_its_moment() {
    let ctx = Context {
        instances: vec!["gateway".into()],
        backend_addrs: [(
            "b1".to_string(),
            gateway::config::BackendAddr {
                host: "b1".into(),
                port: 80,
            },
        )]
        .into_iter()
        .collect(),
        initially_healthy: true,
    };
    // Out of the pool at 181.02 s: 20 ms after the moment checked.
    let lines = [probe_result(90.0, true), probe_result(181.02, false)];
    let exact = on_backend(
        "b1",
        BackendCheck::Health {
            healthy: false,
            at: s(181.0),
            instance: None,
        },
        None,
    );
    let judge = |e: &Expect| check(e, &lines, &ctx).map_err(|f| f.actual);
    assert_eq!(judge(&exact).unwrap_err(), "gateway had b1 healthy at 181.000s");
    assert_eq!(judge(&exact.widened(s(0.05))), Ok(()));
    assert!(
        judge(&exact.widened(s(0.01))).is_err(),
        "a tolerance that does not reach the change still fails"
    );
    // And the other way: healthy was expected, and it never was near 200 s.
    let healthy_late = on_backend(
        "b1",
        BackendCheck::Health {
            healthy: true,
            at: s(200.0),
            instance: None,
        },
        None,
    );
    assert!(judge(&healthy_late.widened(s(1.0))).is_err());
}
