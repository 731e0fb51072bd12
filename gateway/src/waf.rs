//! The web application firewall: custom rules over the request line and
//! headers. Evaluated on every HTTP request, so on the WebSocket handshake,
//! and never on bytes after a 101 (docs 000, 002: the WAF "doesn't perform
//! any inspections" once the connection is upgraded). Pure.

use http::{HeaderMap, HeaderName, Uri};
use regex::Regex;

use crate::config::WafAction;

/// What a rule looks for in its target.
#[derive(Debug, Clone)]
pub enum Matcher {
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

/// What a rule inspects: the path, the query, or one header.
#[derive(Debug, Clone)]
pub enum Target {
    Path,
    Query,
    Header(HeaderName),
}

/// One compiled custom rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub target: Target,
    pub matcher: Matcher,
    pub action: WafAction,
}

/// A compiled WAF policy: custom rules, first match decides. Built by
/// config validation, which compiles each regex once.
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
    pub fn new(name: String, rules: Vec<Rule>) -> Waf {
        Waf { name, rules }
    }

    /// Checks a request: rules in order, the first match decides.
    pub fn evaluate(&self, uri: &Uri, headers: &HeaderMap) -> WafVerdict {
        for rule in &self.rules {
            let hit = match &rule.target {
                Target::Path => rule.matcher.matches(uri.path()),
                Target::Query => rule.matcher.matches(uri.query().unwrap_or("")),
                Target::Header(name) => headers
                    .get_all(name)
                    .iter()
                    .any(|v| rule.matcher.matches(&String::from_utf8_lossy(v.as_bytes()))),
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
    #[derive(Clone, Copy, PartialEq)]
    enum WafTarget {
        Path,
        Query,
        Header,
    }

    fn rule(name: &str, target: WafTarget, contains: Option<&str>, regex: Option<&str>, action: WafAction) -> Rule {
        Rule {
            name: name.into(),
            target: match target {
                WafTarget::Path => Target::Path,
                WafTarget::Query => Target::Query,
                WafTarget::Header => Target::Header(HeaderName::from_static("user-agent")),
            },
            matcher: match (contains, regex) {
                (Some(c), _) => Matcher::Contains(c.into()),
                (None, Some(r)) => Matcher::Regex(Regex::new(r).unwrap()),
                (None, None) => unreachable!("a test rule has a matcher"),
            },
            action,
        }
    }

    fn waf(rules: Vec<Rule>) -> Waf {
        Waf::new("p".into(), rules)
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
