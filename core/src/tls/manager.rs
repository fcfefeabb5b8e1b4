//! The certificate manager: owns the certificate the listener serves. For a generated certificate
//! it keeps the local CA (`ca.pem`, `ca-key.pem`) and the serving certificate it issued (`cert.pem`
//! with the chain, `key.pem`) in the data dir, reuses them across restarts and re-issues the serving
//! certificate — silently for devices that trust the CA — when it is missing, broken, expiring, or
//! does not cover the LAN IPs and configured names (a new one keeps the LAN IPs seen lately, so an
//! adapter away at one start is still covered when it returns). Or it serves a user-supplied certificate, never
//! touching its files (and shows no CA). Every change goes into the resolver, so the next handshake
//! gets it while open sessions keep theirs. File names and writes live in [`super::store`], the
//! rules for re-issuing in [`super::policy`], the CA itself in [`super::ca`], its files and when a
//! new one may be made in [`local_ca`]. Every operation starts the same way ([`CertManager::begin`]):
//! this manager's state, then the data dir's lock, waited for at most [`LOCK_WAIT`].

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use rustls::server::ResolvesServerCert;

use super::ca::Ca;
use super::cert::{self, push_unique, CertFacts, Material, Name, DAY_SECS};
use super::lock::{FilesLock, LOCK_WAIT};
use super::policy::{self, BACKDATE_DAYS, VALIDITY_DAYS};
use super::resolver::SwapResolver;
use super::store::{StateFile, Store, CA_FILE, CERT_FILE, KEY_FILE};
use crate::config::CustomCert;
use crate::status::{now_ms, CaInfo, CertInfo, CertOrigin};

mod files;
mod local_ca;

use super::TlsError;
use files::{CustomSource, Disk, Saved, SavedFiles};
use local_ca::{CaWatch, LocalCa};

/// Keeps the served certificate current. Send + Sync; the read methods are lock-free.
pub struct CertManager {
    store: Store,
    resolver: Arc<SwapResolver>,
    /// What info()/cert_pem()/ca_pem()… return; replaced whole whenever it changes.
    served: ArcSwapOption<Served>,
    /// Serializes ensure()/regenerate()/rotate_ca()/reconfigure() (file I/O and key generation).
    inner: Mutex<Inner>,
    /// How long an operation waits for the data dir's lock before it gives up with an error.
    lock_wait: Duration,
}

impl std::fmt::Debug for CertManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let info = self.served.load();
        f.debug_struct("CertManager")
            .field("data_dir", &self.store.dir())
            .field("serving", &info.as_ref().map(|s| &s.info.fingerprint_sha256))
            .finish_non_exhaustive()
    }
}

struct Served {
    info: CertInfo,
    chain_pem: String,
    leaf_der: Vec<u8>,
    /// The local CA, for `/ca.crt` and `/ca.pem` (none with a custom certificate).
    ca_der: Option<Vec<u8>>,
}

struct Inner {
    custom: Option<CustomCert>,
    extra: Vec<Name>,
    current: Option<Current>,
    ca: Option<LocalCa>,
    book: Book,
}

/// Bookkeeping across ensure() calls.
#[derive(Default)]
struct Book {
    /// What headsets are assumed to trust: the fingerprint the previous run recorded in
    /// cert-state.json, else the first one this run serves. An empty string stands for a saved
    /// certificate of unknown fingerprint that was replaced (so any new one is a change).
    baseline: Option<String>,
    /// The same for the CA.
    ca_baseline: Option<String>,
    /// What cert-state.json holds now.
    recorded: Option<StateFile>,
    /// The fingerprint in the resolver.
    served: Option<String>,
    /// The certificate issued last in this run, and why.
    generated: Option<(String, String)>,
    /// Shown with the certificate for the rest of the run (the switch to the local CA).
    notice: Option<String>,
    /// What happened since the caller last asked ([`CertManager::take_events`]).
    events: Vec<CertEvent>,
    /// Why the files on disk could not be brought back to what is in use, while that lasts.
    unsaved: Option<String>,
    /// When each wanted LAN address was last seen; those seen lately stay in new certificates.
    seen: policy::Seen,
    /// The CA's files as the last checks found them.
    ca_files: CaWatch,
    /// A serving certificate and key that did not match at the last check (see `ca_files`).
    cert_mismatch: Option<SavedFiles>,
}

