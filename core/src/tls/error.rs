//! What can go wrong with a certificate, naming the file and what to do.

use std::io;
use std::path::PathBuf;

/// What went wrong with a certificate, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("no PEM certificate in {} (expected -----BEGIN CERTIFICATE-----)", path.display())]
    NoCertificate { path: PathBuf },
    #[error("{} is not valid PEM: {reason}", path.display())]
    BadPem { path: PathBuf, reason: String },
    #[error("the certificate in {} cannot be parsed: {reason}", path.display())]
    BadCertificate { path: PathBuf, reason: String },
    #[error("no private key in {} (expected -----BEGIN PRIVATE KEY-----)", path.display())]
    NoPrivateKey { path: PathBuf },
    #[error(
        "the private key in {} is encrypted; use an unencrypted key (-----BEGIN PRIVATE KEY-----)",
        path.display()
    )]
    EncryptedKey { path: PathBuf },
    #[error("the private key in {} cannot be used: {reason}", path.display())]
    BadKey { path: PathBuf, reason: String },
    #[error(
        "the private key in {} does not match the certificate in {}",
        key.display(),
        cert.display()
    )]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("certificate {} expired on {date}", path.display())]
    Expired { path: PathBuf, date: String },
    #[error(
        "a custom certificate is configured; only a generated certificate can be regenerated \
         (remove the custom certificate {} from the settings first)",
        path.display()
    )]
    CustomConfigured { path: PathBuf },
    #[error("cannot generate a certificate: {0}")]
    Generate(String),
    #[error("TLS setup failed: {0}")]
    Rustls(#[from] rustls::Error),
}
