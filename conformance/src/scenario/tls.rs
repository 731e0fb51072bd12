//! TLS material for `tls = true` backends: a CA generated for the scenario
//! and a certificate per backend host, signed by it. The CA is written to a
//! temporary file because the gateway reads `trusted_ca` from a path.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};

/// A scenario's CA and its backends' server configs.
#[derive(Debug)]
pub struct Material {
    dir: tempfile::TempDir,
    servers: BTreeMap<String, Arc<rustls::ServerConfig>>,
}

impl Material {
    /// Generates a CA and a certificate for each host name.
    pub fn generate(hosts: &[String]) -> Result<Material, String> {
        let err = |e: &dyn std::fmt::Display| e.to_string();
        let ca_key = KeyPair::generate().map_err(|e| err(&e))?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(|e| err(&e))?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).map_err(|e| err(&e))?;
        let issuer = Issuer::new(ca_params, ca_key);
        let dir = tempfile::tempdir().map_err(|e| err(&e))?;
        std::fs::write(dir.path().join("ca.pem"), ca_cert.pem()).map_err(|e| err(&e))?;
        let mut servers = BTreeMap::new();
        for host in hosts {
            let key = KeyPair::generate().map_err(|e| err(&e))?;
            let cert = CertificateParams::new(vec![host.clone()])
                .map_err(|e| err(&e))?
                .signed_by(&key, &issuer)
                .map_err(|e| err(&e))?;
            let (cert_path, key_path) = (
                dir.path().join(format!("{host}.pem")),
                dir.path().join(format!("{host}.key")),
            );
            std::fs::write(&cert_path, cert.pem()).map_err(|e| err(&e))?;
            std::fs::write(&key_path, key.serialize_pem()).map_err(|e| err(&e))?;
            let config = gateway::tls::server_config(&cert_path, &key_path).map_err(|e| err(&e))?;
            servers.insert(host.clone(), config);
        }
        Ok(Material { dir, servers })
    }

    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    pub fn server_config(&self, host: &str) -> Option<Arc<rustls::ServerConfig>> {
        self.servers.get(host).cloned()
    }
}
