//! Windows only: the card from the engine's read of the Windows Firewall, and the fix: after a
//! confirmation that lists every change, and only when this program's folder is not one users can
//! write to (`elevation`), this app re-runs itself as administrator (`ShellExecuteExW`, verb `runas`:
//! one UAC prompt, hidden) with `firewall-fix …`, which makes exactly those changes through the same
//! COM interfaces (`fixcmd`) and writes what it did, or the exact error, to a file in the data
//! directory that the card then shows (`result`). No command strings but that argument list, quoted
//! by the engine's tested `windows_command_line`. Also opens Windows' network settings.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use cxr_gate_core::firewall::args::windows_command_line;
use cxr_gate_core::firewall::windows::report_here;
use cxr_gate_core::firewall::{rules, FixAction, FixRequest, Ports, Report};
use tauri::{AppHandle, Manager, Runtime};

use super::verdict::{confirmation, windows_view};
use super::{result, FirewallView};
use crate::state::{lock, AppState, MAIN_WINDOW};

/// A hang guard for the read (it takes well under a second on a PC).
const READ_LIMIT: Duration = Duration::from_secs(10);
/// How long the elevated step may take once the prompt is answered.
const FIX_LIMIT_MS: u32 = 120_000;

/// The address the QR code shows first (the primary LAN address): its network is the headsets'.
fn qr_address<R: Runtime>(app: &AppHandle<R>) -> Option<IpAddr> {
    let st = app.state::<AppState>();
    let status = st.status.borrow().clone();
    crate::view::addresses(&status).first().and_then(|a| a.ip.parse().ok())
}

async fn report<R: Runtime>(app: &AppHandle<R>, ports: &Ports) -> Result<Report, String> {
    let (ports, primary) = (*ports, qr_address(app));
    match tokio::task::spawn_blocking(move || report_here(&ports, primary, READ_LIMIT)).await {
        Ok(Ok(r)) => Ok(r),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("could not read the firewall ({e})")),
    }
}

/// Reads the firewall for the current ports (runs on demand, not per status tick).
pub async fn status<R: Runtime>(app: &AppHandle<R>, ports: &Ports) -> FirewallView {
    let r = report(app, ports).await;
    windows_view(&rules(ports), r.as_ref().map_err(String::as_str))
}

/// The fix, in one elevated step, after a confirmation listing each change; the card then shows
/// what the step did (or its exact error) and the firewall as it is now.
pub async fn add_rules<R: Runtime>(app: &AppHandle<R>, ports: &Ports) -> Result<FirewallView, String> {
    use tauri_plugin_dialog::{DialogExt, MessageDialogButtons, MessageDialogKind};
    let report = report(app, ports).await?;
    if report.fix.is_empty() {
        return Ok(windows_view(&rules(ports), Ok(&report)));
    }
    let exe = std::env::current_exe().map_err(|e| format!("Could not find this program's path: {e}"))?;
    // Refused before the prompt: the user learns why and what to do instead.
    let check = exe.clone();
    tokio::task::spawn_blocking(move || super::elevation::check_exe(&check))
        .await
        .map_err(|e| format!("Could not check this program's folder: {e}"))??;
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
    let data_dir = PathBuf::from(lock(&app.state::<AppState>().info).data_dir.clone());
    let file = result::path_in(&data_dir);
    // A result left by an earlier run must not pass for this one's.
    let _ = std::fs::remove_file(&file);
    let req = FixRequest { action: FixAction::Fix(report.fix.clone()), result: Some(file.clone()) };
    let params = windows_command_line(&req.to_args());
    let ran = tokio::task::spawn_blocking(move || run_elevated(&exe, &params))
        .await
        .map_err(|e| format!("The elevated step did not run: {e}"))??;
    let outcome = result::read(&file, ran);
    if ran != 0 || !outcome.done {
        return Err(outcome.lines.join("\n"));
    }
    let mut view = status(app, ports).await;
    view.result = outcome.lines;
    Ok(view)
}

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// Runs `exe` (this program) as administrator with `params`; its exit code, or why it did not run.
fn run_elevated(exe: &std::path::Path, params: &str) -> Result<u32, String> {
    use windows_sys::Win32::Foundation::{CloseHandle, GetLastError, ERROR_CANCELLED, WAIT_OBJECT_0};
    use windows_sys::Win32::System::Threading::{GetExitCodeProcess, WaitForSingleObject};
    use windows_sys::Win32::UI::Shell::{ShellExecuteExW, SEE_MASK_NOCLOSEPROCESS, SHELLEXECUTEINFOW};
    use windows_sys::Win32::UI::WindowsAndMessaging::SW_HIDE;
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
