//! The certificate manager: owns the certificate the listener serves. It keeps a generated
//! self-signed certificate in the data dir (`cert.pem`, `key.pem`, plus `cert-state.json` with the
//! last served fingerprint), reuses it across restarts and regenerates it when it is missing,
//! broken, expiring, or does not cover the LAN IPs and configured names; or it serves a
//! user-supplied certificate, never touching its files. Every change goes into the resolver, so the
//! next handshake gets it while open sessions keep theirs.

use std::fs;
use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use rustls::server::ResolvesServerCert;
use serde::{Deserialize, Serialize};

use super::cert::{self, push_unique, CertFacts, Material, Name, DAY_SECS};
use super::resolver::SwapResolver;
use crate::config::CustomCert;
use crate::status::{now_ms, CertInfo, CertOrigin};

const CERT_FILE: &str = "cert.pem";
const KEY_FILE: &str = "key.pem";
const STATE_FILE: &str = "cert-state.json";
/// Generated certificates are valid a year (browsers cap at 398 days)…
const VALIDITY_DAYS: i64 = 365;
/// …starting a day early, so a headset whose clock is behind still accepts it.
const BACKDATE_DAYS: i64 = 1;
/// A generated certificate this close to expiry is replaced before headsets start refusing it.
const RENEW_DAYS: i64 = 30;

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

/// Keeps the served certificate current. Send + Sync; the read methods are lock-free.
pub struct CertManager {
    data_dir: PathBuf,
    resolver: Arc<SwapResolver>,
    /// What info()/cert_pem()/cert_der() return; replaced whole on every ensure().
    served: ArcSwapOption<Served>,
    /// Serializes ensure()/regenerate()/reconfigure() (file I/O and key generation happen here).
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for CertManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let info = self.served.load();
        f.debug_struct("CertManager")
            .field("data_dir", &self.data_dir)
            .field("serving", &info.as_ref().map(|s| &s.info.fingerprint_sha256))
            .finish_non_exhaustive()
    }
}

struct Served {
    info: CertInfo,
    chain_pem: String,
    leaf_der: Vec<u8>,
}

struct Inner {
    custom: Option<CustomCert>,
    extra: Vec<Name>,
    current: Option<Current>,
    book: Book,
}

/// Bookkeeping across ensure() calls.
#[derive(Default)]
struct Book {
    /// What headsets are assumed to trust: the fingerprint the previous run recorded in
    /// cert-state.json, else the first one this run serves. An empty string stands for a saved
    /// certificate of unknown fingerprint that was replaced (so any new one is a change).
    baseline: Option<String>,
    /// The fingerprint cert-state.json holds now.
    recorded: Option<String>,
    /// The fingerprint in the resolver.
    served: Option<String>,
    /// The certificate generated last in this run, and why.
    generated: Option<(String, String)>,
    /// The last error and gaps logged, so periodic checks don't repeat them.
    logged_error: Option<String>,
    logged_missing: Option<(String, Vec<String>)>,
    logged_repair_error: Option<String>,
    /// A repair of the saved files not yet reported through [`CertManager::take_notice`].
    notice: Option<String>,
}

struct Current {
    origin: CertOrigin,
    material: Material,
    cert_path: PathBuf,
    chain_pem: String,
    /// For a custom certificate: the config and file contents it came from, to skip re-parsing.
    source: Option<CustomSource>,
    /// For a generated certificate: what `cert.pem` and `key.pem` must hold, to notice them damaged.
    saved: Option<SavedFiles>,
}

impl Current {
    fn new(origin: CertOrigin, material: Material, cert_path: PathBuf, source: Option<CustomSource>) -> Self {
        let chain_pem = material.chain_pem();
        Current { origin, material, cert_path, chain_pem, source, saved: None }
    }

    fn generated(material: Material, cert_path: PathBuf, saved: SavedFiles) -> Self {
        Current { saved: Some(saved), ..Current::new(CertOrigin::Generated, material, cert_path, None) }
    }
}

/// The bytes of a generated certificate's files.
#[derive(Clone, PartialEq, Eq)]
struct SavedFiles {
    cert: Vec<u8>,
    key: Vec<u8>,
}

/// A custom certificate's files as read.
#[derive(PartialEq, Eq)]
struct CustomSource {
    custom: CustomCert,
    cert_bytes: Vec<u8>,
    key_bytes: Option<Vec<u8>>,
}

impl CustomSource {
    fn read(custom: &CustomCert) -> Result<Self, TlsError> {
        let read = |path: &Path| fs::read(path).map_err(|source| TlsError::Read { path: path.to_path_buf(), source });
        Ok(CustomSource {
            custom: custom.clone(),
            cert_bytes: read(&custom.cert)?,
            key_bytes: custom.key.as_deref().map(read).transpose()?,
        })
    }

    /// Parses the chain and key (a combined PEM when there is no key file) and checks they match.
    fn load(&self) -> Result<Material, TlsError> {
        let cert_path = &self.custom.cert;
        let (key_path, key_bytes) = match (&self.custom.key, &self.key_bytes) {
            (Some(path), Some(bytes)) => (path, bytes),
            _ => (cert_path, &self.cert_bytes),
        };
        cert::load_material(cert_path, &self.cert_bytes, key_path, key_bytes)
    }
}

/// The saved files compared with the certificate in use.
enum Disk {
    Intact,
    Replaced(Material, SavedFiles),
}

/// The saved generated certificate, as found on disk.
enum Saved {
    Usable(Material, SavedFiles),
    Unusable { reason: String, existed: bool },
}

#[derive(Serialize, Deserialize)]
struct StateFile {
    fingerprint_sha256: String,
    #[serde(default)]
    origin: CertOrigin,
    #[serde(default)]
    updated_ms: u64,
}

impl CertManager {
    pub fn new(data_dir: &Path, custom: Option<CustomCert>, extra_names: Vec<String>) -> Self {
        let previous_run = read_state(&data_dir.join(STATE_FILE));
        CertManager {
            data_dir: data_dir.to_path_buf(),
            resolver: Arc::new(SwapResolver::default()),
            served: ArcSwapOption::default(),
            inner: Mutex::new(Inner {
                custom,
                extra: valid_names(extra_names),
                current: None,
                book: Book { recorded: previous_run.clone(), baseline: previous_run, ..Book::default() },
            }),
        }
    }