impl Book {
    /// Adds to what is shown with the certificate for the rest of the run.
    fn note(&mut self, text: String) {
        self.notice = Some(match self.notice.take() {
            Some(before) => format!("{before}\n{text}"),
            None => text,
        });
    }
}

/// One operation's hold: this manager's state and the data dir's lock (taken in that order, and
/// only by [`CertManager::begin`]), with the names wanted now.
struct Turn<'a> {
    inner: MutexGuard<'a, Inner>,
    files: FilesLock,
    wanted: Vec<Name>,
}

/// Something the manager did on its own, for the caller to tell the user (it logs nothing twice
/// itself: what is a state, like an error or a gap in the names, is in the [`CertInfo`] instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertEvent {
    /// Damaged or deleted files were rewritten from memory: same certificate or CA, still trusted.
    Repaired(String),
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

impl CertManager {
    pub fn new(data_dir: &Path, custom: Option<CustomCert>, extra_names: Vec<String>) -> Self {
        let store = Store::new(data_dir);
        let previous_run = store.read_state();
        let seen = previous_run
            .iter()
            .flat_map(|s| &s.lan_last_seen)
            .filter_map(|(ip, last)| Some((ip.parse::<Ipv4Addr>().ok()?, *last)))
            .collect();
        let book = Book {
            seen,
            baseline: previous_run.as_ref().map(|s| s.fingerprint_sha256.clone()),
            ca_baseline: previous_run.as_ref().and_then(|s| s.ca_fingerprint_sha256.clone()),
            recorded: previous_run,
            ..Book::default()
        };
        CertManager {
            store,
            resolver: Arc::new(SwapResolver::default()),
            served: ArcSwapOption::default(),
            inner: Mutex::new(Inner { custom, extra: policy::valid_names(extra_names), current: None, ca: None, book }),
            lock_wait: LOCK_WAIT,
        }
    }

