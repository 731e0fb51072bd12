//! Config errors that say where: `file:line:column: key: what was expected`.

use std::fmt;
use std::path::PathBuf;

use super::locate::{self, KeyPath};
use super::validate::Issue;

/// A single problem in a config, located as precisely as the source allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file (or `--flags`) the config came from.
    pub origin: String,
    /// 1-based line and column, when the config came from text.
    pub position: Option<(usize, usize)>,
    /// The key concerned, such as `rules[0].pool`.
    pub key: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some((line, col)) => write!(f, "{}:{line}:{col}: ", self.origin)?,
            None => write!(f, "{}: ", self.origin)?,
        }
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("{}: cannot read config: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// One or more located problems; all are reported, not only the first.
    #[error("{}", render(.0))]
    Invalid(Vec<Diagnostic>),
}

fn render(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(Diagnostic::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigError {
    /// The located problems, if this is a validation or parse error.
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ConfigError::Invalid(d) => d,
            ConfigError::Read { .. } => &[],
        }
    }

    pub(super) fn from_parse(origin: &str, source: &str, err: &toml::de::Error) -> ConfigError {
        let (position, key) = match err.span() {
            Some(span) => (
                Some(locate::line_col(source, span.start)),
                locate::path_at(source, span.start),
            ),
            None => (None, KeyPath::root()),
        };
        ConfigError::Invalid(vec![Diagnostic {
            origin: origin.to_string(),
            position,
            key: key.to_string(),
            message: err.message().trim().to_string(),
        }])
    }

    pub(super) fn located(origin: &str, source: Option<&str>, issues: Vec<Issue>) -> ConfigError {
        let diagnostics = issues
            .into_iter()
            .map(|issue| {
                let position = source
                    .and_then(|src| locate::span_of(src, &issue.key).map(|span| locate::line_col(src, span.start)));
                Diagnostic {
                    origin: origin.to_string(),
                    position,
                    key: issue.key.to_string(),
                    message: issue.message,
                }
            })
            .collect();
        ConfigError::Invalid(diagnostics)
    }
}
