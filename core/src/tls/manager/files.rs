//! The manager's saved files compared with what is in use: loading the serving certificate and the
//! CA an earlier run saved, noticing them deleted, damaged or replaced while running, and rewriting
//! them from memory (same certificate, same CA, so devices keep trusting them). A certificate and a
//! key that do not match are a replacement in progress (by a writer outside the data dir's lock):
//! left alone and looked at again at the next check, never "repaired" over a rotation.

use std::fs;
use std::path::Path;

use super::super::ca::Ca;
use super::super::cert::{self, Material};
use super::super::store::{self, Store, CA_FILE, CA_KEY_FILE, CERT_FILE, KEY_FILE};
use super::super::TlsError;
use super::{Book, CertEvent, Current, LocalCa};
use crate::config::CustomCert;

/// The bytes of a certificate's files.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct SavedFiles {
    pub cert: Vec<u8>,
    pub key: Vec<u8>,
}

/// A custom certificate's files as read.
#[derive(PartialEq, Eq)]
pub(super) struct CustomSource {
    custom: CustomCert,
    cert_bytes: Vec<u8>,
    key_bytes: Option<Vec<u8>>,
}

impl CustomSource {
    pub(super) fn read(custom: &CustomCert) -> Result<Self, TlsError> {
        let read = |path: &Path| fs::read(path).map_err(|source| TlsError::Read { path: path.to_path_buf(), source });
        Ok(CustomSource {
            custom: custom.clone(),
            cert_bytes: read(&custom.cert)?,
            key_bytes: custom.key.as_deref().map(read).transpose()?,
        })
    }

    /// Parses the chain and key (a combined PEM when there is no key file) and checks they match.
    pub(super) fn load(&self) -> Result<Material, TlsError> {
        let cert_path = &self.custom.cert;
        let (key_path, key_bytes) = match (&self.custom.key, &self.key_bytes) {
            (Some(path), Some(bytes)) => (path, bytes),
            _ => (cert_path, &self.cert_bytes),
        };
        cert::load_material(cert_path, &self.cert_bytes, key_path, key_bytes)
    }
}

/// The saved files compared with the certificate in use.
pub(super) enum Disk {
    Intact,
    Replaced(Material, SavedFiles),
}

/// The saved serving certificate, as found on disk.
pub(super) enum Saved {
    Usable(Material, SavedFiles),
    Unusable {
        reason: String,
        existed: bool,
    },
    /// Both files are good but are not a pair: being replaced, or one of them lost for good.
    Mismatched(String),
}

/// The saved serving certificate and key, or why they can't be used.
pub(super) fn load_saved(store: &Store) -> Saved {
    let cert_path = store.path(CERT_FILE);
    let key_path = store.path(KEY_FILE);
    let unusable = |reason: String| Saved::Unusable { reason, existed: true };
    match (store.read(CERT_FILE), store.read(KEY_FILE)) {
        (Ok(None), Ok(None)) => Saved::Unusable { reason: "no certificate yet".into(), existed: false },
        (Err(e), _) => unusable(format!("cannot read {}: {e}", cert_path.display())),
        (_, Err(e)) => unusable(format!("cannot read {}: {e}", key_path.display())),
        (Ok(None), Ok(Some(_))) => unusable(format!("{} is missing", cert_path.display())),
        (Ok(Some(_)), Ok(None)) => unusable(format!("{} is missing", key_path.display())),
        (Ok(Some(cert_pem)), Ok(Some(key_pem))) => {
            match cert::load_material(&cert_path, &cert_pem, &key_path, &key_pem) {
                Ok(material) => {
                    store::make_private(&key_path);
                    Saved::Usable(material, SavedFiles { cert: cert_pem, key: key_pem })
                }
                Err(e @ TlsError::KeyMismatch { .. }) => Saved::Mismatched(e.to_string()),
                Err(e) => unusable(e.to_string()),
            }
        }
    }
}

/// How often, and how far apart, a start reads a CA pair that does not match again before it
/// takes it for lost (and makes a new CA): a writer outside the lock may be between the two files.
const SETTLE_TRIES: u32 = 5;
const SETTLE_PAUSE: std::time::Duration = std::time::Duration::from_millis(100);

/// [`load_ca`], reading a pair that does not match again a few times first.
pub(super) fn load_ca_settled(store: &Store) -> Result<Option<LocalCa>, TlsError> {
    let mut tries = 1;
    loop {
        match load_ca(store) {
            Err(TlsError::KeyMismatch { .. }) if tries < SETTLE_TRIES => {
                tries += 1;
                std::thread::sleep(SETTLE_PAUSE);
            }
            other => return other,
        }
    }
}

