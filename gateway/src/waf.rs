//! The web application firewall: custom rules over the request line and
//! headers. Evaluated on every HTTP request, so on the WebSocket handshake,
//! and never on bytes after a 101 (docs 000, 002: the WAF "doesn't perform
//! any inspections" once the connection is upgraded). Pure.

use http::{HeaderMap, HeaderName, Uri};
use regex::Regex;

use crate::config::{WafAction, WafPolicyConfig, WafTarget};

#[derive(Debug, Clone)]
enum Matcher {
    Contains(String),
    Regex(Regex),
}

impl Matcher {
    fn matches(&self, text: &str) -> bool {
        match self {
            Matcher::Contains(needle) => text.contains(needle.as_str()),
            Matcher::Regex(re) => re.is_match(text),
        }
    }
}

#[derive(Debug, Clone)]
struct Rule {
    name: String,
    target: WafTarget,
    header: Option<HeaderName>,
    matcher: Matcher,
    action: WafAction,
}

/// A compiled WAF policy.
#[derive(Debug, Clone)]
pub struct Waf {
    pub name: String,
    rules: Vec<Rule>,
}

/// What the WAF decided about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WafVerdict {
    /// No rule matched.
    Pass,
    /// An `allow` rule matched; later rules were not checked.
    Allowed { rule: String },
    /// A `block` rule matched: answer 403.
    Blocked { rule: String },
}

impl Waf {
    /// Compiles a validated policy. Returns `None` for a rule that
    /// validation would have rejected (it never gets here from a loaded
    /// config).
    pub fn compile(policy: &WafPolicyConfig) -> Option<Waf> {
        let rules = policy
            .rules
            .iter()
            .map(|r| {
                let matcher = match (&r.contains, &r.regex) {
                    (Some(text), None) => Matcher::Contains(text.clone()),
                    (None, Some(re)) => Matcher::Regex(Regex::new(re).ok()?),
                    _ => return None,
                };
                let header = match &r.header {
                    Some(h) => Some(HeaderName::from_bytes(h.as_bytes()).ok()?),
                    None => None,
                };
                Some(Rule {
                    name: r.name.clone(),
                    target: r.target,
                    header,
                    matcher,
                    action: r.action,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(Waf {
            name: policy.name.clone(),
            rules,
        })
    }

    /// Checks a request: rules in order, the first match decides.
    pub fn evaluate(&self, uri: &Uri, headers: &HeaderMap) -> WafVerdict {
        for rule in &self.rules {
            let hit = match rule.target {
                WafTarget::Path => rule.matcher.matches(uri.path()),
                WafTarget::Query => rule.matcher.matches(uri.query().unwrap_or("")),
                WafTarget::Header => rule.header.as_ref().is_some_and(|name| {
                    headers
                        .get_all(name)
                        .iter()
                        .any(|v| rule.matcher.matches(&String::from_utf8_lossy(v.as_bytes())))
                }),
            };
            if hit {
                let name = rule.name.clone();
                return match rule.action {
                    WafAction::Block => WafVerdict::Blocked { rule: name },
                    WafAction::Allow => WafVerdict::Allowed { rule: name },
                };
            }
        }
        WafVerdict::Pass
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::WafRuleConfig;

    fn rule(
        name: &str,
        target: WafTarget,
        contains: Option<&str>,
        regex: Option<&str>,
        action: WafAction,
    ) -> WafRuleConfig {
        WafRuleConfig {
            name: name.into(),
            target,
            header: (target == WafTarget::Header).then(|| "user-agent".to_string()),
            contains: contains.map(str::to_string),
            regex: regex.map(str::to_string),
            action,
        }
    }

    fn waf(rules: Vec<WafRuleConfig>) -> Waf {
        Waf::compile(&WafPolicyConfig {
            name: "p".into(),
            rules,
        })
        .unwrap()
    }

    #[test]
    fn blocks_on_path_query_and_header() {
        let w = waf(vec![
            rule("admin", WafTarget::Path, Some("/admin"), None, WafAction::Block),
            rule(
                "sqli",
                WafTarget::Query,
                None,
                Some(r"(?i)union(\+|%20)+select"),
                WafAction::Block,
            ),
            rule("bot", WafTarget::Header, Some("evilbot"), None, WafAction::Block),
        ]);
        let h = HeaderMap::new();
        assert_eq!(
            w.evaluate(&"/admin/x".parse().unwrap(), &h),
            WafVerdict::Blocked { rule: "admin".into() }
        );
        assert_eq!(
            w.evaluate(&"/q?x=1+UNION%09SELECT".parse().unwrap(), &h),
            WafVerdict::Pass,
            "percent-encoded text is matched as sent, not decoded"
        );
        assert_eq!(w.evaluate(&"/q?x=1".parse().unwrap(), &h), WafVerdict::Pass);
        assert_eq!(
            w.evaluate(&"/q?x=1+UNION+SELECT".parse().unwrap(), &h),
            WafVerdict::Blocked { rule: "sqli".into() }
        );
        let mut bad = HeaderMap::new();
        bad.insert("user-agent", "EvilBot/1 evilbot".parse().unwrap());
        assert_eq!(
            w.evaluate(&"/chat".parse().unwrap(), &bad),
            WafVerdict::Blocked { rule: "bot".into() }
        );
        assert_eq!(w.evaluate(&"/chat".parse().unwrap(), &h), WafVerdict::Pass);
    }

    #[test]
    fn regex_matches_the_query() {
        let w = waf(vec![rule(
            "tok",
            WafTarget::Query,
            None,
            Some("token=[0-9]+"),
            WafAction::Block,
        )]);
        assert_eq!(
            w.evaluate(&"/chat?token=123".parse().unwrap(), &HeaderMap::new()),
            WafVerdict::Blocked { rule: "tok".into() }
        );
    }

    #[test]
    fn the_first_match_decides() {
        let w = waf(vec![
            rule("ok", WafTarget::Path, Some("/admin/health"), None, WafAction::Allow),
            rule("admin", WafTarget::Path, Some("/admin"), None, WafAction::Block),
        ]);
        let h = HeaderMap::new();
        assert_eq!(
            w.evaluate(&"/admin/health".parse().unwrap(), &h),
            WafVerdict::Allowed { rule: "ok".into() }
        );
        assert_eq!(
            w.evaluate(&"/admin/users".parse().unwrap(), &h),
            WafVerdict::Blocked { rule: "admin".into() }
        );
    }
}
