//! Finding an `adb` to start the server with: the folder the user picked (setting `adb_dir`), else
//! PATH, the Android SDK (`ANDROID_HOME`, `ANDROID_SDK_ROOT`, Android Studio's default folder), Meta
//! Quest Developer Hub's and SideQuest's own copies. The candidates are a plain function of the
//! environment, so every platform's list is tested everywhere; only the process start is OS-specific.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::client::Server;

/// Where Google's platform-tools are downloaded: the sentence the window shows when adb is missing.
pub const PLATFORM_TOOLS_URL: &str = "https://developer.android.com/tools/releases/platform-tools";

/// The places to look for adb, in order, for `windows` or not, with `env` reading the environment.
/// With a folder picked by the user, only that folder: a choice is not second-guessed.
pub fn candidates(adb_dir: Option<&Path>, windows: bool, env: &dyn Fn(&str) -> Option<OsString>) -> Vec<PathBuf> {
    let exe = if windows { "adb.exe" } else { "adb" };
    if let Some(dir) = adb_dir {
        // The folder itself, or the SDK above it.
        return vec![dir.join(exe), dir.join("platform-tools").join(exe)];
    }
    let mut out = Vec::new();
    let sep = if windows { ';' } else { ':' };
    if let Some(path) = env("PATH") {
        for dir in path.to_string_lossy().split(sep).filter(|d| !d.is_empty()) {
            out.push(Path::new(dir.trim_matches('"')).join(exe));
        }
    }
    let var = |k: &str| env(k).filter(|v| !v.is_empty()).map(PathBuf::from);
    for sdk in ["ANDROID_HOME", "ANDROID_SDK_ROOT"].iter().filter_map(|k| var(k)) {
        out.push(sdk.join("platform-tools").join(exe));
    }
    if windows {
        if let Some(local) = var("LOCALAPPDATA") {
            // Android Studio's default SDK.
            out.push(local.join(r"Android\Sdk\platform-tools").join(exe));
            out.push(local.join(r"Programs\Meta Quest Developer Hub\resources\bin").join(exe));
            out.push(local.join(r"Programs\SideQuest\resources\app.asar.unpacked\build\platform-tools").join(exe));
        }
        for pf in ["ProgramFiles", "ProgramW6432"].iter().filter_map(|k| var(k)) {
            out.push(pf.join(r"Meta Quest Developer Hub\resources\bin").join(exe));
            out.push(pf.join(r"SideQuest\resources\app.asar.unpacked\build\platform-tools").join(exe));
        }
        if let Some(roaming) = var("APPDATA") {
            // SideQuest downloads platform-tools here (its docs: `cd %appdata%\SideQuest\platform-tools`).
            out.push(roaming.join(r"SideQuest\platform-tools").join(exe));
        }
    } else if let Some(home) = var("HOME") {
        out.push(home.join("Android/Sdk/platform-tools").join(exe));
        out.push(home.join("Library/Android/sdk/platform-tools").join(exe));
        out.push(home.join(".config/SideQuest/platform-tools").join(exe));
        out.push(home.join("Library/Application Support/SideQuest/platform-tools").join(exe));
    }
    let mut seen = Vec::new();
    out.retain(|p| {
        let new = !seen.contains(p);
        seen.push(p.clone());
        new
    });
    out
}

/// The first candidate that is a file, for this platform and process environment.
pub fn find(adb_dir: Option<&Path>) -> Option<PathBuf> {
    candidates(adb_dir, cfg!(windows), &|k| std::env::var_os(k)).into_iter().find(|p| p.is_file())
}

/// Runs `adb start-server` for `server`'s port and waits for it (at most `within`): adb starts the
/// server as a daemon of its own, which stays for other tools, as it does for Android Studio.
pub async fn start_server(adb: &Path, server: &Server, within: Duration) -> Result<(), String> {
    let mut cmd = tokio::process::Command::new(adb);
    cmd.arg("start-server")
        .env("ANDROID_ADB_SERVER_PORT", server.addr.port().to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    #[cfg(windows)]
    {
        // A GUI app's child gets a console window of its own unless told not to.
        const CREATE_NO_WINDOW: u32 = 0x0800_0000;
        cmd.creation_flags(CREATE_NO_WINDOW);
    }
    let child = cmd.spawn().map_err(|e| format!("{} could not be started: {e}", adb.display()))?;
    match tokio::time::timeout(within, child.wait_with_output()).await {
        Err(_) => Err(format!("{} start-server did not finish within {} s", adb.display(), within.as_secs())),
        Ok(Err(e)) => Err(format!("{} start-server: {e}", adb.display())),
        Ok(Ok(out)) if !out.status.success() => {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = err.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no message");
            Err(format!("{} start-server failed ({}): {last}", adb.display(), out.status))
        }
        Ok(Ok(_)) => Ok(()),
    }
}
