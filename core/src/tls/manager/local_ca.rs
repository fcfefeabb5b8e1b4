//! The local CA's files and life in the manager. A CA is made at the first start, or when the user
//! asks (`rotate_ca`), and never otherwise: every device that installed it would have to install
//! the new one. At a start its pair is read (again a few times while a writer outside the lock may
//! be between the two files, letting the lock go meanwhile), put back from the kept copy
//! (`ca.pem.bak`, `ca-key.pem.bak`, or the CA in `cert.pem`'s chain) when one file is lost or
//! replaced, or refused with [`TlsError::CaLost`]. While running, at every LAN scan: another good CA
//! put there (`--rotate-ca`) is taken up, deleted or garbled files are rewritten from memory, and a
//! pair that does not match is rewritten too once the same pair is found at two checks in a row.

use std::time::Duration;

use super::super::ca::{self, Ca};
use super::super::cert::{self, pem_encode, push_unique, Name, DAY_SECS};
use super::super::lock::FilesLock;
use super::super::policy::{self, BACKDATE_DAYS};
use super::super::store::{self, Store, CA_COPY_FILE, CA_FILE, CA_KEY_COPY_FILE, CA_KEY_FILE, CERT_FILE};
use super::super::TlsError;
use super::files::{rewrite, SavedFiles};
use super::{now_secs, Book, CertManager, Inner};

/// The CA in use and the bytes of its files, to notice them damaged.
pub(super) struct LocalCa {
    pub ca: Ca,
    pub files: SavedFiles,
}

/// What the manager remembers about the CA's files between checks.
#[derive(Default)]
pub(super) struct CaWatch {
    /// A pair that did not match at the last check: the same again means it is not a replacement
    /// in progress, and it is rewritten from memory.
    mismatch: Option<SavedFiles>,
    /// Why the files on disk are not the CA in use, while that lasts (shown with the CA).
    pub damaged: Option<String>,
    /// The last start found the CA lost: later checks read it once, without the settling pauses.
    lost: bool,
}

/// How often, and how far apart, a start reads a CA pair that does not match again before it
/// looks for a kept copy: a writer outside the lock may be between the two files.
const SETTLE_TRIES: u32 = 5;
const SETTLE_PAUSE: Duration = Duration::from_millis(100);

// Tests act here, where a start pauses between two reads of a pair that does not match.
#[cfg(test)]
thread_local! {
    static ON_PAUSE: std::cell::RefCell<Option<Box<dyn FnMut()>>> = const { std::cell::RefCell::new(None) };
}

/// The CA found at a start, or why there is none to keep.
enum AtStart {
    Loaded(Box<LocalCa>),
    Missing { reason: String, existed: bool },
}

impl CertManager {
    /// Loads the saved CA (or puts it back), checks its files while running, or makes a new one
    /// where there is none; `inner.ca` is set after. `files` is the data dir's lock, held.
    pub(super) fn ensure_ca(&self, inner: &mut Inner, files: &mut FilesLock, wanted: &[Name]) -> Result<(), TlsError> {
        let now = now_secs();
        let (reason, existed) = match &mut inner.ca {
            Some(local) => {
                if let Some(other) = check_ca(&self.store, &mut inner.book, local) {
                    tracing::warn!(
                        "the CA in {} was replaced (SHA-256 {}); issuing from it",
                        self.store.path(CA_FILE).display(),
                        other.ca.facts.fingerprint
                    );
                    *local = other;
                }
                match policy::ca_problem(&local.ca.facts, now) {
                    None => return Ok(()),
                    Some(reason) => (reason, true),
                }
            }
            None => match self.load_at_start(&mut inner.book, files)? {
                AtStart::Loaded(local) => match policy::ca_problem(&local.ca.facts, now) {
                    None => {
                        inner.ca = Some(*local);
                        return Ok(());
                    }
                    Some(reason) => (reason, true),
                },
                AtStart::Missing { reason, existed } => (reason, existed),
            },
        };
        self.create_ca(inner, wanted, &reason, existed)
    }

    /// Makes, saves and keeps a new CA (the serving certificate must be issued again after).
    pub(super) fn create_ca(
        &self,
        inner: &mut Inner,
        wanted: &[Name],
        reason: &str,
        existed: bool,
    ) -> Result<(), TlsError> {
        let mut names = wanted.to_vec();
        for n in &inner.extra {
            push_unique(&mut names, n.clone());
        }
        let permits = ca::permits_for(cert::host_name().as_deref(), &names);
        let created = Ca::create(&ca::ca_common_name(), &permits, now_secs() - BACKDATE_DAYS * DAY_SECS)?;
        let fp = created.facts.fingerprint.clone();
        let files = SavedFiles { cert: created.pem().into_bytes(), key: created.key_pem().into_bytes() };
        if existed {
            tracing::warn!(
                "new local CA: {reason}; every device that installed the previous CA must install this one (SHA-256 {fp})"
            );
            inner.book.ca_baseline.get_or_insert_with(String::new);
        } else {
            tracing::info!("created the local CA \"{}\" (SHA-256 {fp})", created.facts.common_name);
        }
        if let Err(e) = save(&self.store, &files) {
            // Issuing from it still beats serving nothing; the periodic check retries the save.
            tracing::error!("{e}; the new CA is used, but the next start will not find it");
        }
        inner.book.ca_files = CaWatch::default();
        inner.ca = Some(LocalCa { ca: created, files });
        Ok(())
    }

