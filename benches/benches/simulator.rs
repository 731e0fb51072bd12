//! Simulator speed: how much virtual time `sim::World` covers per wall
//! second on a realistic long run. A Front Door-profile gateway
//! (`Config::single_route`) in front of one echo backend, and 100 clients
//! that each open a session and ping every 20 s on the clock (an interval,
//! not a sleep after each pong) for 4 hours of virtual time: about 720
//! pings each, every ping and pong in the trace. Front Door ends every
//! session at 4 hours, so the gateway's lifetime close usually ends a client.
//!
//! Three shapes of the same 100 clients, because turmoil's cost depends on
//! the number of hosts, not only on traffic:
//!
//! - `one_client_host`: the 100 sessions run concurrently in one client
//!   host, beside one gateway and one backend (3 hosts), each session still
//!   tracing under its own name, as the scenario runner runs a
//!   `[[clients]]` group;
//! - `one_host_per_client`: each client is its own `World::client` host
//!   (102 hosts), as the tests write them;
//! - `realistic`: 100 client hosts, 3 gateway instances (clients spread
//!   over them) and 5 backends in the pool (108 hosts).
//!
//! turmoil 0.7 keeps a link for every pair of hosts and ticks every link on
//! every step. As published it also scans every link for every host's
//! messages, O(hosts³) a step; the copy the workspace builds
//! (`sim/vendor/turmoil`) visits each host's own links, and steps each
//! host's tokio runtime once a tick, which is most of what is left.
//!
//! The tick is 10 ms, the scenario files' default (`WSGATE_SIM_TICK_MS`
//! overrides it). Every host is stepped once per tick, so wall cost grows
//! with ticks: 4 h at 10 ms is 1.44 million steps. Timers fire at their
//! exact virtual instants inside a tick; network hops wait for the next.
//!
//! Each shape runs `WSGATE_SIM_RUNS` times (default 3 for 3 hosts, 1 for
//! the others) and prints its median; `WSGATE_SIM_SHAPES` (e.g.
//! `one_client_host`) picks shapes. Plain `main`: the figure that matters,
//! virtual seconds per wall second, is not one criterion can print.
//!
//! `cargo bench -p benches --bench simulator`

#![allow(clippy::unwrap_used)] // bench code: a failure should stop the run loudly

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
        .unwrap_or(10u64);
    Duration::from_millis(ms.max(1))
}

/// How the clients are placed on turmoil hosts.
#[derive(Debug, Clone, Copy)]
enum Shape {
    OneClientHost,
    OneHostPerClient,
    Realistic,
}

impl Shape {
    const ALL: [Shape; 3] = [Shape::OneClientHost, Shape::OneHostPerClient, Shape::Realistic];

    fn name(self) -> &'static str {
        match self {
            Shape::OneClientHost => "one_client_host",
            Shape::OneHostPerClient => "one_host_per_client",
            Shape::Realistic => "realistic",
        }
    }

    /// Gateway instances and backends.
    fn servers(self) -> (usize, usize) {
        match self {
            Shape::Realistic => (3, 5),
            _ => (1, 1),
        }
    }

    /// Issue #15's target, virtual seconds per wall second at the 10 ms
    /// tick: 10,000x for clients on one host, 2,000x with 100 hosts.
    fn target(self) -> u32 {
        match self {
            Shape::OneClientHost => 10_000,
            Shape::OneHostPerClient | Shape::Realistic => 2_000,
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
    gateway: &str,
    options: ClientOptions,
    counters: &Counters,
) -> Result<(), String> {
    let start = tokio::time::Instant::now();
    // Spread the clients over one ping interval, as real ones are.
    tokio::time::sleep(PING_EVERY * index as u32 / CLIENTS as u32).await;
    let mut c = client::connect(transport, name, &client::Target::plain(gateway, 80), &options, trace)
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
    let (instances, backends) = shape.servers();
    let members: Vec<String> = (1..=backends).map(|i| format!("b{i}:9001")).collect();
    for i in 1..=backends {
        world.backend(&format!("b{i}"), 9001, backend::Options::default());
    }
    let config = Config::single_route(ProfileName::FrontDoor, "0.0.0.0:80".parse().unwrap(), members, None);
    let gateways = if instances == 1 {
        world.gateway("gateway", config);
        vec!["gateway".to_string()]
    } else {
        world.gateway_instances("gateway", instances, config)
    };
    match shape {
        Shape::OneHostPerClient | Shape::Realistic => {
            for i in 0..CLIENTS {
                let counters = Arc::clone(counters);
                let gateway = gateways[i as usize % gateways.len()].clone();
                world.client(&format!("c{i:03}"), move |mut env| async move {
                    let options = ClientOptions::new("chat.example", "/chat", &mut env.rng);
                    ping_client(&env.transport, &env.trace, &env.name, i, &gateway, options, &counters).await?;
                    Ok(())
                });
            }
        }
        Shape::OneClientHost => {
            let counters = Arc::clone(counters);
            let gateway = gateways[0].clone();
            world.client("clients", move |mut env| async move {
                let sessions =
                    (0..CLIENTS).map(|i| {
                        let options = ClientOptions::new("chat.example", "/chat", &mut env.rng);
                        let (transport, trace, counters, gateway) = (&env.transport, &env.trace, &counters, &gateway);
                        async move {
                            ping_client(transport, trace, &format!("c{i:03}"), i, gateway, options, counters).await
                        }
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
         wall median {median:.3} s (min {:.3}, max {:.3}, {} runs) => {:.0}x real time (target >= {}x at 10 ms)",
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
        shape.target(),
    );
}

fn main() {
    let tick = tick();
    let only = std::env::var("WSGATE_SIM_SHAPES").ok();
    let runs_env = std::env::var("WSGATE_SIM_RUNS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    for shape in Shape::ALL {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|n| n.trim() == shape.name()))
        {
            continue;
        }
        let runs = runs_env.unwrap_or(match shape {
            Shape::OneClientHost => 3,
            _ => 1,
        });
        let runs: Vec<Run> = (0..runs.max(1)).map(|_| run_once(tick, shape)).collect();
        print_runs(tick, shape, &runs);
    }
}
