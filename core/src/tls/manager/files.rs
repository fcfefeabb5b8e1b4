//! The serving certificate's saved files compared with what is in use: loading the one an earlier
//! run saved, noticing it deleted, damaged or replaced while running, and rewriting it from memory
//! (same certificate, so headsets keep trusting it). A certificate and a key that do not match may
//! be a replacement in progress (by a writer outside the data dir's lock): left alone until the next
//! check, and rewritten if the same pair is still there. The CA's files: [`super::local_ca`].

use std::fs;
use std::path::Path;

use super::super::cert::{self, Material};
use super::super::store::{self, Store, CERT_FILE, KEY_FILE};
use super::super::TlsError;
use super::{Book, CertEvent, Current};
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

/// Whether `cert.pem`/`key.pem` still hold the certificate in use. Deleted, truncated or garbled
/// files are rewritten from memory right here: same certificate, so headsets keep trusting it,
/// and the next start finds it. A pair that does not match is rewritten once it is found at two
/// checks in a row.
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
            book.cert_mismatch = None;
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
                // Being replaced by a writer outside the lock? Rewritten only if the same pair is
                // still there at the next check (a warning every scan would flood the log).
                Saved::Mismatched(why) => {
                    let seen = SavedFiles { cert: c.clone(), key: k.clone() };
                    if book.cert_mismatch.as_ref() != Some(&seen) {
                        tracing::debug!("{why}: being replaced? Left alone until the next check");
                        book.cert_mismatch = Some(seen);
                        return Disk::Intact;
                    }
                    book.cert_mismatch = None;
                    let what = format!("{why}, at two checks in a row");
                    restore_saved(store, book, cur, &what);
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

pub(super) fn rewrite(
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
