//! HTTPS without a proxy (`TLS_CERT_FILE`, `TLS_KEY_FILE`): the files are read and parsed once, here,
//! into the rustls configuration the server listens with, so a bad file is a configuration problem
//! reported with the others and start-up never reads them again.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::ServerConfig;

use super::reader::Reader;

/// A certificate chain and private key in PEM files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// `TLS_CERT_FILE`.
    pub cert: PathBuf,
    /// `TLS_KEY_FILE`.
    pub key: PathBuf,
}

/// The loaded certificate and key, ready to serve with. `Debug` names the files and never prints
/// the key.
#[derive(Clone)]
pub struct TlsSettings {
    files: TlsFiles,
    config: Arc<ServerConfig>,
}

impl TlsSettings {
    /// Where the certificate and key were read from.
    pub fn files(&self) -> &TlsFiles {
        &self.files
    }

    /// The rustls configuration built from them.
    pub fn server_config(&self) -> ServerConfig {
        ServerConfig::clone(&self.config)
    }
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("cert", &self.files.cert)
            .field("key", &self.files.key)
            .finish_non_exhaustive()
    }
}

impl Reader<'_> {
    pub(super) fn tls(&mut self) -> Option<TlsSettings> {
        match (self.get("TLS_CERT_FILE"), self.get("TLS_KEY_FILE")) {
            (None, None) => None,
            (Some(cert), Some(key)) => {
                let files = TlsFiles {
                    cert: PathBuf::from(cert),
                    key: PathBuf::from(key),
                };
                match crate::tls::server_config(&files.cert, &files.key) {
                    Ok(config) => Some(TlsSettings {
                        files,
                        config: Arc::new(config),
                    }),
                    Err(err) => {
                        self.problem(format!("TLS_CERT_FILE/TLS_KEY_FILE: {err}"));
                        None
                    }
                }
            }
            _ => {
                self.problem("TLS_CERT_FILE and TLS_KEY_FILE must be set together".into());
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{session, vars, JWT};
    use super::super::Settings;

    #[test]
    fn the_certificate_and_key_are_loaded_once_into_the_settings() {
        let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert, certified.cert.pem()).unwrap();
        std::fs::write(&key, certified.signing_key.serialize_pem()).unwrap();
        let session = session();
        let env = |key: &std::path::Path| {
            vars(&[
                ("JWT_SECRET", JWT),
                ("SESSION_SECRET", &session),
                ("TLS_CERT_FILE", cert.to_str().unwrap()),
                ("TLS_KEY_FILE", key.to_str().unwrap()),
            ])
        };
        let settings = Settings::from_vars(&env(&key)).unwrap();
        let tls = settings.tls.expect("TLS is configured");
        assert_eq!(tls.files().cert, cert);
        // The files are not read again: the server starts from what was parsed here.
        std::fs::remove_file(&cert).unwrap();
        std::fs::remove_file(&key).unwrap();
        let _ = tls.server_config();
        let debug = format!("{tls:?}");
        assert!(!debug.contains("PRIVATE KEY"), "{debug}");

        // A key that is no key is a configuration problem, reported with the others.
        std::fs::write(&cert, certified.cert.pem()).unwrap();
        std::fs::write(&key, "not a key").unwrap();
        let errors = Settings::from_vars(&env(&key)).unwrap_err();
        assert_eq!(errors.0.len(), 1, "{errors}");
        assert!(errors.0[0].contains("cannot read a private key"), "{errors}");
    }
}
