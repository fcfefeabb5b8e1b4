//! Process facts for the reliability tests and the benchmark: open handles (and how many are
//! sockets), resident memory, and the descriptor limit lifted for thousands of connections.
//! Linux reads /proc; Windows asks the kernel (handle count, working set) through windows-sys.
//! A figure a platform cannot give is `None`, and a test that needs it fails saying so: a leak
//! assertion must never compare two zeros.

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
    // Windows has no such limit for sockets.
    #[cfg(not(unix))]
    None
}

/// Open descriptors (Linux) or handles (Windows) of `pid` (None: this process).
pub fn open_handles(pid: Option<u32>) -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        Some(std::fs::read_dir(proc_dir(pid).join("fd")).ok()?.count())
    }
    #[cfg(windows)]
    {
        win::handle_count(pid)
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        let _ = pid;
        None
    }
}

/// Open sockets of `pid`; Linux only (on Windows a socket is one handle among many, see [`open_handles`]).
pub fn open_sockets(pid: Option<u32>) -> Option<usize> {
    #[cfg(target_os = "linux")]
    {
        let dir = std::fs::read_dir(proc_dir(pid).join("fd")).ok()?;
        Some(
            dir.flatten()
                .filter(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:")))
                .count(),
        )
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
    }
}

/// Resident memory of `pid` in KiB, now and at its peak: Linux `VmRSS`/`VmHWM`, Windows the
/// working set and its peak.
pub fn memory_kib(pid: Option<u32>) -> Option<Memory> {
    #[cfg(target_os = "linux")]
    {
        let s = std::fs::read_to_string(proc_dir(pid).join("status")).ok()?;
        let field = |name: &str| {
            s.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':')?.trim().strip_suffix("kB")?.trim().parse().ok())
        };
        Some(Memory { resident: field("VmRSS")?, peak: field("VmHWM")? })
    }
    #[cfg(windows)]
    {
        win::memory(pid)
    }
    #[cfg(not(any(target_os = "linux", windows)))]
    {
        let _ = pid;
        None
    }
}

/// Resident memory in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    pub resident: u64,
    pub peak: u64,
}

#[cfg(target_os = "linux")]
fn proc_dir(pid: Option<u32>) -> std::path::PathBuf {
    std::path::PathBuf::from(match pid {
        Some(p) => format!("/proc/{p}"),
        None => "/proc/self".into(),
    })
}

#[cfg(windows)]
mod win {
    use windows_sys::Win32::Foundation::{CloseHandle, HANDLE};
    use windows_sys::Win32::System::ProcessStatus::{K32GetProcessMemoryInfo, PROCESS_MEMORY_COUNTERS};
    use windows_sys::Win32::System::Threading::{
        GetCurrentProcess, GetProcessHandleCount, OpenProcess, PROCESS_QUERY_LIMITED_INFORMATION, PROCESS_VM_READ,
    };

    /// Runs `f` on a handle to `pid` (None: this process), closed afterwards.
    fn with_process<T>(pid: Option<u32>, f: impl FnOnce(HANDLE) -> Option<T>) -> Option<T> {
        // SAFETY: plain Win32 calls; the handle is checked and closed once.
        unsafe {
            let Some(pid) = pid else {
                return f(GetCurrentProcess());
            };
            let h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION | PROCESS_VM_READ, 0, pid);
            if h.is_null() {
                return None;
            }
            let out = f(h);
            CloseHandle(h);
            out
        }
    }

    /// A live process always holds handles: 0 means the call is a stub (wine's is), not a count.
    pub fn handle_count(pid: Option<u32>) -> Option<usize> {
        with_process(pid, |h| {
            let mut n = 0u32;
            // SAFETY: `h` is a valid process handle, `n` a valid out pointer.
            (unsafe { GetProcessHandleCount(h, &mut n) } != 0 && n > 0).then_some(n as usize)
        })
    }

    pub fn memory(pid: Option<u32>) -> Option<super::Memory> {
        with_process(pid, |h| {
            // SAFETY: a zeroed plain-data struct with its size, as the API wants.
            let mut c: PROCESS_MEMORY_COUNTERS = unsafe { std::mem::zeroed() };
            c.cb = std::mem::size_of::<PROCESS_MEMORY_COUNTERS>() as u32;
            // SAFETY: `h` is a valid process handle, `c` a valid out pointer of size `c.cb`.
            if unsafe { K32GetProcessMemoryInfo(h, &mut c, c.cb) } == 0 {
                return None;
            }
            let m = super::Memory {
                resident: (c.WorkingSetSize / 1024) as u64,
                peak: (c.PeakWorkingSetSize / 1024) as u64,
            };
            // Zero is no measurement (a stub), never a live process's figure.
            (m.resident > 0).then_some(m)
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// These tests read this process's own descriptors: run side by side, one's `/proc` reads
    /// would show in the other's counts.
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// The figures the leak checks compare are real on the platforms CI runs (Linux; Windows
    /// natively, and under wine, whose handle count is a stub: scripts/test-windows.sh skips the
    /// handle test there by name): opening sockets must show.
    #[cfg(any(target_os = "linux", windows))]
    #[test]
    fn handles_are_counted_and_move() {
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let before = open_handles(None).expect("handle count");
        let held: Vec<_> = (0..16).map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).collect();
        let during = open_handles(None).expect("handle count");
        assert!(during >= before + 16, "16 sockets opened: {before} -> {during}");
        if let Some(sockets) = open_sockets(None) {
            assert!(sockets >= 16, "{sockets}");
        }
        drop(held);
        assert!(open_handles(Some(std::process::id())).is_some());
    }

    #[cfg(any(target_os = "linux", windows))]
    #[test]
    fn memory_is_measured() {
        let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let m = memory_kib(None).expect("memory");
        assert!(m.resident > 0 && m.peak >= m.resident, "{m:?}");
        assert!(memory_kib(Some(std::process::id())).is_some());
    }
}
