//! "Trust on this PC": installs the local CA where this computer's browsers look for trusted roots,
//! and tells whether it is there. Windows: the current user's Root store with `certutil -user`
//! (Windows asks the user to confirm; Chrome and Edge use that store). Linux: the NSS databases
//! Chromium/Chrome (`~/.pki/nssdb`) and Firefox (each profile) read, with `certutil` from
//! libnss3-tools. The argument vectors and the output parsers are plain functions, tested on every
//! platform; only running them differs.

use std::path::PathBuf;

use serde::Serialize;
use tauri::{AppHandle, Runtime};

use crate::tools::run;

/// What the Certificate card shows about this PC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrustView {
    /// `Some(true)` trusted, `Some(false)` not, `None` unknown (tool missing, no CA).
    pub trusted: Option<bool>,
    /// One line for the user: where it is trusted, or what to do.
    pub detail: String,
    /// Whether the button can do anything here.
    pub can_install: bool,
}

/// The CA as this module needs it.
#[derive(Debug, Clone)]
pub struct CaFile {
    pub path: PathBuf,
    pub common_name: String,
    pub fingerprint_sha256: String,
    // Windows finds the CA in its store by serial.
    #[cfg_attr(not(windows), allow(dead_code))]
    pub serial_hex: String,
    /// DER, to recognise it in an NSS database's listing (Linux).
    #[cfg_attr(windows, allow(dead_code))]
    pub der: Vec<u8>,
}

impl CaFile {
    /// The NSS nickname (Linux): the name plus a short fingerprint, so a rotated CA is a new entry.
    #[cfg_attr(windows, allow(dead_code))]
    pub fn nickname(&self) -> String {
        let short: String = self.fingerprint_sha256.split(':').take(4).collect::<Vec<_>>().join("");
        format!("{} ({short})", self.common_name)
    }
}

// ---------------------------------------------------------------- Windows: certutil -user

// Used when running on Windows; tested everywhere.
#[cfg_attr(not(windows), allow(dead_code))]
pub mod windows {
    /// `certutil -user -addstore Root <file>`: the current user's trusted roots (Windows confirms).
    pub fn add_args(path: &str) -> Vec<String> {
        ["-user", "-addstore", "Root", path].iter().map(|s| s.to_string()).collect()
    }

    /// `certutil -user -store Root <serial>`: lists the store's certificates with that serial.
    pub fn check_args(serial_hex: &str) -> Vec<String> {
        ["-user", "-store", "Root", serial_hex].iter().map(|s| s.to_string()).collect()
    }

    /// Whether a `-store` listing shows the certificate with `serial_hex` (certutil prints
    /// `Serial Number: 3a1f…`, sometimes with spaces between byte pairs).
    pub fn listing_has(stdout: &str, serial_hex: &str) -> bool {
        let want: String = serial_hex.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
        let want = want.trim_start_matches("00");
        stdout.lines().filter_map(|l| l.trim().strip_prefix("Serial Number:")).any(|v| {
            let got: String = v.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_ascii_lowercase();
            got.trim_start_matches("00") == want
        })
    }

    /// The user said no to Windows' confirmation (ERROR_CANCELLED).
    pub fn cancelled(output: &str) -> bool {
        output.contains("0x800704c7") || output.contains("ERROR_CANCELLED")
    }
}

// ---------------------------------------------------------------- Linux: NSS certutil

// Used when running on Linux; tested everywhere.
#[cfg_attr(windows, allow(dead_code))]
pub mod nss {
    use std::path::{Path, PathBuf};

    fn db(dir: &Path) -> String {
        format!("sql:{}", dir.display())
    }

