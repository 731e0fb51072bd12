//! TOML text to a typed value, reporting every error rather than the first.
//!
//! serde stops at the first problem. To find the others, the document is
//! parsed once into toml's spanned tree and deserialized from it; after
//! each error the offending value is taken out of the tree (or, for a
//! missing key, a stand-in is put in) and deserialization runs again. The
//! tree keeps the original spans, so every error points into the file as
//! written. Errors come back in file order, worded for the person who
//! wrote the file.

use serde::de::DeserializeOwned;
use toml::de::{DeArray, DeTable, DeValue};
use toml::Spanned;

use super::locate::{line_col, path_at, KeyPath, Seg};
use super::schema::Schema;
use super::{closest, in_file_order, Diagnostic, Severity};

/// The most errors collected from one file; past this the rest are noise.
const MAX_ERRORS: usize = 64;

/// Parses `source` into `T`, collecting every error. `schema` supplies
/// "did you mean" and wrong-section hints for unknown keys.
pub fn parse_all<T: DeserializeOwned>(source: &str, origin: &str, schema: &Schema) -> Result<T, Vec<Diagnostic>> {
    match parse_repaired(source, origin, schema) {
        Repaired {
            value: Some(value),
            errors,
            ..
        } if errors.is_empty() => Ok(value),
        Repaired { errors, .. } => Err(errors),
    }
}

/// What [`parse_repaired`] made of a file.
#[derive(Debug)]
pub struct Repaired<T> {
    /// The value once every error was taken out (or stood in for); `None`
    /// when the text is not TOML or the repairs did not converge.
    pub value: Option<T>,
    /// Every error, in file order.
    pub errors: Vec<Diagnostic>,
    /// The keys taken out or stood in for: later checks of `value` must not
    /// report on them again, since what is there is not what was written.
    pub repaired: Vec<KeyPath>,
}

impl<T> Repaired<T> {
    /// Whether a later check's `key` lies under a repaired key.
    pub fn touches(&self, key: &KeyPath) -> bool {
        self.repaired.iter().any(|r| key.0.starts_with(&r.0))
    }
}

/// Like [`parse_all`], and also returns the repaired value, so that the
/// checks that follow parsing (names that must exist, limits) can run on
/// the rest of the file and every error is reported in one go.
pub fn parse_repaired<T: DeserializeOwned>(source: &str, origin: &str, schema: &Schema) -> Repaired<T> {
    let (mut doc, syntax) = DeTable::parse_recoverable(source);
    if !syntax.is_empty() {
        // A broken document has no trustworthy tree to repair.
        let mut out: Vec<Diagnostic> = syntax
            .iter()
            .map(|e| {
                let position = e.span().map(|s| line_col(source, s.start));
                let key = e.span().map(|s| path_at(source, s.start)).unwrap_or_default();
                located(origin, position, &key, format!("invalid TOML: {}", e.message().trim()))
            })
            .collect();
        in_file_order(&mut out);
        return Repaired {
            value: None,
            errors: out,
            repaired: Vec::new(),
        };
    }
    doc.get_mut().make_owned();
    let mut found: Vec<Diagnostic> = Vec::new();
    // Keys taken out for an error already reported: when serde then says
    // they are missing, that is the same error, not a new one.
    let mut removed: Vec<KeyPath> = Vec::new();
    let mut stood_in: Vec<KeyPath> = Vec::new();
    let mut value = None;
    for _ in 0..MAX_ERRORS * 2 {
        let attempt = T::deserialize(toml::de::Deserializer::from(doc.clone()));
        let err = match attempt {
            Ok(v) => {
                value = Some(v);
                break;
            }
            Err(err) => err,
        };
        let span = err.span().unwrap_or(0..0);
        let message = err.message().trim().to_string();
        let repaired = match missing_field(&message) {
            Some(field) => {
                // serde reports a missing key at the span of its table.
                let table = table_with_span(&doc, &span).unwrap_or_else(|| path_in(&doc, span.start));
                let key = table.clone().key(&field);
                if !removed.contains(&key) {
                    let words = format!("missing `{field}`: this key is required here");
                    found.push(located(origin, Some(line_col(source, span.start)), &key, words));
                }
                stood_in.push(key);
                stand_in::<T>(&mut doc, &table, &field)
            }
            None => {
                let key = path_in(&doc, span.start);
                let diagnostic = located(
                    origin,
                    Some(line_col(source, span.start)),
                    &key,
                    vocabulary(&message, &key, schema),
                );
                if found.contains(&diagnostic) {
                    break; // the repair did not move on; stop rather than loop
                }
                found.push(diagnostic);
                removed.push(key.clone());
                remove(&mut doc, &key)
            }
        };
        if !repaired || found.len() >= MAX_ERRORS {
            break;
        }
    }
    in_file_order(&mut found);
    removed.extend(stood_in);
    Repaired {
        value,
        errors: found,
        repaired: removed,
    }
}