    /// The CA a start finds: the saved pair (read again while it may be mid-replacement), or the
    /// kept copy put back, or none yet. A CA that existed and cannot be put back is an error:
    /// replacing it is the user's call.
    fn load_at_start(&self, book: &mut Book, files: &mut FilesLock) -> Result<AtStart, TlsError> {
        let store = &self.store;
        let mut tries = 1;
        let found = loop {
            match load_ca(store) {
                Err(TlsError::KeyMismatch { .. }) if tries < SETTLE_TRIES && !book.ca_files.lost => {
                    tries += 1;
                    // Not asleep holding the lock: the writer may be waiting for it to finish.
                    *files = FilesLock::none();
                    #[cfg(test)]
                    ON_PAUSE.with(|hook| hook.borrow_mut().as_mut().map(|f| f()));
                    std::thread::sleep(SETTLE_PAUSE);
                    *files = store.lock(self.lock_wait)?;
                }
                other => break other,
            }
        };
        let damage = match found {
            Ok(Some(local)) => {
                keep_copy(store, &local.files);
                book.ca_files.lost = false;
                return Ok(AtStart::Loaded(Box::new(local)));
            }
            Ok(None) => format!("{} and {} are missing", store.path(CA_FILE).display(), CA_KEY_FILE),
            Err(ref e) => e.to_string(),
        };
        let recorded = book.recorded.as_ref().and_then(|r| r.ca_fingerprint_sha256.as_deref());
        if let Some((local, from)) = recover(store, recorded) {
            let fp = &local.ca.facts.fingerprint;
            let note = format!(
                "the local CA's files were damaged ({damage}); put back the CA from {from} (SHA-256 {fp}): the same \
                 CA, devices that installed it keep trusting it"
            );
            tracing::warn!("{note}");
            book.note(note);
            if let Err(e) = save(store, &local.files) {
                let why = format!("the CA was put back in memory but cannot be saved: {e}");
                (book.unsaved, book.ca_files.damaged) = (Some(why.clone()), Some(why));
            }
            book.ca_files.lost = false;
            return Ok(AtStart::Loaded(Box::new(local)));
        }
        if store.path(CA_FILE).exists() || store.path(CA_COPY_FILE).exists() {
            book.ca_files.lost = true;
            return Err(TlsError::CaLost {
                reason: damage,
                copies: [store.path(CA_COPY_FILE), store.path(CA_KEY_COPY_FILE)],
            });
        }
        Ok(match found {
            Ok(None) => AtStart::Missing { reason: "no CA yet".into(), existed: false },
            // A key without any certificate of it: no device can have installed this CA.
            _ => AtStart::Missing { reason: damage, existed: true },
        })
    }
}

/// The saved CA: `Ok(None)` when neither file exists; an error naming the file that is wrong.
pub(super) fn load_ca(store: &Store) -> Result<Option<LocalCa>, TlsError> {
    let cert_path = store.path(CA_FILE);
    let key_path = store.path(CA_KEY_FILE);
    let read = |file: &str| store.read(file).map_err(|source| TlsError::Read { path: store.path(file), source });
    match (read(CA_FILE)?, read(CA_KEY_FILE)?) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(missing(cert_path)),
        (Some(_), None) => Err(missing(key_path)),
        (Some(cert_pem), Some(key_pem)) => {
            let ca = Ca::load(&cert_path, &cert_pem, &key_path, &key_pem)?;
            store::make_private(&key_path);
            Ok(Some(LocalCa { ca, files: SavedFiles { cert: cert_pem, key: key_pem } }))
        }
    }
}

fn missing(path: std::path::PathBuf) -> TlsError {
    TlsError::Read { path, source: std::io::Error::new(std::io::ErrorKind::NotFound, "the file is missing") }
}