    /// The NSS databases browsers read for `home`: Chromium/Chrome's (always, made if missing) and
    /// every Firefox profile that has one (also the snap's).
    pub fn databases(home: &Path) -> Vec<PathBuf> {
        let mut out = vec![home.join(".pki/nssdb")];
        for base in [home.join(".mozilla/firefox"), home.join("snap/firefox/common/.mozilla/firefox")] {
            let Ok(entries) = std::fs::read_dir(&base) else { continue };
            let mut profiles: Vec<PathBuf> =
                entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.join("cert9.db").is_file()).collect();
            profiles.sort();
            out.extend(profiles);
        }
        out
    }

    pub fn init_args(dir: &Path) -> Vec<String> {
        vec!["-N".into(), "-d".into(), db(dir), "--empty-password".into()]
    }

    /// Trusted for TLS servers ("C,,"), under `nickname`.
    pub fn add_args(dir: &Path, nickname: &str, ca_path: &Path) -> Vec<String> {
        vec![
            "-A".into(),
            "-d".into(),
            db(dir),
            "-n".into(),
            nickname.into(),
            "-t".into(),
            "C,,".into(),
            "-i".into(),
            ca_path.display().to_string(),
        ]
    }

    /// `certutil -L -d …`: the table of nicknames and trust attributes.
    pub fn list_args(dir: &Path) -> Vec<String> {
        vec!["-L".into(), "-d".into(), db(dir)]
    }

    /// `certutil -L -d … -n <nickname> -a`: that entry's certificates as PEM.
    pub fn export_args(dir: &Path, nickname: &str) -> Vec<String> {
        vec!["-L".into(), "-d".into(), db(dir), "-n".into(), nickname.into(), "-a".into()]
    }

    /// Whether the `-L` table gives `nickname` the SSL trust flag `C` (trusted CA for servers).
    /// Lines read `<nickname>   <ssl>,<email>,<code>`; the nickname may contain spaces.
    pub fn table_trusts(stdout: &str, nickname: &str) -> bool {
        stdout.lines().any(|l| {
            let l = l.trim_end();
            l.strip_prefix(nickname)
                .and_then(|rest| rest.split_whitespace().last())
                .and_then(|flags| flags.split(',').next())
                .is_some_and(|ssl| ssl.contains('C'))
        })
    }
}

/// Whether any certificate in `pem` is `der`.
#[cfg_attr(windows, allow(dead_code))]
pub fn pem_contains(pem: &str, der: &[u8]) -> bool {
    use rustls_pki_types::pem::PemObject;
    rustls_pki_types::CertificateDer::pem_slice_iter(pem.as_bytes()).flatten().any(|c| c.as_ref() == der)
}

/// The status line for Linux, from what each database said: `(database, trusted)`.
#[cfg_attr(windows, allow(dead_code))]
pub fn nss_view(results: &[(PathBuf, bool)], tool_missing: bool) -> TrustView {
    if tool_missing {
        return TrustView {
            trusted: None,
            detail:
                "certutil is not installed: install libnss3-tools (sudo apt install libnss3-tools), then try again."
                    .into(),
            can_install: false,
        };
    }
    let trusted: Vec<&PathBuf> = results.iter().filter(|(_, t)| *t).map(|(p, _)| p).collect();
    let all = !results.is_empty() && trusted.len() == results.len();
    let detail = if all {
        format!(
            "Trusted by this PC's browsers ({} NSS database{}).",
            results.len(),
            if results.len() == 1 { "" } else { "s" }
        )
    } else if trusted.is_empty() {
        "Not trusted on this PC. Optional: only this PC's browsers (Chromium, Chrome, Firefox) warn; headsets do not need it."
            .into()
    } else {
        format!(
            "Trusted in {} of {} browser databases; press the button to add it to the rest.",
            trusted.len(),
            results.len()
        )
    };
    TrustView { trusted: Some(all), detail, can_install: true }
}

#[cfg(not(windows))]
fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