    /// Makes sure a usable certificate is loaded for the current LAN IPv4s and swaps it into the resolver; returns its info.
    pub fn ensure(&self, lan_ips: &[Ipv4Addr]) -> Result<CertInfo, TlsError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        let wanted = wanted_names(lan_ips, &inner.extra);
        let result = match inner.custom.clone() {
            Some(custom) => self.ensure_custom(inner, &custom, &wanted),
            None => self.ensure_generated(inner, &wanted),
        };
        note_result(&mut inner.book, &result);
        result
    }

    /// Forces a new self-signed cert now (error `TlsError` if the origin is custom: "a custom certificate is configured; ...").
    pub fn regenerate(&self, lan_ips: &[Ipv4Addr], reason: &str) -> Result<CertInfo, TlsError> {
        let mut guard = self.lock();
        let inner = &mut *guard;
        if let Some(custom) = &inner.custom {
            return Err(TlsError::CustomConfigured { path: custom.cert.clone() });
        }
        let wanted = wanted_names(lan_ips, &inner.extra);
        let existed =
            inner.current.is_some() || self.data_dir.join(CERT_FILE).exists() || self.data_dir.join(KEY_FILE).exists();
        let result = self.generate(inner, &wanted, reason, existed);
        note_result(&mut inner.book, &result);
        result
    }

    /// New custom-cert / extra names config; takes effect at the next ensure().
    pub fn reconfigure(&self, custom: Option<CustomCert>, extra_names: Vec<String>) {
        let mut inner = self.lock();
        inner.custom = custom;
        inner.extra = valid_names(extra_names);
    }

    /// Always the same resolver; the certificate swaps inside it.
    pub fn resolver(&self) -> Arc<dyn ResolvesServerCert> {
        self.resolver.clone()
    }

    pub fn info(&self) -> Option<CertInfo> {
        self.served.load().as_ref().map(|s| s.info.clone())
    }

    /// The served chain, PEM (for GET /cert.pem).
    pub fn cert_pem(&self) -> Option<String> {
        self.served.load().as_ref().map(|s| s.chain_pem.clone())
    }

    /// The leaf, DER (for GET /cert.crt).
    pub fn cert_der(&self) -> Option<Vec<u8>> {
        self.served.load().as_ref().map(|s| s.leaf_der.clone())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere mid-update leaves nothing half-written that matters here.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn ensure_custom(&self, inner: &mut Inner, custom: &CustomCert, wanted: &[Name]) -> Result<CertInfo, TlsError> {
        let now = now_secs();
        // Re-read every time, so a certificate renewed on disk is picked up; parse only if it changed.
        let source = CustomSource::read(custom)?;
        let Inner { current, book, .. } = inner;
        let cur: &Current = match current {
            Some(cur) if cur.source.as_ref() == Some(&source) => {
                // Even an unchanged certificate expires while we run.
                check_not_expired(&cur.cert_path, &cur.material.facts, now)?;
                cur
            }
            slot => {
                let material = source.load()?;
                check_not_expired(&custom.cert, &material.facts, now)?;
                warn_about_custom(&custom.cert, &material.facts, now);
                slot.insert(Current::new(CertOrigin::Custom, material, custom.cert.clone(), Some(source)))
            }
        };
        Ok(self.serve(book, cur, wanted))
    }

    fn ensure_generated(&self, inner: &mut Inner, wanted: &[Name]) -> Result<CertInfo, TlsError> {
        let now = now_secs();
        let Inner { current, book, .. } = &mut *inner;
        let (reason, existed) = match current {
            // 1. The generated certificate already in use, if it is still good.
            Some(cur) if cur.origin == CertOrigin::Generated => match problem(&cur.material.facts, wanted, now) {
                None => match self.check_saved_files(book, cur) {
                    Disk::Intact => return Ok(self.serve(book, cur, wanted)),
                    // Someone put another good pair there: serve that, as the next start would.
                    Disk::Replaced(material, files) => {
                        let next = Current::generated(material, self.data_dir.join(CERT_FILE), files);
                        if problem(&next.material.facts, wanted, now).is_none() {
                            tracing::warn!("the certificate in {} was replaced; serving it", self.data_dir.display());
                            let cur = current.insert(next);
                            return Ok(self.serve(book, cur, wanted));
                        }
                        let what = format!(
                            "{} was replaced by a certificate that does not fit",
                            self.data_dir.join(CERT_FILE).display()
                        );
                        self.restore_saved_files(book, cur, &what);
                        return Ok(self.serve(book, cur, wanted));
                    }
                },
                Some(reason) => (reason, true),
            },
            // 2. The one saved by an earlier run.
            slot => match self.load_saved() {
                Saved::Usable(material, files) => match problem(&material.facts, wanted, now) {
                    None => {
                        let cur = slot.insert(Current::generated(material, self.data_dir.join(CERT_FILE), files));
                        return Ok(self.serve(book, cur, wanted));
                    }
                    Some(reason) => (reason, true),
                },
                Saved::Unusable { reason, existed } => (reason, existed),
            },
        };
        // 3. A new one.
        self.generate(inner, wanted, &reason, existed)
    }

    /// Generates, saves and serves a new self-signed certificate.
    fn generate(&self, inner: &mut Inner, wanted: &[Name], reason: &str, existed: bool) -> Result<CertInfo, TlsError> {
        let now = now_secs();
        let mut names = vec![
            Name::Dns("localhost".into()),
            Name::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
            Name::Ip(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        ];
        if let Some(host) = cert::host_name() {
            push_unique(&mut names, Name::Dns(host));
        }
        for name in wanted {
            push_unique(&mut names, name.clone());
        }
        let generated = cert::generate(
            &cert::common_name(),
            &names,
            now - BACKDATE_DAYS * DAY_SECS,
            now + VALIDITY_DAYS * DAY_SECS,
        )?;
        let fingerprint = generated.material.facts.fingerprint.clone();
        if existed {
            tracing::warn!(
                "regenerating the certificate: {reason}; headsets must trust the new one (SHA-256 {fingerprint})"
            );
        } else {
            tracing::info!("generating a certificate: {reason} (SHA-256 {fingerprint})");
        }
        if let Err(e) = self.save(&generated) {
            // Serving it still beats serving nothing; the periodic check retries the save.
            tracing::error!("{e}; the new certificate is served but will change at the next start");
        }
        let files = SavedFiles { cert: generated.cert_pem.into_bytes(), key: generated.key_pem.into_bytes() };
        if existed {
            // Replacing a saved certificate is a change even without a record of it.
            inner.book.baseline.get_or_insert_with(String::new);
        }
        inner.book.generated = Some((fingerprint, reason.to_string()));
        let cur = Current::generated(generated.material, self.data_dir.join(CERT_FILE), files);
        let info = self.serve(&mut inner.book, &cur, wanted);
        inner.current = Some(cur);
        Ok(info)
    }

    /// Puts `cur` into the resolver if it is not there yet, and publishes its info.
    fn serve(&self, book: &mut Book, cur: &Current, wanted: &[Name]) -> CertInfo {
        let facts = &cur.material.facts;
        let fingerprint = &facts.fingerprint;
        if book.served.as_ref() != Some(fingerprint) {
            self.resolver.store(cur.material.certified_key());
            book.baseline.get_or_insert_with(|| fingerprint.clone());
            book.served = Some(fingerprint.clone());
            tracing::info!(
                "serving the {} certificate {} (SHA-256 {fingerprint}, valid until {})",
                origin_name(cur.origin),
                cur.cert_path.display(),
                cert::date(facts.not_after)
            );
            self.record(book, fingerprint, cur.origin);
        }

        let missing = cert::missing(&facts.sans, wanted);
        let logged = Some((fingerprint.clone(), missing.clone()));
        if book.logged_missing != logged {
            if !missing.is_empty() {
                tracing::warn!(
                    "the certificate {} does not cover {}: headsets connecting there will reject it",
                    cur.cert_path.display(),
                    missing.join(", ")
                );
            }
            book.logged_missing = logged;
        }

        let changed_since_last_run = book.baseline.as_ref() != Some(fingerprint);
        let regenerated_reason = match (&book.generated, cur.origin) {
            (Some((fp, reason)), CertOrigin::Generated) if fp == fingerprint => Some(reason.clone()),
            _ => None,
        };
        let info = CertInfo {
            missing,
            changed_since_last_run,
            regenerated_reason,
            ..base_info(cur.origin, facts, &cur.cert_path)
        };
        self.served.store(Some(Arc::new(Served {
            info: info.clone(),
            chain_pem: cur.chain_pem.clone(),
            leaf_der: cur.material.leaf_der(),
        })));
        info
    }

    /// The saved generated certificate and key, or why they can't be used.
    fn load_saved(&self) -> Saved {
        let cert_path = self.data_dir.join(CERT_FILE);
        let key_path = self.data_dir.join(KEY_FILE);
        let unusable = |reason: String| Saved::Unusable { reason, existed: true };
        match (read_if_exists(&cert_path), read_if_exists(&key_path)) {
            (Ok(None), Ok(None)) => Saved::Unusable { reason: "no certificate yet".into(), existed: false },
            (Err(e), _) => unusable(format!("cannot read {}: {e}", cert_path.display())),
            (_, Err(e)) => unusable(format!("cannot read {}: {e}", key_path.display())),
            (Ok(None), Ok(Some(_))) => unusable(format!("{} is missing", cert_path.display())),
            (Ok(Some(_)), Ok(None)) => unusable(format!("{} is missing", key_path.display())),
            (Ok(Some(cert_pem)), Ok(Some(key_pem))) => {
                match cert::load_material(&cert_path, &cert_pem, &key_path, &key_pem) {
                    Ok(material) => {
                        make_private(&key_path);
                        Saved::Usable(material, SavedFiles { cert: cert_pem, key: key_pem })
                    }
                    Err(e) => unusable(e.to_string()),
                }
            }
        }
    }

    /// Saves a generated certificate: the key first (private), then the certificate, each atomically.
    fn save(&self, generated: &cert::Generated) -> Result<(), TlsError> {
        self.write_files(generated.cert_pem.as_bytes(), generated.key_pem.as_bytes())
    }

    fn write_files(&self, cert_pem: &[u8], key_pem: &[u8]) -> Result<(), TlsError> {
        fs::create_dir_all(&self.data_dir).map_err(|source| TlsError::Write { path: self.data_dir.clone(), source })?;
        write_atomic(&self.data_dir.join(KEY_FILE), key_pem, true)?;
        write_atomic(&self.data_dir.join(CERT_FILE), cert_pem, false)
    }

    /// Whether `cert.pem`/`key.pem` still hold the certificate in use. Deleted, truncated or
    /// garbled files are rewritten from memory right here: same certificate, so headsets keep
    /// trusting it, and the next start finds it.
    fn check_saved_files(&self, book: &mut Book, cur: &Current) -> Disk {
        let Some(want) = &cur.saved else {
            return Disk::Intact;
        };
        let cert_path = self.data_dir.join(CERT_FILE);
        let key_path = self.data_dir.join(KEY_FILE);
        let cert_now = read_if_exists(&cert_path);
        let key_now = read_if_exists(&key_path);
        let what = match (&cert_now, &key_now) {
            (Ok(Some(c)), Ok(Some(k))) if *c == want.cert && *k == want.key => {
                book.logged_repair_error = None;
                return Disk::Intact;
            }
            (Ok(None), _) => format!("{} was deleted", cert_path.display()),
            (_, Ok(None)) => format!("{} was deleted", key_path.display()),
            (Err(e), _) => format!("{} cannot be read ({e})", cert_path.display()),
            (_, Err(e)) => format!("{} cannot be read ({e})", key_path.display()),
            (Ok(Some(c)), Ok(Some(k))) => {
                if let Saved::Usable(material, files) = self.load_saved() {
                    if material.facts.fingerprint != cur.material.facts.fingerprint {
                        return Disk::Replaced(material, files);
                    }
                }
                let changed = if *c != want.cert { &cert_path } else { &key_path };
                let size = if *c != want.cert { c.len() } else { k.len() };
                format!("{} was changed ({size} bytes, not the certificate in use)", changed.display())
            }
        };
        self.restore_saved_files(book, cur, &what);
        Disk::Intact
    }

    fn restore_saved_files(&self, book: &mut Book, cur: &Current, what: &str) {
        let Some(want) = &cur.saved else {
            return;
        };
        match self.write_files(&want.cert, &want.key) {
            Ok(()) => {
                let msg = format!(
                    "{what}; rewrote the certificate in use (SHA-256 {}), headsets keep trusting it",
                    cur.material.facts.fingerprint
                );
                tracing::warn!("{msg}");
                book.logged_repair_error = None;
                book.notice = Some(msg);
            }
            Err(e) => {
                let msg = format!("{what}, and it cannot be rewritten: {e}");
                if book.logged_repair_error.as_ref() != Some(&msg) {
                    tracing::error!("{msg}");
                    book.notice = Some(msg.clone());
                    book.logged_repair_error = Some(msg);
                }
            }
        }
    }

    /// A repair of the saved files since the last call, for the status log.
    pub fn take_notice(&self) -> Option<String> {
        self.lock().book.notice.take()
    }

    /// Remembers the served fingerprint in cert-state.json for the next run.
    fn record(&self, book: &mut Book, fingerprint: &str, origin: CertOrigin) {
        if book.recorded.as_deref() == Some(fingerprint) {
            return;
        }
        let state = StateFile { fingerprint_sha256: fingerprint.to_string(), origin, updated_ms: now_ms() };
        let path = self.data_dir.join(STATE_FILE);
        let written = serde_json::to_vec_pretty(&state)
            .map_err(|e| TlsError::Write { path: path.clone(), source: io::Error::other(e) })
            .and_then(|json| {
                fs::create_dir_all(&self.data_dir)
                    .map_err(|source| TlsError::Write { path: self.data_dir.clone(), source })?;
                write_atomic(&path, &json, false)
            });
        match written {
            Ok(()) => book.recorded = Some(fingerprint.to_string()),
            Err(e) => {
                tracing::warn!("{e}; the next start cannot tell whether the certificate changed")
            }
        }
    }
}

/// Checks a custom certificate for the desktop's file dialog, without serving it.
pub(super) fn inspect_custom(custom: &CustomCert) -> Result<CertInfo, TlsError> {
    let material = CustomSource::read(custom)?.load()?;
    check_not_expired(&custom.cert, &material.facts, now_secs())?;
    Ok(base_info(CertOrigin::Custom, &material.facts, &custom.cert))
}

fn base_info(origin: CertOrigin, facts: &CertFacts, cert_path: &Path) -> CertInfo {
    let ms = |secs: i64| u64::try_from(secs).unwrap_or(0).saturating_mul(1000);
    CertInfo {
        origin,
        fingerprint_sha256: facts.fingerprint.clone(),
        sans: facts.sans.iter().map(|n| n.to_string()).collect(),
        not_before_ms: ms(facts.not_before),
        not_after_ms: ms(facts.not_after),
        missing: Vec::new(),
        changed_since_last_run: false,
        cert_path: cert_path.display().to_string(),
        regenerated_reason: None,
    }
}

fn origin_name(origin: CertOrigin) -> &'static str {
    match origin {
        CertOrigin::Generated => "generated",
        CertOrigin::Custom => "custom",
    }
}

