//! Per-profile WebSocket behaviour in the simulator, at exact virtual times:
//! session timers, request timeouts, caching, WAF, rewrites and maintenance.
//!
//! Worlds here use a 1 ms tick and 1 ms links unless a test says otherwise,
//! so "exact" means to the millisecond.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use std::time::Duration;

use backend::{BackendEvent, SeenRequest};
use bytes::Bytes;
use gateway::config::{RewriteSetConfig, UrlPathRewrite, WafAction, WafPolicyConfig, WafRuleConfig, WafTarget};
use gateway::transport::Stream;
use gateway::{Config, ProfileName, Transport};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use sim::client::{self, Backoff, ClientEvent, ClientOptions, ConnectError, Received, Target, WsClient};
use sim::trace::TraceEvent;
use sim::{Action, World};
use std::sync::{Arc, Mutex};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

const S: fn(u64) -> Duration = Duration::from_secs;
const MS: fn(u64) -> Duration = Duration::from_millis;

/// Waits out the first probe round trip: Application Gateway routes only
/// to backends that passed a probe, and the first goes out at t = 0.
async fn ready() {
    tokio::time::sleep(S(1)).await;
}

fn config(profile: ProfileName, backends: &[&str]) -> Config {
    Config::single_route(
        profile,
        "0.0.0.0:80".parse().unwrap(),
        backends.iter().map(|b| format!("{b}:9001")).collect(),
        None,
    )
}

/// A world with echo backends `b1`, `b2` and one gateway running `config`.
fn world(config: Config) -> World {
    let mut world = World::new(11).tick(MS(1)).duration(S(3600));
    world.backend("b1", 9001, backend::Options::default());
    world.backend("b2", 9001, backend::Options::default());
    world.gateway("gateway", config);
    world
}

/// How a scripted session ended, timed from the client's open.
#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    /// Closed with this code, this long after the open.
    Closed(u16, Duration),
    /// Still open when the client stopped waiting.
    Open,
}

/// Pings every `interval` (if any) for `until`, or until the session
/// closes.
async fn ping_until_closed<S: Stream>(c: &mut WsClient<S>, interval: Option<Duration>, until: Duration) -> End {
    let opened = Instant::now();
    let mut next_ping = interval.map(|i| opened + i);
    loop {
        let deadline = match next_ping {
            Some(p) => p.min(opened + until),
            None => opened + until,
        };
        let woke = tokio::select! {
            biased;
            r = c.recv() => match r {
                Received::Closed(code) => return End::Closed(code, opened.elapsed()),
                Received::Message(_) => false,
            },
            () = tokio::time::sleep_until(deadline) => true,
        };
        if !woke {
            continue;
        }
        if opened.elapsed() >= until {
            return End::Open;
        }
        if let (Some(p), Some(i)) = (next_ping, interval) {
            if c.send(Message::Ping(Bytes::from_static(b"keepalive"))).await.is_err() {
                return End::Closed(c.close_code().unwrap_or(1006), opened.elapsed());
            }
            next_ping = Some(p + i);
        }
    }
}

/// Runs one client that opens `/chat` through `gateway`, pings every
/// `interval`, and reports how the session ended.
fn run_session(mut world: World, interval: Option<Duration>, until: Duration) -> End {
    let end = Arc::new(Mutex::new(None));
    let out = Arc::clone(&end);
    world.client("c1", move |mut env| async move {
        ready().await;
        let options = ClientOptions::new("chat.example", "/chat", &mut env.rng);
        let mut c = client::connect(
            &env.transport,
            &env.name,
            &Target::plain("gateway", 80),
            &options,
            &env.trace,
        )
        .await?;
        *out.lock().unwrap() = Some(ping_until_closed(&mut c, interval, until).await);
        Ok(())
    });
    let trace = world.run().unwrap();
    let end = end.lock().unwrap().take().unwrap();
    println!("{}", trace.render());
    end
}

// --- application-gateway: the request timeout is the session's idle timer ---

#[test]
fn agw_pings_every_20s_against_a_40s_timeout_are_never_closed() {
    let mut c = config(ProfileName::ApplicationGateway, &["b1"]);
    c.backend_settings[0].request_timeout = Some(S(40).into());
    // Ten pings; a 10 ms tick is plenty to show nothing closes.
    assert_eq!(run_session(world(c).tick(MS(10)), Some(S(20)), S(200)), End::Open);
}

