//! The desktop app's settings file read without the GUI: its name, where the app keeps it for a
//! data dir, and the certificate names saved in it, which `cxr-gate-proxy --rotate-ca` takes into
//! the new CA (a CA made without them could not sign for them).

use std::ffi::OsStr;
use std::io;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::table::json_text;
use super::{default_data_dir, Config, Setting, Via};

/// The desktop app's settings file.
pub const SETTINGS_FILE: &str = "settings.json";
/// The desktop app's identifier (`tauri.conf.json`), the name of its config folder.
pub const DESKTOP_IDENTIFIER: &str = "io.cxrgate.desktop";

/// Why the saved names cannot be read: the file and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot take the certificate names from {}: {reason}; repair or remove the file, or open the desktop app once \
     (it replaces a damaged file)",
    path.display()
)]
pub struct SavedNamesError {
    pub path: PathBuf,
    pub reason: String,
}

/// Where the desktop app keeps its settings for `data_dir`: in it when the app is given it
/// (`--data-dir`, `DATA_DIR`); with the default data dir, in the app's own config folder, as Tauri
/// places it (`%APPDATA%\io.cxrgate.desktop`, `~/.config/…`, `~/Library/Application Support/…`).
pub fn desktop_settings_paths(data_dir: &Path) -> Vec<PathBuf> {
    let mut paths = vec![data_dir.join(SETTINGS_FILE)];
    if data_dir == default_data_dir() {
        if let Some(dir) = desktop_config_folder() {
            paths.push(dir.join(SETTINGS_FILE));
        }
    }
    paths
}

/// The desktop app's config folder (Tauri's `app_config_dir`), from this process's environment.
pub fn desktop_config_folder() -> Option<PathBuf> {
    desktop_config_dir(&|k| std::env::var_os(k).filter(|v| !v.is_empty()).map(PathBuf::from))
}

/// The desktop app's config folder, from the environment `env` gives.
fn desktop_config_dir(env: &dyn Fn(&str) -> Option<PathBuf>) -> Option<PathBuf> {
    let base = if cfg!(windows) {
        env("APPDATA")?
    } else if cfg!(target_os = "macos") {
        env("HOME")?.join("Library/Application Support")
    } else {
        env("XDG_CONFIG_HOME").or_else(|| env("HOME").map(|h| h.join(".config")))?
    };
    Some(base.join(DESKTOP_IDENTIFIER))
}

/// The certificate names saved in the settings file at `path`, checked as the app checks them;
/// none when there is no such file.
pub fn saved_cert_names(path: &Path) -> Result<Vec<String>, SavedNamesError> {
    let fail = |reason: String| SavedNamesError { path: path.to_path_buf(), reason };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(fail(e.to_string())),
    };
    let json: Value = serde_json::from_slice(&bytes).map_err(|e| fail(format!("not JSON ({e})")))?;
    let spec = Setting::CertHostnames.spec();
    let Some(value) = json.get(spec.key).filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let mut cfg = Config::default();
    (spec.set)(&mut cfg, OsStr::new(&json_text(value)), spec.id.via(Via::Name)).map_err(|e| fail(e.to_string()))?;
    Ok(cfg.cert_hostnames)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_as_the_app_saves_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SETTINGS_FILE);
        assert!(saved_cert_names(&path).unwrap().is_empty(), "no file, no names");
        std::fs::write(
            &path,
            r#"{"backend_port": 49100, "cert_hostnames": ["gate.lan", "vr.example.com", "10.0.0.9"]}"#,
        )
        .unwrap();
        assert_eq!(saved_cert_names(&path).unwrap(), ["gate.lan", "vr.example.com", "10.0.0.9"]);
        std::fs::write(&path, r#"{"backend_port": 49100}"#).unwrap();
        assert!(saved_cert_names(&path).unwrap().is_empty());
        std::fs::write(&path, r#"{"cert_hostnames": ["-bad"]}"#).unwrap();
        let err = saved_cert_names(&path).unwrap_err().to_string();
        assert!(err.contains("settings.json") && err.contains("-bad"), "{err}");
        std::fs::write(&path, "{not json").unwrap();
        let err = saved_cert_names(&path).unwrap_err().to_string();
        assert!(err.contains("not JSON") && err.contains("repair or remove"), "{err}");
    }

    #[test]
    fn the_desktop_config_folder_is_where_tauri_puts_it() {
        let env = |k: &str| match k {
            "APPDATA" => Some(PathBuf::from("C:/Users/u/AppData/Roaming")),
            "HOME" => Some(PathBuf::from("/home/u")),
            _ => None,
        };
        let dir = desktop_config_dir(&env).unwrap();
        let want = if cfg!(windows) {
            PathBuf::from("C:/Users/u/AppData/Roaming/io.cxrgate.desktop")
        } else if cfg!(target_os = "macos") {
            PathBuf::from("/home/u/Library/Application Support/io.cxrgate.desktop")
        } else {
            PathBuf::from("/home/u/.config/io.cxrgate.desktop")
        };
        assert_eq!(dir, want);
        let conf = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../src-tauri/tauri.conf.json"))
            .unwrap();
        assert!(conf.contains(&format!(r#""identifier": "{DESKTOP_IDENTIFIER}""#)), "the app's identifier changed");
        // Given a data dir, the app keeps its settings in it, and only there.
        let given = Path::new("/srv/gate");
        assert_eq!(desktop_settings_paths(given), [given.join(SETTINGS_FILE)]);
    }
}
