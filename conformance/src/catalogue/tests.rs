use std::path::Path;

use super::record::{self, normalise, quoted_in, DOCUMENTS};
use super::*;

fn workspace() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

#[test]
fn the_catalogue_loads() {
    let reqs = record::load(CATALOGUE).unwrap_or_else(|p| panic!("{}", p.join("\n")));
    assert!(reqs.len() >= 60, "one per behaviour sentence: {}", reqs.len());
    assert_eq!(reqs, requirements());
}

/// Every `document` quote is in its first source word for word (the copies
/// in `conformance/sources/` are the seed documents, byte for byte).
#[test]
fn document_quotes_are_verbatim() {
    let mut wrong = Vec::new();
    for r in requirements() {
        if let Basis::Document { sources, quote, .. } = &r.basis {
            let path = workspace().join("conformance/sources").join(&sources[0]);
            let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if !quoted_in(quote, &text) {
                wrong.push(format!("{}: not in {}: {quote}", r.id, sources[0]));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_sources_are_the_seed_documents() {
    // When the seed folder sits beside the workspace (the developers'
    // checkout), the copies must not have drifted from it.
    let seeds = workspace().join("../shared/seeds");
    if !seeds.is_dir() {
        return;
    }
    for name in DOCUMENTS {
        let copy = std::fs::read(workspace().join("conformance/sources").join(name)).expect("copy");
        let seed = std::fs::read(seeds.join(name)).expect("seed");
        assert!(copy == seed, "conformance/sources/{name} differs from the seed");
    }
}

/// A `tests` entry names a file that exists and, after `::`, a function in it.
#[test]
fn named_tests_exist() {
    let mut wrong = Vec::new();
    for r in requirements() {
        for t in &r.tests {
            let mut parts = t.split("::");
            let file = parts.next().unwrap_or_default();
            let Ok(text) = std::fs::read_to_string(workspace().join(file)) else {
                wrong.push(format!("{}: no file {file}", r.id));
                continue;
            };
            if let Some(function) = parts.last() {
                // Plain and generic (`fn name<T: Transport>(`) functions.
                if !text.contains(&format!("fn {function}(")) && !text.contains(&format!("fn {function}<")) {
                    wrong.push(format!("{}: no fn {function} in {file}", r.id));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_basis_kind_is_used_and_choices_are_not_quotes() {
    let reqs = requirements();
    for kind in ["document", "azure", "choice"] {
        assert!(reqs.iter().any(|r| r.basis.kind() == kind), "{kind}");
    }
    for r in &reqs {
        if let Basis::Azure { url, .. } = &r.basis {
            assert!(url.starts_with("https://learn.microsoft.com/"), "{}: {url}", r.id);
        }
    }
}

fn one(record: &str) -> Result<Vec<Requirement>, Vec<String>> {
    record::load(&format!(
        "[[requirement]]\nid = \"X-1\"\nstatement = \"s\"\nprofiles = [\"front-door\"]\n{record}"
    ))
}

#[test]
fn a_basis_needs_its_own_fields_and_no_others() {
    assert_eq!(
        one("basis = \"document\"\nsources = [\"002_f139c213edad670c.txt\"]\nsection = \"s\"").unwrap_err(),
        vec!["X-1: a `document` basis needs `quote`"]
    );
    assert_eq!(
        one("basis = \"choice\"\nreason = \"r\"\nquote = \"q\"").unwrap_err(),
        vec!["X-1: `quote` does not belong to a `choice` basis"]
    );
    assert_eq!(
        one("basis = \"azure\"\nurl = \"u\"\nquote = \"q\"").unwrap_err(),
        vec!["X-1: a `azure` basis needs `date`"]
    );
    assert_eq!(
        one("basis = \"hearsay\"").unwrap_err(),
        vec!["X-1: unknown basis `hearsay`; expected `document`, `azure` or `choice`"]
    );
    assert_eq!(
        one("basis = \"document\"\nsources = [\"blog.txt\"]\nsection = \"s\"\nquote = \"q\"").unwrap_err(),
        vec!["X-1: unknown source document `blog.txt`"]
    );
    let ok = one("basis = \"choice\"\nreason = \"because\"").expect("loads");
    assert_eq!(
        ok[0].basis,
        Basis::Choice {
            reason: "because".into()
        }
    );
    assert_eq!(ok[0].basis.to_string(), "choice: wsgate's decision");
}

#[test]
fn quotes_match_across_wrapping_and_elisions_only() {
    let doc = "The **quick** brown\nfox jumps over\n  the lazy dog.";
    assert!(quoted_in("quick brown fox", doc));
    assert!(quoted_in("The quick ... the lazy dog.", doc));
    assert!(
        !quoted_in("the lazy dog ... quick", doc),
        "elided parts keep their order"
    );
    assert!(!quoted_in("quick red fox", doc));
    assert_eq!(normalise(" a \n\t b "), "a b");
}

#[test]
fn id_problems_name_the_unknown_and_the_foreign() {
    assert_eq!(id_problem("FD-IDLE-1", ProfileName::FrontDoor), None);
    let unknown = id_problem("FD-IDEL-1", ProfileName::FrontDoor).expect("unknown");
    assert!(unknown.contains("did you mean `FD-IDLE-1`"), "{unknown}");
    let foreign = id_problem("FD-IDLE-1", ProfileName::ApplicationGateway).expect("foreign");
    assert!(foreign.contains("belongs to front-door"), "{foreign}");
}

fn result(name: &str, profile: ProfileName, reqs: &[&str], passed: bool) -> ScenarioResult {
    ScenarioResult {
        name: name.into(),
        profile,
        requirements: reqs.iter().map(|r| r.to_string()).collect(),
        passed,
        skipped: None,
    }
}

/// A requirement whose every scenario was skipped on a target is graded
/// skip with the reason, never pass; one judged scenario decides.
#[test]
fn a_requirement_whose_scenarios_were_all_skipped_is_skipped() {
    let reqs = requirements();
    let skipped = |name: &str| ScenarioResult {
        skipped: Some(format!("{name}: nginx cannot express active health probes")),
        ..result(name, ProfileName::FrontDoor, &["FD-IDLE-1"], false)
    };
    let grades = grade(&reqs, &[skipped("a"), skipped("b")]);
    assert_eq!(
        grades[&("FD-IDLE-1".to_string(), ProfileName::FrontDoor)],
        Grade::Skip("a: nginx cannot express active health probes (and 1 more skipped)".into())
    );
    let grades = grade(
        &reqs,
        &[skipped("a"), result("c", ProfileName::FrontDoor, &["FD-IDLE-1"], true)],
    );
    assert_eq!(
        grades[&("FD-IDLE-1".to_string(), ProfileName::FrontDoor)],
        Grade::Pass {
            scenarios: vec!["c".into()]
        }
    );
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
        g[&("AGW16-PORT-2".into(), ProfileName::ApplicationGateway2016)],
        Grade::Skip(_)
    ));
}
