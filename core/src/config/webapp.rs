//! The web app settings: the web root checks (a folder holding `index.html`, apart from the data
//! dir, which holds the private keys) and the query template
//! that the QR code and the trust page append to `/app/` — its validation and its rendering with the
//! address a headset used. Errors name the setting, the value and what is accepted, like the rest
//! of `config`.

use std::path::{Component, Path, PathBuf};

use super::{ConfigError, SettingName};

/// What NVIDIA's sample names its connection options (see docs/WEBAPP.md).
pub const DEFAULT_APP_QUERY: &str = "?serverIP={ip}&port={port}";

/// The placeholders a template may use.
pub const PLACEHOLDERS: [&str; 3] = ["{ip}", "{port}", "{wss}"];

/// Longest template accepted (a QR code must still hold the whole link).
pub const MAX_APP_QUERY: usize = 512;

const QUERY_EXPECTED: &str = "expected a query such as ?serverIP={ip}&port={port}: letters, digits, \
-._~!$&'()*+,;=:@/? and %XX escapes, with the placeholders {ip}, {port} and {wss} (empty for no query)";

/// Checks a query template; the error says what is wrong and what is accepted.
pub fn validate_app_query(template: &str, setting: SettingName) -> Result<(), ConfigError> {
    let bad = |why: String| ConfigError::new(setting, template, format!("{why}; {QUERY_EXPECTED}"));
    if template.len() > MAX_APP_QUERY {
        return Err(bad(format!("it is {} characters long, at most {MAX_APP_QUERY} fit", template.len())));
    }
    let bytes = template.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'{' => {
                let Some(end) = template[i..].find('}') else {
                    return Err(bad("a '{' is never closed".into()));
                };
                let name = &template[i..i + end + 1];
                if !PLACEHOLDERS.contains(&name) {
                    return Err(bad(format!("{name} is not a placeholder")));
                }
                i += end + 1;
                continue;
            }
            b'}' => return Err(bad("a '}' has no '{'".into())),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
                if !hex {
                    return Err(bad("'%' must start a %XX escape (two hex digits)".into()));
                }
                i += 3;
                continue;
            }
            c if c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?".contains(&c) => {}
            b' ' => return Err(bad("it has a space (write %20)".into())),
            b'#' => return Err(bad("'#' would end the query (write %23)".into())),
            c if c.is_ascii() => return Err(bad(format!("{:?} is not allowed in a URL query", char::from(c)))),
            _ => return Err(bad("only ASCII is allowed (write other characters as %XX escapes)".into())),
        }
        i += 1;
    }
    Ok(())
}

/// Everything but RFC 3986's unreserved characters as `%XX`, so a value stays one query value.
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The query for `/app/`: `{ip}` is `host` (the address the headset used, IPv6 in brackets),
/// `{port}` the gate's port, `{wss}` the whole `wss://host:port` URL, each percent-encoded.
/// Returns `""` for an empty template, else a string starting with `?`.
pub fn render_app_query(template: &str, host: &str, port: u16) -> String {
    let t = template.strip_prefix('?').unwrap_or(template);
    if t.is_empty() {
        return String::new();
    }
    let q = t
        .replace("{ip}", &encode_component(host))
        .replace("{port}", &port.to_string())
        .replace("{wss}", &encode_component(&format!("wss://{host}:{port}")));
    format!("?{q}")
}

/// A web root must be a folder holding `index.html`. The error says what to do about it.
pub fn check_web_root(root: &Path, setting: SettingName) -> Result<(), ConfigError> {
    let bad = |why: String| ConfigError::new(setting, root.display().to_string(), why);
    if root.as_os_str().is_empty() {
        return Err(bad("expected the folder that holds your built web client's index.html".into()));
    }
    match std::fs::metadata(root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(bad("this is a file, not a folder; give the folder that holds index.html".into())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(bad(
                "the folder does not exist; give the folder that holds your built web client's index.html".into()
            ))
        }
        Err(e) => return Err(bad(format!("cannot read the folder ({e})"))),
    }
    match std::fs::metadata(root.join("index.html")) {
        Ok(m) if m.is_file() => Ok(()),
        _ => Err(bad(
            "the folder has no index.html; give the folder your web client's build writes (e.g. its build/ folder)"
                .into(),
        )),
    }
}

