//! Terminal output for the Windows build, which is a GUI-subsystem program (no console window
//! behind the app): Windows gives it no console even when it is typed in a terminal, so `--help`,
//! `--version` and flag errors would print nothing. [`attach_parent`] runs before those are
//! printed: it attaches to the console of the terminal that started the app, if there is one, and
//! points the standard streams that have nowhere to go at it. A stream redirected to a file or a
//! pipe keeps going there. Elsewhere (and in Windows debug builds, which have a console) it does
//! nothing.

/// A standard stream.
// Used by the Windows code only; the logic is tested on every platform.
#[cfg_attr(not(windows), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

/// The streams to point at the parent's console, given which ones already go somewhere: only
/// those that go nowhere; none at all when both do (a console app, or both redirected).
#[cfg_attr(not(windows), allow(dead_code))]
pub fn to_reopen(out_present: bool, err_present: bool) -> Vec<Stream> {
    let mut v = Vec::new();
    if !out_present {
        v.push(Stream::Out);
    }
    if !err_present {
        v.push(Stream::Err);
    }
    v
}

/// Attaches to the parent process's console for the streams that need it (see the module doc).
#[cfg(windows)]
pub fn attach_parent() {
    use windows_sys::Win32::Foundation::{GENERIC_READ, GENERIC_WRITE, INVALID_HANDLE_VALUE};
    use windows_sys::Win32::Storage::FileSystem::{CreateFileW, FILE_SHARE_READ, FILE_SHARE_WRITE, OPEN_EXISTING};
    use windows_sys::Win32::System::Console::{
        AttachConsole, GetStdHandle, SetStdHandle, ATTACH_PARENT_PROCESS, STD_ERROR_HANDLE, STD_OUTPUT_HANDLE,
    };
    // SAFETY: plain Win32 calls; the only pointer passed is a NUL-terminated UTF-16 string that
    // outlives the call.
    unsafe {
        let present = |id| {
            let h = GetStdHandle(id);
            !h.is_null() && h != INVALID_HANDLE_VALUE
        };
        let streams = to_reopen(present(STD_OUTPUT_HANDLE), present(STD_ERROR_HANDLE));
        // Started from Explorer or a shortcut there is no parent console, and nothing to do.
        if streams.is_empty() || AttachConsole(ATTACH_PARENT_PROCESS) == 0 {
            return;
        }
        let name: Vec<u16> = "CONOUT$\0".encode_utf16().collect();
        let share = FILE_SHARE_READ | FILE_SHARE_WRITE;
        let con = CreateFileW(
            name.as_ptr(),
            GENERIC_READ | GENERIC_WRITE,
            share,
            std::ptr::null(),
            OPEN_EXISTING,
            0,
            std::ptr::null_mut(),
        );
        if con == INVALID_HANDLE_VALUE {
            return;
        }
        for s in &streams {
            SetStdHandle(if *s == Stream::Out { STD_OUTPUT_HANDLE } else { STD_ERROR_HANDLE }, con);
        }
        // The shell printed its prompt already (it does not wait for GUI programs): start on a new line.
        if streams.contains(&Stream::Out) {
            let _ = std::io::Write::write_all(&mut std::io::stdout(), b"\n");
        }
    }
}

#[cfg(not(windows))]
pub fn attach_parent() {}

/// A program started in a process group of its own begins with Ctrl-C ignored; a console's Ctrl-C
/// (a service wrapper, a test) must still quit the app cleanly, as the proxy does.
#[cfg(windows)]
pub fn accept_ctrl_c() {
    // SAFETY: a plain Win32 call without pointers.
    unsafe { windows_sys::Win32::System::Console::SetConsoleCtrlHandler(None, 0) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_streams_going_nowhere_are_pointed_at_the_console() {
        // A GUI program typed in a terminal: neither stream goes anywhere.
        assert_eq!(to_reopen(false, false), [Stream::Out, Stream::Err]);
        // `cxr-gate --help > help.txt`: stdout stays in the file, errors show in the terminal.
        assert_eq!(to_reopen(true, false), [Stream::Err]);
        assert_eq!(to_reopen(false, true), [Stream::Out]);
        // A console build, or both redirected: nothing to do.
        assert!(to_reopen(true, true).is_empty());
    }
}