fn located(origin: &str, position: Option<(usize, usize)>, key: &KeyPath, message: String) -> Diagnostic {
    Diagnostic {
        origin: origin.to_string(),
        position,
        key: key.to_string(),
        message,
        severity: Severity::Error,
    }
}

/// `missing field `x`` names the field.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    Some(rest.split('`').next()?.to_string())
}

/// The deepest key path whose key or value span contains `offset`, found
/// in the (possibly repaired) tree rather than the text.
fn path_in(doc: &Spanned<DeTable<'_>>, offset: usize) -> KeyPath {
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
    walk(&DeValue::Table(doc.get_ref().clone()), offset, &mut path);
    KeyPath(path)
}

/// The path of the table whose span is exactly `span` (the root's is the
/// whole document).
fn table_with_span(doc: &Spanned<DeTable<'_>>, span: &std::ops::Range<usize>) -> Option<KeyPath> {
    fn walk(value: &Spanned<DeValue<'_>>, span: &std::ops::Range<usize>, path: &mut Vec<Seg>) -> bool {
        if matches!(value.get_ref(), DeValue::Table(_)) && value.span() == *span {
            return true;
        }
        match value.get_ref() {
            DeValue::Table(t) => t.iter().any(|(key, v)| {
                path.push(Seg::Key(key.get_ref().to_string()));
                if walk(v, span, path) {
                    return true;
                }
                path.pop();
                false
            }),
            DeValue::Array(a) => a.iter().enumerate().any(|(i, v)| {
                path.push(Seg::Index(i));
                if walk(v, span, path) {
                    return true;
                }
                path.pop();
                false
            }),
            _ => false,
        }
    }
    if doc.span() == *span {
        return Some(KeyPath::root());
    }
    let mut path = Vec::new();
    let root = Spanned::new(doc.span(), DeValue::Table(doc.get_ref().clone()));
    walk(&root, span, &mut path).then_some(KeyPath(path))
}

/// The table or array at `path` (the root for an empty path).
fn container<'a, 'i>(doc: &'a mut Spanned<DeTable<'i>>, path: &[Seg]) -> Option<Container<'a, 'i>> {
    let mut current = Container::Table(doc.get_mut());
    for seg in path {
        current = match (current, seg) {
            (Container::Table(t), Seg::Key(k)) => match t.get_mut(k.as_str())?.get_mut() {
                DeValue::Table(t) => Container::Table(t),
                DeValue::Array(a) => Container::Array(a),
                _ => return None,
            },
            (Container::Array(a), Seg::Index(i)) => match a.get_mut(*i)?.get_mut() {
                DeValue::Table(t) => Container::Table(t),
                DeValue::Array(a) => Container::Array(a),
                _ => return None,
            },
            _ => return None,
        };
    }
    Some(current)
}

enum Container<'a, 'i> {
    Table(&'a mut DeTable<'i>),
    Array(&'a mut DeArray<'i>),
}

/// Takes the value at `path` out of the tree. An array element is not
/// removed on its own (later elements would shift and be misnamed): its
/// whole array goes. False when nothing could be removed (the error is
/// about the whole document).
fn remove(doc: &mut Spanned<DeTable<'_>>, path: &KeyPath) -> bool {
    let mut segs = path.0.as_slice();
    while let Some((Seg::Index(_), parent)) = segs.split_last() {
        segs = parent;
    }
    let Some((Seg::Key(last), parent)) = segs.split_last() else {
        return false;
    };
    match container(doc, parent) {
        Some(Container::Table(t)) => t.remove(last.as_str()).is_some(),
        _ => false,
    }
}

/// The span given to stand-ins: no text has it, so an error there is
/// about the stand-in, not the file.
const STAND_IN: std::ops::Range<usize> = usize::MAX - 1..usize::MAX;

/// Puts a stand-in for the missing `field` into the table at `path`, so
/// the rest of the file can still be checked. Each kind of value is tried
/// until deserializing no longer fails at the stand-in itself.
fn stand_in<T: DeserializeOwned>(doc: &mut Spanned<DeTable<'_>>, path: &KeyPath, field: &str) -> bool {
    for text in ["\"\"", "0", "false", "{}", "[]", "0.0"] {
        let Ok(value) = DeValue::parse(text) else { continue };
        let Some(Container::Table(table)) = container(doc, &path.0) else {
            return false;
        };
        let key = Spanned::new(STAND_IN, std::borrow::Cow::Owned(field.to_string()));
        table.insert(key, Spanned::new(STAND_IN, value.into_inner()));
        match T::deserialize(toml::de::Deserializer::from(doc.clone())) {
            Err(e) if e.span() == Some(STAND_IN) => continue,
            Err(e) if missing_field(e.message().trim()).as_deref() == Some(field) => continue,
            _ => return true,
        }
    }
    false
}

