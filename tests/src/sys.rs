//! Process facts for the reliability tests and the benchmark, read from /proc: descriptors (and how
//! many are sockets), resident memory, and the descriptor limit lifted for thousands of connections.

use std::path::PathBuf;

/// Lifts the soft RLIMIT_NOFILE to the hard one (children inherit it); returns the new soft limit.
pub fn raise_fd_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: plain syscalls on a properly initialised struct.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                return None;
            }
            if lim.rlim_cur < lim.rlim_max {
                lim.rlim_cur = lim.rlim_max;
                libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
                libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
            }
        }
        Some(lim.rlim_cur)
    }
    #[cfg(not(unix))]
    None
}

fn proc_dir(pid: Option<u32>) -> PathBuf {
    PathBuf::from(match pid {
        Some(p) => format!("/proc/{p}"),
        None => "/proc/self".into(),
    })
}

/// Open descriptors of `pid` (None: this process): (all, sockets).
pub fn fd_counts(pid: Option<u32>) -> (usize, usize) {
    let Ok(dir) = std::fs::read_dir(proc_dir(pid).join("fd")) else {
        return (0, 0);
    };
    let mut all = 0;
    let mut sockets = 0;
    for e in dir.flatten() {
        all += 1;
        if std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:")) {
            sockets += 1;
        }
    }
    (all, sockets)
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`).
pub fn mem_kib(pid: Option<u32>, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(proc_dir(pid).join("status")).ok()?;
    s.lines().find_map(|l| l.strip_prefix(field)?.strip_prefix(':')?.trim().strip_suffix("kB")?.trim().parse().ok())
}

/// Counts panics in any thread from now on (tokio swallows a panicking task's panic otherwise).
pub fn count_panics() -> std::sync::Arc<std::sync::atomic::AtomicUsize> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let n = Arc::new(AtomicUsize::new(0));
    let seen = n.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        seen.fetch_add(1, Ordering::SeqCst);
        previous(info);
    }));
    n
}

/// Prints one figure for docs/RELIABILITY.md; `scripts/reliability.sh` collects these lines.
#[macro_export]
macro_rules! figure {
    ($scenario:expr, $($arg:tt)*) => {
        println!("FIGURE | {} | {}", $scenario, format!($($arg)*))
    };
}
