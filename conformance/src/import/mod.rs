//! `wsgate import`: an Azure gateway's definition in, wsgate's config out.
//!
//! | module | what it is |
//! |---|---|
//! | [`json`] | JSON with spans and source paths, so every error and every imported value is located |
//! | [`arm`] | ARM templates: `parameters()`, `variables()`, `concat()`, `format()`, `resourceId()`; any other function refused where it is written |
//! | [`resource`] | what a file holds (`az … show`, an array, `az resource show`, a template, Terraform) as a list of typed resources |
//! | [`terraform`] | `terraform show -json` (plan or state), its blocks reshaped to the ARM fields |
//! | [`appgw`] | Application Gateway (`Microsoft.Network/applicationGateways`) to a config |
//! | [`frontdoor`] | Front Door Standard/Premium (`Microsoft.Cdn/profiles`) to a config; classic (`Microsoft.Network/frontDoors`) to one that refuses WebSocket |
//! | [`affinity`] | the affinity and origin-routing fields, in one place: affinity, the latency window, and each Front Door origin as a `[[backend_pools.origins]]` entry with its priority, weight and enabled state |
//! | [`stand_in`] | `wsgate run --config`: the user's config in a scenario's place, its pools' addresses and origins on the scenario's scripted backends |
//! | [`emit`] | the config as TOML, each value commented with the field it came from, then what was read but not modelled |
//!
//! ```text
//! FILE… ─▶ json::parse ─▶ resource::read (arm::evaluate | terraform::read) ─▶ [Resource]
//!        ─▶ appgw::map | frontdoor::map ─▶ Imported { Config, sources, unmodelled } ─▶ emit::toml
//! ```
//!
//! Mapping is pure: the typed config is built first, and the TOML is
//! written from it, never formatted and parsed back. Bicep is not read:
//! `az bicep build --file main.bicep` gives the ARM template this reads.

pub mod affinity;
pub mod appgw;
pub mod arm;
pub mod emit;
pub mod frontdoor;
pub mod json;
pub mod read;
pub mod resource;
pub mod stand_in;
pub mod terraform;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::rc::Rc;

use gateway::config::{line_col, Diagnostic};
use gateway::Config;

use json::Json;

/// One input file's text and the name errors use for it.
#[derive(Debug)]
pub struct Doc {
    pub name: String,
    pub text: String,
}

impl Doc {
    pub fn new(name: impl Into<String>, text: impl Into<String>) -> Rc<Doc> {
        Rc::new(Doc {
            name: name.into(),
            text: text.into(),
        })
    }

    /// 1-based line and column of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        line_col(&self.text, offset)
    }

    /// An error at `value`, naming its path.
    pub fn error(&self, value: &Json, message: impl Into<String>) -> Diagnostic {
        self.error_at(value.span.start, &value.path, message)
    }

    /// An error at a byte offset.
    pub fn error_at(&self, offset: usize, path: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            origin: self.name.clone(),
            position: Some(self.line_col(offset)),
            key: if path.is_empty() {
                "(top level)".to_string()
            } else {
                path.to_string()
            },
            message: message.into(),
            severity: gateway::config::Severity::Error,
        }
    }

    /// Where `value` came from, as a provenance comment: `path (file:line)`.
    pub fn source(&self, value: &Json) -> String {
        let (line, _) = self.line_col(value.span.start);
        format!("{} ({}:{line})", value.path, self.name)
    }
}

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Located problems in the inputs, in file order.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Diagnostic>),
    /// The imported config failed the gateway's own validation (values
    /// Azure accepts that wsgate does not, or a gap in the mapping):
    /// reported rather than written.
    #[error("the imported config does not pass wsgate's checks, so it was not written:\n{0}")]
    Unchecked(String),
}

impl ImportError {
    /// The located problems, if the inputs were read.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ImportError::Invalid(d) => d,
            _ => &[],
        }
    }
}

/// A field that was read but that wsgate does not model, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unmodelled {
    /// Where it is, for sorting: the input's name and the line.
    pub file: String,
    pub line: usize,
    /// `file:line path`.
    pub at: String,
    /// What it is and why it is left out.
    pub what: String,
}

/// What an import produced: the config, and what to say about it.
#[derive(Debug, Clone)]
pub struct Imported {
    pub config: Config,
    /// The source field of each config value, by key path
    /// (`backend_settings[0].request_timeout`).
    pub sources: BTreeMap<String, String>,
    /// Backend addresses (key paths: `backend_pools[0].addresses[1]`,
    /// `backend_pools[0].origins[1].address`) this machine cannot reach:
    /// not loopback. `wsgate run --config` stands scripted backends in for
    /// them.
    pub unreachable: BTreeSet<String>,
    /// Things said at the top of the file (Front Door classic's refusal).
    pub notes: Vec<String>,
    pub unmodelled: Vec<Unmodelled>,
    /// The input files, for the header.
    pub inputs: Vec<String>,
}

impl Imported {
    fn new(config: Config) -> Imported {
        Imported {
            config,
            sources: BTreeMap::new(),
            unreachable: BTreeSet::new(),
            notes: Vec::new(),
            unmodelled: Vec::new(),
            inputs: Vec::new(),
        }
    }

