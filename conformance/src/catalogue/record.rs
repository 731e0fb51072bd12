//! One catalogue record and its basis: where the requirement comes from.
//!
//! The file's records are flat TOML tables (`basis = "document"` beside
//! `sources`, `quote`, ...). They are read loosely, then turned into a typed
//! [`Requirement`] whose [`Basis`] holds exactly the fields its kind needs,
//! so a record that mixes kinds (a choice with a quote, a document without
//! one) is a load error rather than a requirement that cites nothing.

use std::fmt;

use gateway::ProfileName;
use serde::Deserialize;

/// The source documents a `document` basis may cite, by file name.
pub const DOCUMENTS: [&str; 4] = [
    "000_08d95ce44754c93e.txt",
    "001_ece4dabc994b493e.md",
    "002_f139c213edad670c.txt",
    "003_bc5d01166b151058.txt",
];

/// One requirement: a behaviour wsgate grades, and where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub id: String,
    pub basis: Basis,
    /// What the gateway must do, in our words.
    pub statement: String,
    pub profiles: Vec<ProfileName>,
    /// Rust tests that check it too.
    pub tests: Vec<String>,
    /// Why wsgate does not check it, for a sentence it does not model.
    pub skip: Option<String>,
}

/// Where a requirement comes from. Only a `Document` basis is a document's
/// sentence; reports print the kind beside every grade so a choice is never
/// read as one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Basis {
    /// A sentence of the source documents. `sources[0]` holds `quote` word
    /// for word; `conflict` says how the documents disagree, when they do.
    Document {
        sources: Vec<String>,
        section: String,
        quote: String,
        conflict: Option<String>,
    },
    /// A public Azure page outside the four documents, as of `date`.
    Azure { url: String, date: String, quote: String },
    /// wsgate's decision where the documents are silent.
    Choice { reason: String },
}

impl Basis {
    /// `document`, `azure` or `choice`: the word the file and reports use.
    pub fn kind(&self) -> &'static str {
        match self {
            Basis::Document { .. } => "document",
            Basis::Azure { .. } => "azure",
            Basis::Choice { .. } => "choice",
        }
    }

    /// The words relied on: a quote, or the reason for a choice.
    pub fn words(&self) -> &str {
        match self {
            Basis::Document { quote, .. } | Basis::Azure { quote, .. } => quote,
            Basis::Choice { reason } => reason,
        }
    }
}

impl fmt::Display for Basis {
    /// One line: the kind and where to look.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Basis::Document { sources, section, .. } => {
                write!(f, "document: {}, \"{section}\"", sources.join(", "))
            }
            Basis::Azure { url, date, .. } => write!(f, "azure: {url} ({date})"),
            Basis::Choice { .. } => f.write_str("choice: wsgate's decision"),
        }
    }
}

/// A record as the file spells it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    id: String,
    basis: String,
    statement: String,
    profiles: Vec<ProfileName>,
    #[serde(default)]
    tests: Vec<String>,
    skip: Option<String>,
    sources: Option<Vec<String>>,
    section: Option<String>,
    quote: Option<String>,
    conflict: Option<String>,
    url: Option<String>,
    date: Option<String>,
    reason: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    requirement: Vec<Record>,
}

/// Parses and checks a catalogue: every problem, in file order.
pub fn load(text: &str) -> Result<Vec<Requirement>, Vec<String>> {
    let file: CatalogueFile = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
    let mut reqs = Vec::new();
    let mut problems = Vec::new();
    for record in file.requirement {
        match Requirement::try_from(record) {
            Ok(r) => reqs.push(r),
            Err(mut p) => problems.append(&mut p),
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    for r in &reqs {
        if !seen.insert(r.id.as_str()) {
            problems.push(format!("{}: the id is used twice", r.id));
        }
    }
    if problems.is_empty() {
        Ok(reqs)
    } else {
        Err(problems)
    }
}

impl TryFrom<Record> for Requirement {
    type Error = Vec<String>;

    fn try_from(r: Record) -> Result<Self, Vec<String>> {
        let mut problems = Vec::new();
        let id = r.id.clone();
        let mut need = |field: &str, value: Option<String>| -> String {
            match value {
                Some(v) if !v.trim().is_empty() => v,
                _ => {
                    problems.push(format!("{id}: a `{}` basis needs `{field}`", r.basis));
                    String::new()
                }
            }
        };
        let basis = match r.basis.as_str() {
            "document" => {
                let sources = r.sources.clone().unwrap_or_default();
                let basis = Basis::Document {
                    section: need("section", r.section.clone()),
                    quote: need("quote", r.quote.clone()),
                    conflict: r.conflict.clone(),
                    sources: sources.clone(),
                };
                if sources.is_empty() {
                    problems.push(format!("{id}: a `document` basis needs `sources`"));
                }
                for s in &sources {
                    if !DOCUMENTS.contains(&s.as_str()) {
                        problems.push(format!("{id}: unknown source document `{s}`"));
                    }
                }
                basis
            }
            "azure" => Basis::Azure {
                url: need("url", r.url.clone()),
                date: need("date", r.date.clone()),
                quote: need("quote", r.quote.clone()),
            },
            "choice" => Basis::Choice {
                reason: need("reason", r.reason.clone()),
            },
            other => {
                problems.push(format!(
                    "{id}: unknown basis `{other}`; expected `document`, `azure` or `choice`"
                ));
                Basis::Choice { reason: String::new() }
            }
        };
        // Fields another kind of basis uses would be silently ignored.
        let stray: [(&str, bool); 7] = [
            ("sources", r.sources.is_some()),
            ("section", r.section.is_some()),
            ("conflict", r.conflict.is_some()),
            ("quote", r.quote.is_some()),
            ("url", r.url.is_some()),
            ("date", r.date.is_some()),
            ("reason", r.reason.is_some()),
        ];
        let allowed: &[&str] = match basis {
            Basis::Document { .. } => &["sources", "section", "conflict", "quote"],
            Basis::Azure { .. } => &["url", "date", "quote"],
            Basis::Choice { .. } => &["reason"],
        };
        for (field, present) in stray {
            if present && !allowed.contains(&field) {
                problems.push(format!("{id}: `{field}` does not belong to a `{}` basis", basis.kind()));
            }
        }
        if r.profiles.is_empty() {
            problems.push(format!("{id}: `profiles` is empty"));
        }
        if r.statement.trim().is_empty() {
            problems.push(format!("{id}: `statement` is empty"));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(Requirement {
            id: r.id,
            basis,
            statement: r.statement,
            profiles: r.profiles,
            tests: r.tests,
            skip: r.skip,
        })
    }
}

/// Text as compared for quoting: whitespace runs become one space and
/// Markdown emphasis marks go, so a quote survives re-wrapping.
#[cfg(test)]
pub fn normalise(text: &str) -> String {
    text.chars()
        .filter(|c| !matches!(c, '*' | '`'))
        .collect::<String>()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether `quote` appears in `document`, word for word: each part between
/// " ... " elisions in order.
#[cfg(test)]
pub fn quoted_in(quote: &str, document: &str) -> bool {
    let document = normalise(document);
    let mut rest = document.as_str();
    for part in quote.split("...").map(normalise).filter(|p| !p.is_empty()) {
        match rest.find(&part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}
