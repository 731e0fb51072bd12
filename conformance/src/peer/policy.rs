//! The WAF policies and rewrite sets of a config, in a form the renderers
//! read. [`gateway::waf::Waf`] and [`gateway::rewrite::Rewrite`] keep their
//! compiled rules private, so they come from the config the plan was
//! validated from; each route names its policy, and the names resolve here.

use std::collections::BTreeMap;

use gateway::config::{WafAction, WafTarget};
use gateway::Config;

/// A config's WAF policies and rewrite sets, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policies {
    wafs: BTreeMap<String, Vec<WafRule>>,
    rewrites: BTreeMap<String, RewriteSet>,
}

/// One WAF custom rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WafRule {
    pub name: String,
    pub target: RuleTarget,
    pub matcher: RuleMatch,
    pub action: WafAction,
}

/// What a WAF rule inspects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleTarget {
    /// The path as sent (percent-encoded, without the query).
    Path,
    /// The query as sent, without `?`.
    Query,
    /// Every value of one header; the name is lowercase.
    Header(String),
}

/// How a WAF rule matches its target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleMatch {
    Contains(String),
    /// A regular expression in the `regex` crate's syntax, unanchored.
    Regex(String),
}

/// One rewrite set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RewriteSet {
    /// Lowercase names, in name order.
    pub set: Vec<(String, String)>,
    /// Lowercase names. Removals run before sets.
    pub remove: Vec<String>,
    /// `(pattern, replacement)`: the first match in the path is replaced,
    /// `$1`/`${name}` refer to groups; the query is kept.
    pub url_path: Option<(String, String)>,
}

impl Policies {
    /// The policies of `config`. Call it on a config that validated:
    /// entries that validation would reject are skipped here.
    pub fn from_config(config: &Config) -> Policies {
        let wafs = config
            .waf_policies
            .iter()
            .map(|policy| {
                let rules = policy
                    .rules
                    .iter()
                    .filter_map(|rule| {
                        let target = match rule.target {
                            WafTarget::Path => RuleTarget::Path,
                            WafTarget::Query => RuleTarget::Query,
                            WafTarget::Header => RuleTarget::Header(rule.header.as_ref()?.to_ascii_lowercase()),
                        };
                        let matcher = match (&rule.contains, &rule.regex) {
                            (Some(text), None) => RuleMatch::Contains(text.clone()),
                            (None, Some(re)) => RuleMatch::Regex(re.clone()),
                            _ => return None,
                        };
                        Some(WafRule {
                            name: rule.name.clone(),
                            target,
                            matcher,
                            action: rule.action,
                        })
                    })
                    .collect();
                (policy.name.clone(), rules)
            })
            .collect();
        let rewrites = config
            .rewrite_sets
            .iter()
            .map(|set| {
                let mut headers: Vec<(String, String)> = set
                    .set_request_headers
                    .iter()
                    .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
                    .collect();
                headers.sort();
                let rewrite = RewriteSet {
                    set: headers,
                    remove: set
                        .remove_request_headers
                        .iter()
                        .map(|n| n.to_ascii_lowercase())
                        .collect(),
                    url_path: set
                        .url_path
                        .as_ref()
                        .map(|u| (u.pattern.clone(), u.replacement.clone())),
                };
                (set.name.clone(), rewrite)
            })
            .collect();
        Policies { wafs, rewrites }
    }

    /// A WAF policy's rules, in order.
    pub fn waf(&self, name: &str) -> Option<&[WafRule]> {
        self.wafs.get(name).map(Vec::as_slice)
    }

    /// A rewrite set.
    pub fn rewrite(&self, name: &str) -> Option<&RewriteSet> {
        self.rewrites.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support;
    use super::*;

    #[test]
    fn policies_come_from_the_config() {
        let (_, policies, _) = test_support::inputs(test_support::FULL);
        let rules = policies.waf("edge").unwrap();
        assert_eq!(rules.len(), 4);
        assert_eq!(rules[3].target, RuleTarget::Header("user-agent".into()));
        let rw = policies.rewrite("to-internal").unwrap();
        assert_eq!(rw.set, vec![("x-via".to_string(), "wsgate".to_string())]);
        assert_eq!(rw.remove, vec!["x-debug".to_string()]);
    }
}
