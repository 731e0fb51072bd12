//! JSON with locations: every value keeps its byte span in the file and the
//! JSON path it was read from (`backendHttpSettingsCollection[0].properties.requestTimeout`),
//! so an import error points at `file:line:col` and each imported value can
//! name its source field.
//!
//! serde_json keeps no spans, and the values read here are small (a
//! template, a `show` output), so this is a plain recursive-descent parser
//! of RFC 8259 JSON. A value built by the template evaluator or the
//! Terraform reader keeps the span and path of the text it came from.

use std::fmt;
use std::ops::Range;
use std::rc::Rc;

/// One JSON value, where it came from, and what it is.
#[derive(Debug, Clone, PartialEq)]
pub struct Json {
    pub value: Value,
    /// Byte span of the value in its file.
    pub span: Range<usize>,
    /// The path it was read from, in the source's own vocabulary.
    pub path: Rc<str>,
}

/// The value itself. Objects keep their keys in file order.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// Numbers keep their text, so an integer is never rounded through f64.
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// A syntax error: where, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub offset: usize,
    pub message: String,
}

/// The deepest a document may nest; deeper input is refused, not a stack
/// overflow.
const MAX_DEPTH: usize = 128;

impl Json {
    /// A value made by the importer (an evaluated expression, a Terraform
    /// block reshaped), located at `from`.
    pub fn derived(value: Value, from: &Json) -> Json {
        Json {
            value,
            span: from.span.clone(),
            path: Rc::clone(&from.path),
        }
    }

    /// The member `key` of an object, compared without case (ARM property
    /// names are case-insensitive, and `az` prints `origingroups`).
    pub fn get(&self, key: &str) -> Option<&Json> {
        match &self.value {
            Value::Object(members) => members
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
                .filter(|v| v.value != Value::Null),
            _ => None,
        }
    }

    /// Follows `a.b.c`.
    pub fn at(&self, dotted: &str) -> Option<&Json> {
        dotted.split('.').try_fold(self, |v, k| v.get(k))
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// A whole number, also when written as a string (`"30"`), as ARM
    /// parameters often are.
    pub fn as_u64(&self) -> Option<u64> {
        match &self.value {
            Value::Number(n) | Value::String(n) => n.trim().parse().ok(),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match &self.value {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
            Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
            _ => None,
        }
    }

    pub fn as_array(&self) -> &[Json] {
        match &self.value {
            Value::Array(items) => items,
            _ => &[],
        }
    }

    pub fn members(&self) -> &[(String, Json)] {
        match &self.value {
            Value::Object(members) => members,
            _ => &[],
        }
    }

    /// What kind of value this is, for "expected …, found …".
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }
}

impl fmt::Display for Json {
    /// Compact JSON text, for messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => f.write_str(n),
            Value::String(s) => write!(f, "{s:?}"),
            Value::Array(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            Value::Object(members) => {
                f.write_str("{")?;
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        f.write_str(",")?;
                    }
                    write!(f, "{k:?}:{v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// Parses a whole document.
pub fn parse(text: &str) -> Result<Json, SyntaxError> {
    let mut p = Parser { text, pos: 0 };
    p.skip_ws();
    let value = p.value("", 0)?;
    p.skip_ws();
    if p.pos < text.len() {
        return Err(p.error("expected the end of the document after the top-level value"));
    }
    Ok(value)
}

struct Parser<'a> {
    text: &'a str,
    pos: usize,
}

fn child(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl Parser<'_> {
    fn error(&self, message: impl Into<String>) -> SyntaxError {
        SyntaxError {
            offset: self.pos,
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    fn found(&self) -> String {
        match self.text.get(self.pos..).and_then(|s| s.chars().next()) {
            None => "the end of the file (is it truncated?)".to_string(),
            Some(c) => format!("`{c}`"),
        }
    }

    fn value(&mut self, path: &str, depth: usize) -> Result<Json, SyntaxError> {
        if depth > MAX_DEPTH {
            return Err(self.error(format!("nested deeper than {MAX_DEPTH} levels")));
        }
        let start = self.pos;
        let value = match self.peek() {
            Some(b'{') => self.object(path, depth)?,
            Some(b'[') => self.array(path, depth)?,
            Some(b'"') => Value::String(self.string()?),
            Some(b't') => self.word("true", Value::Bool(true))?,
            Some(b'f') => self.word("false", Value::Bool(false))?,
            Some(b'n') => self.word("null", Value::Null)?,
            Some(b'-' | b'0'..=b'9') => self.number()?,
            _ => return Err(self.error(format!("expected a JSON value, found {}", self.found()))),
        };
        Ok(Json {
            value,
            span: start..self.pos,
            path: Rc::from(path),
        })
    }

    fn word(&mut self, word: &str, value: Value) -> Result<Value, SyntaxError> {
        if self.text.get(self.pos..).is_some_and(|s| s.starts_with(word)) {
            self.pos += word.len();
            Ok(value)
        } else {
            Err(self.error(format!("expected a JSON value, found {}", self.found())))
        }
    }

    fn number(&mut self) -> Result<Value, SyntaxError> {
        let start = self.pos;
        while matches!(self.peek(), Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')) {
            self.pos += 1;
        }
        let text = self.text.get(start..self.pos).unwrap_or_default();
        if text.parse::<f64>().is_err() {
            self.pos = start;
            return Err(self.error(format!("expected a number, found `{text}`")));
        }
        Ok(Value::Number(text.to_string()))
    }

    fn string(&mut self) -> Result<String, SyntaxError> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let rest = self.text.get(self.pos..).unwrap_or_default();
            let Some(c) = rest.chars().next() else {
                self.pos = open;
                return Err(self.error("unterminated string: expected a closing `\"` (is the file truncated?)"));
            };
            self.pos += c.len_utf8();
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let escape = self.peek();
                    self.pos += 1;
                    match escape {
                        Some(b'"') => out.push('"'),
                        Some(b'\\') => out.push('\\'),
                        Some(b'/') => out.push('/'),
                        Some(b'b') => out.push('\u{8}'),
                        Some(b'f') => out.push('\u{c}'),
                        Some(b'n') => out.push('\n'),
                        Some(b'r') => out.push('\r'),
                        Some(b't') => out.push('\t'),
                        Some(b'u') => out.push(self.unicode()?),
                        _ => {
                            self.pos -= 1;
                            return Err(self.error("expected an escape such as \\n, \\\" or \\u0041"));
                        }
                    }
                }
                c if (c as u32) < 0x20 => {
                    self.pos -= 1;
                    return Err(
                        self.error("expected `\\n` or another escape: control characters are not allowed in strings")
                    );
                }
                c => out.push(c),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        let digits = self.text.get(self.pos..self.pos + 4).unwrap_or_default();
        let n = u32::from_str_radix(digits, 16).map_err(|_| self.error("expected four hex digits after \\u"))?;
        self.pos += 4;
        Ok(n)
    }

    fn unicode(&mut self) -> Result<char, SyntaxError> {
        let high = self.hex4()?;
        let code = if (0xD800..0xDC00).contains(&high) {
            if self.text.get(self.pos..self.pos + 2) != Some("\\u") {
                return Err(self.error("expected the low half of a surrogate pair (\\uDC00-\\uDFFF)"));
            }
            self.pos += 2;
            let low = self.hex4()?;
            if !(0xDC00..0xE000).contains(&low) {
                return Err(self.error("expected the low half of a surrogate pair (\\uDC00-\\uDFFF)"));
            }
            0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        } else {
            high
        };
        char::from_u32(code).ok_or_else(|| self.error("expected a Unicode scalar value"))
    }

    fn array(&mut self, path: &str, depth: usize) -> Result<Value, SyntaxError> {
        self.pos += 1;
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(&format!("{path}[{}]", items.len()), depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.error(format!("expected `,` or `]` in an array, found {}", self.found()))),
            }
        }
    }

