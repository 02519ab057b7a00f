//! HTTPS without a proxy: a rustls server configuration from PEM files. It knows files, not the
//! configuration; `config` calls it once at start-up and keeps the result in `Settings`.

use std::path::Path;

use rustls::crypto::aws_lc_rs;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Loads the certificate chain and key; errors name the file and the problem.
pub fn server_config(cert: &Path, key: &Path) -> Result<ServerConfig, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|err| format!("cannot read certificates from {}: {err}", cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{} holds no certificate", cert.display()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|err| format!("cannot read a private key from {}: {err}", key.display()))?;
    // The provider is named rather than taken from the process default, so which crates happen to
    // enable which rustls backend never changes the server's behaviour.
    ServerConfig::builder_with_provider(std::sync::Arc::new(aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|err| format!("TLS setup failed: {err}"))?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .map_err(|err| format!("the certificate and key do not form a usable pair: {err}"))
}
