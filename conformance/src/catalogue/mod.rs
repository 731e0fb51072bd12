//! The requirement catalogue (`conformance/requirements.toml`, compiled in)
//! and how scenario outcomes grade each requirement per profile.

mod record;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::LazyLock;

use gateway::ProfileName;

/// The catalogue's source text.
pub const CATALOGUE: &str = include_str!("../../requirements.toml");

pub use record::{Basis, Requirement};

/// The compiled-in catalogue, parsed once.
static REQUIREMENTS: LazyLock<Vec<Requirement>> = LazyLock::new(|| {
    // The file is part of the binary and `tests::the_catalogue_loads` parses
    // it: a failure here is a build defect, not input.
    match record::load(CATALOGUE) {
        Ok(reqs) => reqs,
        Err(problems) => panic!("requirements.toml: {}", problems.join("; ")),
    }
});

/// The catalogue's requirements, in file order.
pub fn requirements() -> Vec<Requirement> {
    REQUIREMENTS.clone()
}

/// One requirement by id.
pub fn find(id: &str) -> Option<&'static Requirement> {
    REQUIREMENTS.iter().find(|r| r.id == id)
}

/// What is wrong with a scenario naming requirement `id` under `profile`:
/// an id the catalogue lacks, or one that belongs to other profiles.
pub fn id_problem(id: &str, profile: ProfileName) -> Option<String> {
    match find(id) {
        None => {
            let ids: Vec<&str> = REQUIREMENTS.iter().map(|r| r.id.as_str()).collect();
            let mut message = format!("unknown requirement id `{id}` (see `wsgate requirements`)");
            if let Some(guess) = gateway::diagnostic::closest(id, ids) {
                message.push_str(&format!("; did you mean `{guess}`?"));
            }
            Some(message)
        }
        Some(r) if !r.profiles.contains(&profile) => {
            let profiles: Vec<String> = r.profiles.iter().map(ToString::to_string).collect();
            Some(format!(
                "requirement `{id}` belongs to {}, not to this scenario's profile {profile}",
                profiles.join(", ")
            ))
        }
        Some(_) => None,
    }
}

/// How a requirement stands for one profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grade {
    /// Every scenario that checks it passed (and at least one did).
    Pass { scenarios: Vec<String> },
    /// A scenario that checks it failed.
    Fail { scenarios: Vec<String> },
    /// Not claimed for this profile, with the reason.
    Skip(String),
    /// No scenario checks it yet.
    NotCovered,
}

impl Grade {
    pub fn word(&self) -> &'static str {
        match self {
            Grade::Pass { .. } => "pass",
            Grade::Fail { .. } => "FAIL",
            Grade::Skip(_) => "skip",
            Grade::NotCovered => "not covered",
        }
    }
}

impl fmt::Display for Grade {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.word())
    }
}

/// One scenario's result, as grading needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioResult {
    pub name: String,
    pub profile: ProfileName,
    pub requirements: Vec<String>,
    pub passed: bool,
    /// Why it did not run (then `passed` means nothing).
    pub skipped: Option<String>,
}

/// Grades every (requirement, profile) pair from scenario results. Pure.
pub fn grade(requirements: &[Requirement], results: &[ScenarioResult]) -> BTreeMap<(String, ProfileName), Grade> {
    let mut grades = BTreeMap::new();
    for r in requirements {
        for profile in ProfileName::ALL {
            let grade = if !r.profiles.contains(&profile) {
                Grade::Skip(format!("the {profile} documents do not state this"))
            } else if let Some(reason) = &r.skip {
                Grade::Skip(reason.clone())
            } else {
                let naming: Vec<&ScenarioResult> = results
                    .iter()
                    .filter(|s| s.profile == profile && s.requirements.contains(&r.id))
                    .collect();
                let (checking, skipped): (Vec<&ScenarioResult>, Vec<&ScenarioResult>) =
                    naming.iter().partition(|s| s.skipped.is_none());
                let failed: Vec<String> = checking.iter().filter(|s| !s.passed).map(|s| s.name.clone()).collect();
                if !failed.is_empty() {
                    Grade::Fail { scenarios: failed }
                } else if !checking.is_empty() {
                    Grade::Pass {
                        scenarios: checking.iter().map(|s| s.name.clone()).collect(),
                    }
                } else if let Some(why) = skipped.first().and_then(|s| s.skipped.as_ref()) {
                    // Every scenario that checks it was skipped on this
                    // target: never a pass, and not "not covered" either.
                    Grade::Skip(if skipped.len() == 1 {
                        why.clone()
                    } else {
                        format!("{why} (and {} more skipped)", skipped.len() - 1)
                    })
                } else {
                    Grade::NotCovered
                }
            };
            grades.insert((r.id.clone(), profile), grade);
        }
    }
    grades
}