#[test]
fn agw_a_15s_timeout_against_20s_pings_closes_at_15s_with_1006() {
    let mut c = config(ProfileName::ApplicationGateway, &["b1"]);
    c.backend_settings[0].request_timeout = Some(S(15).into());
    // The gateway's timer starts when it relays the 101, one link latency
    // before the client reads it; its FIN takes one latency back. So the
    // client sees the close exactly 15 s after its own open.
    assert_eq!(run_session(world(c), Some(S(20)), S(600)), End::Closed(1006, S(15)));
}

#[test]
fn agw_default_request_timeout_is_20s() {
    let c = config(ProfileName::ApplicationGateway, &["b1"]);
    assert_eq!(run_session(world(c), None, S(600)), End::Closed(1006, S(20)));
}

// --- application-gateway-2016: request timeouts do not apply to WebSocket ---

#[test]
fn agw2016_a_session_pinging_every_3_minutes_stays_open_for_an_hour() {
    // The 20 s request timeout does not apply to WebSocket (doc 001); the
    // 4-minute frontend idle timeout does, so the client pings under it.
    let c = config(ProfileName::ApplicationGateway2016, &["b1"]);
    let mut world = world(c).tick(MS(100)).duration(S(7200));
    let end = Arc::new(Mutex::new(None));
    let out = Arc::clone(&end);
    world.client("c1", move |mut env| async move {
        ready().await;
        let options = ClientOptions::new("chat.example", "/chat", &mut env.rng);
        let mut c = client::connect(
            &env.transport,
            &env.name,
            &Target::plain("gateway", 80),
            &options,
            &env.trace,
        )
        .await?;
        let idle = ping_until_closed(&mut c, Some(S(180)), S(3600)).await;
        c.send(Message::text("still here"))
            .await
            .map_err(|c| format!("closed {c}"))?;
        let echoed = c.recv_data().await.map_err(|c| format!("closed {c}"))?;
        *out.lock().unwrap() = Some((idle, echoed));
        Ok(())
    });
    world.run().unwrap();
    let (idle, echoed) = end.lock().unwrap().take().unwrap();
    assert_eq!(idle, End::Open);
    assert_eq!(echoed, Message::text("still here"));
}

// --- front-door: 5 minutes idle, 4 hours at most ---

#[test]
fn fd_idle_session_is_closed_at_5_minutes_with_1006() {
    let c = config(ProfileName::FrontDoor, &["b1"]);
    // A 100 ms tick with 100 ms links: the close still lands exactly 300 s
    // after the client's open, for the same reason as at 1 ms.
    let world = world(c).tick(MS(100)).latency(MS(100));
    assert_eq!(run_session(world, None, S(3600)), End::Closed(1006, S(300)));
}

#[test]
fn fd_pings_every_4_minutes_keep_a_session_past_the_idle_timeout() {
    let c = config(ProfileName::FrontDoor, &["b1"]);
    let world = world(c).tick(MS(100)).latency(MS(100));
    assert_eq!(run_session(world, Some(S(240)), S(1800)), End::Open);
}

#[test]
fn fd_a_busy_session_is_closed_at_4_hours_with_1006() {
    let c = config(ProfileName::FrontDoor, &["b1"]);
    // 4 hours at a 1 ms tick is 14.4 million steps; a 1 s tick keeps this
    // test fast, and still lands the close on the exact second: the
    // lifetime is a whole number of ticks after the open.
    let world = world(c).tick(S(1)).latency(S(1)).duration(S(5 * 3600));
    assert_eq!(
        run_session(world, Some(S(20)), S(5 * 3600)),
        End::Closed(1006, S(4 * 3600))
    );
}

#[test]
fn overrides_shrink_the_lifetime_and_idle_timeout() {
    let mut c = config(ProfileName::FrontDoor, &["b1"]);
    c.max_lifetime = Some(S(30).into());
    assert_eq!(run_session(world(c), Some(S(5)), S(600)), End::Closed(1006, S(30)));
    let mut c = config(ProfileName::ApplicationGateway2016, &["b1"]);
    c.idle_timeout = Some(S(7).into());
    assert_eq!(run_session(world(c), None, S(600)), End::Closed(1006, S(7)));
}