/// The saved CA: `Ok(None)` when neither file exists; an error naming the file that is wrong.
pub(super) fn load_ca(store: &Store) -> Result<Option<LocalCa>, TlsError> {
    let cert_path = store.path(CA_FILE);
    let key_path = store.path(CA_KEY_FILE);
    let read = |file: &str| store.read(file).map_err(|source| TlsError::Read { path: store.path(file), source });
    match (read(CA_FILE)?, read(CA_KEY_FILE)?) {
        (None, None) => Ok(None),
        (None, Some(_)) => Err(TlsError::NoCertificate { path: cert_path }),
        (Some(_), None) => Err(TlsError::NoPrivateKey { path: key_path }),
        (Some(cert_pem), Some(key_pem)) => {
            let ca = Ca::load(&cert_path, &cert_pem, &key_path, &key_pem)?;
            store::make_private(&key_path);
            Ok(Some(LocalCa { ca, files: SavedFiles { cert: cert_pem, key: key_pem } }))
        }
    }
}

/// Whether `cert.pem`/`key.pem` still hold the certificate in use. Deleted, truncated or garbled
/// files are rewritten from memory right here: same certificate, so headsets keep trusting it,
/// and the next start finds it.
pub(super) fn check_saved(store: &Store, book: &mut Book, cur: &Current) -> Disk {
    let Some(want) = &cur.saved else {
        return Disk::Intact;
    };
    let cert_path = store.path(CERT_FILE);
    let key_path = store.path(KEY_FILE);
    let (cert_now, key_now) = (store.read(CERT_FILE), store.read(KEY_FILE));
    let what = match (&cert_now, &key_now) {
        (Ok(Some(c)), Ok(Some(k))) if *c == want.cert && *k == want.key => {
            book.unsaved = None;
            return Disk::Intact;
        }
        (Ok(None), _) => format!("{} was deleted", cert_path.display()),
        (_, Ok(None)) => format!("{} was deleted", key_path.display()),
        (Err(e), _) => format!("{} cannot be read ({e})", cert_path.display()),
        (_, Err(e)) => format!("{} cannot be read ({e})", key_path.display()),
        (Ok(Some(c)), Ok(Some(k))) => {
            match load_saved(store) {
                Saved::Usable(material, files) if material.facts.fingerprint != cur.material.facts.fingerprint => {
                    return Disk::Replaced(material, files);
                }
                Saved::Mismatched(why) => {
                    tracing::warn!("{why}: being replaced? Left alone; checked again at the next LAN scan");
                    return Disk::Intact;
                }
                _ => {}
            }
            let changed = if *c != want.cert { &cert_path } else { &key_path };
            let size = if *c != want.cert { c.len() } else { k.len() };
            format!("{} was changed ({size} bytes, not the certificate in use)", changed.display())
        }
    };
    restore_saved(store, book, cur, &what);
    Disk::Intact
}

pub(super) fn restore_saved(store: &Store, book: &mut Book, cur: &Current, what: &str) {
    let Some(want) = &cur.saved else {
        return;
    };
    let fingerprint = &cur.material.facts.fingerprint;
    rewrite(
        store,
        book,
        (CERT_FILE, KEY_FILE),
        want,
        what,
        &format!("the certificate in use (SHA-256 {fingerprint}), headsets keep trusting it"),
    );
}

/// Whether `ca.pem`/`ca-key.pem` still hold the CA in use: damaged files are rewritten from memory
/// (devices that installed the CA keep trusting it); another good CA put there (rotated by
/// `cxr-gate-proxy --rotate-ca` while this ran) is returned, to issue from it.
pub(super) fn check_ca(store: &Store, book: &mut Book, local: &LocalCa) -> Option<LocalCa> {
    let (cert_now, key_now) = (store.read(CA_FILE), store.read(CA_KEY_FILE));
    if let (Ok(Some(c)), Ok(Some(k))) = (&cert_now, &key_now) {
        if *c == local.files.cert && *k == local.files.key {
            return None;
        }
        match load_ca(store) {
            Ok(Some(other)) if other.ca.facts.fingerprint != local.ca.facts.fingerprint => return Some(other),
            // Writing the CA in use back now could undo a rotation: wait for the pair to match.
            Err(e @ TlsError::KeyMismatch { .. }) => {
                tracing::warn!("{e}: being replaced? Left alone; checked again at the next LAN scan");
                return None;
            }
            _ => {}
        }
    }
    let what = match (&cert_now, &key_now) {
        (Ok(None), _) => format!("{} was deleted", store.path(CA_FILE).display()),
        (_, Ok(None)) => format!("{} was deleted", store.path(CA_KEY_FILE).display()),
        _ => format!("{} or {} was changed", store.path(CA_FILE).display(), store.path(CA_KEY_FILE).display()),
    };
    let fingerprint = &local.ca.facts.fingerprint;
    rewrite(
        store,
        book,
        (CA_FILE, CA_KEY_FILE),
        &local.files,
        &what,
        &format!("the CA in use (SHA-256 {fingerprint}), devices keep trusting it"),
    );
    None
}

fn rewrite(
    store: &Store,
    book: &mut Book,
    (cert_file, key_file): (&str, &str),
    want: &SavedFiles,
    what: &str,
    kept: &str,
) {
    match store.write_pair(cert_file, &want.cert, key_file, &want.key) {
        Ok(()) => {
            book.unsaved = None;
            book.events.push(CertEvent::Repaired(format!("{what}; rewrote {kept}")));
        }
        Err(e) => book.unsaved = Some(format!("{what}, and it cannot be rewritten: {e}")),
    }
}
