//! ARM templates: the resources they declare, with their expressions
//! evaluated.
//!
//! Only what gateway templates commonly use is evaluated: `parameters()`
//! (the `defaultValue`, or `--param name=value`), `variables()`,
//! `concat()`, `format()` and `resourceId()`, with `.property` and
//! `[index]` access on their results. Any other function is refused where
//! it is written, by name: a value guessed would be a config that lies.

use std::collections::BTreeMap;

use gateway::config::Diagnostic;

use super::json::{Json, Value};
use super::Doc;

/// How deep variables may refer to variables; deeper is taken as a cycle.
const MAX_DEPTH: usize = 32;

/// Whether a document is an ARM deployment template.
pub fn is_template(doc: &Json) -> bool {
    let schema = doc
        .get("$schema")
        .and_then(Json::as_str)
        .is_some_and(|s| s.contains("deploymentTemplate"));
    schema || (doc.get("resources").is_some() && doc.get("contentVersion").is_some())
}

/// The template's resources, child resources flattened (their type and
/// name prefixed with the parent's), every expression evaluated. Every
/// problem is reported, in file order.
pub fn evaluate(doc: &Doc, template: &Json, params: &BTreeMap<String, String>) -> Result<Vec<Json>, Vec<Diagnostic>> {
    let mut errors = Vec::new();
    let declared = template.get("parameters");
    for name in params.keys() {
        if declared.and_then(|d| d.get(name)).is_none() {
            let known: Vec<&str> = declared
                .map(|d| d.members().iter().map(|(k, _)| k.as_str()).collect())
                .unwrap_or_default();
            errors.push(doc.error(
                declared.unwrap_or(template),
                format!(
                    "--param {name}: the template declares no parameter `{name}`; expected one of {}",
                    if known.is_empty() {
                        "(none)".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            ));
        }
    }
    let eval = Evaluator { doc, template, params };
    let mut out = Vec::new();
    if let Some(resources) = template.get("resources") {
        if !matches!(resources.value, Value::Array(_)) {
            errors.push(doc.error(
                resources,
                format!("expected an array of resources, found {}", resources.kind()),
            ));
        }
        for r in resources.as_array() {
            eval.resource(r, None, &mut out, &mut errors);
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        gateway::diagnostic::in_file_order(&mut errors);
        errors.dedup();
        Err(errors)
    }
}

struct Evaluator<'a> {
    doc: &'a Doc,
    template: &'a Json,
    params: &'a BTreeMap<String, String>,
}

type Errors = Vec<Diagnostic>;

impl Evaluator<'_> {
    fn resource(&self, r: &Json, parent: Option<(&str, &str)>, out: &mut Vec<Json>, errors: &mut Errors) {
        let before = errors.len();
        let evaluated = self.value(r, 0, errors);
        if errors.len() > before {
            return;
        }
        let mut members: Vec<(String, Json)> = evaluated
            .members()
            .iter()
            .filter(|(k, _)| !k.eq_ignore_ascii_case("resources"))
            .cloned()
            .collect();
        let ty = evaluated
            .get("type")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string();
        let name = evaluated
            .get("name")
            .and_then(Json::as_str)
            .unwrap_or_default()
            .to_string();
        let (full_type, full_name) = match parent {
            Some((pt, pn)) if !ty.contains('/') || !ty.to_ascii_lowercase().starts_with(&pt.to_ascii_lowercase()) => {
                let full_name = if name.contains('/') {
                    name.clone()
                } else {
                    format!("{pn}/{name}")
                };
                (format!("{pt}/{ty}"), full_name)
            }
            _ => (ty.clone(), name.clone()),
        };
        for (k, v) in &mut members {
            if k.eq_ignore_ascii_case("type") {
                *v = Json::derived(Value::String(full_type.clone()), v);
            } else if k.eq_ignore_ascii_case("name") {
                *v = Json::derived(Value::String(full_name.clone()), v);
            }
        }
        out.push(Json::derived(Value::Object(members), &evaluated));
        // Children are evaluated from the original, so their errors name
        // their own place.
        if let Some(children) = r.get("resources") {
            for c in children.as_array() {
                self.resource(c, Some((&full_type, &full_name)), out, errors);
            }
        }
    }

    /// Evaluates every expression string inside `v`, collecting every
    /// error (the value is kept as written where one fails).
    fn value(&self, v: &Json, depth: usize, errors: &mut Errors) -> Json {
        match &v.value {
            Value::String(s) => match expression(s) {
                Some(expr) => self.expression(v, expr, depth).unwrap_or_else(|e| {
                    errors.push(e);
                    v.clone()
                }),
                None if s.starts_with("[[") => Json::derived(Value::String(s[1..].to_string()), v),
                None => v.clone(),
            },
            Value::Array(items) => {
                let items = items.iter().map(|i| self.value(i, depth, errors)).collect();
                Json::derived(Value::Array(items), v)
            }
            Value::Object(members) => {
                let members = members
                    .iter()
                    .map(|(k, m)| (k.clone(), self.value(m, depth, errors)))
                    .collect();
                Json::derived(Value::Object(members), v)
            }
            _ => v.clone(),
        }
    }

    /// [`Self::value`] for a nested evaluation: the first error, if any.
    fn value_or_first_error(&self, v: &Json, depth: usize) -> Result<Json, Diagnostic> {
        let mut errors = Vec::new();
        let out = self.value(v, depth, &mut errors);
        match errors.into_iter().next() {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    fn expression(&self, at: &Json, text: &str, depth: usize) -> Result<Json, Diagnostic> {
        // The expression starts after `"[`; offsets inside it are exact
        // when the string has no escapes before them, as expressions rarely do.
        let base = at.span.start + 2;
        let mut p = ExprParser { text, pos: 0 };
        let expr = p
            .expr()
            .map_err(|(pos, m)| self.doc.error_at(base + pos, &at.path, m))?;
        p.skip_ws();
        if p.pos < text.len() {
            return Err(self.doc.error_at(
                base + p.pos,
                &at.path,
                format!("expected the end of the expression, found `{}`", &text[p.pos..]),
            ));
        }
        self.eval(at, &expr, base, depth)
    }

    fn eval(&self, at: &Json, e: &Expr, base: usize, depth: usize) -> Result<Json, Diagnostic> {
        let err = |pos: usize, m: String| self.doc.error_at(base + pos, &at.path, m);
        match e {
            Expr::Str(s) => Ok(Json::derived(Value::String(s.clone()), at)),
            Expr::Int(n) => Ok(Json::derived(Value::Number(n.to_string()), at)),
            Expr::Bool(b) => Ok(Json::derived(Value::Bool(*b), at)),
            Expr::Member { of, name, pos } => {
                let v = self.eval(at, of, base, depth)?;
                v.get(name).cloned().map(|m| Json::derived(m.value, at)).ok_or_else(|| {
                    err(
                        *pos,
                        format!("expected the value to have a property `{name}`, found {v}"),
                    )
                })
            }
            Expr::Index { of, index, pos } => {
                let v = self.eval(at, of, base, depth)?;
                let i = self.eval(at, index, base, depth)?;
                let found = match (&v.value, &i.value) {
                    (Value::Array(items), _) => i.as_u64().and_then(|n| items.get(usize::try_from(n).ok()?)),
                    (Value::Object(_), Value::String(k)) => v.get(k),
                    _ => None,
                };
                found
                    .map(|m| Json::derived(m.value.clone(), at))
                    .ok_or_else(|| err(*pos, format!("expected {v} to have an element {i}")))
            }
            Expr::Call { name, args, pos } => {
                let vals: Vec<Json> = args
                    .iter()
                    .map(|a| self.eval(at, a, base, depth))
                    .collect::<Result<_, _>>()?;
                self.call(at, name, &vals, *pos, base, depth)
            }
        }
    }

    fn call(
        &self,
        at: &Json,
        name: &str,
        args: &[Json],
        pos: usize,
        base: usize,
        depth: usize,
    ) -> Result<Json, Diagnostic> {
        let err = |m: String| self.doc.error_at(base + pos, &at.path, m);
        let string_arg = |i: usize| -> Result<&str, Diagnostic> {
            args.get(i)
                .and_then(Json::as_str)
                .ok_or_else(|| err(format!("{name}(): expected a string as argument {}", i + 1)))
        };
        match name.to_ascii_lowercase().as_str() {
            "parameters" => {
                let p = string_arg(0)?;
                self.parameter(at, p).map_err(err)
            }
            "variables" => {
                let v = string_arg(0)?;
                if depth >= MAX_DEPTH {
                    return Err(err(format!(
                        "variables('{v}') refers to itself (through {MAX_DEPTH} variables)"
                    )));
                }
                let found = self
                    .template
                    .get("variables")
                    .and_then(|vars| vars.get(v))
                    .ok_or_else(|| err(format!("the template declares no variable `{v}`")))?;
                let value = self.value_or_first_error(found, depth + 1)?;
                Ok(Json::derived(value.value, at))
            }
            "concat" => {
                if args.iter().all(|a| matches!(a.value, Value::Array(_))) && !args.is_empty() {
                    let items = args.iter().flat_map(|a| a.as_array().iter().cloned()).collect();
                    return Ok(Json::derived(Value::Array(items), at));
                }
                let mut s = String::new();
                for a in args {
                    s.push_str(
                        &scalar(a).ok_or_else(|| err(format!("concat(): expected strings or numbers, found {a}")))?,
                    );
                }
                Ok(Json::derived(Value::String(s), at))
            }
            "format" => {
                let f = string_arg(0)?;
                let rest: Vec<String> = args[1..]
                    .iter()
                    .map(|a| scalar(a).ok_or_else(|| err(format!("format(): expected strings or numbers, found {a}"))))
                    .collect::<Result<_, _>>()?;
                format_args(f, &rest)
                    .map(|s| Json::derived(Value::String(s), at))
                    .map_err(err)
            }
            "resourceid" => {
                let strings: Vec<&str> = (0..args.len()).map(string_arg).collect::<Result<_, _>>()?;
                resource_id(&strings)
                    .map(|s| Json::derived(Value::String(s), at))
                    .map_err(err)
            }
            _ => Err(err(format!(
                "template function `{name}()` is not supported: wsgate import evaluates parameters(), variables(), \
                 concat(), format() and resourceId() only; replace it with a literal or a parameter"
            ))),
        }
    }

    fn parameter(&self, at: &Json, name: &str) -> Result<Json, String> {
        let declared = self
            .template
            .get("parameters")
            .and_then(|p| p.get(name))
            .ok_or_else(|| format!("the template declares no parameter `{name}`"))?;
        let ty = declared
            .get("type")
            .and_then(Json::as_str)
            .unwrap_or("string")
            .to_ascii_lowercase();
        if let Some(given) = self
            .params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
        {
            let value = match ty.as_str() {
                "int" => Value::Number(
                    given
                        .trim()
                        .parse::<i64>()
                        .map_err(|_| format!("--param {name}: expected an integer, found `{given}`"))?
                        .to_string(),
                ),
                "bool" => Value::Bool(
                    given
                        .trim()
                        .parse::<bool>()
                        .map_err(|_| format!("--param {name}: expected true or false, found `{given}`"))?,
                ),
                "object" | "array" | "secureobject" => {
                    super::json::parse(given)
                        .map_err(|e| format!("--param {name}: expected JSON: {}", e.message))?
                        .value
                }
                _ => Value::String(given.clone()),
            };
            return Ok(Json::derived(value, at));
        }
        match declared.get("defaultValue") {
            Some(default) => {
                let v = self.value_or_first_error(default, 0).map_err(|d| d.message)?;
                Ok(Json::derived(v.value, at))
            }
            None => Err(format!(
                "parameter `{name}` has no defaultValue; pass --param {name}=VALUE"
            )),
        }
    }
}

/// A string or number as text, as `concat` and `format` use it.
fn scalar(v: &Json) -> Option<String> {
    match &v.value {
        Value::String(s) | Value::Number(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `format('{0}-{1}', a, b)`: .NET composite formatting without format
/// specifiers beyond the index; `{{` and `}}` are literal braces.
fn format_args(f: &str, args: &[String]) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = f.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '{' if chars.peek() == Some(&'{') => {
                chars.next();
                out.push('{');
            }
            '}' if chars.peek() == Some(&'}') => {
                chars.next();
                out.push('}');
            }
            '{' => {
                let mut inner = String::new();
                for c in chars.by_ref() {
                    if c == '}' {
                        break;
                    }
                    inner.push(c);
                }
                let index = inner.split(':').next().unwrap_or_default().trim();
                let n: usize = index
                    .parse()
                    .map_err(|_| format!("format(): expected `{{0}}`, `{{1}}`…, found `{{{inner}}}`"))?;
                out.push_str(
                    args.get(n)
                        .ok_or_else(|| format!("format(): no argument {n} for `{{{inner}}}`"))?,
                );
            }
            c => out.push(c),
        }
    }
    Ok(out)
}

/// `resourceId([subscriptionId], [resourceGroup], type, name…)`: the id,
/// with placeholders for the subscription and group when not given. Only
/// its last segment is ever used to resolve a reference.
fn resource_id(args: &[&str]) -> Result<String, String> {
    let type_at = args.iter().position(|a| a.contains('/')).ok_or_else(|| {
        "resourceId(): expected a resource type such as `Microsoft.Network/applicationGateways`".to_string()
    })?;
    let (scope, rest) = args.split_at(type_at);
    let (ty, names) = rest.split_first().ok_or("resourceId(): expected a resource type")?;
    let mut segments = ty.split('/');
    let provider = segments.next().unwrap_or_default();
    let types: Vec<&str> = segments.collect();
    if names.len() != types.len() {
        return Err(format!(
            "resourceId(): type `{ty}` needs {} name(s), found {}",
            types.len(),
            names.len()
        ));
    }
    let (sub, rg) = match scope {
        [] => ("{subscription}", "{resourceGroup}"),
        [rg] => ("{subscription}", *rg),
        [sub, rg, ..] => (*sub, *rg),
    };
    let mut id = format!("/subscriptions/{sub}/resourceGroups/{rg}/providers/{provider}");
    for (t, n) in types.iter().zip(names) {
        id.push_str(&format!("/{t}/{n}"));
    }
    Ok(id)
}

/// The expression inside `"[…]"`, or `None` for a literal string.
fn expression(s: &str) -> Option<&str> {
    if s.starts_with("[[") {
        return None;
    }
    s.strip_prefix('[')?.strip_suffix(']')
}

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Str(String),
    Int(i64),
    Bool(bool),
    Call {
        name: String,
        args: Vec<Expr>,
        pos: usize,
    },
    Member {
        of: Box<Expr>,
        name: String,
        pos: usize,
    },
    Index {
        of: Box<Expr>,
        index: Box<Expr>,
        pos: usize,
    },
}

struct ExprParser<'a> {
    text: &'a str,
    pos: usize,
}

type PResult<T> = Result<T, (usize, String)>;

impl ExprParser<'_> {
    fn peek(&self) -> Option<char> {
        self.text.get(self.pos..).and_then(|s| s.chars().next())
    }

    fn skip_ws(&mut self) {
        while let Some(c) = self.peek().filter(|c| c.is_whitespace()) {
            self.pos += c.len_utf8();
        }
    }

    fn found(&self) -> String {
        self.peek()
            .map_or("the end of the expression".to_string(), |c| format!("`{c}`"))
    }

    fn expr(&mut self) -> PResult<Expr> {
        self.skip_ws();
        let start = self.pos;
        let mut e = match self.peek() {
            Some('\'') => Expr::Str(self.string()?),
            Some(c) if c.is_ascii_digit() || c == '-' => {
                self.pos += 1;
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.pos += 1;
                }
                let text = &self.text[start..self.pos];
                Expr::Int(
                    text.parse()
                        .map_err(|_| (start, format!("expected an integer, found `{text}`")))?,
                )
            }
            Some(c) if c.is_ascii_alphabetic() => {
                let name = self.ident();
                self.skip_ws();
                match (name.as_str(), self.peek()) {
                    (_, Some('(')) => {
                        self.pos += 1;
                        let mut args = Vec::new();
                        self.skip_ws();
                        if self.peek() == Some(')') {
                            self.pos += 1;
                        } else {
                            loop {
                                args.push(self.expr()?);
                                self.skip_ws();
                                match self.peek() {
                                    Some(',') => self.pos += 1,
                                    Some(')') => {
                                        self.pos += 1;
                                        break;
                                    }
                                    _ => {
                                        return Err((self.pos, format!("expected `,` or `)`, found {}", self.found())))
                                    }
                                }
                            }
                        }
                        Expr::Call { name, args, pos: start }
                    }
                    ("true", _) => Expr::Bool(true),
                    ("false", _) => Expr::Bool(false),
                    _ => {
                        return Err((
                            start,
                            format!("expected a function call such as parameters('name'), found `{name}`"),
                        ))
                    }
                }
            }
            _ => {
                return Err((
                    self.pos,
                    format!(
                        "expected a function call, a 'string' or a number, found {}",
                        self.found()
                    ),
                ))
            }
        };
        loop {
            self.skip_ws();
            match self.peek() {
                Some('.') => {
                    self.pos += 1;
                    let pos = self.pos;
                    let name = self.ident();
                    if name.is_empty() {
                        return Err((
                            pos,
                            format!("expected a property name after `.`, found {}", self.found()),
                        ));
                    }
                    e = Expr::Member {
                        of: Box::new(e),
                        name,
                        pos,
                    };
                }
                Some('[') => {
                    let pos = self.pos;
                    self.pos += 1;
                    let index = self.expr()?;
                    self.skip_ws();
                    if self.peek() != Some(']') {
                        return Err((self.pos, format!("expected `]`, found {}", self.found())));
                    }
                    self.pos += 1;
                    e = Expr::Index {
                        of: Box::new(e),
                        index: Box::new(index),
                        pos,
                    };
                }
                _ => return Ok(e),
            }
        }
    }

    fn ident(&mut self) -> String {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            self.pos += 1;
        }
        self.text[start..self.pos].to_string()
    }

    fn string(&mut self) -> PResult<String> {
        let start = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err((start, "unterminated 'string': expected a closing `'`".to_string())),
                Some('\'') if self.text.get(self.pos + 1..).is_some_and(|s| s.starts_with('\'')) => {
                    out.push('\'');
                    self.pos += 2;
                }
                Some('\'') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(c) => {
                    out.push(c);
                    self.pos += c.len_utf8();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::json::parse;

    fn eval(template: &str, params: &[(&str, &str)]) -> Result<Vec<Json>, Vec<Diagnostic>> {
        let doc = Doc::new("t.json", template);
        let json = parse(template).unwrap();
        let params = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        evaluate(&doc, &json, &params)
    }

    const T: &str = r#"{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "parameters": {"gw": {"type": "string", "defaultValue": "gw1"}, "timeout": {"type": "int", "defaultValue": 30}},
  "variables": {"pool": "[concat(parameters('gw'), '-pool')]", "cfg": {"port": 8080}},
  "resources": [{
    "type": "Microsoft.Network/applicationGateways", "name": "[parameters('gw')]",
    "properties": {
      "t": "[parameters('timeout')]",
      "p": "[variables('pool')]",
      "port": "[variables('cfg').port]",
      "f": "[format('{0}:{1}', variables('pool'), 80)]",
      "id": "[resourceId('Microsoft.Network/applicationGateways/backendAddressPools', parameters('gw'), variables('pool'))]",
      "lit": "[[not an expression]"
    }
  }]
}"#;

    #[test]
    fn evaluates_the_supported_functions() {
        let out = eval(T, &[]).unwrap();
        let p = out[0].get("properties").unwrap();
        assert_eq!(out[0].get("name").unwrap().as_str(), Some("gw1"));
        assert_eq!(p.get("t").unwrap().as_u64(), Some(30));
        assert_eq!(p.get("p").unwrap().as_str(), Some("gw1-pool"));
        assert_eq!(p.get("port").unwrap().as_u64(), Some(8080));
        assert_eq!(p.get("f").unwrap().as_str(), Some("gw1-pool:80"));
        assert!(p
            .get("id")
            .unwrap()
            .as_str()
            .unwrap()
            .ends_with("/applicationGateways/gw1/backendAddressPools/gw1-pool"));
        assert_eq!(p.get("lit").unwrap().as_str(), Some("[not an expression]"));
        assert_eq!(
            &*p.get("t").unwrap().path,
            "resources[0].properties.t",
            "keeps the template's path"
        );
    }

    #[test]
    fn params_override_defaults_with_their_declared_type() {
        let out = eval(T, &[("timeout", "45"), ("gw", "edge")]).unwrap();
        assert_eq!(out[0].at("properties.t").unwrap().value, Value::Number("45".into()));
        assert_eq!(out[0].at("properties.p").unwrap().as_str(), Some("edge-pool"));
        let e = eval(T, &[("timeout", "soon")]).unwrap_err();
        assert!(e[0].message.contains("expected an integer"), "{e:?}");
        let e = eval(T, &[("nope", "1")]).unwrap_err();
        assert!(e[0].message.contains("declares no parameter `nope`"), "{e:?}");
    }

    #[test]
    fn an_unknown_function_is_refused_where_it_is_written() {
        let t = "{\"resources\": [{\"type\": \"x/y\", \"name\": \"a\",\n \"properties\": {\"k\": \"[concat('a', uniqueString('b'))]\"}}], \"contentVersion\": \"1\"}";
        let e = eval(t, &[]).unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].position, Some((2, 36)), "{}", e[0]);
        assert!(e[0].message.contains("`uniqueString()` is not supported"), "{}", e[0]);
        assert_eq!(e[0].key, "resources[0].properties.k");
    }

    #[test]
    fn bad_expressions_are_errors_never_panics() {
        for bad in [
            "[concat(]",
            "[parameters('x')]",
            "['abc]",
            "[variables('v')]",
            "[format('{9}')]",
            "[1 2]",
            "[a.]",
            "[resourceId('x')]",
        ] {
            let t = format!("{{\"contentVersion\": \"1\", \"variables\": {{\"v\": \"[variables('v')]\"}}, \"resources\": [{{\"type\": \"t/u\", \"name\": \"{bad}\"}}]}}");
            assert!(eval(&t, &[]).is_err(), "{bad}");
        }
    }

    #[test]
    fn child_resources_get_full_types_and_names() {
        let t = r#"{"contentVersion": "1", "resources": [{"type": "Microsoft.Cdn/profiles", "name": "p",
            "resources": [{"type": "originGroups", "name": "og"}]}]}"#;
        let out = eval(t, &[]).unwrap();
        assert_eq!(
            out[1].get("type").unwrap().as_str(),
            Some("Microsoft.Cdn/profiles/originGroups")
        );
        assert_eq!(out[1].get("name").unwrap().as_str(), Some("p/og"));
    }
}