/// Whether this PC trusts `ca`.
pub async fn status<R: Runtime>(app: &AppHandle<R>, ca: &CaFile) -> TrustView {
    #[cfg(windows)]
    {
        let (ok, stdout, _) =
            match run(app, std::path::Path::new("certutil"), windows::check_args(&ca.serial_hex)).await {
                Ok(r) => r,
                Err(e) => return TrustView { trusted: None, detail: e, can_install: false },
            };
        let trusted = ok && windows::listing_has(&stdout, &ca.serial_hex);
        let short: String = ca.fingerprint_sha256.split(':').take(4).collect::<Vec<_>>().join(":");
        let detail = if trusted {
            format!(
                "{} ({short}…) is trusted by this PC (your Windows user's trusted roots: Chrome and Edge use them).",
                ca.common_name
            )
        } else {
            format!(
                "{} ({short}…) is not trusted on this PC. Optional: only this PC's browsers warn; headsets do not need it.",
                ca.common_name
            )
        };
        TrustView { trusted: Some(trusted), detail, can_install: true }
    }
    #[cfg(not(windows))]
    {
        let (Some(tool), Some(home)) = (crate::tools::find("certutil", &["/usr/bin"]), home()) else {
            return nss_view(&[], true);
        };
        let mut results = Vec::new();
        for db in nss::databases(&home) {
            if !db.join("cert9.db").is_file() {
                results.push((db, false));
                continue;
            }
            let table = run(app, &tool, nss::list_args(&db)).await.map(|r| r.1).unwrap_or_default();
            let exported =
                run(app, &tool, nss::export_args(&db, &ca.nickname())).await.map(|r| r.1).unwrap_or_default();
            let trusted = nss::table_trusts(&table, &ca.nickname()) && pem_contains(&exported, &ca.der);
            results.push((db, trusted));
        }
        nss_view(&results, false)
    }
}

