//! The peers bench's verdict: medians over rounds, wsgate's ratios against
//! direct and each peer, and issue #15's targets as met or missed by how much.

use std::collections::BTreeMap;

use crate::peer::Kind;
use crate::stats::median;

/// One round's figures for one target.
#[derive(Debug, Clone, Copy)]
pub struct Round {
    pub msgs_per_s: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub handshakes_per_s: f64,
    /// The proxy's CPU time per echoed message, in µs (`NaN` for direct).
    pub cpu_us_per_msg: f64,
    /// The proxy's CPU time per handshake, in µs (`NaN` for direct).
    pub cpu_us_per_handshake: f64,
    /// The large-message phases, in the bench's order (64 KiB, 1 MiB).
    pub large: [Throughput; LARGE_PHASES],
}

/// The large-message phases a round has.
pub const LARGE_PHASES: usize = 2;

/// One large-message phase: payload MB echoed per second, and the proxy's
/// CPU per MB echoed (each echoed MB crosses the proxy up and back).
#[derive(Debug, Clone, Copy, Default)]
pub struct Throughput {
    pub mb_per_s: f64,
    /// `NaN` for direct.
    pub cpu_us_per_mb: f64,
}

/// One target's figures: medians over rounds, and KiB per idle session
/// (`NaN` when not measured, as for direct).
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub msgs_per_s: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub handshakes_per_s: f64,
    pub cpu_us_per_msg: f64,
    pub cpu_us_per_handshake: f64,
    pub large: [Throughput; LARGE_PHASES],
    pub idle_kib: f64,
}

/// Each target's rounds reduced to medians, with its memory figure if any.
pub fn summarise(rounds: &BTreeMap<Kind, Vec<Round>>, memory: &BTreeMap<Kind, f64>) -> BTreeMap<Kind, Summary> {
    rounds
        .iter()
        .map(|(&kind, rs)| {
            let m = |f: fn(&Round) -> f64| median(&rs.iter().map(f).collect::<Vec<_>>());
            let summary = Summary {
                msgs_per_s: m(|r| r.msgs_per_s),
                p50_us: m(|r| r.p50_us),
                p99_us: m(|r| r.p99_us),
                handshakes_per_s: m(|r| r.handshakes_per_s),
                cpu_us_per_msg: m(|r| r.cpu_us_per_msg),
                cpu_us_per_handshake: m(|r| r.cpu_us_per_handshake),
                large: std::array::from_fn(|i| Throughput {
                    mb_per_s: median(&rs.iter().map(|r| r.large[i].mb_per_s).collect::<Vec<_>>()),
                    cpu_us_per_mb: median(&rs.iter().map(|r| r.large[i].cpu_us_per_mb).collect::<Vec<_>>()),
                }),
                idle_kib: memory.get(&kind).copied().unwrap_or(f64::NAN),
            };
            (kind, summary)
        })
        .collect()
}