// --- plain HTTP under the request timeout ---

/// A plain GET through the gateway; returns the status and how long it took.
async fn http_get<T: Transport>(transport: &T, path: &str) -> Result<(u16, Duration), Box<dyn std::error::Error>> {
    let stream = transport.connect("gateway", 80).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let req = http::Request::get(path)
        .header("host", "app.example")
        .body(Empty::<Bytes>::new())?;
    let sent = Instant::now();
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    resp.into_body().collect().await?;
    Ok((status, sent.elapsed()))
}

fn timed_get(mut world: World, slow: &[&str]) -> (u16, Duration) {
    for b in slow {
        world.at(Duration::ZERO, Action::SetDelay(b.to_string(), S(600)));
    }
    let got = Arc::new(Mutex::new(None));
    let out = Arc::clone(&got);
    world.client("c1", move |env| async move {
        ready().await;
        *out.lock().unwrap() = Some(http_get(&env.transport, "/api").await?);
        Ok(())
    });
    world.run().unwrap();
    let got = got.lock().unwrap().take().unwrap();
    got
}

#[test]
fn agw_times_out_with_504_after_trying_one_other_member() {
    let c = config(ProfileName::ApplicationGateway, &["b1", "b2"]);
    // Two attempts of 20 s each, plus the four link hops of the request
    // and the 504 between client and gateway.
    assert_eq!(timed_get(world(c), &["b1", "b2"]), (504, S(40) + MS(2)));
}

#[test]
fn agw_answers_from_the_other_member_when_the_first_is_slow() {
    let c = config(ProfileName::ApplicationGateway, &["b1", "b2"]);
    let (status, took) = timed_get(world(c), &["b1"]);
    assert_eq!(status, 200);
    assert!(took > S(20) && took < S(21), "{took:?}");
}

#[test]
fn agw2016_times_out_with_502() {
    let c = config(ProfileName::ApplicationGateway2016, &["b1", "b2"]);
    assert_eq!(timed_get(world(c), &["b1", "b2"]), (502, S(20) + MS(2)));
}

#[test]
fn fd_times_out_with_504_after_its_30s_origin_timeout() {
    let c = config(ProfileName::FrontDoor, &["b1", "b2"]);
    assert_eq!(timed_get(world(c), &["b1", "b2"]), (504, S(30) + MS(2)));
}

// --- handshake-only features: caching, WAF, rewrites ---

/// Runs one handshake to `path` with extra headers and, if it opens, sends
/// `frame` and expects it echoed. Returns the handshake result and what the
/// backend saw.
fn handshake(
    mut world: World,
    path: &'static str,
    headers: &'static [(&str, &str)],
    frame: &'static str,
) -> (Result<(), u16>, Vec<SeenRequest>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let observed = Arc::clone(&seen);
    let b3 = backend::Options {
        observer: Arc::new(move |e| {
            if let BackendEvent::Request(r) = e {
                if r.header("user-agent") != Some(gateway::probe::USER_AGENT) {
                    observed.lock().unwrap().push(r);
                }
            }
        }),
        ..backend::Options::default()
    };
    world.backend("b3", 9001, b3);
    let result = Arc::new(Mutex::new(None));
    let out = Arc::clone(&result);
    world.client("c1", move |mut env| async move {
        ready().await;
        let mut options = ClientOptions::new("public.example", path, &mut env.rng);
        for (n, v) in headers {
            options = options.header(n, v);
        }
        let r = match client::connect(
            &env.transport,
            &env.name,
            &Target::plain("gateway", 80),
            &options,
            &env.trace,
        )
        .await
        {
            Ok(mut c) => {
                c.send(Message::text(frame)).await.map_err(|c| format!("closed {c}"))?;
                let echoed = c.recv_data().await.map_err(|c| format!("closed {c}"))?;
                assert_eq!(echoed, Message::text(frame), "the frame passed byte for byte");
                Ok(())
            }
            Err(ConnectError::Status(s)) => Err(s),
            Err(e) => return Err(e.into()),
        };
        *out.lock().unwrap() = Some(r);
        Ok(())
    });
    world.run().unwrap();
    let r = result.lock().unwrap().take().unwrap();
    let seen = seen.lock().unwrap().clone();
    (r, seen)
}

