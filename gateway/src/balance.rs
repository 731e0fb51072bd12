//! A backend set's pick at run time: each member's live state and probe
//! latency, with the plan's routing settings, handed to
//! [`crate::pool::choose`]; and the set's affinity cookies. The decisions
//! live in [`crate::pool`] and [`crate::affinity`]; this module only
//! gathers their inputs and keeps the round-robin cursor.

use std::sync::{Arc, Mutex};

use http::{HeaderMap, HeaderValue};

use crate::affinity::{self, AffinityPlan, Binding};
use crate::plan::BackendSetPlan;
use crate::pool::{self, Candidate, Choice, RoundRobin, Rules};
use crate::probe::Member;
use crate::profile::AllUnhealthy;

/// How one backend set shares out requests.
#[derive(Debug)]
pub(crate) struct Balance {
    rules: Rules,
    /// Per member, in order: whether it is enabled, and its priority.
    origins: Vec<(bool, u8)>,
    cursor: Mutex<RoundRobin>,
    pub(crate) affinity: Option<Affinity>,
}

/// A backend set's cookie affinity: its plan and each member's token.
#[derive(Debug)]
pub(crate) struct Affinity {
    pub(crate) plan: AffinityPlan,
    tokens: Vec<String>,
}

impl Balance {
    pub(crate) fn new(set: &BackendSetPlan, all_unhealthy: AllUnhealthy) -> Balance {
        let weights: Vec<u16> = set.members.iter().map(|m| m.weight).collect();
        Balance {
            rules: Rules {
                use_all_when_none_healthy: all_unhealthy == AllUnhealthy::UseAll,
                latency_sensitivity: set.latency_sensitivity,
            },
            origins: set.members.iter().map(|m| (m.enabled, m.priority)).collect(),
            cursor: Mutex::new(RoundRobin::weighted(&weights)),
            affinity: set.affinity.clone().map(|plan| Affinity {
                tokens: set
                    .members
                    .iter()
                    .map(|m| affinity::token(&set.pool, &m.addr))
                    .collect(),
                plan,
            }),
        }
    }

    /// Where a request goes: see [`pool::choose`]. `members` are the set's
    /// run-time members, in plan order.
    pub(crate) fn choose(&self, members: &[Arc<Member>], bound: Option<usize>, skip: Option<usize>) -> Option<Choice> {
        let candidates: Vec<Candidate> = members
            .iter()
            .zip(&self.origins)
            .map(|(m, &(enabled, priority))| Candidate {
                state: m.state(),
                enabled,
                priority,
                latency: self.rules.latency_sensitivity.and(m.latency()),
            })
            .collect();
        let mut cursor = self.cursor.lock().unwrap_or_else(|p| p.into_inner());
        pool::choose(&candidates, bound, skip, &self.rules, &mut cursor)
    }
}

impl Affinity {
    /// What the request's cookies say.
    pub(crate) fn binding(&self, headers: &HeaderMap) -> Binding {
        affinity::binding(headers, &self.plan, &self.tokens)
    }

    /// The `Set-Cookie` values binding a client to member `index`.
    pub(crate) fn set_cookies(&self, index: usize, https: bool) -> Vec<HeaderValue> {
        self.tokens
            .get(index)
            .map(|token| affinity::set_cookies(&self.plan, token, https))
            .unwrap_or_default()
    }
}
