//! Which keys each section of a file accepts, read from the types
//! themselves so the lists cannot drift from what serde accepts.
//!
//! serde hands a struct's `Deserialize` impl its field names when it calls
//! `deserialize_struct`; [`fields_of`] captures them with a deserializer
//! that does nothing else.

use std::fmt;

use serde::de::{self, Deserialize, Visitor};

use super::closest;
use super::locate::{KeyPath, Seg};

/// The field names `T` accepts (after renames), or none for a type that is
/// not a plain struct.
pub fn fields_of<'de, T: Deserialize<'de>>() -> &'static [&'static str] {
    match T::deserialize(Introspect) {
        Err(Captured(Some(fields))) => fields,
        _ => &[],
    }
}

#[derive(Debug)]
struct Captured(Option<&'static [&'static str]>);

impl fmt::Display for Captured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("schema introspection")
    }
}

impl std::error::Error for Captured {}

impl de::Error for Captured {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Captured(None)
    }
}

struct Introspect;

impl<'de> de::Deserializer<'de> for Introspect {
    type Error = Captured;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Captured> {
        Err(Captured(None))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Captured> {
        Err(Captured(Some(fields)))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// One section of a file: where it sits, how the file writes it, and the
/// keys it takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The key path with indices blanked: `""` for the top level,
    /// `backend_settings[]`, `waf_policies[].rules[]`.
    pub pattern: String,
    /// How a person writes it: `[[backend_settings]]`, `the top level`.
    pub header: String,
    pub fields: &'static [&'static str],
}

/// Every section of one kind of file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schema {
    pub sections: Vec<Section>,
}

/// `backend_settings[0].probe` → `backend_settings[].probe`.
pub fn pattern_of(path: &KeyPath) -> String {
    let mut out = String::new();
    for seg in &path.0 {
        match seg {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(_) => out.push_str("[]"),
        }
    }
    out
}

impl Schema {
    pub fn new() -> Schema {
        Schema::default()
    }

    /// Adds a section.
    pub fn section(mut self, pattern: &str, header: &str, fields: &'static [&'static str]) -> Schema {
        self.sections.push(Section {
            pattern: pattern.to_string(),
            header: header.to_string(),
            fields,
        });
        self
    }

    /// Adds every section of `other` under `prefix` (a scenario's
    /// `[gateway]` holds a gateway config's sections), writing headers
    /// with `header_prefix`.
    pub fn nest(mut self, prefix: &str, header_prefix: &str, other: &Schema) -> Schema {
        for s in &other.sections {
            let pattern = if s.pattern.is_empty() {
                prefix.to_string()
            } else {
                format!("{prefix}.{}", s.pattern)
            };
            let header = match s.header.strip_prefix("[[") {
                Some(rest) => format!("[[{header_prefix}.{rest}"),
                None => format!("[{header_prefix}]"),
            };
            self.sections.push(Section {
                pattern,
                header,
                fields: s.fields,
            });
        }
        self
    }

    fn at(&self, table: &KeyPath) -> Option<&Section> {
        let pattern = pattern_of(table);
        self.sections.iter().find(|s| s.pattern == pattern)
    }

    /// The message for an unknown key `wrong` in the table at `table`: the
    /// closest key of that section, or the section where the key belongs.
    pub fn unknown_key(&self, table: &KeyPath, wrong: &str) -> String {
        let here = self.at(table);
        let where_ = here.map(|s| s.header.as_str()).unwrap_or("this table");
        let mut out = format!("unknown key `{wrong}` in {where_}");
        let homes: Vec<&str> = self
            .sections
            .iter()
            .filter(|s| Some(*s) != here && s.fields.contains(&wrong))
            .map(|s| s.header.as_str())
            .collect();
        if !homes.is_empty() {
            out.push_str(&format!("; `{wrong}` belongs in {}", homes.join(" or ")));
        } else if let Some(guess) = here.and_then(|s| closest(wrong, s.fields.iter().copied())) {
            out.push_str(&format!("; did you mean `{guess}`?"));
        } else if let Some(s) = here {
            let list: Vec<String> = s.fields.iter().map(|f| format!("`{f}`")).collect();
            out.push_str(&format!("; expected one of {}", list.join(", ")));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Settings {
        name: String,
        request_timeout: Option<u32>,
        #[serde(rename = "match")]
        target: Option<String>,
    }

    #[derive(Deserialize)]
    #[allow(dead_code)]
    struct Top {
        profile: String,
    }

    #[test]
    fn fields_come_from_the_type_after_renames() {
        assert_eq!(fields_of::<Settings>(), ["name", "request_timeout", "match"]);
        assert!(fields_of::<u32>().is_empty());
    }

    #[test]
    fn a_key_in_the_wrong_section_is_sent_home() {
        let schema = Schema::new().section("", "the top level", fields_of::<Top>()).section(
            "backend_settings[]",
            "[[backend_settings]]",
            fields_of::<Settings>(),
        );
        assert_eq!(
            schema.unknown_key(&KeyPath::root(), "request_timeout"),
            "unknown key `request_timeout` in the top level; `request_timeout` belongs in [[backend_settings]]"
        );
        assert_eq!(
            schema.unknown_key(&KeyPath::item("backend_settings", 0), "request_timout"),
            "unknown key `request_timout` in [[backend_settings]]; did you mean `request_timeout`?"
        );
        let nested = Schema::new().nest("gateway", "gateway", &schema);
        assert_eq!(
            nested.unknown_key(&KeyPath::root().key("gateway"), "request_timeout"),
            "unknown key `request_timeout` in [gateway]; `request_timeout` belongs in [[gateway.backend_settings]]"
        );
    }
}
