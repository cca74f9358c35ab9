//! HTTPS: a certificate and key from PEM files into a TLS acceptor.
//!
//! Everything that can be wrong with the files (missing, not PEM, no key, a
//! key that belongs to another certificate) is found here, before the server
//! binds, and reported as one line naming the file. The crypto provider is
//! *ring*, the one wasmtime-wasi-http already links for outbound HTTPS, so
//! TLS adds no second crypto library to the build.
//!
//! ALPN offers `h2` first, then `http/1.1`; the connection layer
//! ([`super::server`]) serves either on the same port.

use rustls::pki_types::pem::{self, PemObject as _};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// The ALPN protocols the server offers, most preferred first.
pub const ALPN_PROTOCOLS: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Why a certificate/key pair cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read TLS {what} {}: {error}", file.display())]
    Read {
        what: &'static str,
        file: PathBuf,
        error: std::io::Error,
    },
    #[error("TLS certificate {}: {reason}", file.display())]
    Certificate { file: PathBuf, reason: String },
    #[error("TLS key {}: {reason}", file.display())]
    Key { file: PathBuf, reason: String },
    #[error("TLS key {} does not match certificate {} (its public key is not the certificate's)", key.display(), cert.display())]
    Mismatch { cert: PathBuf, key: PathBuf },
    #[error("TLS certificate {} with key {}: {reason}", cert.display(), key.display())]
    Rejected {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
}

/// Load a PEM certificate chain (leaf first) and its PEM private key
/// (PKCS#8, PKCS#1 or SEC1) into an acceptor offering h2 and http/1.1.
pub fn acceptor(cert_file: &Path, key_file: &Path) -> Result<TlsAcceptor, TlsError> {
    let chain = certificates(cert_file)?;
    let key = private_key(key_file)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // Load the key once on its own so a key rustls cannot use is blamed on
    // the key file rather than on the pair.
    provider
        .key_provider
        .load_private_key(key.clone_key())
        .map_err(|error| TlsError::Key {
            file: key_file.to_owned(),
            reason: format!("not a usable private key ({error})"),
        })?;
    let rejected = |error: rustls::Error| TlsError::Rejected {
        cert: cert_file.to_owned(),
        key: key_file.to_owned(),
        reason: error.to_string(),
    };
    // `with_single_cert` checks that the key is the certificate's
    // (`CertifiedKey::keys_match`), so a mismatched pair fails here, not at
    // the first handshake.
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(rejected)?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|error| match error {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                TlsError::Mismatch {
                    cert: cert_file.to_owned(),
                    key: key_file.to_owned(),
                }
            }
            rustls::Error::InvalidCertificate(error) => TlsError::Certificate {
                file: cert_file.to_owned(),
                reason: format!("not a valid X.509 certificate ({error:?})"),
            },
            other => rejected(other),
        })?;
    config.alpn_protocols = ALPN_PROTOCOLS.iter().map(|p| p.to_vec()).collect();
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read(what: &'static str, file: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(file).map_err(|error| TlsError::Read {
        what,
        file: file.to_owned(),
        error,
    })
}

fn certificates(file: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read("certificate", file)?;
    let invalid = |reason: String| TlsError::Certificate {
        file: file.to_owned(),
        reason,
    };
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid(format!("not valid PEM ({error})")))?;
    if chain.is_empty() {
        return Err(invalid(
            "no certificate found (expected a PEM `BEGIN CERTIFICATE` block)".into(),
        ));
    }
    Ok(chain)
}

fn private_key(file: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read("key", file)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|error| TlsError::Key {
        file: file.to_owned(),
        reason: match error {
            pem::Error::NoItemsFound if contains(&bytes, b"BEGIN ENCRYPTED PRIVATE KEY") => {
                "the private key is encrypted; give the decrypted key (e.g. `openssl pkey -in KEY -out KEY.decrypted`)".into()
            }
            pem::Error::NoItemsFound => "no private key found (expected a PEM `BEGIN PRIVATE KEY`, `BEGIN RSA PRIVATE KEY` or `BEGIN EC PRIVATE KEY` block)".into(),
            other => format!("not valid PEM ({other})"),
        },
    })
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