    /// The same manager with another limit on the wait for the data dir's lock (tests).
    #[cfg(test)]
    pub(crate) fn with_lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    /// How every operation starts: this manager's state; for an operation on the generated
    /// certificate, an error if a custom one is configured (before any file is touched); then the
    /// data dir's lock; then the LAN addresses noted and the names wanted.
    fn begin(&self, lan_ips: &[Ipv4Addr], generated_only: bool) -> Result<Turn<'_>, TlsError> {
        let mut inner = self.lock();
        if let Some(custom) = inner.custom.as_ref().filter(|_| generated_only) {
            return Err(TlsError::CustomConfigured { path: custom.cert.clone() });
        }
        let files = self.store.lock(self.lock_wait)?;
        policy::note_seen(&mut inner.book.seen, lan_ips, now_secs());
        let wanted = policy::wanted_names(lan_ips, &inner.extra);
        Ok(Turn { inner, files, wanted })
    }

    /// Makes sure a usable certificate is loaded for the current LAN IPv4s and swaps it into the resolver; returns its info.
    pub fn ensure(&self, lan_ips: &[Ipv4Addr]) -> Result<CertInfo, TlsError> {
        let Turn { mut inner, mut files, wanted } = self.begin(lan_ips, false)?;
        match inner.custom.clone() {
            Some(custom) => self.ensure_custom(&mut inner, &custom, &wanted),
            None => self.ensure_generated(&mut inner, &mut files, &wanted),
        }
    }

    /// Issues a new serving certificate now, from the same CA (an error for a custom certificate).
    pub fn regenerate(&self, lan_ips: &[Ipv4Addr], reason: &str) -> Result<CertInfo, TlsError> {
        let Turn { mut inner, mut files, wanted } = self.begin(lan_ips, true)?;
        self.ensure_ca(&mut inner, &mut files, &wanted)?;
        let existed =
            inner.current.is_some() || self.store.path(CERT_FILE).exists() || self.store.path(KEY_FILE).exists();
        self.generate(&mut inner, &wanted, reason, existed)
    }

    /// Replaces the local CA (and so the serving certificate): every device that installed the old
    /// CA must install the new one. Its name constraints take in today's names. An error for a
    /// custom certificate.
    pub fn rotate_ca(&self, lan_ips: &[Ipv4Addr], reason: &str) -> Result<CertInfo, TlsError> {
        // The CA and the certificate are replaced as one step for every other reader (the lock).
        let Turn { mut inner, files: _files, wanted } = self.begin(lan_ips, true)?;
        self.create_ca(&mut inner, &wanted, reason, true)?;
        self.generate(&mut inner, &wanted, &format!("new CA ({reason})"), true)
    }

    /// New custom-cert / extra names config; takes effect at the next ensure().
    pub fn reconfigure(&self, custom: Option<CustomCert>, extra_names: Vec<String>) {
        let mut inner = self.lock();
        inner.custom = custom;
        inner.extra = policy::valid_names(extra_names);
    }

    /// Always the same resolver; the certificate swaps inside it.
    pub fn resolver(&self) -> Arc<dyn ResolvesServerCert> {
        self.resolver.clone()
    }

    pub fn info(&self) -> Option<CertInfo> {
        self.served.load().as_ref().map(|s| s.info.clone())
    }

    /// The served certificate's SHA-256 fingerprint alone: read at every handshake (the headset
    /// book), where a clone of the whole `CertInfo` would be wasted.
    pub fn fingerprint(&self) -> Option<String> {
        self.served.load().as_ref().map(|s| s.info.fingerprint_sha256.clone())
    }

    /// The served chain, PEM (for GET /cert.pem).
    pub fn cert_pem(&self) -> Option<String> {
        self.served.load().as_ref().map(|s| s.chain_pem.clone())
    }

    /// The leaf, DER (for GET /cert.crt).
    pub fn cert_der(&self) -> Option<Vec<u8>> {
        self.served.load().as_ref().map(|s| s.leaf_der.clone())
    }

    /// The local CA, DER (for GET /ca.crt); `None` with a custom certificate.
    pub fn ca_der(&self) -> Option<Vec<u8>> {
        self.served.load().as_ref().and_then(|s| s.ca_der.clone())
    }

    /// The local CA, PEM (for GET /ca.pem).
    pub fn ca_pem(&self) -> Option<String> {
        self.ca_der().map(|der| cert::pem_encode("CERTIFICATE", &der))
    }

    /// What happened since the last call, oldest first.
    pub fn take_events(&self) -> Vec<CertEvent> {
        std::mem::take(&mut self.lock().book.events)
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
                policy::check_not_expired(&cur.cert_path, &cur.material.facts, now)?;
                cur
            }
            slot => {
                let material = source.load()?;
                policy::check_not_expired(&custom.cert, &material.facts, now)?;
                policy::warn_about_custom(&custom.cert, &material.facts, now);
                slot.insert(Current::new(CertOrigin::Custom, material, custom.cert.clone(), Some(source)))
            }
        };
        Ok(self.serve(book, cur, None, wanted))
    }

    fn ensure_generated(
        &self,
        inner: &mut Inner,
        files: &mut FilesLock,
        wanted: &[Name],
    ) -> Result<CertInfo, TlsError> {
        self.ensure_ca(inner, files, wanted)?;
        let now = now_secs();
        let Inner { current, book, ca: Some(local), .. } = &mut *inner else {
            return Err(TlsError::Generate("no CA".into()));
        };
        let (inside, _) = policy::within_ca(wanted, &local.ca.facts);
        let good = |m: &Material| policy::problem(&m.facts, &inside, local.ca.signed(&m.leaf_der()), now);
        let (reason, existed) = match current {
            // 1. The serving certificate already in use, if it is still good.
            Some(cur) if cur.origin == CertOrigin::Generated => match good(&cur.material) {
                None => match files::check_saved(&self.store, book, cur) {
                    Disk::Intact => return Ok(self.serve(book, cur, Some(&local.ca), wanted)),
                    // Someone put another good pair there: serve that, as the next start would.
                    Disk::Replaced(material, saved) => {
                        let next = Current::generated(material, self.store.path(CERT_FILE), saved);
                        if good(&next.material).is_none() {
                            tracing::warn!(
                                "the certificate in {} was replaced; serving it",
                                self.store.dir().display()
                            );
                            let cur = current.insert(next);
                            return Ok(self.serve(book, cur, Some(&local.ca), wanted));
                        }
                        let what = format!(
                            "{} was replaced by a certificate that does not fit",
                            self.store.path(CERT_FILE).display()
                        );
                        files::restore_saved(&self.store, book, cur, &what);
                        return Ok(self.serve(book, cur, Some(&local.ca), wanted));
                    }
                },
                Some(reason) => match files::load_saved(&self.store) {
                    // Another process issued a good one already (`--rotate-ca`): serve it, not a third.
                    Saved::Usable(material, saved)
                        if material.facts.fingerprint != cur.material.facts.fingerprint
                            && good(&material).is_none() =>
                    {
                        let cur = current.insert(Current::generated(material, self.store.path(CERT_FILE), saved));
                        return Ok(self.serve(book, cur, Some(&local.ca), wanted));
                    }
                    _ => (reason, true),
                },
            },
            // 2. The one saved by an earlier run.
            slot => match files::load_saved(&self.store) {
                Saved::Usable(material, saved) => match good(&material) {
                    None => {
                        let cur = slot.insert(Current::generated(material, self.store.path(CERT_FILE), saved));
                        return Ok(self.serve(book, cur, Some(&local.ca), wanted));
                    }
                    // A certificate from before the local CA: switched once, and said so.
                    Some(_) if material.chain.len() == 1 && self_signed(&material) => {
                        book.notice = Some(format!(
                            "CXR Gate now issues its certificate from its own CA (\"{}\"): headsets must accept the \
                             certificate once more on the trust page — or install the CA once (/ca.crt) and never see \
                             a warning again",
                            local.ca.facts.common_name
                        ));
                        if let Some(n) = &book.notice {
                            tracing::warn!("{n}");
                        }
                        ("switched to a certificate issued by the local CA".to_string(), true)
                    }
                    Some(reason) => (reason, true),
                },
                Saved::Unusable { reason, existed } => (reason, existed),
                Saved::Mismatched(reason) => (reason, true),
            },
        };
        // 3. A new one.
        self.generate(inner, wanted, &reason, existed)
    }

    /// Issues, saves and serves a new serving certificate from the CA in `inner`.
    fn generate(&self, inner: &mut Inner, wanted: &[Name], reason: &str, existed: bool) -> Result<CertInfo, TlsError> {
        let Some(local) = &inner.ca else {
            return Err(TlsError::Generate("no CA to issue from".into()));
        };
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
        // Addresses whose adapter is away for now (the Wi-Fi not connected yet) stay covered.
        for ip in policy::retained(&inner.book.seen, now) {
            push_unique(&mut names, Name::Ip(IpAddr::V4(ip)));
        }
        // A name outside the CA's constraints would make clients reject the whole certificate.
        let (names, _) = policy::within_ca(&names, &local.ca.facts);
        let generated = local.ca.issue(&names, now - BACKDATE_DAYS * DAY_SECS, now + VALIDITY_DAYS * DAY_SECS)?;
        let fingerprint = generated.material.facts.fingerprint.clone();
        if existed {
            tracing::warn!(
                "issuing a new certificate: {reason} (SHA-256 {fingerprint}); devices that installed the CA keep \
                 trusting it, others must accept it once more"
            );
        } else {
            tracing::info!("issuing a certificate: {reason} (SHA-256 {fingerprint})");
        }
        if let Err(e) =
            self.store.write_pair(CERT_FILE, generated.cert_pem.as_bytes(), KEY_FILE, generated.key_pem.as_bytes())
        {
            // Serving it still beats serving nothing; the periodic check retries the save.
            tracing::error!("{e}; the new certificate is served but will change at the next start");
        }
        let saved = SavedFiles { cert: generated.cert_pem.into_bytes(), key: generated.key_pem.into_bytes() };
        if existed {
            // Replacing a saved certificate is a change even without a record of it.
            inner.book.baseline.get_or_insert_with(String::new);
        }
        inner.book.generated = Some((fingerprint, reason.to_string()));
        let cur = Current::generated(generated.material, self.store.path(CERT_FILE), saved);
        let info = self.serve(&mut inner.book, &cur, Some(&local.ca), wanted);
        inner.current = Some(cur);
        Ok(info)
    }

    /// Puts `cur` into the resolver if it is not there yet, and publishes its info.
    fn serve(&self, book: &mut Book, cur: &Current, ca: Option<&Ca>, wanted: &[Name]) -> CertInfo {
        let facts = &cur.material.facts;
        let fingerprint = &facts.fingerprint;
        let ca_fp = ca.map(|c| c.facts.fingerprint.clone());
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
        }
        if let Some(fp) = &ca_fp {
            book.ca_baseline.get_or_insert_with(|| fp.clone());
        }
        self.record(book, fingerprint, cur.origin, ca_fp.clone());

        let (inside, outside) = match ca {
            Some(ca) => policy::within_ca(wanted, &ca.facts),
            None => (wanted.to_vec(), Vec::new()),
        };
        let missing = cert::missing(&facts.sans, &inside);
        let outside: Vec<String> = outside.iter().map(ToString::to_string).collect();

        let regenerated_reason = match (&book.generated, cur.origin) {
            (Some((fp, reason)), CertOrigin::Generated) if fp == fingerprint => Some(reason.clone()),
            _ => None,
        };
        let ca_info = ca.map(|c| CaInfo {
            changed_since_last_run: book.ca_baseline.as_ref() != Some(&c.facts.fingerprint),
            damaged: book.ca_files.damaged.clone(),
            ..ca_info(c, &self.store.path(CA_FILE))
        });
        let info = CertInfo {
            missing,
            changed_since_last_run: book.baseline.as_ref() != Some(fingerprint),
            regenerated_reason,
            ca: ca_info,
            outside_ca: outside,
            notice: if cur.origin == CertOrigin::Generated { book.notice.clone() } else { None },
            unsaved: if cur.origin == CertOrigin::Generated { book.unsaved.clone() } else { None },
            ..base_info(cur.origin, facts, &cur.cert_path)
        };
        self.served.store(Some(Arc::new(Served {
            info: info.clone(),
            chain_pem: cur.chain_pem.clone(),
            leaf_der: cur.material.leaf_der(),
            ca_der: ca.map(|c| c.der.to_vec()),
        })));
        info
    }

    /// Remembers what is served in cert-state.json for the next run.
    fn record(&self, book: &mut Book, fingerprint: &str, origin: CertOrigin, ca: Option<String>) {
        let lan_last_seen = book.seen.iter().map(|(ip, last)| (ip.to_string(), *last)).collect();
        let unchanged = book.recorded.as_ref().is_some_and(|r| {
            r.fingerprint_sha256 == fingerprint
                && r.ca_fingerprint_sha256 == ca
                && r.origin == origin
                && r.lan_last_seen == lan_last_seen
        });
        if unchanged {
            return;
        }
        let state = StateFile {
            fingerprint_sha256: fingerprint.to_string(),
            origin,
            updated_ms: now_ms(),
            // A custom certificate keeps the generated one's CA on record, for when it comes back.
            ca_fingerprint_sha256: ca.or_else(|| book.recorded.as_ref().and_then(|r| r.ca_fingerprint_sha256.clone())),
            lan_last_seen,
        };
        match self.store.write_state(&state) {
            Ok(()) => book.recorded = Some(state),
            Err(e) => tracing::warn!("{e}; the next start cannot tell whether the certificate changed"),
        }
    }
}

