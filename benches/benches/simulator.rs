//! Simulator speed: how much virtual time `sim::World` covers per wall
//! second on a realistic long run. A Front Door-profile gateway
//! (`Config::single_route`) in front of one echo backend, and 100 clients
//! that each open a session and ping every 20 s on the clock (an interval,
//! not a sleep after each pong) for 4 hours of virtual time: about 720
//! pings each, every ping and pong in the trace. Front Door ends every
//! session at 4 hours, so the gateway's lifetime close usually ends a client.
//!
//! Two shapes of the same 100 clients, because turmoil's cost depends on
//! the number of hosts, not only on traffic:
//!
//! - `one_host_per_client`: each client is its own `World::client` host
//!   (102 hosts), as the tests write them. turmoil 0.7 keeps a link for
//!   every pair of hosts and scans all of them for every host on every
//!   step, so a step costs O(hosts²): this shape is timed once and printed.
//! - `one_client_host`: the 100 sessions run concurrently in one client
//!   host (3 hosts), each still tracing under its own name. Criterion times
//!   this one (10 samples of one run each).
//!
//! The turmoil tick is 1 s (`WSGATE_SIM_TICK_MS` overrides it). Every host
//! is stepped once per tick, so wall cost grows with ticks: 4 h at 1 s is
//! 14,400 steps, at 100 ms ten times that. Timers still fire at their exact
//! virtual instants inside a tick, but each network hop waits for the next
//! tick, so a ping's round trip reads as a few seconds here. That suits
//! this scenario, whose cadence is 20 s and whose timers (Front Door's
//! 5-minute idle close, 4-hour lifetime) are minutes and hours; sub-second
//! timing checks use finer ticks. Criterion cannot print the figure that
//! matters, virtual seconds per wall second, so it is printed at the end.
//!
//! `cargo bench -p benches --bench simulator`

#![allow(clippy::unwrap_used)] // bench code: a failure should stop the run loudly

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};
use gateway::transport::Transport;
use gateway::{Config, ProfileName};
use sim::client::{self, ClientOptions, Received};
use sim::{Trace, World};
use tokio_tungstenite::tungstenite::Message;

const CLIENTS: u64 = 100;
const PING_EVERY: Duration = Duration::from_secs(20);
const VIRTUAL: Duration = Duration::from_secs(4 * 3600);

fn tick() -> Duration {
    let ms = std::env::var("WSGATE_SIM_TICK_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000u64);
    Duration::from_millis(ms.max(1))
}

/// How the clients are placed on turmoil hosts.
#[derive(Debug, Clone, Copy)]
enum Shape {
    OneHostPerClient,
    OneClientHost,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::OneHostPerClient => "one_host_per_client",
            Shape::OneClientHost => "one_client_host",
        }
    }
}

/// What a run counts, shared with the client scripts.
#[derive(Debug, Default)]
struct Counters {
    /// The virtual time the last client finished at, in ms.
    virtual_ms: AtomicU64,
    pongs: AtomicU64,
}

/// One client: start at its slot in the first interval, open a session,
/// ping every 20 s until 4 hours have passed or Front Door ends it.
async fn ping_client<T: Transport>(
    transport: &T,
    trace: &Trace,
    name: &str,
    index: u64,
    options: ClientOptions,
    counters: &Counters,
) -> Result<(), String> {
    let start = tokio::time::Instant::now();
    // Spread the clients over one ping interval, as real ones are.
    tokio::time::sleep(PING_EVERY * index as u32 / CLIENTS as u32).await;
    let mut c = client::connect(transport, name, &client::Target::plain("gateway", 80), &options, trace)
        .await
        .map_err(|e| e.to_string())?;
    let opened = tokio::time::Instant::now();
    let mut every = tokio::time::interval_at(opened + PING_EVERY, PING_EVERY);
    loop {
        every.tick().await;
        if opened.elapsed() >= VIRTUAL {
            break;
        }
        let pong = match c.send(Message::Ping(b"hb".to_vec().into())).await {
            Ok(()) => c.recv().await,
            Err(code) => Received::Closed(code),
        };
        match pong {
            Received::Message(Message::Pong(_)) => {
                counters.pongs.fetch_add(1, Ordering::Relaxed);
            }
            // Front Door ends every session at 4 hours; the gateway counts
            // from its 101, a moment before this client did.
            Received::Closed(_) if opened.elapsed() + PING_EVERY >= VIRTUAL => break,
            other => return Err(format!("{name}: expected a pong, got {other:?}")),
        }
    }
    if c.close_code().is_none() && c.close(1000).await.is_ok() {
        c.recv().await;
    }
    counters
        .virtual_ms
        .fetch_max(start.elapsed().as_millis() as u64, Ordering::Relaxed);
    Ok(())
}