#[test]
fn fd_caching_drops_the_upgrade_header_and_the_upgrade_fails() {
    let mut c = config(ProfileName::FrontDoor, &["b3"]);
    c.rules[0].caching = true;
    let (result, seen) = handshake(world(c), "/chat", &[], "unused");
    assert_eq!(result, Err(200), "the backend's plain answer comes back");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].uri, "/chat");
    assert_eq!(seen[0].header("upgrade"), None, "Upgrade was not forwarded");
    assert_eq!(seen[0].header("connection"), None);
}

fn waf_policy() -> WafPolicyConfig {
    let rule = |name: &str, target, contains: Option<&str>, regex: Option<&str>| WafRuleConfig {
        name: name.into(),
        target,
        header: None,
        contains: contains.map(str::to_string),
        regex: regex.map(str::to_string),
        action: WafAction::Block,
    };
    WafPolicyConfig {
        name: "edge".into(),
        rules: vec![
            rule("no-admin", WafTarget::Path, Some("/admin"), None),
            rule("no-script", WafTarget::Query, None, Some("(?i)<script")),
        ],
    }
}

#[test]
fn waf_blocks_the_handshake_with_403() {
    for profile in ProfileName::ALL {
        let mut c = config(profile, &["b3"]);
        c.waf_policies = vec![waf_policy()];
        c.rules[0].waf = Some("edge".into());
        let (result, seen) = handshake(world(c), "/admin/chat", &[], "unused");
        assert_eq!(result, Err(403), "{profile}");
        assert!(
            seen.is_empty(),
            "{profile}: a blocked handshake never reaches the backend"
        );
    }
}

#[test]
fn waf_never_inspects_frames_after_the_upgrade() {
    for profile in ProfileName::ALL {
        let mut c = config(profile, &["b3"]);
        c.waf_policies = vec![waf_policy()];
        c.rules[0].waf = Some("edge".into());
        let (result, _) = handshake(world(c), "/chat", &[], "GET /admin?q=<script>alert(1)</script>");
        assert_eq!(result, Ok(()), "{profile}: the blocked pattern passes inside a frame");
    }
}

#[test]
fn agw_rewrites_and_host_override_apply_to_the_handshake_only() {
    let mut c = config(ProfileName::ApplicationGateway, &["b3"]);
    c.backend_settings[0].host_override = Some("chat.internal".into());
    c.rewrite_sets = vec![RewriteSetConfig {
        name: "to-internal".into(),
        set_request_headers: [("x-via".to_string(), "wsgate".to_string())].into_iter().collect(),
        remove_request_headers: vec!["x-debug".into()],
        url_path: Some(UrlPathRewrite {
            pattern: "^/public/(.*)$".into(),
            replacement: "/internal/$1".into(),
        }),
    }];
    c.rules[0].rewrites = Some("to-internal".into());
    let frame = "GET /public/chat HTTP/1.1\r\nHost: public.example\r\nX-Debug: 1\r\n\r\n";
    let (result, seen) = handshake(world(c), "/public/chat?room=1", &[("X-Debug", "1")], frame);
    assert_eq!(result, Ok(()));
    let req = &seen[0];
    assert_eq!(req.uri, "/internal/chat?room=1");
    assert_eq!(req.header("host"), Some("chat.internal"));
    assert_eq!(req.header("x-via"), Some("wsgate"));
    assert_eq!(req.header("x-debug"), None);
    assert_eq!(req.header("upgrade"), Some("websocket"), "still a WebSocket handshake");
}

// --- maintenance: an instance restart drops what it carries ---

/// When `source` first recorded an event that `is` picks out.
fn first_time(trace: &sim::Trace, source: &str, is: impl Fn(&TraceEvent) -> bool) -> Option<Duration> {
    trace
        .lines()
        .into_iter()
        .find(|l| l.source == source && is(&l.event))
        .map(|l| l.at)
}

fn closed(code: Option<u16>) -> impl Fn(&TraceEvent) -> bool {
    move |e| matches!(e, TraceEvent::Client(ClientEvent::Closed { code: c, .. }) if code.is_none_or(|want| *c == want))
}