fn self_signed(m: &Material) -> bool {
    use x509_parser::prelude::{FromDer, X509Certificate};
    X509Certificate::from_der(&m.leaf_der()).is_ok_and(|(_, x)| x.issuer() == x.subject())
}

fn ca_info(c: &Ca, path: &Path) -> CaInfo {
    CaInfo {
        common_name: c.facts.common_name.clone(),
        fingerprint_sha256: c.facts.fingerprint.clone(),
        not_before_ms: ms(c.facts.not_before),
        not_after_ms: ms(c.facts.not_after),
        cert_path: path.display().to_string(),
        serial_hex: c.facts.serial_hex.clone(),
        permitted: c.facts.permits.iter().map(ToString::to_string).collect(),
        changed_since_last_run: false,
        damaged: None,
    }
}

/// Checks a custom certificate for the desktop's file dialog, without serving it.
pub(super) fn inspect_custom(custom: &CustomCert) -> Result<CertInfo, TlsError> {
    let material = CustomSource::read(custom)?.load()?;
    policy::check_not_expired(&custom.cert, &material.facts, now_secs())?;
    Ok(base_info(CertOrigin::Custom, &material.facts, &custom.cert))
}

fn ms(secs: i64) -> u64 {
    u64::try_from(secs).unwrap_or(0).saturating_mul(1000)
}

fn base_info(origin: CertOrigin, facts: &CertFacts, cert_path: &Path) -> CertInfo {
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
        ca: None,
        outside_ca: Vec::new(),
        notice: None,
        unsaved: None,
    }
}

fn origin_name(origin: CertOrigin) -> &'static str {
    match origin {
        CertOrigin::Generated => "generated",
        CertOrigin::Custom => "custom",
    }
}

fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)).unwrap_or(0)
}

#[cfg(test)]
mod tests;
