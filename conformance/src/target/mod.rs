//! Targets: what sits between a scenario's clients and backends.
//!
//! | module | what it is |
//! |---|---|
//! | [`sim`] | the reference gateway in the turmoil simulator, in virtual time |
//!
//! A target runs a [`Scenario`] and returns what was observed: the typed
//! trace and the host names it mentions. Judging is the same on every
//! target.

pub mod sim;

use std::collections::BTreeMap;
use std::net::IpAddr;

use ::sim::trace::TraceLine;

/// What a run produced.
#[derive(Debug, Clone, Default)]
pub struct Observed {
    pub lines: Vec<TraceLine>,
    /// Host names by address, for renderings.
    pub names: BTreeMap<IpAddr, String>,
    /// Set when the run itself failed (a client script error, or the run
    /// outlived its time limit).
    pub error: Option<String>,
}
