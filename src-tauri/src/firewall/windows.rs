//! Windows only: the card from the engine's COM read of the Windows Firewall, and the fix: after a
//! confirmation that names each rule it changes, this app re-runs itself as administrator
//! (`ShellExecuteExW`, verb `runas`: one UAC prompt) with `firewall-fix …`, which makes the changes
//! through the same COM interfaces (`fixcmd`). No command strings but that argument list, quoted
//! by the engine's tested `windows_command_line`. Also opens Windows' network settings.

use std::time::Duration;

use cxr_gate_core::firewall::fix::windows_command_line;
use cxr_gate_core::firewall::windows::read_within;
use cxr_gate_core::firewall::{evaluate, our_programs, rules, Context, Ports, Report, RuleSpec};
use tauri::{AppHandle, Manager, Runtime};

use super::verdict::{confirmation, windows_view};
use super::FirewallView;
use crate::state::MAIN_WINDOW;

/// A hang guard for the read (it takes well under a second on a PC).
const READ_LIMIT: Duration = Duration::from_secs(10);
/// How long the elevated step may take once the prompt is answered.
const FIX_LIMIT_MS: u32 = 120_000;

fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

async fn report(ports: &Ports) -> (Vec<RuleSpec>, Result<Report, String>) {
    let specs = rules(ports);
    let read = tokio::task::spawn_blocking(|| read_within(READ_LIMIT)).await;
    let programs = std::env::current_exe().map(|p| our_programs(&p)).unwrap_or_default();
    let report = match read {
        Ok(Ok(st)) => Ok(evaluate(&st, &specs, &Context { programs: &programs, var: &env_var })),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("could not read the firewall ({e})")),
    };
    (specs, report)
}

/// Reads the firewall for the current ports (runs on demand, not per status tick).
pub async fn status<R: Runtime>(_app: &AppHandle<R>, ports: &Ports) -> FirewallView {
    let (specs, r) = report(ports).await;
    windows_view(&specs, r.as_ref().map_err(String::as_str))
}

/// The fix, in one elevated step, after a confirmation naming each change.
pub async fn add_rules<R: Runtime>(app: &AppHandle<R>, ports: &Ports) -> Result<FirewallView, String> {
    use tauri_plugin_dialog::{DialogExt, MessageDialogButtons, MessageDialogKind};
    let (specs, r) = report(ports).await;
    let report = r?;
    if report.fix.is_empty() {
        return Ok(windows_view(&specs, Ok(&report)));
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut d = app
        .dialog()
        .message(confirmation(&report.changes))
        .title("Change Windows Firewall?")
        .kind(MessageDialogKind::Warning)
        .buttons(MessageDialogButtons::OkCancelCustom("Continue".into(), "Cancel".into()));
    if let Some(w) = app.get_webview_window(MAIN_WINDOW) {
        d = d.parent(&w);
    }
    d.show(move |ok| {
        let _ = tx.send(ok);
    });
    if !rx.await.unwrap_or(false) {
        return Err("Cancelled: nothing was changed.".into());
    }
    let params = windows_command_line(&report.fix.to_args());
    let ran = tokio::task::spawn_blocking(move || run_elevated(&params))
        .await
        .map_err(|e| format!("The elevated step did not run: {e}"))?;
    match ran {
        Ok(0) => {}
        Ok(code) => {
            return Err(format!(
                "The elevated step failed (exit {code}); Windows Firewall may be managed by your organisation. \
                 Check again to see what it holds now."
            ))
        }
        Err(e) => return Err(e),
    }
    Ok(status(app, ports).await)
}

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// Runs this program as administrator with `params`; its exit code, or why it did not run.
fn run_elevated(params: &str) -> Result<u32, String> {
    use windows_sys::Win32::Foundation::{CloseHandle, GetLastError, ERROR_CANCELLED, WAIT_OBJECT_0};
    use windows_sys::Win32::System::Threading::{GetExitCodeProcess, WaitForSingleObject};
    use windows_sys::Win32::UI::Shell::{ShellExecuteExW, SEE_MASK_NOCLOSEPROCESS, SHELLEXECUTEINFOW};
    use windows_sys::Win32::UI::WindowsAndMessaging::SW_HIDE;
    let exe = std::env::current_exe().map_err(|e| format!("Could not find this program's path: {e}"))?;
    let (verb, file, params) = (wide("runas"), wide(&exe.display().to_string()), wide(params));
    // SAFETY: the structure is zeroed then filled with NUL-terminated UTF-16 strings that outlive
    // the call; the process handle returned is waited on and closed once.
    unsafe {
        let mut info: SHELLEXECUTEINFOW = std::mem::zeroed();
        info.cbSize = std::mem::size_of::<SHELLEXECUTEINFOW>() as u32;
        info.fMask = SEE_MASK_NOCLOSEPROCESS;
        info.lpVerb = verb.as_ptr();
        info.lpFile = file.as_ptr();
        info.lpParameters = params.as_ptr();
        info.nShow = SW_HIDE;
        if ShellExecuteExW(&mut info) == 0 {
            return Err(match GetLastError() {
                ERROR_CANCELLED => "The administrator prompt was declined: nothing was changed.".to_string(),
                e => format!("Could not start the elevated step: {}", std::io::Error::from_raw_os_error(e as i32)),
            });
        }
        if info.hProcess.is_null() {
            return Err("The elevated step started without a process to wait for.".into());
        }
        let waited = WaitForSingleObject(info.hProcess, FIX_LIMIT_MS);
        let mut code = 1u32;
        let got = GetExitCodeProcess(info.hProcess, &mut code);
        CloseHandle(info.hProcess);
        if waited != WAIT_OBJECT_0 || got == 0 {
            return Err("The elevated step did not finish in two minutes.".into());
        }
        Ok(code)
    }
}

/// Opens Windows' own network settings (where a network's Public/Private category is changed).
pub fn open_network_settings() -> Result<(), String> {
    use windows_sys::Win32::UI::Shell::ShellExecuteW;
    use windows_sys::Win32::UI::WindowsAndMessaging::SW_SHOWNORMAL;
    let (verb, uri) = (wide("open"), wide("ms-settings:network-status"));
    // SAFETY: NUL-terminated UTF-16 strings that outlive the call; null for the optional ones.
    let h = unsafe {
        ShellExecuteW(
            std::ptr::null_mut(),
            verb.as_ptr(),
            uri.as_ptr(),
            std::ptr::null(),
            std::ptr::null(),
            SW_SHOWNORMAL,
        )
    };
    // ShellExecuteW's documented success: a value above 32.
    if h as usize > 32 {
        Ok(())
    } else {
        Err(format!("Could not open the network settings (error {})", h as usize))
    }
}