/// serde's wording, in the file's vocabulary.
fn vocabulary(message: &str, key: &KeyPath, schema: &Schema) -> String {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let wrong = rest.split('`').next().unwrap_or_default();
        let table = KeyPath(key.0[..key.0.len().saturating_sub(1)].to_vec());
        return schema.unknown_key(&table, wrong);
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let wrong = rest.split('`').next().unwrap_or_default();
        let expected: Vec<&str> = rest.split('`').skip(2).step_by(2).collect();
        let list = expected
            .iter()
            .map(|e| format!("\"{e}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let mut out = format!("unknown value \"{wrong}\"; expected one of {list}");
        if let Some(guess) = closest(wrong, expected.iter().copied()) {
            out.push_str(&format!("; did you mean \"{guess}\"?"));
        }
        return out;
    }
    if let Some(rest) = message.strip_prefix("invalid type: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            return format!("expected {}, found {}", kind_word(expected), found_word(found));
        }
    }
    if let Some(rest) = message.strip_prefix("invalid value: ") {
        if let Some((found, expected)) = rest.split_once(", expected ") {
            return format!("expected {}, found {}", kind_word(expected), found_word(found));
        }
    }
    message.to_string()
}

/// Rust type names to words a config author knows.
fn kind_word(expected: &str) -> String {
    let e = expected.trim();
    let word = match e {
        "u8" => "a whole number from 0 to 255",
        "u16" => "a whole number from 0 to 65535",
        "u32" | "u64" | "usize" => "a whole number of 0 or more",
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "a boolean" => "true or false",
        "a string" | "a borrowed string" => "text in quotes",
        "a sequence" => "a list in brackets, such as [\"a\", \"b\"]",
        "a map" => "a table",
        _ if e.starts_with("struct ") => "a table",
        _ if e.starts_with("an array of length") => return e.replacen("an array", "a list", 1),
        _ if e.starts_with("a valid socket address") || e.contains("socket address") => {
            "an address such as \"127.0.0.1:8080\""
        }
        _ => e,
    };
    word.to_string()
}

fn found_word(found: &str) -> String {
    let f = found.trim();
    if let Some(text) = f.strip_prefix("string ") {
        return format!("the text {text}");
    }
    match f {
        "map" => "a table".to_string(),
        "sequence" => "a list".to_string(),
        _ if f.starts_with("integer ") => format!("the number {}", f["integer ".len()..].trim_matches('`')),
        _ if f.starts_with("floating point ") => {
            format!("the number {}", f["floating point ".len()..].trim_matches('`'))
        }
        _ if f.starts_with("boolean ") => f["boolean ".len()..].to_string(),
        _ => f.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Doc {
        name: String,
        #[serde(default)]
        items: Vec<Item>,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Item {
        port: u16,
        label: Option<String>,
    }

    fn schema() -> Schema {
        Schema::new()
            .section("", "the top level", super::super::schema::fields_of::<Doc>())
            .section("items[]", "[[items]]", super::super::schema::fields_of::<Item>())
    }

    fn errors(src: &str) -> Vec<String> {
        parse_all::<Doc>(src, "f.toml", &schema())
            .unwrap_err()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_good_file_parses() {
        let doc: Doc = parse_all("name = \"x\"\n[[items]]\nport = 80\n", "f.toml", &schema()).unwrap();
        assert_eq!(doc.items[0].port, 80);
    }

    #[test]
    fn every_error_is_reported_in_file_order() {
        let src = "name = \"x\"\nnmae = 1\n[[items]]\nport = \"eighty\"\n[[items]]\nport = 81\nlabl = \"b\"\n";
        assert_eq!(
            errors(src),
            [
                "f.toml:2:1: nmae: unknown key `nmae` in the top level; did you mean `name`?",
                "f.toml:4:8: items[0].port: expected a whole number from 0 to 65535, found the text \"eighty\"",
                "f.toml:7:1: items[1].labl: unknown key `labl` in [[items]]; did you mean `label`?",
            ]
        );
    }

    #[test]
    fn a_missing_key_is_named_and_the_rest_still_checked() {
        let src = "[[items]]\nport = 70000\n";
        let errs = errors(src);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs.iter().any(|e| e.contains(": name: missing `name`")), "{errs:?}");
        assert!(
            errs.iter().any(|e| e.starts_with("f.toml:2:8: items[0].port")),
            "{errs:?}"
        );
    }

    #[test]
    fn syntax_errors_are_located() {
        let errs = errors("name = \"x\"\nport = = 3\n");
        assert!(errs[0].starts_with("f.toml:2:"), "{errs:?}");
        assert!(errs[0].contains("invalid TOML"), "{errs:?}");
    }
}
