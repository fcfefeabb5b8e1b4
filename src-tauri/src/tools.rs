//! The system's command-line tools the shell runs (ufw, firewall-cmd, nft, systemctl, certutil): finding one that a desktop
//! session's PATH may lack, and running one to its end in the C locale, so the parsers in
//! `firewall` and `trust` read the English output they are tested with.

use std::path::Path;
#[cfg(not(windows))]
use std::path::PathBuf;

use tauri::{AppHandle, Runtime};
use tauri_plugin_shell::ShellExt;

/// `name` in a PATH directory, else in one of `fallback` (e.g. the sbin directories).
#[cfg(not(windows))]
pub fn find(name: &str, fallback: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path).chain(fallback.iter().map(PathBuf::from)).map(|d| d.join(name)).find(|p| p.is_file())
}

/// Runs `program` to its end: whether it exited 0, its stdout and its stderr. The error (it could
/// not be started) names the program.
pub async fn run<R: Runtime>(
    app: &AppHandle<R>,
    program: &Path,
    args: Vec<String>,
) -> Result<(bool, String, String), String> {
    let out = app
        .shell()
        .command(program.display().to_string())
        .args(args)
        .env("LC_ALL", "C")
        .output()
        .await
        .map_err(|e| format!("{}: {e}", program.display()))?;
    Ok((
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    ))
}