/// Prints the summary table, every ratio of wsgate against direct and the
/// peers, and the targets as met or missed.
pub fn print(s: &BTreeMap<Kind, Summary>) {
    println!("\nsummary (median of rounds)");
    println!(
        "  {:<8} {:>10} {:>8} {:>8} {:>13} {:>11} {:>10} {:>17} {:>11} {:>12} {:>10} {:>11}",
        "target",
        "msgs/s",
        "p50 us",
        "p99 us",
        "handshakes/s",
        "cpu us/msg",
        "cpu us/hs",
        "idle KiB/session",
        "64KiB MB/s",
        "cpu us/MB",
        "1MiB MB/s",
        "cpu us/MB"
    );
    let or_dash = |v: f64| if v.is_nan() { "-".to_string() } else { format!("{v:.1}") };
    for (kind, x) in s {
        println!(
            "  {:<8} {:>10.0} {:>8.0} {:>8.0} {:>13.0} {:>11} {:>10} {:>17} {:>11.1} {:>12} {:>10.1} {:>11}",
            kind.name(),
            x.msgs_per_s,
            x.p50_us,
            x.p99_us,
            x.handshakes_per_s,
            or_dash(x.cpu_us_per_msg),
            or_dash(x.cpu_us_per_handshake),
            or_dash(x.idle_kib),
            x.large[0].mb_per_s,
            or_dash(x.large[0].cpu_us_per_mb),
            x.large[1].mb_per_s,
            or_dash(x.large[1].cpu_us_per_mb),
        );
    }
    let Some(ws) = s.get(&Kind::Wsgate) else {
        println!("\nwsgate did not run: no ratios");
        return;
    };

    type Metric = (&'static str, fn(&Summary) -> f64, bool);
    // (name, value, higher is better)
    let metrics: [Metric; 11] = [
        ("msgs/s", |x| x.msgs_per_s, true),
        ("p50", |x| x.p50_us, false),
        ("p99", |x| x.p99_us, false),
        ("handshakes/s", |x| x.handshakes_per_s, true),
        ("cpu us/msg", |x| x.cpu_us_per_msg, false),
        ("cpu us/handshake", |x| x.cpu_us_per_handshake, false),
        ("idle KiB/session", |x| x.idle_kib, false),
        ("64 KiB MB/s", |x| x.large[0].mb_per_s, true),
        ("64 KiB cpu us/MB", |x| x.large[0].cpu_us_per_mb, false),
        ("1 MiB MB/s", |x| x.large[1].mb_per_s, true),
        ("1 MiB cpu us/MB", |x| x.large[1].cpu_us_per_mb, false),
    ];
    println!("\nratios (wsgate / other; for latency, CPU and memory, lower is better)");
    for (name, value, higher_better) in metrics {
        let mut line = format!("  {name:<17}");
        if let Some(d) = s.get(&Kind::Direct) {
            if !value(d).is_nan() {
                line += &format!(" vs direct {:.2}x", value(ws) / value(d));
            }
        }
        for (kind, x) in s.iter().filter(|(k, _)| k.is_peer()) {
            line += &format!("  vs {} {:.2}x", kind.name(), value(ws) / value(x));
        }
        if let Some((kind, best)) = best_peer(s, value, higher_better) {
            line += &format!("  | vs best peer ({}) {:.2}x", kind.name(), value(ws) / best);
        }
        println!("{line}");
    }

    println!("\ntargets");
    let target = |name: &str, got: f64, want: f64, higher_better: bool, unit: &str| {
        let met = if higher_better { got >= want } else { got <= want };
        let gap = if higher_better {
            (want - got) / want
        } else {
            (got - want) / want
        };
        if met {
            println!("  {name}: MET ({got:.2}{unit}, target {want:.2}{unit})");
        } else {
            println!(
                "  {name}: MISSED by {:.1}% ({got:.2}{unit}, target {want:.2}{unit})",
                gap * 100.0
            );
        }
    };
    // Issue #15's targets, each against the best peer in the same run:
    // (what, metric, wsgate must be at least/most this multiple of it, higher is better).
    type Target = (&'static str, fn(&Summary) -> f64, f64, bool);
    let targets: [Target; 10] = [
        ("relay msgs/s >= 1.15x best peer", |x| x.msgs_per_s, 1.15, true),
        ("p50 <= best peer", |x| x.p50_us, 1.0, false),
        ("p99 <= best peer", |x| x.p99_us, 1.0, false),
        ("handshakes/s >= 1.1x best peer", |x| x.handshakes_per_s, 1.1, true),
        ("cpu us/msg <= 0.8x best peer", |x| x.cpu_us_per_msg, 0.8, false),
        (
            "cpu us/handshake <= 0.9x best peer",
            |x| x.cpu_us_per_handshake,
            0.9,
            false,
        ),
        ("64 KiB MB/s >= best peer", |x| x.large[0].mb_per_s, 1.0, true),
        (
            "64 KiB cpu us/MB <= best peer",
            |x| x.large[0].cpu_us_per_mb,
            1.0,
            false,
        ),
        ("1 MiB MB/s >= best peer", |x| x.large[1].mb_per_s, 1.0, true),
        ("1 MiB cpu us/MB <= best peer", |x| x.large[1].cpu_us_per_mb, 1.0, false),
    ];
    for (name, value, factor, higher_better) in targets {
        match best_peer(s, value, higher_better) {
            Some((_, best)) => target(name, value(ws) / best, factor, higher_better, "x"),
            None => println!("  {name}: no peer ran"),
        }
    }
    if ws.idle_kib.is_nan() {
        println!("  idle memory: not measured");
    } else {
        target("idle memory <= 2 KiB per session", ws.idle_kib, 2.0, false, " KiB");
    }
}

/// The best nginx/HAProxy figure for a metric, and whose it is.
pub fn best_peer(s: &BTreeMap<Kind, Summary>, value: fn(&Summary) -> f64, higher_better: bool) -> Option<(Kind, f64)> {
    s.iter()
        .filter(|(k, x)| k.is_peer() && !value(x).is_nan())
        .map(|(&k, x)| (k, value(x)))
        .reduce(|a, b| {
            let b_wins = if higher_better { b.1 > a.1 } else { b.1 < a.1 };
            if b_wins {
                b
            } else {
                a
            }
        })
}
