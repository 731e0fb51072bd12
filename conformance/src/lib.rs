//! wsgate's conformance harness and command-line tool.
//!
//! # Modules
//!
//! | module | what it is |
//! |---|---|
//! | [`scenario`] | scenario files: TOML shape, checks, limits, located errors with suggestions |
//! | [`expect`] | expectations, judged against a typed trace (pure) |
//! | [`target`] | where a scenario runs: the simulator, wsgate on loopback, nginx, HAProxy, or a gateway already running |
//! | [`run`] | one scenario run on a target, and its outcome |
//! | [`suite`] | many scenarios: discovery, seed sweeps, determinism, shards |
//! | [`corpus`] | failing seeds a sweep found, replayed by `cargo test` |
//! | [`catalogue`] | the requirement catalogue (`requirements.toml`) and grading |
//! | [`explain`] | why each session ended: client and gateway sessions matched, causes, the requirement that predicts each |
//! | [`report`] | the matrix, readable traces, Markdown, JUnit XML, JSON, SVG timelines, HTML |
//! | [`cli`] | each `wsgate` subcommand's flow, after argument parsing |
//! | [`invariants`] | properties every run must hold (used by the proptest suite) |
//! | [`peer`] | nginx and HAProxy as conformance targets: a plan rendered as their configs, run as processes |
//! | [`serve`] | `wsgate serve` / `wsgate echo`: the gateway and demo backend on a real network |
//! | [`check`] | `wsgate check`: validates scenario and config files |
//! | [`import`] | `wsgate import`: ARM templates, `az … show` JSON and Terraform to a gateway config, with provenance |
//! | [`lint`] | `wsgate lint`: WebSocket trouble predicted from a config, with stable codes and SARIF |
//! | [`fd_limit`] | `wsgate serve`'s file-descriptor budget: the soft limit raised to the hard one, and the connection cap it allows |
//!
//! ```text
//! scenario.toml ─▶ scenario::load ─▶ run::run_on ─┬▶ target::sim::run (sim::World)  ─┐
//!                                     │ needs,    └▶ target::real::run (loopback:     ├▶ Trace ─▶ expect::check
//!                                     │ timing       wsgate | nginx | haproxy | URL)─┘     ├▶ explain (close causes)
//!                                     ▼                                                   └▶ catalogue::grade per target ─▶ report
//!                              skip: reason
//! ```
//!
//! The binary (`src/main.rs`) only parses arguments and dispatches to [`cli`].

pub mod catalogue;
pub mod check;
pub mod cli;
pub mod corpus;
pub mod expect;
pub mod explain;
pub mod fd_limit;
pub mod import;
pub mod invariants;
pub mod lint;
pub mod peer;
pub mod report;
pub mod run;
pub mod scenario;
pub mod serve;
pub mod suite;
pub mod target;