    fn object(&mut self, path: &str, depth: usize) -> Result<Value, SyntaxError> {
        self.pos += 1;
        let mut members: Vec<(String, Json)> = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(members));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.error(format!(
                    "expected a member name in double quotes, found {}",
                    self.found()
                )));
            }
            let key = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.error(format!(
                    "expected `:` after member name \"{key}\", found {}",
                    self.found()
                )));
            }
            self.pos += 1;
            self.skip_ws();
            let value = self.value(&child(path, &key), depth + 1)?;
            members.push((key, value));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(members));
                }
                _ => return Err(self.error(format!("expected `,` or `}}` in an object, found {}", self.found()))),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_their_span_and_path() {
        let text = r#"{"a": [1, {"b": "x\u00e9"}], "n": null}"#;
        let doc = parse(text).unwrap();
        let b = doc.get("a").unwrap().as_array()[1].get("B").unwrap();
        assert_eq!(b.as_str(), Some("xé"));
        assert_eq!(&*b.path, "a[1].b");
        assert_eq!(&text[b.span.clone()], r#""x\u00e9""#);
        assert!(doc.get("n").is_none(), "null reads as absent");
    }

    #[test]
    fn truncated_input_says_so() {
        let e = parse(r#"{"a": [1, 2"#).unwrap_err();
        assert!(e.message.contains("truncated"), "{e:?}");
        let e = parse(r#"{"a": "abc"#).unwrap_err();
        assert!(e.message.contains("unterminated string"), "{e:?}");
        assert_eq!(e.offset, 6);
    }

    #[test]
    fn bad_input_is_an_error_never_a_panic() {
        for text in [
            "",
            "{",
            "[1,]",
            "{\"a\" 1}",
            "tru",
            "-",
            "\"\\u12\"",
            "\"\\ud800\"",
            "1 2",
            "{\"a\":1,}",
        ] {
            assert!(parse(text).is_err(), "{text:?}");
        }
        let deep = "[".repeat(1000);
        assert!(parse(&deep).unwrap_err().message.contains("nested deeper"));
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_or_is_an_error(text in "\\PC{0,64}") {
            let _ = parse(&text);
        }

        #[test]
        fn any_template_string_evaluates_or_is_an_error(expr in "\\[[a-z(),' .0-9\\[\\]{}]{0,40}\\]") {
            let t = format!("{{\"contentVersion\": \"1\", \"resources\": [{{\"type\": \"a/b\", \"name\": {expr:?}}}]}}");
            let doc = crate::import::Doc::new("t.json", t.clone());
            if let Ok(json) = parse(&t) {
                let _ = crate::import::arm::evaluate(&doc, &json, &Default::default());
            }
        }
    }

    #[test]
    fn numbers_keep_their_text() {
        let doc = parse("[18446744073709551615, 1.5e3, \"30\"]").unwrap();
        assert_eq!(doc.as_array()[0].as_u64(), Some(u64::MAX));
        assert_eq!(doc.as_array()[2].as_u64(), Some(30));
        assert_eq!(doc.as_array()[1].to_string(), "1.5e3");
    }
}