/// Why a generated certificate must be replaced, if it must.
fn problem(facts: &CertFacts, wanted: &[Name], now: i64) -> Option<String> {
    if facts.not_after <= now {
        return Some(format!("certificate expired on {}", cert::date(facts.not_after)));
    }
    let left = facts.not_after - now;
    if left < RENEW_DAYS * DAY_SECS {
        return Some(match left / DAY_SECS {
            0 => "certificate expires in less than a day".to_string(),
            1 => "certificate expires in 1 day".to_string(),
            days => format!("certificate expires in {days} days"),
        });
    }
    if facts.not_before > now {
        return Some(format!(
            "certificate is not valid until {} (was the clock changed?)",
            cert::date(facts.not_before)
        ));
    }
    let missing = cert::missing(&facts.sans, wanted);
    if !missing.is_empty() {
        return Some(format!("certificate does not cover {}", missing.join(", ")));
    }
    None
}

fn check_not_expired(path: &Path, facts: &CertFacts, now: i64) -> Result<(), TlsError> {
    if facts.not_after <= now {
        return Err(TlsError::Expired { path: path.to_path_buf(), date: cert::date(facts.not_after) });
    }
    Ok(())
}

/// Problems a custom certificate can be served with, but that the user should hear about.
fn warn_about_custom(path: &Path, facts: &CertFacts, now: i64) {
    let path = path.display();
    if facts.not_after - now < RENEW_DAYS * DAY_SECS {
        tracing::warn!("the custom certificate {path} expires on {}; renew it soon", cert::date(facts.not_after));
    }
    if facts.not_before > now {
        tracing::warn!(
            "the custom certificate {path} is not valid until {}; headsets will reject it until then",
            cert::date(facts.not_before)
        );
    }
    if facts.sans.is_empty() {
        tracing::warn!("the custom certificate {path} has no subject alternative names; browsers will reject it");
    }
}

