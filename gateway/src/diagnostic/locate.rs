//! Finding keys in TOML source, so every error can name a line and column.
//!
//! Validation works on typed structs that no longer know where they came
//! from; it reports a [`KeyPath`] (`rules[0].pool`) instead. This module maps
//! a key path back to a byte span by walking toml's spanned document, and a
//! byte offset to a 1-based line and column.

use std::fmt;
use std::ops::Range;

use toml::de::{DeTable, DeValue};

/// One step in a [`KeyPath`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path to a value in a TOML document, such as `listeners[1].tls_cert`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPath(pub Vec<Seg>);

impl KeyPath {
    pub fn root() -> KeyPath {
        KeyPath(Vec::new())
    }

    /// `section[index]`, the usual start of a path.
    pub fn item(section: &str, index: usize) -> KeyPath {
        KeyPath(vec![Seg::Key(section.to_string()), Seg::Index(index)])
    }

    pub fn key(mut self, key: &str) -> KeyPath {
        self.0.push(Seg::Key(key.to_string()));
        self
    }

    pub fn index(mut self, index: usize) -> KeyPath {
        self.0.push(Seg::Index(index));
        self
    }

    /// The same path inside table `key`: a config's `rules[0]` as a
    /// scenario's `gateway.rules[0]`.
    pub fn under(mut self, key: &str) -> KeyPath {
        self.0.insert(0, Seg::Key(key.to_string()));
        self
    }
}

impl fmt::Display for KeyPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) if i == 0 => write!(f, "{k}")?,
                Seg::Key(k) => write!(f, ".{k}")?,
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// The span of the value at `path`, or of its nearest ancestor that exists
/// (a missing key is reported at the table that should have held it).
pub fn span_of(source: &str, path: &KeyPath) -> Option<Range<usize>> {
    let doc = DeTable::parse(source).ok()?;
    let mut best = doc.span();
    let mut current = DeValue::Table(doc.into_inner());
    for seg in &path.0 {
        let next = match (seg, &current) {
            (Seg::Key(k), DeValue::Table(t)) => t.iter().find(|(key, _)| key.get_ref() == k).map(|(_, v)| v),
            (Seg::Index(i), DeValue::Array(a)) => a.get(*i),
            _ => None,
        }
        .map(|v| (v.span(), v.get_ref().clone()));
        match next {
            Some((span, value)) => {
                best = span;
                current = value;
            }
            None => break,
        }
    }
    Some(best)
}

/// The deepest key path whose key or value contains `offset`; used to name
/// the key a parse error points at. Searches every branch, because toml's
/// span for an array of tables covers only its `[[header]]`.
pub fn path_at(source: &str, offset: usize) -> KeyPath {
    fn hit(span: std::ops::Range<usize>, offset: usize) -> bool {
        span.contains(&offset) || (span.start < span.end && span.end == offset)
    }
    fn walk(value: &DeValue<'_>, offset: usize, path: &mut Vec<Seg>) -> bool {
        match value {
            DeValue::Table(t) => t.iter().any(|(key, v)| {
                path.push(Seg::Key(key.get_ref().to_string()));
                if walk(v.get_ref(), offset, path) || hit(key.span(), offset) || hit(v.span(), offset) {
                    return true;
                }
                path.pop();
                false
            }),
            DeValue::Array(a) => a.iter().enumerate().any(|(i, v)| {
                path.push(Seg::Index(i));
                if walk(v.get_ref(), offset, path) || hit(v.span(), offset) {
                    return true;
                }
                path.pop();
                false
            }),
            _ => false,
        }
    }
    let mut path = Vec::new();
    if let Ok(doc) = DeTable::parse(source) {
        walk(&DeValue::Table(doc.into_inner()), offset, &mut path);
    }
    KeyPath(path)
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before.get(line_start..).map(|s| s.chars().count()).unwrap_or(0) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "profile = \"front-door\"\n\n[[rules]]\nname = \"r\"\npool = \"nope\"\n";

    #[test]
    fn finds_a_nested_key() {
        let span = span_of(DOC, &KeyPath::item("rules", 0).key("pool")).unwrap();
        assert_eq!(&DOC[span.clone()], "\"nope\"");
        assert_eq!(line_col(DOC, span.start), (5, 8));
    }

    #[test]
    fn a_missing_key_points_at_its_table() {
        let span = span_of(DOC, &KeyPath::item("rules", 0).key("listener")).unwrap();
        let (line, _) = line_col(DOC, span.start);
        assert!(line >= 3, "points into the rules table, got line {line}");
    }

    #[test]
    fn names_the_key_at_an_offset() {
        let offset = DOC.find("nope").unwrap();
        assert_eq!(path_at(DOC, offset).to_string(), "rules[0].pool");
    }

    #[test]
    fn line_col_counts_from_one() {
        assert_eq!(line_col("a\nbc", 0), (1, 1));
        assert_eq!(line_col("a\nbc", 3), (2, 2));
        assert_eq!(line_col("", 10), (1, 1));
    }
}