fn front_door_world(tick: Duration, shape: Shape, counters: &Arc<Counters>) -> World {
    let mut world = World::new(6).tick(tick).duration(VIRTUAL + Duration::from_secs(600));
    world.backend("b1", 9001, backend::Options::default());
    world.gateway(
        "gateway",
        Config::single_route(
            ProfileName::FrontDoor,
            "0.0.0.0:80".parse().unwrap(),
            vec!["b1:9001".into()],
            None,
        ),
    );
    match shape {
        Shape::OneHostPerClient => {
            for i in 0..CLIENTS {
                let counters = Arc::clone(counters);
                world.client(&format!("c{i:03}"), move |mut env| async move {
                    let options = ClientOptions::new("chat.example", "/chat", &mut env.rng);
                    ping_client(&env.transport, &env.trace, &env.name, i, options, &counters).await?;
                    Ok(())
                });
            }
        }
        Shape::OneClientHost => {
            let counters = Arc::clone(counters);
            world.client("clients", move |mut env| async move {
                let sessions = (0..CLIENTS).map(|i| {
                    let options = ClientOptions::new("chat.example", "/chat", &mut env.rng);
                    let (transport, trace, counters) = (&env.transport, &env.trace, &counters);
                    async move { ping_client(transport, trace, &format!("c{i:03}"), i, options, counters).await }
                });
                let sessions: Vec<_> = sessions.collect();
                for result in futures_util::future::join_all(sessions).await {
                    result?;
                }
                Ok(())
            });
        }
    }
    world
}

/// One run's measurements.
#[derive(Debug, Clone, Copy)]
struct Run {
    wall: Duration,
    virtual_time: Duration,
    pongs: u64,
    trace_lines: usize,
}

fn run_once(tick: Duration, shape: Shape) -> Run {
    let counters = Arc::new(Counters::default());
    let world = front_door_world(tick, shape, &counters);
    let started = Instant::now();
    let trace = world.run().unwrap();
    Run {
        wall: started.elapsed(),
        virtual_time: Duration::from_millis(counters.virtual_ms.load(Ordering::Relaxed)),
        pongs: counters.pongs.load(Ordering::Relaxed),
        trace_lines: trace.lines().len(),
    }
}

fn print_runs(tick: Duration, shape: Shape, runs: &[Run]) {
    let mut walls: Vec<f64> = runs.iter().map(|r| r.wall.as_secs_f64()).collect();
    walls.sort_by(f64::total_cmp);
    let median = benches::stats::median(&walls);
    let last = runs[runs.len() - 1];
    println!(
        "simulator {}: {CLIENTS} clients pinging every {} s, tick {} ms: {:.0} virtual s, {} pongs, {} trace lines; \
         wall median {median:.3} s (min {:.3}, max {:.3}, {} runs) => {:.0}x real time (target >= 10000x)",
        shape.name(),
        PING_EVERY.as_secs(),
        tick.as_millis(),
        last.virtual_time.as_secs_f64(),
        last.pongs,
        last.trace_lines,
        walls[0],
        walls[walls.len() - 1],
        walls.len(),
        last.virtual_time.as_secs_f64() / median,
    );
}

fn simulator(c: &mut Criterion) {
    let tick = tick();
    let runs: Mutex<Vec<Run>> = Mutex::default();
    let mut group = c.benchmark_group("simulator");
    group
        .sampling_mode(SamplingMode::Flat)
        .sample_size(10)
        .warm_up_time(Duration::from_millis(1))
        .measurement_time(Duration::from_secs(1));
    let shape = Shape::OneClientHost;
    group.bench_function(
        format!("front_door_4h_{}_tick_{}ms", shape.name(), tick.as_millis()),
        |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let run = run_once(tick, shape);
                        runs.lock().unwrap().push(run);
                        run.wall
                    })
                    .sum()
            })
        },
    );
    group.finish();
    print_runs(tick, shape, &runs.lock().unwrap());

    // Tens of seconds per run: once, outside criterion.
    let shape = Shape::OneHostPerClient;
    print_runs(tick, shape, &[run_once(tick, shape)]);
}

criterion_group!(benches, simulator);
criterion_main!(benches);
