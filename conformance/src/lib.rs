//! wsgate's conformance harness and command-line tool.
//!
//! # Modules
//!
//! | module | what it is |
//! |---|---|
//! | [`serve`] | `wsgate serve` / `wsgate echo`: the gateway and demo backend on a real network |
//! | [`check`] | `wsgate check`: validates config files |
//!
//! The binary (`src/main.rs`) only parses arguments and calls into these.

pub mod check;
pub mod serve;
