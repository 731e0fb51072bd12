//! The gateway's pure cores: the decisions every request goes through
//! (`pool::RoundRobin::pick`, `handshake::classify`,
//! `headers::request_headers`), the probe health state machine
//! (`health::Health::observe`, both profiles' rules) and the session
//! deadlines (`session::next_deadline` and `session::expired`, which the
//! tunnel's watchdog calls on each wake-up). No I/O, so these are nanosecond
//! figures.
//!
//! `cargo bench -p benches --bench cores`

#![allow(clippy::unwrap_used)] // bench code: a failure should stop the run loudly

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use gateway::handshake;
use gateway::headers::{self, Forwarding};
use gateway::health::{Health, HealthRule, ProbeFailure, ProbeResult};
use gateway::pool::RoundRobin;
use gateway::session::{self, Origin, SessionPolicy, Timer};
use http::{header, HeaderMap, HeaderValue, Method, Version};

fn pick(c: &mut Criterion) {
    let mut group = c.benchmark_group("pool/pick");
    let pools: [(&str, Vec<bool>); 3] = [
        ("2_all_healthy", vec![true; 2]),
        ("16_all_healthy", vec![true; 16]),
        // The worst case for the scan: one healthy member at the far end.
        ("16_one_healthy", (0..16).map(|i| i == 15).collect()),
    ];
    for (name, eligible) in pools {
        let mut rr = RoundRobin::new();
        group.bench_function(name, |b| b.iter(|| rr.pick(black_box(&eligible))));
    }
    group.finish();
}

/// A browser's handshake, as Chrome sends it.
fn browser_handshake() -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in [
        ("host", "chat.example.com"),
        ("connection", "Upgrade"),
        ("pragma", "no-cache"),
        ("cache-control", "no-cache"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36",
        ),
        ("upgrade", "websocket"),
        ("origin", "https://chat.example.com"),
        ("sec-websocket-version", "13"),
        ("accept-encoding", "gzip, deflate, br"),
        ("accept-language", "en-US,en;q=0.9"),
        ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("sec-websocket-extensions", "permessage-deflate; client_max_window_bits"),
        ("sec-websocket-protocol", "chat, superchat"),
    ] {
        h.append(name, HeaderValue::from_static(value));
    }
    h
}

fn plain_get() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(header::HOST, HeaderValue::from_static("chat.example.com"));
    h.insert(header::ACCEPT, HeaderValue::from_static("*/*"));
    h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-trace"));
    h.insert("x-trace", HeaderValue::from_static("1"));
    h.insert("x-forwarded-for", HeaderValue::from_static("198.51.100.7"));
    h
}

fn classify(c: &mut Criterion) {
    let mut group = c.benchmark_group("handshake/classify");
    for (name, headers) in [("upgrade", browser_handshake()), ("plain", plain_get())] {
        group.bench_with_input(BenchmarkId::from_parameter(name), &headers, |b, h| {
            b.iter(|| handshake::classify(&Method::GET, Version::HTTP_11, black_box(h), true))
        });
    }
    group.finish();
}

fn request_headers(c: &mut Criterion) {
    let mut group = c.benchmark_group("headers/request_headers");
    for (name, headers, upgrade) in [("upgrade", browser_handshake(), true), ("plain", plain_get(), false)] {
        let fwd = Forwarding {
            client_ip: "203.0.113.9".parse().unwrap(),
            proto: "https",
            host_override: None,
            upgrade,
        };
        // The rewrite mutates, so each iteration gets a fresh copy; the
        // clone is outside the timing.
        group.bench_function(name, |b| {
            b.iter_batched(
                || headers.clone(),
                |mut h| {
                    headers::request_headers(&mut h, black_box(&fwd));
                    h
                },
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

fn observe(c: &mut Criterion) {
    let mut group = c.benchmark_group("health/observe");
    // A flapping backend, so transitions happen as well as plain counting.
    let pattern = [true, false, false, false, true, true, false, true];
    let rules = [
        ("consecutive_3", HealthRule::Consecutive { unhealthy_after: 3 }),
        ("window_2_of_4", HealthRule::Window { size: 4, required: 2 }),
    ];
    for (name, rule) in rules {
        let mut health = Health::new(rule, true);
        let mut i = 0usize;
        group.bench_function(name, |b| {
            b.iter(|| {
                i = i.wrapping_add(1);
                let result = if pattern[i % pattern.len()] {
                    ProbeResult::Success(200)
                } else {
                    ProbeResult::Failure(ProbeFailure::Status(503))
                };
                health.observe(Duration::from_secs(i as u64 * 30), black_box(result))
            })
        });
    }
    group.finish();
}

fn deadlines(c: &mut Criterion) {
    let mut group = c.benchmark_group("session");
    // Front Door: 5-minute idle close, 4-hour lifetime.
    let fd = Origin::Profile(gateway::ProfileName::FrontDoor);
    let policy = SessionPolicy {
        idle: Some(Timer::new(Duration::from_secs(5 * 60), fd.clone())),
        lifetime: Some(Timer::new(Duration::from_secs(4 * 3600), fd)),
        frontend_idle: None,
    };
    let last = Duration::from_secs(3600);
    group.bench_function("next_deadline", |b| {
        b.iter(|| session::next_deadline(black_box(last), black_box(&policy)))
    });
    group.bench_function("expired", |b| {
        b.iter(|| {
            session::expired(
                black_box(last + Duration::from_secs(299)),
                black_box(last),
                black_box(&policy),
            )
        })
    });
    group.finish();
}

fn short() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = short();
    targets = pick, classify, request_headers, observe, deadlines
}
criterion_main!(benches);
