//! The kit wsgate's benchmarks share. The benches themselves live in
//! `benches/` (one file per thing measured); this library is what they drive
//! the system with.
//!
//! # Modules
//!
//! | module | what it is |
//! |---|---|
//! | [`fixture`] | an in-process echo backend and gateway on `127.0.0.1:0` |
//! | [`loadgen`] | the closed-loop WebSocket load generator (tokio-tungstenite) |
//! | [`stats`] | latency samples, percentiles and medians |
//! | [`peer`] | the proxies the peers bench compares: wsgate, nginx, HAProxy, or none |
//! | [`procfs`] | resident memory of a process tree, and the open-files limit |
//! | [`report`] | the peers verdict: medians, ratios, targets met or missed |
//!
//! # Data flow
//!
//! ```text
//! loadgen ──ws──▶ [ wsgate | nginx | HAProxy | nothing ] ──ws──▶ echo backend
//!    │                        │
//!    ▼                        ▼
//!  stats (msgs/s, p50/p99)   procfs (RSS before/after idle sessions)
//! ```
//!
//! Timing here uses `std::time::Instant`: none of this runs inside the
//! simulator, and wall time is what a benchmark measures.

pub mod fixture;
pub mod loadgen;
pub mod peer;
pub mod procfs;
pub mod report;
pub mod stats;

/// Errors in bench plumbing: reported and the run stops, nothing to match on.
pub type BenchError = Box<dyn std::error::Error + Send + Sync>;
