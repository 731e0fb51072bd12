//! Findings located in the config file and printed: text for people,
//! JSON for tools, SARIF 2.1.0 for code-scanning annotations.

use gateway::config::{line_col, span_of};
use serde_json::json;

use super::rules::{Finding, Level, RULES};
use super::Options;

/// A finding with its place in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub finding: Finding,
    /// 1-based line and column of the value (or of its table when the key
    /// is missing).
    pub position: (usize, usize),
}

/// Locates each finding in `source`, in file order.
pub fn locate(findings: Vec<Finding>, source: &str) -> Vec<Located> {
    let mut out: Vec<Located> = findings
        .into_iter()
        .map(|finding| {
            let position = span_of(source, &finding.key).map_or((1, 1), |s| line_col(source, s.start));
            Located { finding, position }
        })
        .collect();
    out.sort_by(|a, b| {
        a.position
            .cmp(&b.position)
            .then_with(|| a.finding.rule.code.cmp(b.finding.rule.code))
    });
    out
}

/// How many errors and warnings.
pub fn counts(found: &[Located]) -> (usize, usize) {
    let errors = found.iter().filter(|l| l.finding.rule.level == Level::Error).count();
    (errors, found.len() - errors)
}

/// `file:line:col: error[WSG001]: key: consequence`, then basis and fix.
pub fn text(origin: &str, found: &[Located], options: &Options) -> String {
    let mut out = String::new();
    for l in found {
        let f = &l.finding;
        out.push_str(&format!(
            "{origin}:{}:{}: {}[{}]: {}: {}\n    basis: {}\n    fix: {}\n",
            l.position.0,
            l.position.1,
            f.rule.level.word(),
            f.rule.code,
            f.key,
            f.consequence,
            f.rule.basis.join(", "),
            f.fix
        ));
    }
    let (errors, warnings) = counts(found);
    out.push_str(&format!(
        "{origin}: {errors} error(s), {warnings} warning(s) (assuming pings every {}{})\n",
        gateway::config::Duration::from(options.ping_interval),
        options
            .client
            .map(|c| format!(", {} clients", c.name()))
            .unwrap_or_default()
    ));
    out
}

/// One JSON document: the findings and the assumptions.
pub fn json(origin: &str, found: &[Located], options: &Options) -> String {
    let findings: Vec<serde_json::Value> = found
        .iter()
        .map(|l| {
            json!({
                "code": l.finding.rule.code,
                "rule": l.finding.rule.name,
                "level": l.finding.rule.level.word(),
                "file": origin,
                "line": l.position.0,
                "column": l.position.1,
                "key": l.finding.key.to_string(),
                "consequence": l.finding.consequence,
                "basis": l.finding.rule.basis,
                "fix": l.finding.fix,
            })
        })
        .collect();
    let (errors, warnings) = counts(found);
    let doc = json!({
        "ping_interval": gateway::config::Duration::from(options.ping_interval).to_string(),
        "client": options.client.map(|c| c.name()),
        "errors": errors,
        "warnings": warnings,
        "findings": findings,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}

/// SARIF 2.1.0: one run, the rules as the driver's rules, each finding a
/// result at its region.
pub fn sarif(origin: &str, found: &[Located]) -> String {
    let help = |basis: &[&str]| -> String {
        basis.iter().find(|b| b.starts_with("https://")).map_or_else(
            || "https://github.com/wsgate/wsgate/blob/main/conformance/requirements.toml".to_string(),
            |b| b.to_string(),
        )
    };
    let rules: Vec<serde_json::Value> = RULES
        .iter()
        .map(|r| {
            json!({
                "id": r.code,
                "name": r.name,
                "shortDescription": { "text": r.summary },
                "helpUri": help(r.basis),
                "properties": { "basis": r.basis },
                "defaultConfiguration": { "level": r.level.word() },
            })
        })
        .collect();
    let results: Vec<serde_json::Value> = found
        .iter()
        .map(|l| {
            let f = &l.finding;
            json!({
                "ruleId": f.rule.code,
                "level": f.rule.level.word(),
                "message": { "text": format!("{}: {}. Fix: {}", f.key, f.consequence, f.fix) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": origin },
                        "region": { "startLine": l.position.0, "startColumn": l.position.1 },
                    }
                }],
            })
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "wsgate lint",
                "informationUri": "https://learn.microsoft.com/azure/application-gateway/application-gateway-websocket",
                "rules": rules,
            }},
            "results": results,
        }],
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default() + "\n"
}
