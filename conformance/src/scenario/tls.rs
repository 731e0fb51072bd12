//! TLS material a scenario generates: a CA for the run, a certificate per
//! `tls = true` backend host, and one for the gateway's https listeners
//! that names every instance (and `localhost`/`127.0.0.1`, for runs on a
//! real network). Files live in a temporary directory because the gateway
//! reads certificates, keys and `trusted_ca` from paths.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// The name the gateway's certificate is filed under.
pub const GATEWAY: &str = "gateway";

/// A scenario's CA and the certificates it signed.
#[derive(Debug)]
pub struct Material {
    dir: tempfile::TempDir,
    servers: BTreeMap<String, Arc<rustls::ServerConfig>>,
    client: Arc<rustls::ClientConfig>,
}

impl Material {
    /// Generates a CA and, for each `(file name, names)` pair, a
    /// certificate carrying those names.
    pub fn generate(certs: &[(String, Vec<String>)]) -> Result<Material, String> {
        let err = |e: &dyn std::fmt::Display| e.to_string();
        let ca_key = KeyPair::generate().map_err(|e| err(&e))?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(|e| err(&e))?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        // A subject of its own: with rcgen's default name a leaf's subject
        // would equal its issuer's, which nginx and HAProxy reject as
        // self-signed (rustls does not mind).
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "wsgate run CA");
        let ca_cert = ca_params.self_signed(&ca_key).map_err(|e| err(&e))?;
        let issuer = Issuer::new(ca_params, ca_key);
        let dir = tempfile::tempdir().map_err(|e| err(&e))?;
        std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).map_err(|e| err(&e))?;
        let mut servers = BTreeMap::new();
        for (file, names) in certs {
            let key = KeyPair::generate().map_err(|e| err(&e))?;
            let mut params = CertificateParams::new(names.clone()).map_err(|e| err(&e))?;
            params.distinguished_name.push(rcgen::DnType::CommonName, file.as_str());
            let cert = params.signed_by(&key, &issuer).map_err(|e| err(&e))?;
            let (cert_path, key_path) = (
                dir.path().join(format!("{file}.pem")),
                dir.path().join(format!("{file}.key")),
            );
            std::fs::write(&cert_path, cert.pem()).map_err(|e| err(&e))?;
            std::fs::write(&key_path, key.serialize_pem()).map_err(|e| err(&e))?;
            let config = gateway::tls::server_config(&cert_path, &key_path).map_err(|e| err(&e))?;
            servers.insert(file.clone(), config);
        }
        let client = gateway::tls::client_config(&dir.path().join("ca.pem")).map_err(|e| err(&e))?;
        Ok(Material { dir, servers, client })
    }

    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The certificate and key files of `file`.
    pub fn files(&self, file: &str) -> (PathBuf, PathBuf) {
        (
            self.dir.path().join(format!("{file}.pem")),
            self.dir.path().join(format!("{file}.key")),
        )
    }

    pub fn server_config(&self, file: &str) -> Option<Arc<rustls::ServerConfig>> {
        self.servers.get(file).cloned()
    }

    /// A client config trusting the run's CA (for `wss://` clients).
    pub fn client_config(&self) -> Arc<rustls::ClientConfig> {
        Arc::clone(&self.client)
    }
}