/// Clients `c1` on gateway-1 and `c2` on gateway-2 ping every 20 s for
/// two minutes.
fn two_instances(world: &mut World) {
    world.backend("b1", 9001, backend::Options::default());
    let instances = world.gateway_instances("gateway", 2, config(ProfileName::FrontDoor, &["b1"]));
    assert_eq!(instances, ["gateway-1", "gateway-2"]);
    for (name, instance) in [("c1", "gateway-1"), ("c2", "gateway-2")] {
        world.client(name, move |mut env| async move {
            ready().await;
            let options = ClientOptions::new("chat.example", "/chat", &mut env.rng);
            let mut c = client::connect(
                &env.transport,
                &env.name,
                &Target::plain(instance, 80),
                &options,
                &env.trace,
            )
            .await?;
            ping_until_closed(&mut c, Some(S(20)), S(120)).await;
            Ok(())
        });
    }
}

#[test]
fn maintenance_drops_one_instances_sessions_abruptly() {
    let mut world = World::new(5).tick(MS(10)).duration(S(600));
    two_instances(&mut world);
    world.at(S(30), Action::Maintenance("gateway-1".into()));
    let trace = world.run().unwrap();
    println!("{}", trace.render());
    assert_eq!(
        first_time(&trace, "world", |e| *e
            == TraceEvent::World(Action::Maintenance("gateway-1".into()))),
        Some(S(30))
    );
    assert_eq!(
        first_time(&trace, "c1", closed(Some(1006))),
        Some(S(30) + MS(10)),
        "gateway-1's client is dropped without a Close frame at the restart: its FIN takes one 10 ms hop"
    );
    assert_eq!(first_time(&trace, "c2", closed(None)), None, "gateway-2 kept serving");
}

#[test]
fn a_client_with_backoff_reconnects_after_an_instance_comes_back() {
    let mut world = World::new(5).tick(MS(10)).duration(S(600));
    two_instances(&mut world);
    // The instance is down for 4 s this time, so reconnects are refused
    // until it is back.
    world.at(S(30), Action::Crash("gateway-1".into()));
    world.at(S(34), Action::Restart("gateway-1".into()));
    let reconnected = Arc::new(Mutex::new(None));
    let out = Arc::clone(&reconnected);
    world.client("c3", move |mut env| async move {
        ready().await;
        let backoff = Backoff {
            initial: S(1),
            max: S(10),
            multiplier: 2,
            jitter: 0.5,
            max_attempts: 10,
            attempt_timeout: S(2),
        };
        let target = &Target::plain("gateway-1", 80);
        let mut c = client::connect_with_retry(
            &env.transport,
            &env.name,
            target,
            "/chat",
            &backoff,
            &mut env.rng,
            &env.trace,
        )
        .await?;
        let first = ping_until_closed(&mut c, Some(S(20)), S(120)).await;
        let mut c = client::connect_with_retry(
            &env.transport,
            &env.name,
            target,
            "/chat",
            &backoff,
            &mut env.rng,
            &env.trace,
        )
        .await?;
        c.send(Message::text("back")).await.map_err(|c| format!("closed {c}"))?;
        c.recv_data().await.map_err(|c| format!("closed {c}"))?;
        *out.lock().unwrap() = Some(first);
        Ok(())
    });
    let trace = world.run().unwrap();
    println!("{}", trace.render());
    assert!(matches!(reconnected.lock().unwrap().take(), Some(End::Closed(1006, _))));
    assert_eq!(
        first_time(&trace, "c3", closed(Some(1006))),
        Some(S(30) + MS(10)),
        "one hop after the crash"
    );
    assert_eq!(
        first_time(&trace, "c3", |e| matches!(
            e,
            TraceEvent::Client(ClientEvent::TimedOut { .. })
        )),
        Some(S(32) + MS(10)),
        "a down instance does not answer: the first attempt times out 2 s after the drop"
    );
    let reopened = trace
        .lines()
        .into_iter()
        .filter(|l| l.source == "c3" && matches!(l.event, TraceEvent::Client(ClientEvent::Opened { .. })))
        .nth(1)
        .map(|l| l.at)
        .expect("c3 opened a second session");
    // Back after the restart at 34 s, and within one more attempt (2 s) and
    // one more backoff delay (at most 4 s) of it.
    assert!(reopened > S(34) && reopened <= S(34 + 2 + 4), "{reopened:?}");
    assert_eq!(first_time(&trace, "c2", closed(None)), None, "gateway-2 kept serving");
}