/// Logs an error once (ensure() runs periodically), and forgets it once things work again.
fn note_result(book: &mut Book, result: &Result<CertInfo, TlsError>) {
    match result {
        Ok(_) => book.logged_error = None,
        Err(e) => {
            let msg = e.to_string();
            if book.logged_error.as_ref() != Some(&msg) {
                tracing::error!("certificate: {msg}");
                book.logged_error = Some(msg);
            }
        }
    }
}

/// Configured extra names that can be SANs; the rest are logged and dropped (otherwise they would
/// count as missing forever and force a regeneration at every check).
fn valid_names(names: Vec<String>) -> Vec<Name> {
    let mut out = Vec::new();
    for raw in names {
        match Name::parse(&raw) {
            Some(name) => push_unique(&mut out, name),
            None => tracing::warn!("ignoring certificate name {raw:?}: expected an IP address or a DNS name"),
        }
    }
    out
}

/// The names the certificate must cover: the LAN IPs, then the configured extra names.
fn wanted_names(lan_ips: &[Ipv4Addr], extra: &[Name]) -> Vec<Name> {
    let mut wanted = Vec::new();
    for ip in lan_ips.iter().filter(|ip| !ip.is_unspecified()) {
        push_unique(&mut wanted, Name::Ip(IpAddr::V4(*ip)));
    }
    for name in extra {
        push_unique(&mut wanted, name.clone());
    }
    wanted
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)).unwrap_or(0)
}

fn read_if_exists(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The fingerprint the previous run recorded, if it did.
fn read_state(path: &Path) -> Option<String> {
    let bytes = match read_if_exists(path) {
        Ok(bytes) => bytes?,
        Err(e) => {
            tracing::warn!("cannot read {}: {e}", path.display());
            return None;
        }
    };
    match serde_json::from_slice::<StateFile>(&bytes) {
        Ok(state) => Some(state.fingerprint_sha256),
        Err(e) => {
            tracing::warn!("ignoring {}: {e}", path.display());
            None
        }
    }
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// Writes via a temp file in the same directory and a rename, so a crash never leaves half a file.
/// `private` files are created mode 0600 on unix (the key must never be readable by others, not
/// even briefly).
fn write_atomic(path: &Path, data: &[u8], private: bool) -> Result<(), TlsError> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.{}.tmp", std::process::id(), TMP_SEQ.fetch_add(1, Ordering::Relaxed)));
    let result = write_new(&tmp, data, private).and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|source| TlsError::Write { path: path.to_path_buf(), source })
}

fn write_new(path: &Path, data: &[u8], private: bool) -> io::Result<()> {
    let mut options = fs::OpenOptions::new();
    // create_new: never follow or reuse something already at the temp name.
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    #[cfg(not(unix))]
    let _ = private;
    let mut file = options.open(path)?;
    file.write_all(data)?;
    file.sync_all()
}

/// A saved key readable by other users (copied around, or from an older version) is made private.
#[cfg(unix)]
fn make_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = fs::metadata(path) else {
        return;
    };
    if meta.permissions().mode() & 0o077 != 0 {
        match fs::set_permissions(path, fs::Permissions::from_mode(0o600)) {
            Ok(()) => tracing::warn!("{} was readable by other users; made it private (0600)", path.display()),
            Err(e) => tracing::warn!("{} is readable by other users and cannot be made private: {e}", path.display()),
        }
    }
}

#[cfg(not(unix))]
fn make_private(_path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    use rcgen::{CertificateParams, KeyPair};
    use x509_parser::extensions::GeneralName;
    use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_SIG_ECDSA_WITH_SHA256};
    use x509_parser::prelude::{FromDer, X509Certificate};

    // Test keys made with openssl: the same RSA key as PKCS#1 and PKCS#8, the same EC key as SEC1
    // and PKCS#8 (rcgen on ring can only sign with PKCS#8), and an encrypted PKCS#8 key.
    const RSA_PKCS1: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEpQIBAAKCAQEAqqYpaJ6A1MvYurYlTj7QxQNV0lhFhz/ttZeumd6TNZi5eSSQ
YUM6D+URTZE+sHR4p1GnIzNcAePNico8u71IpmGACZszSNFAMwx8ZHHLSsYcvmrZ
2Tx9bUKxHescu3KVNJvGfaAjgJDqJfk+6uneb5ovDNb1uXyZvdTPG6Wa3CaFX8AV
NIz3A/M4Zyvqh2CvpEu7Ej4pa8JtVw5f9Cj5v+imNVyvUhNqPxE+bMBnOMRzsFKa
R9E6Z4xqW9/hUdkQBzR24m9fQBTUv3jgF+pBCse65JDkHNzsAsVRzcVDc68RQ1bi
4n2I269CJQ2ciaZmMN2FVMoYC+71xbe7YOdlOQIDAQABAoIBACEC/+OzNez0ejq0
XccjM7PJD2MfnGOrpEqKy0YM3qFxp/+daSjHnoXQpGZDAMOV5HlJvHF80AG1ld9f
9hvDZDh7iA9TrLobcLXvZmjv8onGhWz4sqfpocHvMuA8yVQhuGdy8xT+U5/daM5r
xxYeo98nDo8HToXRatRkRKRuhuSrZZWffGBW3iPFRtjxTGJKze6IL3GsbwdnBMmi
2uU7Uxq1fiKRphz4L0sSLEZcEgM/mxCXfzqAJkQtn4oo5gPhuBsIPqqQzw14KXMi
ymcT9MyZp1ml4E8LcVKcI1WZJNE4Vcc+e/8t/N8WKBnYIK4Pqh4cWJ2w9qYFJpUP
iB7eHWECgYEA61zli0IxV87dOXugTOk/e9iNYvRqDM6Z1ksfR+/uSU3SffPmmDKW
cTkXCfTrXj0Qecoun0sXoom5Qy7r1aSNSX75NpgA4QLp8oozIj3OvzYQZY6SjGxy
XHd15mK2it3rX2haUqCms6sVYGUYjSw+ofAJ6VDk5SNNMBGMMCINXbUCgYEAuZyo
gIALIAW559sbE5ceffS7WzBJdMcJaLY+j4OEoJLd9vwf734vTqeHHwNQkKZgnYjh
Y6o7LEZDL73YdYzpo/KO0El5FOjRvE0Dj18gzNCByLB4q1kb7IJbDTSb5fhmyg3y
cTU9Scy/stKR8eFLp7SkJHmgNu1mwfvuifH0O/UCgYEAlrSJFr5vsfX3mZMbdaP0
zmw/PBmcvk6cGqdHhFyRi8aU/alrAhGCW0VfBzUYcONQ5Wscp0sB+0WMpwQoZkhT
X7g6A0cZaPrgqjjrvQUumSkZHq5IEDpwj9y+VaLnl8u5pwG+tCHCHFF0AqE5M0wd
XrvA3PC7YC1Wg2z5AukK/fECgYEAj6dBeoKfGZ+U7G9Vm2ngPZfF0aOjlm/dRl+W
N7iQUz6X7+neRZshvfxGxafpGKrMJ+CioGJF/dQ7d521A/WVdj/qbCYRQi+W8+ef
E72KQzo02EBMhEEpLXkOQ0AuUGRaGZOFyjxsPMvsqdfzAINf7GIQj/JaH2jJmOUF
D1plrmkCgYEAzP6jjoRVfcab2oa31pyLFVfcmdk9UkyTjPQ3vZg4UuxiDqzeifX5
HmWQsiVnkla4qGnOdUhXZN1X0izZaxyJVpTwsKSZnIC6jT4x4LD/0Rq+UbBKsVuu
SeUN05/TbPhIcbbToe8cD1AYjaX6bI7ZQk4ACDKgBgpgHS/tQQvDXEY=
-----END RSA PRIVATE KEY-----
";
    const RSA_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQCqpilonoDUy9i6
