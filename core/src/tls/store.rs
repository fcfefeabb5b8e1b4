//! The certificate files in the data dir: their names, atomic writes (the keys private from the
//! first byte), and `cert-state.json`, which remembers what the previous run served so a change
//! can be told to the user, and when each LAN address was last seen.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::lock::{FilesLock, Locker};
use super::TlsError;
use crate::status::CertOrigin;

/// The serving certificate (leaf, then the CA) and its key.
pub(crate) const CERT_FILE: &str = "cert.pem";
pub(crate) const KEY_FILE: &str = "key.pem";
/// The local CA and its key.
pub(crate) const CA_FILE: &str = "ca.pem";
pub(crate) const CA_KEY_FILE: &str = "ca-key.pem";
pub(crate) const STATE_FILE: &str = "cert-state.json";
/// Held (an OS file lock) by whoever reads or writes the files above, so a pair is replaced as one
/// step: a gate checking its files never sees `--rotate-ca`'s new key beside the old certificate.
pub(crate) const LOCK_FILE: &str = "cert.lock";
/// A copy of the last good CA pair, written after the pair itself: whenever one file of the pair
/// is lost or replaced (a rotation killed between two renames, a sync tool), the CA can be put
/// back instead of replaced.
pub(crate) const CA_COPY_FILE: &str = "ca.pem.bak";
pub(crate) const CA_KEY_COPY_FILE: &str = "ca-key.pem.bak";

/// Where the files of one data dir are.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    dir: PathBuf,
    locker: Locker,
}

/// What the previous run served.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct StateFile {
    pub fingerprint_sha256: String,
    #[serde(default)]
    pub origin: CertOrigin,
    #[serde(default)]
    pub updated_ms: u64,
    /// The CA that issued it (absent in files from before the local CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_fingerprint_sha256: Option<String>,
    /// When each LAN address the certificate was wanted for was last seen (IPv4 text → seconds
    /// since the epoch), so an adapter that is away at a start does not drop out of the next one.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lan_last_seen: BTreeMap<String, i64>,
}

impl Store {
    pub(crate) fn new(dir: &Path) -> Self {
        Store { dir: dir.to_path_buf(), locker: Locker::default() }
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }

    /// Takes the data dir's lock, waiting at most `limit` while another holder has it (the OS
    /// releases it if that process dies). Released when the guard drops.
    pub(crate) fn lock(&self, limit: Duration) -> Result<FilesLock, TlsError> {
        self.locker.lock(&self.dir, &self.path(LOCK_FILE), limit)
    }

    /// A file's bytes, `None` if it does not exist.
    pub(crate) fn read(&self, file: &str) -> io::Result<Option<Vec<u8>>> {
        read_if_exists(&self.path(file))
    }

    /// Writes a certificate and its key: the key first (private), then the certificate, each atomically.
    pub(crate) fn write_pair(&self, cert_file: &str, cert: &[u8], key_file: &str, key: &[u8]) -> Result<(), TlsError> {
        fs::create_dir_all(&self.dir).map_err(|source| TlsError::Write { path: self.dir.clone(), source })?;
        write_atomic(&self.path(key_file), key, true)?;
        write_atomic(&self.path(cert_file), cert, false)
    }

    /// The record the previous run left, if it left a readable one.
    pub(crate) fn read_state(&self) -> Option<StateFile> {
        let path = self.path(STATE_FILE);
        let bytes = match read_if_exists(&path) {
            Ok(bytes) => bytes?,
            Err(e) => {
                tracing::warn!("cannot read {}: {e}", path.display());
                return None;
            }
        };
        match serde_json::from_slice::<StateFile>(&bytes) {
            Ok(state) => Some(state),
            Err(e) => {
                tracing::warn!("ignoring {}: {e}", path.display());
                None
            }
        }
    }

    pub(crate) fn write_state(&self, state: &StateFile) -> Result<(), TlsError> {
        let path = self.path(STATE_FILE);
        let json = serde_json::to_vec_pretty(state)
            .map_err(|e| TlsError::Write { path: path.clone(), source: io::Error::other(e) })?;
        fs::create_dir_all(&self.dir).map_err(|source| TlsError::Write { path: self.dir.clone(), source })?;
        write_atomic(&path, &json, false)
    }
}

pub(crate) fn read_if_exists(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// Writes via a temp file in the same directory and a rename, so a crash never leaves half a file.
/// `private` files are created mode 0600 on unix (a key must never be readable by others, not
/// even briefly); on Windows the data dir under the user profile is private to the user already.
fn write_atomic(path: &Path, data: &[u8], private: bool) -> Result<(), TlsError> {
    #[cfg(test)]
    if crash::refuse() {
        return Err(TlsError::Write { path: path.to_path_buf(), source: io::Error::other("simulated crash") });
    }
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.{}.tmp", std::process::id(), TMP_SEQ.fetch_add(1, Ordering::Relaxed)));
    let result = write_new(&tmp, data, private).and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    #[cfg(test)]
    if result.is_ok() {
        crash::renamed();
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
pub(crate) fn make_private(path: &Path) {
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
pub(crate) fn make_private(_path: &Path) {}

/// Tests stop this thread's writes after a given number of renames, as if the process died there
/// (each file is written to a temp file and renamed: a crash leaves every file old or new).
#[cfg(test)]
// Debian's clippy 1.96 for x86_64-pc-windows-gnu asks for `const` initializers that are const
// already (the target's thread-local expansion); the Linux clippy is content.
#[allow(clippy::missing_const_for_thread_local)]
pub(crate) mod crash {
    use std::cell::Cell;

    thread_local! {
        static LEFT: Cell<Option<u32>> = const { Cell::new(None) };
        static REFUSED: Cell<bool> = const { Cell::new(false) };
    }

    /// After `renames` more renames every write on this thread fails; `None`: never.
    pub(crate) fn after(renames: Option<u32>) {
        LEFT.with(|l| l.set(renames));
        REFUSED.with(|r| r.set(false));
    }

    /// Whether a write was refused since [`after`]: the simulated process died before its end.
    pub(crate) fn died() -> bool {
        REFUSED.with(Cell::get)
    }

    pub(super) fn refuse() -> bool {
        let dead = LEFT.with(|l| l.get() == Some(0));
        if dead {
            REFUSED.with(|r| r.set(true));
        }
        dead
    }

    pub(super) fn renamed() {
        LEFT.with(|l| l.set(l.get().map(|n| n.saturating_sub(1))));
    }
}
