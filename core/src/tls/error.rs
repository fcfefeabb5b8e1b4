//! What can go wrong with a certificate, naming the file and what to do.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

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
    /// Another process holds the data dir's lock longer than an operation may wait.
    #[error(
        "the certificate files are locked: waited {} s for {}, held by {}; if no other CXR Gate \
         (or `cxr-gate-proxy --rotate-ca`) is working on this data directory, that process hangs: end it",
        waited.as_secs_f32(),
        path.display(),
        holder.as_deref().unwrap_or("another process")
    )]
    Locked { path: PathBuf, waited: Duration, holder: Option<String> },
    /// The local CA's files are damaged and no kept copy matches: a new CA would cost every device
    /// that installed this one an install, so it is never made without the user's word.
    #[error(
        "the local CA cannot be loaded ({reason}) and no kept copy of it matches ({}, {}); CXR Gate does not \
         replace it on its own, because every device that installed it would have to install a new one. \
         Put back ca.pem and ca-key.pem from a backup, or make a new CA on purpose: New CA… in the window's \
         Certificate card, or `cxr-gate-proxy --rotate-ca`",
        copies[0].display(),
        copies[1].display()
    )]
    CaLost { reason: String, copies: [PathBuf; 2] },
    #[error("cannot generate a certificate: {0}")]
    Generate(String),
    #[error("TLS setup failed: {0}")]
    Rustls(#[from] rustls::Error),
}