/// A CA and its key among the kept files, in any combination: the certificate from `ca.pem`, its
/// copy or `cert.pem`'s chain, the key from `ca-key.pem` or its copy. The CA the last run recorded
/// (`prefer`) first, then in that order. Returns it with where it came from.
fn recover(store: &Store, prefer: Option<&str>) -> Option<(LocalCa, String)> {
    let read = |file: &str| store.read(file).ok().flatten();
    let mut certs: Vec<(String, Vec<u8>)> = Vec::new();
    for file in [CA_FILE, CA_COPY_FILE] {
        certs.extend(read(file).map(|bytes| (file.to_string(), bytes)));
    }
    if let Some(chain) = read(CERT_FILE).and_then(|b| cert::certs_from_pem(&store.path(CERT_FILE), &b).ok()) {
        let issuers = chain.iter().skip(1).map(|der| pem_encode("CERTIFICATE", der.as_ref()).into_bytes());
        certs.extend(issuers.map(|pem| (format!("the chain in {CERT_FILE}"), pem)));
    }
    let keys: Vec<(&str, Vec<u8>)> =
        [CA_KEY_FILE, CA_KEY_COPY_FILE].into_iter().filter_map(|file| Some((file, read(file)?))).collect();
    let mut found: Vec<(LocalCa, String)> = Vec::new();
    for (cert_from, cert_pem) in &certs {
        for (key_from, key_pem) in &keys {
            let Ok(ca) = Ca::load(&store.path(CA_FILE), cert_pem, &store.path(key_from), key_pem) else {
                continue;
            };
            if found.iter().all(|(l, _)| l.ca.facts.fingerprint != ca.facts.fingerprint) {
                let files = SavedFiles { cert: ca.pem().into_bytes(), key: key_pem.clone() };
                found.push((LocalCa { ca, files }, format!("{cert_from} and {key_from}")));
            }
        }
    }
    let pick = found.iter().position(|(l, _)| Some(l.ca.facts.fingerprint.as_str()) == prefer).unwrap_or(0);
    (pick < found.len()).then(|| found.swap_remove(pick))
}

/// Writes the CA pair, then its copy: at every moment one whole pair, old or new, is on disk.
fn save(store: &Store, files: &SavedFiles) -> Result<(), TlsError> {
    store.write_pair(CA_FILE, &files.cert, CA_KEY_FILE, &files.key)?;
    keep_copy(store, files);
    Ok(())
}

/// Makes the copy hold `files` (the pair in use), unless it does already.
fn keep_copy(store: &Store, files: &SavedFiles) {
    let same = |file: &str, want: &[u8]| store.read(file).ok().flatten().is_some_and(|b| b == want);
    if same(CA_COPY_FILE, &files.cert) && same(CA_KEY_COPY_FILE, &files.key) {
        return;
    }
    if let Err(e) = store.write_pair(CA_COPY_FILE, &files.cert, CA_KEY_COPY_FILE, &files.key) {
        tracing::warn!("{e}; without a copy, a CA file lost later cannot be put back");
    }
}

/// Whether `ca.pem`/`ca-key.pem` still hold the CA in use: damaged files are rewritten from memory
/// (devices that installed the CA keep trusting it); another good CA put there (rotated by
/// `cxr-gate-proxy --rotate-ca` while this ran) is returned, to issue from it. A pair that does
/// not match may be a writer outside the lock between two files: rewritten only when the same
/// pair is found again at the next check.
fn check_ca(store: &Store, book: &mut Book, local: &LocalCa) -> Option<LocalCa> {
    let (cert_now, key_now) = (store.read(CA_FILE), store.read(CA_KEY_FILE));
    let mut what = None;
    if let (Ok(Some(c)), Ok(Some(k))) = (&cert_now, &key_now) {
        if *c == local.files.cert && *k == local.files.key {
            book.ca_files.mismatch = None;
            book.ca_files.damaged = None;
            return None;
        }
        match load_ca(store) {
            Ok(Some(other)) if other.ca.facts.fingerprint != local.ca.facts.fingerprint => {
                book.ca_files = CaWatch::default();
                keep_copy(store, &other.files);
                return Some(other);
            }
            Err(e @ TlsError::KeyMismatch { .. }) => {
                let seen = SavedFiles { cert: c.clone(), key: k.clone() };
                if book.ca_files.mismatch.as_ref() != Some(&seen) {
                    book.ca_files.damaged =
                        Some(format!("{e}; rewritten from the CA in use at the next check unless it changes"));
                    book.ca_files.mismatch = Some(seen);
                    return None;
                }
                what = Some(format!("{e}, at two checks in a row"));
            }
            _ => {}
        }
    }
    let what = what.unwrap_or_else(|| match (&cert_now, &key_now) {
        (Ok(None), _) => format!("{} was deleted", store.path(CA_FILE).display()),
        (_, Ok(None)) => format!("{} was deleted", store.path(CA_KEY_FILE).display()),
        _ => format!("{} or {} was changed", store.path(CA_FILE).display(), store.path(CA_KEY_FILE).display()),
    });
    let fingerprint = &local.ca.facts.fingerprint;
    let kept = format!("the CA in use (SHA-256 {fingerprint}), devices keep trusting it");
    rewrite(store, book, (CA_FILE, CA_KEY_FILE), &local.files, &what, &kept);
    book.ca_files.damaged = book.unsaved.clone();
    if book.unsaved.is_none() {
        book.ca_files.mismatch = None;
        keep_copy(store, &local.files);
    }
    // A rewrite that failed keeps the mismatch on record: retried at every check, said the same way.
    None
}

#[cfg(test)]
mod tests;
