//! Diagnostics for the files people write: gateway configs and scenario
//! files share this module, so both say `path:line:col: key: message` in
//! the file's own vocabulary, report every problem in file order, and
//! suggest the key that was meant.
//!
//! | module | what it is |
//! |---|---|
//! | [`locate`] | key paths (`rules[0].pool`), their spans in TOML source, line and column |
//! | [`parse`] | TOML text to a typed value, collecting every error rather than the first |
//! | [`schema`] | which keys each section accepts, read from the types, for "did you mean" and wrong-section hints |

pub mod locate;
pub mod parse;
pub mod schema;

use std::fmt;

pub use locate::{line_col, path_at, span_of, KeyPath, Seg};
pub use parse::{parse_all, parse_repaired, Repaired};
pub use schema::{Schema, Section};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The file cannot be used.
    Error,
    /// The file works but will surprise (a documented pitfall).
    Warning,
}

/// A single problem in a file, located as precisely as the source allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file (or `command line`) the text came from.
    pub origin: String,
    /// 1-based line and column, when the config came from text.
    pub position: Option<(usize, usize)>,
    /// The key concerned, such as `rules[0].pool`.
    pub key: String,
    /// What is wrong and what was expected.
    pub message: String,
    pub severity: Severity,
}

impl Diagnostic {
    /// An error about `key`, located in `source` when there is one.
    pub fn at(origin: &str, source: Option<&str>, key: &KeyPath, message: impl Into<String>) -> Diagnostic {
        let position = source.and_then(|src| span_of(src, key).map(|span| line_col(src, span.start)));
        Diagnostic {
            origin: origin.to_string(),
            position,
            key: key.to_string(),
            message: message.into(),
            severity: Severity::Error,
        }
    }

    /// The same finding as a warning.
    pub fn warning(mut self) -> Diagnostic {
        self.severity = Severity::Warning;
        self
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        match self.position {
            Some((line, col)) => write!(f, "{}:{line}:{col}: ", self.origin)?,
            None => write!(f, "{}: ", self.origin)?,
        }
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Sorts diagnostics into file order: by position, then key. Those without
/// a position keep their relative order at the end.
pub fn in_file_order(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by(|a, b| match (a.position, b.position) {
        (Some(x), Some(y)) => x.cmp(&y).then_with(|| a.key.cmp(&b.key)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
}

/// The closest of `candidates` to `wrong`, if it is close enough to be a
/// plausible typo.
pub fn closest<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(wrong, c), c))
        .filter(|(distance, c)| *distance <= (c.len() / 3).max(2))
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_suggests_near_misses_only() {
        let keys = ["requirements", "profile", "duration"];
        assert_eq!(closest("requirments", keys), Some("requirements"));
        assert_eq!(closest("durration", keys), Some("duration"));
        assert_eq!(closest("colour", keys), None);
    }

    #[test]
    fn file_order_is_by_position() {
        let d = |pos: Option<(usize, usize)>, key: &str| Diagnostic {
            origin: "f".into(),
            position: pos,
            key: key.into(),
            message: String::new(),
            severity: Severity::Error,
        };
        let mut v = vec![d(None, "z"), d(Some((9, 1)), "b"), d(Some((2, 5)), "a")];
        in_file_order(&mut v);
        let keys: Vec<&str> = v.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, ["a", "b", "z"]);
    }
}