/// `path` absolute and canonical as far as it exists, the rest appended as written: a data dir not
/// created yet is compared by where it will be. `.` and `..` are resolved by name first.
pub fn canonical_lenient(path: &Path) -> PathBuf {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map(|d| d.join(path)).unwrap_or_else(|_| path.to_path_buf())
    };
    let mut plain = PathBuf::new();
    for c in abs.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                plain.pop();
            }
            other => plain.push(other),
        }
    }
    let mut tail = Vec::new();
    let mut existing = plain.as_path();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            return tail.iter().rev().fold(real, |acc, name| acc.join(name));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                tail.push(name.to_os_string());
                existing = parent;
            }
            _ => return plain,
        }
    }
}

/// The web root and the data dir must not hold one another: `/app/` would serve the CA's private
/// key (`ca-key.pem`), the server key and the certificate state to anyone on the network. Both
/// paths are compared canonical (links and `..` resolved; a data dir not created yet by where it
/// will be). The error names both and what to do.
pub fn check_web_root_apart(root: &Path, data_dir: &Path, setting: SettingName) -> Result<(), ConfigError> {
    let (r, d) = (canonical_lenient(root), canonical_lenient(data_dir));
    let why = if d.starts_with(&r) {
        format!(
            "this folder contains the data dir {} (the certificate's private keys), which /app/ would then serve \
             to anyone on the network; choose the folder your web client's build writes (e.g. its build/ folder), \
             or a data dir outside {}",
            d.display(),
            r.display()
        )
    } else if r.starts_with(&d) {
        format!(
            "this folder lies inside the data dir {} (the certificate's private keys), and the gate's files must \
             never mix with what /app/ serves; choose a web app folder outside the data dir, or another data dir",
            d.display()
        )
    } else {
        return Ok(());
    };
    Err(ConfigError::new(setting, root.display().to_string(), why))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Setting, Via};

    const FLAG: SettingName = SettingName::Of(Setting::AppQuery, Via::Flag);
    const ENV: SettingName = SettingName::Of(Setting::AppQuery, Via::Env);
    const ROOT_FLAG: SettingName = SettingName::Of(Setting::WebRoot, Via::Flag);
    const ROOT_ENV: SettingName = SettingName::Of(Setting::WebRoot, Via::Env);
    const X: SettingName = SettingName::Other("x");

    #[test]
    fn the_default_and_plain_templates_are_valid() {
        for t in [DEFAULT_APP_QUERY, "", "?", "server={wss}", "?a=1&b=%2F{ip}:{port}", "?x=(1)*!~'"] {
            validate_app_query(t, ENV).unwrap_or_else(|e| panic!("{t}: {e}"));
        }
    }

    #[test]
    fn bad_templates_say_what_is_wrong() {
        let why = |t: &str| validate_app_query(t, FLAG).unwrap_err().to_string();
        assert!(why("?s={host}").contains("{host} is not a placeholder"), "{}", why("?s={host}"));
        assert!(why("?s={ip").contains("never closed"));
        assert!(why("?s=ip}").contains("has no '{'"));
        assert!(why("?s=%zz").contains("%XX"));
        assert!(why("?s=%2").contains("%XX"));
        assert!(why("?a b").contains("space"));
        assert!(why("?a#b").contains("'#'"));
        assert!(why("?a=\"x\"").contains("not allowed"));
        assert!(why("?a=é").contains("ASCII"));
        assert!(why(&"a".repeat(600)).contains("at most 512"));
        let e = validate_app_query("?{x}", ENV).unwrap_err();
        assert_eq!(e.setting, "APP_QUERY");
        assert_eq!(e.value, "?{x}");
        assert!(e.to_string().starts_with("invalid APP_QUERY \"?{x}\": {x} is not a placeholder; expected"), "{e}");
    }

    #[test]
    fn rendering_substitutes_and_encodes() {
        assert_eq!(render_app_query(DEFAULT_APP_QUERY, "192.168.1.20", 48322), "?serverIP=192.168.1.20&port=48322");
        assert_eq!(render_app_query("serverIP={ip}", "10.0.0.5", 1), "?serverIP=10.0.0.5");
        assert_eq!(render_app_query("", "10.0.0.5", 1), "");
        assert_eq!(render_app_query("?", "10.0.0.5", 1), "");
        assert_eq!(render_app_query("?u={wss}", "10.0.0.5", 443), "?u=wss%3A%2F%2F10.0.0.5%3A443");
        assert_eq!(render_app_query("?ip={ip}&p={port}", "[fd00::1]", 9), "?ip=%5Bfd00%3A%3A1%5D&p=9");
        assert_eq!(encode_component("a&b=c d"), "a%26b%3Dc%20d");
    }

    #[test]
    fn web_root_checks_name_the_problem() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("app");
        let e = check_web_root(&root, ROOT_FLAG).unwrap_err();
        assert_eq!(e.setting, "--web-root");
        assert!(e.to_string().contains("does not exist"), "{e}");
        std::fs::create_dir(&root).unwrap();
        assert!(check_web_root(&root, ROOT_ENV).unwrap_err().to_string().contains("no index.html"));
        std::fs::write(root.join("index.html"), "<!doctype html>").unwrap();
        check_web_root(&root, ROOT_ENV).unwrap();
        assert!(check_web_root(&root.join("index.html"), X).unwrap_err().to_string().contains("not a folder"));
        assert!(check_web_root(Path::new(""), X).is_err());
    }

    #[test]
    fn a_web_root_holding_the_data_dir_or_inside_it_is_refused_naming_both() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join("app")).unwrap();
        let real_home = std::fs::canonicalize(&home).unwrap();
        // The data dir does not exist yet: compared by where it will be.
        let data = home.join(".local/share/cxr-gate");
        let e = check_web_root_apart(&home, &data, ROOT_FLAG).unwrap_err().to_string();
        assert!(
            e.starts_with(&format!(
                "invalid --web-root {:?}: this folder contains the data dir",
                home.display().to_string()
            )),
            "{e}"
        );
        assert!(e.contains(&real_home.join(".local/share/cxr-gate").display().to_string()), "{e}");
        // The same folder, and a roundabout spelling of it.
        assert!(check_web_root_apart(&home, &home, ROOT_ENV).is_err());
        assert!(check_web_root_apart(&home.join("app/.."), &data, ROOT_ENV).is_err());
        // A web root inside the data dir.
        let e = check_web_root_apart(&home.join("app"), &home, ROOT_ENV).unwrap_err().to_string();
        assert!(e.starts_with("invalid WEB_ROOT") && e.contains("lies inside the data dir"), "{e}");
        assert!(e.contains(&real_home.display().to_string()), "{e}");
        // Side by side, or a name that only starts the same: fine.
        check_web_root_apart(&home.join("app"), &home.join("data"), ROOT_ENV).unwrap();
        check_web_root_apart(&home.join("app"), &home.join("app-data"), ROOT_ENV).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn paths_are_compared_after_following_links() {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join("data")).unwrap();
        std::os::unix::fs::symlink(&home, dir.path().join("web")).unwrap();
        // `web` is `home` by another name, and `home/data` is inside it.
        let e = check_web_root_apart(&dir.path().join("web"), &home.join("data"), ROOT_FLAG).unwrap_err();
        assert!(e.to_string().contains("contains the data dir"), "{e}");
        std::os::unix::fs::symlink(home.join("data"), dir.path().join("d")).unwrap();
        assert!(check_web_root_apart(&home, &dir.path().join("d/not-yet"), ROOT_FLAG).is_err());
    }
}
