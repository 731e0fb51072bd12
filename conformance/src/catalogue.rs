//! The requirement catalogue (`conformance/requirements.toml`, compiled in)
//! and how scenario outcomes grade each requirement per profile.

use std::collections::BTreeMap;
use std::fmt;

use gateway::ProfileName;
use serde::Deserialize;

/// The catalogue's source text.
pub const CATALOGUE: &str = include_str!("../requirements.toml");

/// One requirement: a behaviour sentence of a document, in our words.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    pub id: String,
    pub source: String,
    pub section: String,
    pub statement: String,
    pub profiles: Vec<ProfileName>,
    /// Rust tests that check it too.
    #[serde(default)]
    pub tests: Vec<String>,
    /// Why wsgate does not check it, for a sentence it does not model.
    pub skip: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    requirement: Vec<Requirement>,
}

/// Parses the compiled-in catalogue.
pub fn requirements() -> Vec<Requirement> {
    // The file is part of the binary and covered by a test; a parse failure
    // is a build defect, not input.
    toml::from_str::<CatalogueFile>(CATALOGUE)
        .expect("requirements.toml parses (checked by catalogue::tests)")
        .requirement
}

/// What is wrong with a scenario naming requirement `id` under `profile`:
/// an id the catalogue lacks, or one that belongs to other profiles.
pub fn id_problem(id: &str, profile: ProfileName) -> Option<String> {
    let reqs = requirements();
    match reqs.iter().find(|r| r.id == id) {
        None => {
            let ids: Vec<&str> = reqs.iter().map(|r| r.id.as_str()).collect();
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
                let checking: Vec<&ScenarioResult> = results
                    .iter()
                    .filter(|s| s.profile == profile && s.requirements.contains(&r.id))
                    .collect();
                let failed: Vec<String> = checking.iter().filter(|s| !s.passed).map(|s| s.name.clone()).collect();
                if !failed.is_empty() {
                    Grade::Fail { scenarios: failed }
                } else if checking.is_empty() {
                    Grade::NotCovered
                } else {
                    Grade::Pass {
                        scenarios: checking.iter().map(|s| s.name.clone()).collect(),
                    }
                }
            };
            grades.insert((r.id.clone(), profile), grade);
        }
    }
    grades
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_parses_with_unique_ids_and_known_sources() {
        let reqs = requirements();
        assert!(reqs.len() >= 30, "one per behaviour sentence: {}", reqs.len());
        let mut ids: Vec<&str> = reqs.iter().map(|r| r.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), reqs.len(), "ids are unique");
        for r in &reqs {
            assert!(!r.profiles.is_empty(), "{} names its profiles", r.id);
            for source in r.source.split(", ") {
                assert!(
                    [
                        "000_08d95ce44754c93e.txt",
                        "001_ece4dabc994b493e.md",
                        "002_f139c213edad670c.txt",
                        "003_bc5d01166b151058.txt"
                    ]
                    .contains(&source),
                    "{}: unknown source {source}",
                    r.id
                );
            }
        }
    }

    fn result(name: &str, profile: ProfileName, reqs: &[&str], passed: bool) -> ScenarioResult {
        ScenarioResult {
            name: name.into(),
            profile,
            requirements: reqs.iter().map(|r| r.to_string()).collect(),
            passed,
        }
    }

    #[test]
    fn grades_pass_fail_skip_and_not_covered() {
        let reqs = requirements();
        let results = [
            result("a", ProfileName::ApplicationGateway, &["AGW-TIMEOUT-1"], true),
            result("b", ProfileName::FrontDoor, &["FD-IDLE-1"], true),
            result("c", ProfileName::FrontDoor, &["FD-IDLE-1"], false),
        ];
        let g = grade(&reqs, &results);
        assert!(matches!(
            g[&("AGW-TIMEOUT-1".into(), ProfileName::ApplicationGateway)],
            Grade::Pass { .. }
        ));
        assert!(matches!(
            g[&("AGW-TIMEOUT-1".into(), ProfileName::FrontDoor)],
            Grade::Skip(_)
        ));
        assert_eq!(
            g[&("FD-IDLE-1".into(), ProfileName::FrontDoor)],
            Grade::Fail {
                scenarios: vec!["c".into()]
            }
        );
        assert_eq!(g[&("FD-LIFETIME-1".into(), ProfileName::FrontDoor)], Grade::NotCovered);
        assert!(matches!(
            g[&("AGW16-AFFINITY-1".into(), ProfileName::ApplicationGateway2016)],
            Grade::Skip(_)
        ));
    }
}
