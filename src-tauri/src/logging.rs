//! Owns the app's log: to stderr from the first line, and to `<data dir>/cxr-gate.log` only once
//! this process is the instance that runs (after the single-instance check). A second launch, the
//! documented way to show the window, hands over to the running instance and exits: it must not
//! rotate the log out from under it, nor write into it. Level from RUST_LOG, default info.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, reload, EnvFilter, Layer, Registry};

pub const LOG_FILE: &str = "cxr-gate.log";
/// The log file is rotated (to `.1`) when the running instance starts with it this big.
const ROTATE_BYTES: u64 = 5 * 1024 * 1024;

type FileLayer = Option<Box<dyn Layer<Registry> + Send + Sync>>;

/// The file layer's slot: empty until [`attach`].
static FILE: OnceLock<reload::Handle<FileLayer, Registry>> = OnceLock::new();

/// Logs to stderr; the file joins with [`attach`]. First thing in the process.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let (file, handle) = reload::Layer::new(None::<Box<dyn Layer<Registry> + Send + Sync>>);
    let set = tracing_subscriber::registry()
        .with(file)
        .with(filter)
        .with(fmt::layer().with_writer(std::io::stderr))
        .try_init();
    if set.is_ok() {
        let _ = FILE.set(handle);
    }
}

/// This instance runs: logs into the file in `data_dir` from now on (rotated first when big).
/// Its path, or None (said on stderr) when it cannot be opened.
pub fn attach(data_dir: &Path) -> Option<PathBuf> {
    let path = data_dir.join(LOG_FILE);
    let attached = open(&path).map_err(|e| e.to_string()).and_then(|f| {
        let layer = fmt::layer().with_ansi(false).with_writer(Mutex::new(f)).boxed();
        let handle = FILE.get().ok_or("logging was not set up")?;
        handle.reload(Some(layer)).map_err(|e| e.to_string())
    });
    match attached {
        Ok(()) => Some(path),
        Err(e) => {
            tracing::warn!("no log file at {}: {e}", path.display());
            None
        }
    }
}

/// Opens the log for appending, after moving it to `.1` when it has grown past [`ROTATE_BYTES`].
fn open(path: &Path) -> std::io::Result<fs::File> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir)?;
    }
    if fs::metadata(path).map(|m| m.len() > ROTATE_BYTES).unwrap_or(false) {
        fs::rename(path, path.with_extension("log.1"))?;
    }
    fs::OpenOptions::new().create(true).append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_is_rotated_when_big_and_appended_to_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub").join(LOG_FILE);
        drop(open(&path).unwrap());
        assert!(path.exists(), "made with its directory");
        fs::write(&path, "small\n").unwrap();
        drop(open(&path).unwrap());
        assert_eq!(fs::read_to_string(&path).unwrap(), "small\n", "kept");
        fs::write(&path, vec![b'.'; ROTATE_BYTES as usize + 1]).unwrap();
        drop(open(&path).unwrap());
        assert_eq!(fs::metadata(&path).unwrap().len(), 0, "a new log");
        assert_eq!(fs::metadata(path.with_extension("log.1")).unwrap().len(), ROTATE_BYTES + 1, "the old one");
    }

    #[test]
    fn logging_writes_into_the_data_dir_once_attached() {
        init();
        let dir = tempfile::tempdir().unwrap();
        let p = attach(&dir.path().join("sub")).unwrap();
        assert_eq!(p, dir.path().join("sub").join(LOG_FILE));
        tracing::info!("a line for the file");
        assert!(fs::read_to_string(&p).unwrap().contains("a line for the file"));
    }
}