tiVOPtDFA1XSWEWHP+21l66Z3pM1mLl5JJBhQzoP5RFNkT6wdHinUacjM1wB482J
yjy7vUimYYAJmzNI0UAzDHxkcctKxhy+atnZPH1tQrEd6xy7cpU0m8Z9oCOAkOol
+T7q6d5vmi8M1vW5fJm91M8bpZrcJoVfwBU0jPcD8zhnK+qHYK+kS7sSPilrwm1X
Dl/0KPm/6KY1XK9SE2o/ET5swGc4xHOwUppH0TpnjGpb3+FR2RAHNHbib19AFNS/
eOAX6kEKx7rkkOQc3OwCxVHNxUNzrxFDVuLifYjbr0IlDZyJpmYw3YVUyhgL7vXF
t7tg52U5AgMBAAECggEAIQL/47M17PR6OrRdxyMzs8kPYx+cY6ukSorLRgzeoXGn
/51pKMeehdCkZkMAw5XkeUm8cXzQAbWV31/2G8NkOHuID1Osuhtwte9maO/yicaF
bPiyp+mhwe8y4DzJVCG4Z3LzFP5Tn91ozmvHFh6j3ycOjwdOhdFq1GREpG6G5Ktl
lZ98YFbeI8VG2PFMYkrN7ogvcaxvB2cEyaLa5TtTGrV+IpGmHPgvSxIsRlwSAz+b
EJd/OoAmRC2fiijmA+G4Gwg+qpDPDXgpcyLKZxP0zJmnWaXgTwtxUpwjVZkk0ThV
xz57/y383xYoGdggrg+qHhxYnbD2pgUmlQ+IHt4dYQKBgQDrXOWLQjFXzt05e6BM
6T972I1i9GoMzpnWSx9H7+5JTdJ98+aYMpZxORcJ9OtePRB5yi6fSxeiiblDLuvV
pI1Jfvk2mADhAunyijMiPc6/NhBljpKMbHJcd3XmYraK3etfaFpSoKazqxVgZRiN
LD6h8AnpUOTlI00wEYwwIg1dtQKBgQC5nKiAgAsgBbnn2xsTlx599LtbMEl0xwlo
tj6Pg4Sgkt32/B/vfi9Op4cfA1CQpmCdiOFjqjssRkMvvdh1jOmj8o7QSXkU6NG8
TQOPXyDM0IHIsHirWRvsglsNNJvl+GbKDfJxNT1JzL+y0pHx4UuntKQkeaA27WbB
++6J8fQ79QKBgQCWtIkWvm+x9feZkxt1o/TObD88GZy+Tpwap0eEXJGLxpT9qWsC
EYJbRV8HNRhw41DlaxynSwH7RYynBChmSFNfuDoDRxlo+uCqOOu9BS6ZKRkerkgQ
OnCP3L5VoueXy7mnAb60IcIcUXQCoTkzTB1eu8Dc8LtgLVaDbPkC6Qr98QKBgQCP
p0F6gp8Zn5Tsb1WbaeA9l8XRo6OWb91GX5Y3uJBTPpfv6d5FmyG9/EbFp+kYqswn
4KKgYkX91Dt3nbUD9ZV2P+psJhFCL5bz558TvYpDOjTYQEyEQSkteQ5DQC5QZFoZ
k4XKPGw8y+yp1/MAg1/sYhCP8lofaMmY5QUPWmWuaQKBgQDM/qOOhFV9xpvahrfW
nIsVV9yZ2T1STJOM9De9mDhS7GIOrN6J9fkeZZCyJWeSVrioac51SFdk3VfSLNlr
HIlWlPCwpJmcgLqNPjHgsP/RGr5RsEqxW65J5Q3Tn9Ns+EhxttOh7xwPUBiNpfps
jtlCTgAIMqAGCmAdL+1BC8NcRg==
-----END PRIVATE KEY-----
";
    const EC_SEC1: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIBKSILlCvQz+LoBrFGs1sXmi1GcHKyjV3HIJTSmBeHNyoAoGCCqGSM49
AwEHoUQDQgAE59WcyTABGri53TWgGHuyrEzDYJkYG+8aq8Afuqson5XT8LABQ1NK
hL4rrM6iEQI/mp0Z/Uw+LAkNRZE+4zEmIQ==
-----END EC PRIVATE KEY-----
";
    const EC_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgEpIguUK9DP4ugGsU
azWxeaLUZwcrKNXccglNKYF4c3KhRANCAATn1ZzJMAEauLndNaAYe7KsTMNgmRgb
7xqrwB+6qyifldPwsAFDU0qEviuszqIRAj+anRn9TD4sCQ1FkT7jMSYh
-----END PRIVATE KEY-----
";
    const EC_ENCRYPTED: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----
MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAh54tacF/dDUwICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEAIzmSZw8+Za6cJJju6GPasEgZAp
80eHMku3qBLXUDi2m4Q/1rWqmufX+ljZZEPnt6Lt6pJ9ZeuI7uEpuhTo7YWkB6eE
/7nwWv3yOAv80i62ri8O6XXokzhtLppMddX+k6bxKtSBvmewa8yjc+o0V/iJSxcH
XPGSALnbnFrbo74Xxow4zWU/8sAsbQFxuxlYQmZ3/LbUpTuUlwSwcu5b7AtfLuI=
-----END ENCRYPTED PRIVATE KEY-----
";

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn now() -> i64 {
        now_secs()
    }

    /// A certificate for `names`, valid `from`..`until` seconds from now, signed by `key_pem`
    /// (PKCS#8) or a fresh P-256 key. Returns (cert PEM, key PEM).
    fn make_cert(names: &[&str], from: i64, until: i64, key_pem: Option<&str>) -> (String, String) {
        let key = match key_pem {
            Some(pem) => KeyPair::from_pem(pem).unwrap(),
            None => KeyPair::generate().unwrap(),
        };
        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
        params.not_before = x509_parser::time::ASN1Time::from_timestamp(now() + from).unwrap().to_datetime();
        params.not_after = x509_parser::time::ASN1Time::from_timestamp(now() + until).unwrap().to_datetime();
        let cert = params.self_signed(&key).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    fn write(path: &Path, text: &str) {
        fs::write(path, text).unwrap();
    }

    fn snapshot(path: &Path) -> (Vec<u8>, SystemTime) {
        (fs::read(path).unwrap(), fs::metadata(path).unwrap().modified().unwrap())
    }

    fn custom(cert: &Path, key: Option<&Path>) -> Option<CustomCert> {
        Some(CustomCert { cert: cert.to_path_buf(), key: key.map(Path::to_path_buf) })
    }

    #[test]
    fn manager_is_send_sync_and_resolver_is_stable() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<CertManager>();
        let dir = tempfile::tempdir().unwrap();
        let mgr = CertManager::new(dir.path(), None, vec![]);
        assert!(format!("{mgr:?}").contains("serving: None"));
        assert!(mgr.info().is_none() && mgr.cert_pem().is_none() && mgr.cert_der().is_none());
        let before = mgr.resolver();
        mgr.ensure(&[]).unwrap();
        mgr.regenerate(&[], "test").unwrap();
        assert!(Arc::ptr_eq(&before, &mgr.resolver()));
    }

    #[test]
    fn generated_certificate_properties() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("nested/data");
        let mgr = CertManager::new(&data, None, vec!["gate.lan".into(), "10.9.8.7".into(), "bad name!".into()]);
        let t0 = now();
        let info = mgr.ensure(&[ip("192.168.1.20"), ip("0.0.0.0")]).unwrap();

        let der = mgr.cert_der().unwrap();
        assert_eq!(fs::read(data.join("cert.pem")).unwrap(), mgr.cert_pem().unwrap().as_bytes());
        let (_, x) = X509Certificate::from_der(&der).unwrap();

        // ECDSA P-256, signed with SHA-256, self-signed.
        let spki = x.public_key();
        assert_eq!(spki.algorithm.algorithm, OID_KEY_TYPE_EC_PUBLIC_KEY);
        let curve = spki.algorithm.parameters.as_ref().unwrap().as_oid().unwrap();
        assert_eq!(curve, OID_EC_P256);
        assert_eq!(x.signature_algorithm.algorithm, OID_SIG_ECDSA_WITH_SHA256);
        assert_eq!(x.issuer(), x.subject());
        let cn = x.subject().iter_common_name().next().unwrap().as_str().unwrap();
        assert_eq!(cn, cert::common_name());
        assert!(cn.starts_with("CXR Gate"));

        // serverAuth, digitalSignature, not a CA.
        let eku = x.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth);
        let ku = x.key_usage().unwrap().unwrap().value;
        assert!(ku.digital_signature());
        assert!(!ku.key_cert_sign());
        assert!(!x.is_ca());

        // Validity: from a day ago, for 365 days.
        let nb = x.validity().not_before.timestamp();
        let na = x.validity().not_after.timestamp();
        assert!((nb - (t0 - DAY_SECS)).abs() < 120, "not_before {nb}");
        assert!((na - (t0 + 365 * DAY_SECS)).abs() < 120, "not_after {na}");
        assert_eq!(info.not_before_ms, nb as u64 * 1000);
        assert_eq!(info.not_after_ms, na as u64 * 1000);

        // SANs: IPs as IP SANs, names as DNS SANs.
        let mut dns = Vec::new();
        let mut ips = Vec::new();
        for name in &x.subject_alternative_name().unwrap().unwrap().value.general_names {
            match name {
                GeneralName::DNSName(d) => dns.push(d.to_string()),
                GeneralName::IPAddress(b) => ips.push(b.to_vec()),
                other => panic!("unexpected SAN {other:?}"),
            }
        }
        let mut want_dns = vec!["localhost".to_string()];
        want_dns.extend(cert::host_name());
        want_dns.push("gate.lan".into());
        assert_eq!(dns, want_dns);
        let v6_loopback = Ipv6Addr::LOCALHOST.octets().to_vec();
        assert_eq!(ips, vec![vec![127, 0, 0, 1], v6_loopback, vec![192, 168, 1, 20], vec![10, 9, 8, 7]]);
        for s in ["localhost", "127.0.0.1", "::1", "192.168.1.20", "gate.lan", "10.9.8.7"] {
            assert!(info.sans.contains(&s.to_string()), "{s} in {:?}", info.sans);
        }

        // Info.
        assert_eq!(info.origin, CertOrigin::Generated);
        assert_eq!(info.fingerprint_sha256, cert::fingerprint(&der));
        assert_eq!(info.fingerprint_sha256.len(), 32 * 3 - 1);
        assert!(info
            .fingerprint_sha256
            .split(':')
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())));
        assert!(info.missing.is_empty());
        assert!(!info.changed_since_last_run);
        assert_eq!(info.regenerated_reason.as_deref(), Some("no certificate yet"));
        assert_eq!(info.cert_path, data.join("cert.pem").display().to_string());
        assert_eq!(mgr.info(), Some(info.clone()));
        assert!(!mgr.cert_pem().unwrap().contains("PRIVATE KEY"));

        // The saved key is the served one, and state records the fingerprint.
        let key_pem = fs::read(data.join("key.pem")).unwrap();
        cert::load_material(Path::new("c"), &fs::read(data.join("cert.pem")).unwrap(), Path::new("k"), &key_pem)
            .unwrap();
        let state = fs::read_to_string(data.join("cert-state.json")).unwrap();
        assert!(state.contains(&info.fingerprint_sha256), "{state}");

        // A second check with nothing new changes nothing.
        let again = mgr.ensure(&[ip("192.168.1.20")]).unwrap();
        assert_eq!(again, info);
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let mgr = CertManager::new(dir.path(), None, vec![]);
        mgr.ensure(&[]).unwrap();
        let key = dir.path().join("key.pem");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&key), 0o600);
        mgr.regenerate(&[], "test").unwrap();
        assert_eq!(mode(&key), 0o600);
        // No temp files left behind.
        let names: Vec<_> =
            fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");

        // A saved key that others can read is made private when loaded.
        fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
        CertManager::new(dir.path(), None, vec![]).ensure(&[]).unwrap();
        assert_eq!(mode(&key), 0o600);
    }

    #[test]
    fn reused_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let lan = [ip("192.168.1.20")];
        let first = CertManager::new(dir.path(), None, vec!["gate.lan".into()]).ensure(&lan).unwrap();
        let cert_before = snapshot(&dir.path().join("cert.pem"));
        std::thread::sleep(Duration::from_millis(20));

        let mgr = CertManager::new(dir.path(), None, vec!["GATE.lan".into()]);
        let second = mgr.ensure(&lan).unwrap();
        assert_eq!(second.fingerprint_sha256, first.fingerprint_sha256);
        assert!(!second.changed_since_last_run);
        assert_eq!(second.regenerated_reason, None);
        assert_eq!(snapshot(&dir.path().join("cert.pem")), cert_before);
        // Fewer LAN IPs than covered is fine too.
        assert_eq!(mgr.ensure(&[]).unwrap().fingerprint_sha256, first.fingerprint_sha256);
    }

    #[test]
    fn new_lan_ip_regenerates() {
        let dir = tempfile::tempdir().unwrap();
        let first = CertManager::new(dir.path(), None, vec![]).ensure(&[ip("192.168.1.10")]).unwrap();

        // Next run, on a new network.
        let mgr = CertManager::new(dir.path(), None, vec![]);
        let info = mgr.ensure(&[ip("192.168.1.10"), ip("192.168.1.20")]).unwrap();
        assert_ne!(info.fingerprint_sha256, first.fingerprint_sha256);
        assert_eq!(info.regenerated_reason.as_deref(), Some("certificate does not cover 192.168.1.20"));
        assert!(info.changed_since_last_run);
        assert!(info.sans.contains(&"192.168.1.20".to_string()));
        assert!(info.missing.is_empty());

        // Within the same run.
        let later = mgr.ensure(&[ip("10.0.0.7")]).unwrap();
        assert_ne!(later.fingerprint_sha256, info.fingerprint_sha256);
        assert_eq!(later.regenerated_reason.as_deref(), Some("certificate does not cover 10.0.0.7"));
        assert!(later.changed_since_last_run);

        // The run after that sees what was served last: no change.
        let next = CertManager::new(dir.path(), None, vec![]).ensure(&[ip("10.0.0.7")]).unwrap();
        assert_eq!(next.fingerprint_sha256, later.fingerprint_sha256);
        assert!(!next.changed_since_last_run);
    }

    #[test]
    fn new_extra_name_regenerates() {
        let dir = tempfile::tempdir().unwrap();
        let mgr = CertManager::new(dir.path(), None, vec![]);
        let first = mgr.ensure(&[]).unwrap();
        mgr.reconfigure(None, vec!["vr.example.com".into()]);
        let info = mgr.ensure(&[]).unwrap();
        assert_ne!(info.fingerprint_sha256, first.fingerprint_sha256);
        assert_eq!(info.regenerated_reason.as_deref(), Some("certificate does not cover vr.example.com"));
        assert!(info.sans.contains(&"vr.example.com".to_string()));

        // Across a restart, too.
        let other = CertManager::new(dir.path(), None, vec!["10.1.1.1".into()]);
        let info = other.ensure(&[]).unwrap();
        assert_eq!(info.regenerated_reason.as_deref(), Some("certificate does not cover 10.1.1.1"));
    }

    #[test]
    fn expiring_certificate_regenerates() {
        let dir = tempfile::tempdir().unwrap();
        let (cert_pem, key_pem) = make_cert(&["localhost", "127.0.0.1"], -DAY_SECS, 10 * DAY_SECS, None);
        write(&dir.path().join("cert.pem"), &cert_pem);
        write(&dir.path().join("key.pem"), &key_pem);
        let info = CertManager::new(dir.path(), None, vec![]).ensure(&[]).unwrap();
        let reason = info.regenerated_reason.unwrap();
        assert!(reason == "certificate expires in 9 days" || reason == "certificate expires in 10 days", "{reason}");
        assert!(info.changed_since_last_run);
        assert!(info.not_after_ms as i64 / 1000 > now() + 360 * DAY_SECS);

        // Already expired.
        let (cert_pem, key_pem) = make_cert(&["localhost"], -30 * DAY_SECS, -DAY_SECS, None);
        write(&dir.path().join("cert.pem"), &cert_pem);
        write(&dir.path().join("key.pem"), &key_pem);
        let info = CertManager::new(dir.path(), None, vec![]).ensure(&[]).unwrap();
        let reason = info.regenerated_reason.unwrap();
        assert!(reason.starts_with("certificate expired on "), "{reason}");

        // Not valid yet (the clock went back).
        let (cert_pem, key_pem) = make_cert(&["localhost"], 5 * DAY_SECS, 100 * DAY_SECS, None);
        write(&dir.path().join("cert.pem"), &cert_pem);
        write(&dir.path().join("key.pem"), &key_pem);
        let info = CertManager::new(dir.path(), None, vec![]).ensure(&[]).unwrap();
        assert!(info.regenerated_reason.unwrap().contains("not valid until"));
    }

    #[test]
    fn mismatched_key_regenerates() {
        let dir = tempfile::tempdir().unwrap();
        let first = CertManager::new(dir.path(), None, vec![]).ensure(&[]).unwrap();
        write(&dir.path().join("key.pem"), &KeyPair::generate().unwrap().serialize_pem());
        let info = CertManager::new(dir.path(), None, vec![]).ensure(&[]).unwrap();
        assert_ne!(info.fingerprint_sha256, first.fingerprint_sha256);
        let reason = info.regenerated_reason.unwrap();
        assert!(reason.contains("does not match the certificate"), "{reason}");
        assert!(info.changed_since_last_run);
        // What was saved now belongs together.
        let again = CertManager::new(dir.path(), None, vec![]).ensure(&[]).unwrap();
        assert_eq!(again.fingerprint_sha256, info.fingerprint_sha256);
    }

    #[test]
    fn corrupt_or_missing_files_regenerate() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let fresh = || CertManager::new(dir.path(), None, vec![]).ensure(&[]).unwrap();
        let mut last = fresh().fingerprint_sha256;

        type Damage<'a> = Box<dyn Fn() + 'a>;
        let cases: Vec<(Damage, &str)> = vec![
            (Box::new(|| write(&cert, "garbage\n")), "no PEM certificate in"),
            (
                Box::new(|| write(&cert, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")),
                "cannot be parsed",
            ),
            (Box::new(|| write(&key, "not a key")), "no private key in"),
            (Box::new(|| fs::remove_file(&key).unwrap()), "key.pem is missing"),
            (Box::new(|| fs::remove_file(&cert).unwrap()), "cert.pem is missing"),
        ];
        for (damage, expected) in cases {
            damage();
            let info = fresh();
            let reason = info.regenerated_reason.unwrap();
            assert!(reason.contains(expected), "{reason:?} should contain {expected:?}");
            assert_ne!(info.fingerprint_sha256, last);
            assert!(info.changed_since_last_run);
            last = info.fingerprint_sha256;
        }

        // A corrupt state file only loses the comparison.
        write(&dir.path().join("cert-state.json"), "{oops");
        let info = fresh();
        assert_eq!(info.fingerprint_sha256, last);
        assert!(!info.changed_since_last_run);
    }

    #[test]
    fn first_run_and_lost_state() {
        let dir = tempfile::tempdir().unwrap();
        let first = CertManager::new(dir.path(), None, vec![]).ensure(&[]).unwrap();
        assert!(!first.changed_since_last_run);
        // Files gone but the record kept: the new certificate is a change headsets must know of.
        fs::remove_file(dir.path().join("cert.pem")).unwrap();
        fs::remove_file(dir.path().join("key.pem")).unwrap();
        let info = CertManager::new(dir.path(), None, vec![]).ensure(&[]).unwrap();
        assert_eq!(info.regenerated_reason.as_deref(), Some("no certificate yet"));
        assert!(info.changed_since_last_run);
    }

    #[test]
    fn regenerate_forces_a_new_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let mgr = CertManager::new(dir.path(), None, vec![]);
        let first = mgr.ensure(&[ip("192.168.1.20")]).unwrap();
        let info = mgr.regenerate(&[ip("192.168.1.20")], "requested from the tray").unwrap();
        assert_ne!(info.fingerprint_sha256, first.fingerprint_sha256);
        assert_eq!(info.regenerated_reason.as_deref(), Some("requested from the tray"));
        assert!(info.changed_since_last_run);
        assert!(info.sans.contains(&"192.168.1.20".to_string()));
        assert_eq!(mgr.info().unwrap(), info);
        let reloaded = CertManager::new(dir.path(), None, vec![]).ensure(&[]).unwrap();
        assert_eq!(reloaded.fingerprint_sha256, info.fingerprint_sha256);
    }

    #[test]
    fn custom_combined_pem_is_served_untouched() {
        let data = tempfile::tempdir().unwrap();
        let certs = tempfile::tempdir().unwrap();
        let (cert_pem, key_pem) = make_cert(&["gate.example.com", "10.0.0.5"], -DAY_SECS, 90 * DAY_SECS, None);
        let server_pem = certs.path().join("server.pem");
        write(&server_pem, &format!("{cert_pem}{key_pem}"));
        let before = snapshot(&server_pem);
        std::thread::sleep(Duration::from_millis(20));

        let mgr = CertManager::new(data.path(), custom(&server_pem, None), vec!["gate.example.com".into()]);
        let info = mgr.ensure(&[ip("10.0.0.5"), ip("192.168.1.50")]).unwrap();
        assert_eq!(info.origin, CertOrigin::Custom);
        assert_eq!(info.missing, vec!["192.168.1.50".to_string()]);
        assert_eq!(info.sans, vec!["gate.example.com".to_string(), "10.0.0.5".to_string()]);
        assert_eq!(info.cert_path, server_pem.display().to_string());
        assert_eq!(info.regenerated_reason, None);
        assert!(!info.changed_since_last_run);
        let der = mgr.cert_der().unwrap();
        assert_eq!(info.fingerprint_sha256, cert::fingerprint(&der));
        // The served PEM is the chain only, never the key from the combined file.
        let served = mgr.cert_pem().unwrap();
        assert!(served.contains("BEGIN CERTIFICATE") && !served.contains("PRIVATE KEY"));

        let err = mgr.regenerate(&[ip("192.168.1.50")], "test").unwrap_err();
        assert!(err.to_string().starts_with("a custom certificate is configured; "), "{err}");
        assert_eq!(mgr.info().unwrap(), info);
        mgr.ensure(&[ip("192.168.1.51")]).unwrap();

        // Never modified, and nothing generated.
        assert_eq!(snapshot(&server_pem), before);
        assert!(!data.path().join("cert.pem").exists());
        assert!(!data.path().join("key.pem").exists());
    }

    #[test]
    fn custom_separate_files_every_key_format() {
        let data = tempfile::tempdir().unwrap();
        let certs = tempfile::tempdir().unwrap();
        let cases = [
            ("rsa-pkcs1", RSA_PKCS8, RSA_PKCS1),
            ("rsa-pkcs8", RSA_PKCS8, RSA_PKCS8),
            ("ec-sec1", EC_PKCS8, EC_SEC1),
            ("ec-pkcs8", EC_PKCS8, EC_PKCS8),
        ];
        for (label, signing, stored) in cases {
            let (cert_pem, _) = make_cert(&["*.example.com", "192.168.1.20"], -DAY_SECS, 90 * DAY_SECS, Some(signing));
            let cert_path = certs.path().join(format!("{label}.crt"));
            let key_path = certs.path().join(format!("{label}.key"));
            write(&cert_path, &cert_pem);
            write(&key_path, stored);
            let before = (snapshot(&cert_path), snapshot(&key_path));

            let inspected =
                super::super::inspect_custom(&cert_path, Some(&key_path)).unwrap_or_else(|e| panic!("{label}: {e}"));
            assert_eq!(inspected.origin, CertOrigin::Custom);

            let mgr = CertManager::new(data.path(), custom(&cert_path, Some(&key_path)), vec!["vr.example.com".into()]);
            let info = mgr.ensure(&[ip("192.168.1.20")]).unwrap_or_else(|e| panic!("{label}: {e}"));
            assert_eq!(info.fingerprint_sha256, inspected.fingerprint_sha256, "{label}");
            // The wildcard covers vr.example.com.
            assert!(info.missing.is_empty(), "{label}: {:?}", info.missing);
            assert_eq!(mgr.info().unwrap().fingerprint_sha256, info.fingerprint_sha256);
            assert_eq!((snapshot(&cert_path), snapshot(&key_path)), before, "{label}");
        }
    }

    #[test]
    fn custom_bad_files_say_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let p = |name: &str| dir.path().join(name);
        let (cert_pem, key_pem) = make_cert(&["localhost"], -DAY_SECS, 90 * DAY_SECS, None);
        let (other_cert, _) = make_cert(&["localhost"], -DAY_SECS, 90 * DAY_SECS, None);
        let (expired_cert, expired_key) = make_cert(&["localhost"], -90 * DAY_SECS, -2 * DAY_SECS, None);
        write(&p("cert.crt"), &cert_pem);
        write(&p("key.pem"), &key_pem);
        write(&p("other.crt"), &other_cert);
        write(&p("expired.pem"), &format!("{expired_cert}{expired_key}"));
        write(&p("enc.key"), EC_ENCRYPTED);
        write(&p("empty.txt"), "");
        write(&p("broken.crt"), "-----BEGIN CERTIFICATE-----\nMIIB\n");

        let check = |cert: &str, key: Option<&str>, expected: String| {
            let key_path = key.map(p);
            let err = super::super::inspect_custom(&p(cert), key_path.as_deref()).unwrap_err();
            assert!(err.to_string().starts_with(&expected), "{err} should start with {expected}");
            // The same error from the manager.
            let mgr = CertManager::new(dir.path(), custom(&p(cert), key_path.as_deref()), vec![]);
            assert_eq!(mgr.ensure(&[]).unwrap_err().to_string(), err.to_string());
            assert!(mgr.info().is_none());
        };
        let d = |name: &str| p(name).display().to_string();
        check("key.pem", Some("key.pem"), format!("no PEM certificate in {}", d("key.pem")));
        check("empty.txt", None, format!("no PEM certificate in {}", d("empty.txt")));
        check("cert.crt", None, format!("no private key in {} (expected -----BEGIN PRIVATE KEY-----)", d("cert.crt")));
        check(
            "other.crt",
            Some("key.pem"),
            format!("the private key in {} does not match the certificate", d("key.pem")),
        );
        check("expired.pem", None, format!("certificate {} expired on ", d("expired.pem")));
        check("cert.crt", Some("enc.key"), format!("the private key in {} is encrypted", d("enc.key")));
        check("missing.crt", None, format!("cannot read {}", d("missing.crt")));
        check("cert.crt", Some("missing.key"), format!("cannot read {}", d("missing.key")));
        check("broken.crt", Some("key.pem"), format!("{} is not valid PEM", d("broken.crt")));
    }

    #[test]
    fn bad_custom_certificate_keeps_serving_the_old_one() {
        let data = tempfile::tempdir().unwrap();
        let certs = tempfile::tempdir().unwrap();
        let mgr = CertManager::new(data.path(), None, vec![]);
        let generated = mgr.ensure(&[]).unwrap();
        let generated_der = mgr.cert_der().unwrap();

        let server_pem = certs.path().join("server.pem");
        write(&server_pem, "nothing here");
        mgr.reconfigure(custom(&server_pem, None), vec![]);
        let err = mgr.ensure(&[]).unwrap_err();
        assert!(err.to_string().starts_with("no PEM certificate in"), "{err}");
        assert_eq!(mgr.info().unwrap(), generated);
        assert_eq!(mgr.cert_der().unwrap(), generated_der);

        // Fixed: the custom one is served now, a change for headsets.
        let (cert_pem, key_pem) = make_cert(&["localhost"], -DAY_SECS, 90 * DAY_SECS, None);
        write(&server_pem, &format!("{cert_pem}{key_pem}"));
        let custom_info = mgr.ensure(&[]).unwrap();
        assert_eq!(custom_info.origin, CertOrigin::Custom);
        assert!(custom_info.changed_since_last_run);
        assert_ne!(mgr.cert_der().unwrap(), generated_der);

        // Broken again: the custom one stays.
        write(&server_pem, &cert_pem);
        assert!(mgr.ensure(&[]).unwrap_err().to_string().starts_with("no private key in"));
        assert_eq!(mgr.info().unwrap().fingerprint_sha256, custom_info.fingerprint_sha256);

        // Renewed on disk: picked up at the next check.
        let (cert2, key2) = make_cert(&["localhost"], -DAY_SECS, 90 * DAY_SECS, None);
        write(&server_pem, &format!("{cert2}{key2}"));
        let renewed = mgr.ensure(&[]).unwrap();
        assert_ne!(renewed.fingerprint_sha256, custom_info.fingerprint_sha256);

        // Custom removed: back to the saved generated certificate.
        mgr.reconfigure(None, vec![]);
        let back = mgr.ensure(&[]).unwrap();
        assert_eq!(back.origin, CertOrigin::Generated);
        assert_eq!(back.fingerprint_sha256, generated.fingerprint_sha256);
        assert!(!back.changed_since_last_run, "the previous run's certificate again");
        assert_eq!(mgr.cert_der().unwrap(), generated_der);
    }
}
