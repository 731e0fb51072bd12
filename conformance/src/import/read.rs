//! Typed reads of located JSON fields: a value of the wrong type is a
//! located error naming what was expected, collected rather than thrown,
//! so one import reports every problem.

use gateway::config::{Diagnostic, Duration};

use super::json::Json;
use super::Doc;

/// Reads fields of one document, collecting errors.
#[derive(Debug)]
pub struct Reader<'a> {
    pub doc: &'a Doc,
    pub errors: Vec<Diagnostic>,
}

impl<'a> Reader<'a> {
    pub fn new(doc: &'a Doc) -> Reader<'a> {
        Reader {
            doc,
            errors: Vec::new(),
        }
    }

    pub fn error(&mut self, at: &Json, message: impl Into<String>) {
        self.errors.push(self.doc.error(at, message));
    }

    /// A string field, if present.
    pub fn string<'j>(&mut self, item: &'j Json, key: &str) -> Option<(&'j str, &'j Json)> {
        let v = item.get(key)?;
        match v.as_str() {
            Some(s) => Some((s, v)),
            None => {
                self.error(v, format!("expected `{key}` to be a string, found {}", v.kind()));
                None
            }
        }
    }

    /// A whole-number field in `range`, if present.
    pub fn number<'j>(
        &mut self,
        item: &'j Json,
        key: &str,
        range: std::ops::RangeInclusive<u64>,
    ) -> Option<(u64, &'j Json)> {
        let v = item.get(key)?;
        match v.as_u64() {
            Some(n) if range.contains(&n) => Some((n, v)),
            Some(n) => {
                self.error(
                    v,
                    format!(
                        "expected `{key}` between {} and {}, found {n}",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
            None => {
                self.error(v, format!("expected `{key}` to be a whole number, found {v}"));
                None
            }
        }
    }

    /// A number of seconds (or, with `unit`, of another unit in seconds).
    pub fn seconds<'j>(
        &mut self,
        item: &'j Json,
        key: &str,
        range: std::ops::RangeInclusive<u64>,
        unit: u64,
    ) -> Option<(Duration, &'j Json)> {
        self.number(item, key, range)
            .map(|(n, v)| (Duration::from_secs(n.saturating_mul(unit)), v))
    }

    /// A boolean field (or `"Enabled"`/`"Disabled"`), if present.
    pub fn flag<'j>(&mut self, item: &'j Json, key: &str) -> Option<(bool, &'j Json)> {
        let v = item.get(key)?;
        let b = match v.as_str() {
            Some(s) if s.eq_ignore_ascii_case("enabled") => Some(true),
            Some(s) if s.eq_ignore_ascii_case("disabled") => Some(false),
            _ => v.as_bool(),
        };
        match b {
            Some(b) => Some((b, v)),
            None => {
                self.error(
                    v,
                    format!("expected `{key}` to be true/false or \"Enabled\"/\"Disabled\", found {v}"),
                );
                None
            }
        }
    }

    /// The item's `name`, required.
    pub fn name(&mut self, item: &Json, what: &str) -> Option<String> {
        match self.string(item, "name") {
            Some((s, _)) if !s.is_empty() => Some(s.to_string()),
            Some((_, v)) => {
                self.error(v, format!("expected the {what} to have a non-empty `name`"));
                None
            }
            None => {
                if item.get("name").is_none() {
                    self.error(item, format!("expected the {what} to have a `name`"));
                }
                None
            }
        }
    }

    /// Resolves a `{ "id": … }` reference in `item.key` against the named
    /// items of `array` by the id's last segment. A reference that names
    /// nothing is a located error ("dangling").
    pub fn resolve<'j>(
        &mut self,
        item: &'j Json,
        key: &str,
        array: Option<&'j Json>,
        what: &str,
    ) -> Option<(&'j Json, &'j Json)> {
        let reference = super::resource::reference(item.get(key))?;
        let Some(id) = reference.as_str() else {
            self.error(
                reference,
                format!(
                    "expected `{key}.id` to be a resource id string, found {}",
                    reference.kind()
                ),
            );
            return None;
        };
        match super::resource::find(array, id) {
            Some(found) => Some((found, reference)),
            None => {
                let known: Vec<&str> = array
                    .map(|a| a.as_array().iter().filter_map(|i| i.get("name")?.as_str()).collect())
                    .unwrap_or_default();
                self.error(
                    reference,
                    format!(
                        "dangling reference: no {what} named `{}`; expected one of {}",
                        super::last_segment(id),
                        if known.is_empty() {
                            "(none defined)".to_string()
                        } else {
                            known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
                        }
                    ),
                );
                None
            }
        }
    }
}
