//! Handshake latency: TCP connect plus the WebSocket upgrade until the 101
//! arrives, one at a time, through an in-process gateway and directly to the
//! echo backend. The gateway's share is classification, the backend pick,
//! header rewriting, a second TCP connect and relaying the 101.
//!
//! Each session is dropped (FIN) right after its 101, outside the timed
//! part; teardown still overlaps the next handshake on the other core.
//!
//! `cargo bench -p benches --bench handshake`

#![allow(clippy::unwrap_used)] // bench code: a failure should stop the run loudly

use std::time::{Duration, Instant};

use benches::fixture::Fixture;
use benches::loadgen;
use criterion::{criterion_group, criterion_main, Criterion};

fn handshake(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fixture = rt.block_on(Fixture::start()).unwrap();
    let mut group = c.benchmark_group("handshake");
    group
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    for (route, addr) in [("direct", fixture.echo), ("gateway", fixture.gateway)] {
        group.bench_function(route, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut timed = Duration::ZERO;
                    for _ in 0..iters {
                        let started = Instant::now();
                        let ws = loadgen::connect(addr).await.unwrap();
                        timed += started.elapsed();
                        drop(ws);
                    }
                    timed
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, handshake);
criterion_main!(benches);
