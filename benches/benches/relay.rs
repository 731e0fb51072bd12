//! Relay throughput and latency through an in-process gateway on loopback.
//!
//! One echo backend and one gateway (`Gateway::bind` with `TokioTransport`,
//! both on `127.0.0.1:0`) share this process's tokio runtime with the
//! clients. For 1, 10 and 100 open sessions and 64 B, 4 KiB and 64 KiB
//! binary messages, one iteration is every session completing one echo
//! round trip, all sessions concurrently and each closed-loop. So criterion's
//! time/iter is the mean round-trip latency at that concurrency, and its
//! throughput line is the echoed payload rate (sessions × size per
//! iteration, one direction). `direct` is the same load with no gateway:
//! the difference is what the gateway adds.
//!
//! `cargo bench -p benches --bench relay`

#![allow(clippy::unwrap_used)] // bench code: a failure should stop the run loudly

use std::time::Duration;

use benches::fixture::Fixture;
use benches::loadgen;
use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const SESSIONS: [usize; 3] = [1, 10, 100];
const SIZES: [(usize, &str); 3] = [(64, "64B"), (4 * 1024, "4KiB"), (64 * 1024, "64KiB")];

fn relay(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fixture = rt.block_on(Fixture::start()).unwrap();
    let mut group = c.benchmark_group("relay");
    // 18 cases: short windows keep the whole file near a minute and a half.
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(20);
    for sessions in SESSIONS {
        for (size, label) in SIZES {
            let payload = Bytes::from(vec![0xa5u8; size]);
            group.throughput(Throughput::Bytes((sessions * size) as u64));
            for (route, addr) in [("direct", fixture.echo), ("gateway", fixture.gateway)] {
                let mut streams = rt.block_on(loadgen::open(addr, sessions, 50)).unwrap();
                group.bench_function(BenchmarkId::new(route, format!("{sessions}x{label}")), |b| {
                    b.iter_custom(|iters| rt.block_on(loadgen::rounds(&mut streams, &payload, iters)).unwrap())
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, relay);
criterion_main!(benches);
