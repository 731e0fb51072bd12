//! Config errors that say where: `file:line:column: key: what was expected`.

use std::path::PathBuf;

use super::validate::Issue;
use crate::diagnostic::Diagnostic;

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
    /// One or more located problems, in file order; all are reported, not
    /// only the first.
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

    /// Validation issues located in `source` (when the config came from
    /// text), in file order.
    pub fn located(origin: &str, source: Option<&str>, issues: Vec<Issue>) -> ConfigError {
        let mut diagnostics: Vec<Diagnostic> = issues
            .into_iter()
            .map(|issue| Diagnostic::at(origin, source, &issue.key, issue.message))
            .collect();
        crate::diagnostic::in_file_order(&mut diagnostics);
        ConfigError::Invalid(diagnostics)
    }
}
