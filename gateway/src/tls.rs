//! TLS material for https listeners (serving `wss://`) and https backends.
//!
//! rustls with the ring provider, chosen explicitly so no process-wide
//! default has to be installed. PEM files are read with rustls-pki-types'
//! `PemObject`.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// Which file a TLS error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFile {
    /// A listener's certificate chain.
    Certificate,
    /// A listener's private key.
    Key,
    /// A backend settings' CA bundle.
    Ca,
}

/// Why TLS material could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    #[error("{path}: cannot read {what}: {source}", what = describe(*.file))]
    Read {
        path: String,
        file: TlsFile,
        #[source]
        source: pem::Error,
    },
    #[error("{path}: no PEM certificate found")]
    NoCertificate { path: String, file: TlsFile },
    #[error("{path}: no PEM private key found")]
    NoKey { path: String },
    #[error("TLS configuration rejected: {0}")]
    Rustls(#[from] rustls::Error),
}

fn describe(file: TlsFile) -> &'static str {
    match file {
        TlsFile::Certificate => "the certificate chain",
        TlsFile::Key => "the private key",
        TlsFile::Ca => "the CA bundle",
    }
}

impl TlsError {
    /// The file the error is about, if it is about one.
    pub fn file(&self) -> Option<TlsFile> {
        match self {
            TlsError::Read { file, .. } | TlsError::NoCertificate { file, .. } => Some(*file),
            TlsError::NoKey { .. } => Some(TlsFile::Key),
            TlsError::Rustls(_) => None,
        }
    }

    /// Of a listener's two keys, the one naming the file at fault (the
    /// certificate when rustls rejects the pair).
    pub fn file_key<'a>(&self, cert_key: &'a str, key_key: &'a str) -> &'a str {
        match self.file() {
            Some(TlsFile::Key) => key_key,
            _ => cert_key,
        }
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certs(path: &Path, file: TlsFile) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let shown = path.display().to_string();
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|source| TlsError::Read {
            path: shown.clone(),
            file,
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate { path: shown, file });
    }
    Ok(certs)
}

fn key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let shown = path.display().to_string();
    PrivateKeyDer::from_pem_file(path).map_err(|source| match source {
        pem::Error::NoItemsFound => TlsError::NoKey { path: shown },
        source => TlsError::Read {
            path: shown,
            file: TlsFile::Key,
            source,
        },
    })
}

/// Server config for an https listener: HTTP/1.1 only, since WebSocket
/// upgrades are an HTTP/1.1 mechanism here.
pub fn server_config(cert: &Path, key_path: &Path) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs(cert, TlsFile::Certificate)?, key(key_path)?)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Client config for https backends: certificates must chain to the CAs in
/// `trusted_ca`.
pub fn client_config(trusted_ca: &Path) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs(trusted_ca, TlsFile::Ca)? {
        roots.add(cert)?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_names_itself_and_its_role() {
        let err = client_config(Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert_eq!(err.file(), Some(TlsFile::Ca));
        assert!(
            err.to_string()
                .starts_with("/nonexistent/ca.pem: cannot read the CA bundle"),
            "{err}"
        );
        let err = server_config(Path::new("/nonexistent/c.pem"), Path::new("/nonexistent/k.pem")).unwrap_err();
        assert_eq!(err.file_key("tls_cert", "tls_key"), "tls_cert");
    }

    #[test]
    fn a_file_without_pem_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.pem");
        std::fs::write(&path, "not pem\n").unwrap();
        let err = client_config(&path).unwrap_err();
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
        let err = server_config(&path, &path).unwrap_err();
        assert!(matches!(err, TlsError::NoCertificate { .. }), "{err}");
    }
}