/// Installs `ca` as trusted for this user; returns the new status.
pub async fn install<R: Runtime>(app: &AppHandle<R>, ca: &CaFile) -> Result<TrustView, String> {
    #[cfg(windows)]
    {
        let (ok, stdout, stderr) =
            run(app, std::path::Path::new("certutil"), windows::add_args(&ca.path.display().to_string())).await?;
        if !ok {
            let all = format!("{stdout}{stderr}");
            if windows::cancelled(&all) {
                return Err("Windows asked for confirmation and it was declined; nothing was installed.".into());
            }
            let line = all
                .lines()
                .map(str::trim)
                .find(|l| l.contains("FAILED") || l.contains("rror"))
                .unwrap_or("certutil failed");
            return Err(format!("Installing the CA failed: {line}"));
        }
    }
    #[cfg(not(windows))]
    {
        let (Some(tool), Some(home)) = (crate::tools::find("certutil", &["/usr/bin"]), home()) else {
            return Err(nss_view(&[], true).detail);
        };
        for db in nss::databases(&home) {
            if !db.join("cert9.db").is_file() {
                std::fs::create_dir_all(&db).map_err(|e| format!("{}: {e}", db.display()))?;
                let (ok, _, err) = run(app, &tool, nss::init_args(&db)).await?;
                if !ok {
                    return Err(format!("Could not create {}: {}", db.display(), err.trim()));
                }
            }
            let (ok, _, err) = run(app, &tool, nss::add_args(&db, &ca.nickname(), &ca.path)).await?;
            if !ok {
                return Err(format!("Could not add the CA to {}: {}", db.display(), err.trim()));
            }
        }
    }
    Ok(status(app, ca).await)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn ca() -> CaFile {
        CaFile {
            path: "/data/ca.pem".into(),
            common_name: "CXR Gate CA on ws-01".into(),
            fingerprint_sha256: "AB:CD:EF:01:23:45".into(),
            serial_hex: "3a1f00b2".into(),
            der: vec![1, 2, 3],
        }
    }

    #[test]
    fn windows_uses_the_users_root_store() {
        assert_eq!(windows::add_args(r"C:\Users\a\ca.pem"), ["-user", "-addstore", "Root", r"C:\Users\a\ca.pem"]);
        assert_eq!(windows::check_args("3a1f"), ["-user", "-store", "Root", "3a1f"]);
        let listing = "Root \"Trusted Root Certification Authorities\"\n================ Certificate 0 ================\n\
                       Serial Number: 3a 1f 00 b2\nIssuer: CN=CXR Gate CA on ws-01\nCertUtil: -store command completed successfully.\n";
        assert!(windows::listing_has(listing, "3a1f00b2"));
        assert!(windows::listing_has("Serial Number: 003A1F00B2", "3a1f00b2"), "a leading zero byte and case");
        assert!(!windows::listing_has(listing, "3a1f00b3"));
        assert!(!windows::listing_has(
            "CertUtil: -store command FAILED: 0x80092004 (-2146885628 CRYPT_E_NOT_FOUND)",
            "3a1f00b2"
        ));
        assert!(windows::cancelled("CertUtil: -addstore command FAILED: 0x800704c7 (WIN32: 1223 ERROR_CANCELLED)"));
        assert!(!windows::cancelled("CertUtil: -addstore command completed successfully."));
    }

    #[test]
    fn nss_argument_vectors_and_nickname() {
        let c = ca();
        assert_eq!(c.nickname(), "CXR Gate CA on ws-01 (ABCDEF01)");
        let db = Path::new("/home/u/.pki/nssdb");
        assert_eq!(nss::init_args(db), ["-N", "-d", "sql:/home/u/.pki/nssdb", "--empty-password"]);
        assert_eq!(
            nss::add_args(db, &c.nickname(), &c.path),
            [
                "-A",
                "-d",
                "sql:/home/u/.pki/nssdb",
                "-n",
                "CXR Gate CA on ws-01 (ABCDEF01)",
                "-t",
                "C,,",
                "-i",
                "/data/ca.pem"
            ]
        );
        assert_eq!(nss::export_args(db, "n"), ["-L", "-d", "sql:/home/u/.pki/nssdb", "-n", "n", "-a"]);
    }

    #[test]
    fn nss_table_trust_flags() {
        let table = "\nCertificate Nickname                                         Trust Attributes\n\
                     \x20                                                            SSL,S/MIME,JAR/XPI\n\n\
                     CXR Gate CA on ws-01 (ABCDEF01)                              C,,  \n\
                     Other CA                                                     ,,   \n";
        assert!(nss::table_trusts(table, "CXR Gate CA on ws-01 (ABCDEF01)"));
        assert!(!nss::table_trusts(table, "Other CA"), "present but not trusted for servers");
        assert!(!nss::table_trusts(table, "CXR Gate CA on ws-01 (00000000)"));
    }

    #[test]
    fn nss_databases_include_firefox_profiles_that_have_one() {
        let home = tempfile::tempdir().unwrap();
        let ff = home.path().join(".mozilla/firefox");
        std::fs::create_dir_all(ff.join("abc.default-release")).unwrap();
        std::fs::write(ff.join("abc.default-release/cert9.db"), b"").unwrap();
        std::fs::create_dir_all(ff.join("empty.profile")).unwrap();
        let dbs = nss::databases(home.path());
        assert_eq!(dbs, [home.path().join(".pki/nssdb"), ff.join("abc.default-release")]);
    }

    #[test]
    fn views_say_what_to_do() {
        let v = nss_view(&[], true);
        assert_eq!((v.trusted, v.can_install), (None, false));
        assert!(v.detail.contains("libnss3-tools"));
        let a = PathBuf::from("/a");
        let b = PathBuf::from("/b");
        assert_eq!(nss_view(&[(a.clone(), true), (b.clone(), true)], false).trusted, Some(true));
        let half = nss_view(&[(a.clone(), true), (b, false)], false);
        assert_eq!(half.trusted, Some(false));
        assert!(half.detail.contains("1 of 2"));
        assert!(nss_view(&[(a, false)], false).detail.starts_with("Not trusted"));
    }

    #[test]
    fn pem_listing_is_matched_by_der() {
        let pem = "-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n";
        assert!(pem_contains(pem, &[1, 2, 3]));
        assert!(!pem_contains(pem, &[1, 2, 4]));
        assert!(!pem_contains("", &[1, 2, 3]));
    }
}
