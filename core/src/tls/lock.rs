//! The data dir's lock (`cert.lock`, an OS file lock): whoever reads or replaces the certificate
//! files holds it, so a pair is replaced as one step for every other reader, in this process or
//! another (`cxr-gate-proxy --rotate-ca` beside a running gate). The wait for it has a limit: a
//! process that hangs holding it costs an error naming the file and its holder, not a gate stuck
//! for ever. The holder writes its process id and program into the file, so the next one to wait
//! can say who it waits for (Windows refuses other handles a read of a locked file: there the
//! holder stays unknown).

use std::fs::{self, File, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::TlsError;

/// How long an operation waits for the lock by default. Holders keep it for a few file writes and
/// a key generation (well under a second); ten seconds is a process that hangs.
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(10);

/// While a waiter given up on is still blocked, later waits poll this often instead.
const POLL: Duration = Duration::from_millis(25);

/// The lock while held; released when dropped.
pub(crate) struct FilesLock(Option<File>);

impl FilesLock {
    /// Not holding it (the file system cannot lock, or it was let go for a pause).
    pub(crate) fn none() -> Self {
        FilesLock(None)
    }
}

impl Drop for FilesLock {
    fn drop(&mut self) {
        // Closing releases it too, but Windows may do that late; unlock now.
        if let Some(file) = &self.0 {
            let _ = file.unlock();
        }
    }
}

/// Takes locks on one file, waiting at most a limit.
#[derive(Debug, Clone, Default)]
pub(crate) struct Locker {
    /// A waiting thread whose caller gave up is still blocked in the OS: later waits poll rather
    /// than leave another thread behind (at most one per locker, however long the holder keeps it).
    stranded: Arc<AtomicBool>,
}

impl Locker {
    /// Takes the lock on `path` (creating `dir` and the file), waiting at most `limit` for another
    /// holder. Without a lock (the dir cannot be created, or the file system cannot lock) the files
    /// are used unlocked, as before the lock existed.
    pub(crate) fn lock(&self, dir: &Path, path: &Path, limit: Duration) -> Result<FilesLock, TlsError> {
        let opened = fs::create_dir_all(dir)
            .and_then(|()| fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path));
        let file = match opened {
            Ok(file) => file,
            Err(e) => return Ok(unlocked(path, &e)),
        };
        match file.try_lock() {
            Ok(()) => return Ok(held(file)),
            Err(TryLockError::Error(e)) => return Ok(unlocked(path, &e)),
            Err(TryLockError::WouldBlock) => {}
        }
        let holder = holder(path);
        match self.wait(file, limit) {
            Ok(file) => Ok(held(file)),
            Err(e) => {
                if let Some(e) = e {
                    return Ok(unlocked(path, &e));
                }
                Err(TlsError::Locked {
                    path: path.to_path_buf(),
                    waited: limit,
                    holder: holder.or_else(|| self::holder(path)),
                })
            }
        }
    }

    /// Blocks in the OS on another thread, so the wait can end at `limit` (the std lock has no
    /// time limit). `Err(None)`: the limit was reached.
    fn wait(&self, file: File, limit: Duration) -> Result<File, Option<std::io::Error>> {
        let deadline = Instant::now() + limit;
        if self.stranded.load(Ordering::Acquire) {
            return poll(file, deadline);
        }
        let slot = Arc::new((Mutex::new(Slot::Waiting), Condvar::new()));
        let (theirs, stranded) = (slot.clone(), self.stranded.clone());
        let spawned = std::thread::Builder::new().name("cert.lock".into()).spawn(move || {
            let result = file.lock().map(|()| file);
            let (state, ready) = &*theirs;
            let mut state = state.lock().unwrap_or_else(PoisonError::into_inner);
            match *state {
                // Given up on: dropping the file lets go of the lock at once.
                Slot::Abandoned => stranded.store(false, Ordering::Release),
                _ => *state = Slot::Done(result),
            }
            ready.notify_all();
        });
        if let Err(e) = spawned {
            return Err(Some(e));
        }
        let (state, ready) = &*slot;
        let state = state.lock().unwrap_or_else(PoisonError::into_inner);
        let (mut state, _) = ready
            .wait_timeout_while(state, limit, |s| matches!(s, Slot::Waiting))
            .unwrap_or_else(PoisonError::into_inner);
        match std::mem::replace(&mut *state, Slot::Abandoned) {
            Slot::Done(result) => result.map_err(Some),
            _ => {
                self.stranded.store(true, Ordering::Release);
                Err(None)
            }
        }
    }
}

enum Slot {
    Waiting,
    Done(std::io::Result<File>),
    Abandoned,
}

fn poll(file: File, deadline: Instant) -> Result<File, Option<std::io::Error>> {
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(TryLockError::Error(e)) => return Err(Some(e)),
            Err(TryLockError::WouldBlock) if Instant::now() >= deadline => return Err(None),
            Err(TryLockError::WouldBlock) => std::thread::sleep(POLL),
        }
    }
}

fn unlocked(path: &Path, e: &std::io::Error) -> FilesLock {
    tracing::debug!("cannot lock {}: {e}; using the certificate files unlocked", path.display());
    FilesLock(None)
}

/// Who this process is, as the lock file says it: `process 4711 (cxr-gate-proxy)`.
fn me() -> String {
    let program = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "unknown program".into());
    format!("process {} ({program})", std::process::id())
}

/// Writes who holds the lock into it, unless it says so already (a write per LAN scan otherwise).
fn held(mut file: File) -> FilesLock {
    let me = me();
    let mut said = String::new();
    let _ = file.read_to_string(&mut said);
    if said != me {
        let written =
            file.set_len(0).and_then(|()| file.seek(SeekFrom::Start(0))).and_then(|_| file.write_all(me.as_bytes()));
        if let Err(e) = written {
            tracing::debug!("cannot note the holder in the lock file: {e}");
        }
    }
    FilesLock(Some(file))
}

/// What the lock file says of its holder, if it can be read.
fn holder(path: &Path) -> Option<String> {
    let text = fs::read_to_string(path).ok()?;
    let text = text.trim();
    (text.starts_with("process ") && text.len() < 300).then(|| text.to_string())
}