    /// Records that the value at `key` came from `from` in `doc`.
    pub(crate) fn source(&mut self, key: impl Into<String>, doc: &Doc, from: &Json) {
        self.sources.insert(key.into(), doc.source(from));
    }

    /// Records a field read but not modelled.
    /// Empty arrays and objects say nothing, so they are not listed.
    pub(crate) fn unmodelled(&mut self, doc: &Doc, from: &Json, what: impl Into<String>) {
        if matches!(&from.value, json::Value::Array(a) if a.is_empty())
            || matches!(&from.value, json::Value::Object(o) if o.is_empty())
        {
            return;
        }
        let (line, _) = doc.line_col(from.span.start);
        self.unmodelled.push(Unmodelled {
            file: doc.name.clone(),
            line,
            at: format!("{}:{line} {}", doc.name, from.path),
            what: what.into(),
        });
    }
}

/// `--param name=value`, parsed.
pub fn parse_param(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.trim().is_empty() => Ok((name.trim().to_string(), value.to_string())),
        _ => Err(format!("expected name=value, found `{text}`")),
    }
}

/// Reads, maps and validates: the whole import of `paths`.
pub fn import_files(paths: &[PathBuf], params: &BTreeMap<String, String>) -> Result<Imported, ImportError> {
    let mut docs = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(path).map_err(|source| ImportError::Read {
            path: path.clone(),
            source,
        })?;
        docs.push(Doc::new(path.display().to_string(), text));
    }
    import_docs(&docs, params)
}

/// The import of documents already read. Pure.
pub fn import_docs(docs: &[Rc<Doc>], params: &BTreeMap<String, String>) -> Result<Imported, ImportError> {
    let mut errors = Vec::new();
    let mut resources = Vec::new();
    let mut skipped = Vec::new();
    for doc in docs {
        match resource::read(doc, params) {
            Ok(read) => {
                resources.extend(read.resources);
                skipped.extend(read.unmodelled);
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    if !errors.is_empty() {
        return Err(ImportError::Invalid(errors));
    }
    let mut imported = map(&resources).map_err(|mut e| {
        gateway::diagnostic::in_file_order(&mut e);
        ImportError::Invalid(e)
    })?;
    imported.unmodelled.extend(skipped);
    imported.inputs = docs.iter().map(|d| d.name.clone()).collect();
    let inputs = imported.inputs.clone();
    imported.unmodelled.sort_by_key(|u| {
        (
            inputs.iter().position(|i| *i == u.file),
            u.line,
            u.at.clone(),
            u.what.clone(),
        )
    });
    imported.unmodelled.dedup();
    imported.config.validate().map_err(|issues| {
        ImportError::Unchecked(gateway::config::ConfigError::located("imported", None, issues).to_string())
    })?;
    Ok(imported)
}

/// Picks the mapping the resources call for: one gateway per import.
fn map(resources: &[resource::Resource]) -> Result<Imported, Vec<Diagnostic>> {
    use resource::Kind;
    let gateways: Vec<&resource::Resource> = resources
        .iter()
        .filter(|r| {
            matches!(
                r.kind,
                Kind::ApplicationGateway | Kind::FrontDoorClassic | Kind::CdnProfile
            )
        })
        .collect();
    let cdn_parts = resources
        .iter()
        .any(|r| matches!(r.kind, Kind::OriginGroup | Kind::Origin | Kind::Route));
    match (gateways.as_slice(), cdn_parts) {
        ([one], _) if one.kind == Kind::ApplicationGateway => appgw::map(one, resources),
        ([one], _) if one.kind == Kind::FrontDoorClassic => frontdoor::map_classic(one, resources),
        ([], true) | ([_], true) | ([_], false) => frontdoor::map(resources),
        ([], false) => {
            let found: Vec<String> = resources.iter().map(|r| r.type_name.clone()).collect();
            let message = format!(
                "expected an Application Gateway (Microsoft.Network/applicationGateways, azurerm_application_gateway) or \
                 Front Door resources (Microsoft.Cdn/profiles and its originGroups/origins/routes, azurerm_cdn_frontdoor_*, \
                 Microsoft.Network/frontDoors), found {}",
                if found.is_empty() { "no resources".to_string() } else { found.join(", ") }
            );
            Err(vec![match resources.first() {
                Some(r) => r.doc.error(&r.type_at, message),
                None => Diagnostic {
                    origin: "import".into(),
                    position: None,
                    key: "(top level)".into(),
                    message,
                    severity: gateway::config::Severity::Error,
                },
            }])
        }
        (many, _) => Err(many
            .iter()
            .skip(1)
            .map(|r| {
                r.doc.error(
                    &r.type_at,
                    format!(
                        "expected one gateway per import, found a second ({}): import each gateway to its own file",
                        r.name
                    ),
                )
            })
            .collect()),
    }
}

/// Whether this machine can reach `host`: loopback only. Anything else
/// (private addresses, names) is kept but flagged.
pub fn reachable(host: &str) -> bool {
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A name usable as a config name: Azure names are already `[A-Za-z0-9._-]`.
pub(crate) fn last_segment(id: &str) -> &str {
    id.trim_end_matches('/').rsplit('/').next().unwrap_or(id)
}
