//! The elevated `firewall-fix` run's result as a file: it runs hidden (and as administrator), so
//! what it prints is lost; it writes each rule it changed, or the exact error, to a file (the one
//! `--result` names, else `firewall-fix-result.txt` in the data directory) and the window reads it
//! back. First line `CXR Gate firewall-fix: done (exit 0)` or `… failed (exit 1)`, then one line each.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "firewall-fix-result.txt";
const HEAD: &str = "CXR Gate firewall-fix: ";

pub fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// The file's text for an exit code and the run's lines.
pub fn render(code: i32, lines: &[String]) -> String {
    let word = match code {
        0 => "done",
        2 => "refused",
        _ => "failed",
    };
    let mut s = format!("{HEAD}{word} (exit {code})\n");
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    s
}

/// What a result file says: done or not, and its lines.
#[cfg(any(windows, test))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub done: bool,
    pub lines: Vec<String>,
}

#[cfg(any(windows, test))]
pub fn parse(text: &str) -> Option<Outcome> {
    let mut lines = text.lines();
    let head = lines.next()?.strip_prefix(HEAD)?;
    Some(Outcome {
        done: head.starts_with("done"),
        lines: lines.map(str::trim_end).filter(|l| !l.is_empty()).map(String::from).collect(),
    })
}

/// Writes the file whole: a new file beside it, then renamed over it, so a link planted at the
/// name is replaced rather than followed (the elevated run writes into the user's folder).
pub fn write(path: &Path, text: &str) -> io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let mut f = fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
    let wrote = f.write_all(text.as_bytes()).and_then(|()| f.sync_all());
    drop(f);
    if let Err(e) = wrote.and_then(|()| fs::rename(&tmp, path)) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(())
}

/// Reads it back (the window, after the elevated step ended with `code`).
#[cfg(any(windows, test))]
pub fn read(path: &Path, code: u32) -> Outcome {
    match fs::read_to_string(path) {
        Ok(t) => parse(&t).unwrap_or_else(|| Outcome {
            done: false,
            lines: vec![format!(
                "The elevated step (exit {code}) left {} in a form CXR Gate does not know.",
                path.display()
            )],
        }),
        Err(e) => Outcome {
            done: false,
            lines: vec![format!(
                "The elevated step ended with exit {code} and left no result in {} ({e}).",
                path.display()
            )],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_result_round_trips_and_a_missing_file_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = path_in(dir.path());
        let lines = vec!["added \"CXR Gate: headsets to the wss:// proxy\": allow TCP 48322 in".to_string()];
        write(&path, &render(0, &lines)).unwrap();
        assert_eq!(read(&path, 0), Outcome { done: true, lines: lines.clone() });
        let err =
            vec!["cxr-gate firewall-fix: could not change the firewall (adding …: Access is denied. (0x80070005))"
                .to_string()];
        write(&path, &render(1, &err)).unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap().lines().next(), Some("CXR Gate firewall-fix: failed (exit 1)"));
        assert_eq!(read(&path, 1), Outcome { done: false, lines: err });
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1, "no temporary file left");
        fs::remove_file(&path).unwrap();
        let missing = read(&path, 1);
        assert!(
            !missing.done && missing.lines[0].starts_with("The elevated step ended with exit 1 and left no result in")
        );
        fs::write(&path, "something else").unwrap();
        assert!(read(&path, 0).lines[0].contains("in a form CXR Gate does not know"));
    }

    #[cfg(unix)]
    #[test]
    fn a_link_at_the_name_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere.txt");
        fs::write(&target, "keep me").unwrap();
        let path = path_in(dir.path());
        std::os::unix::fs::symlink(&target, &path).unwrap();
        write(&path, &render(0, &[])).unwrap();
        assert_eq!(fs::read_to_string(&target).unwrap(), "keep me");
        assert!(!fs::symlink_metadata(&path).unwrap().file_type().is_symlink());
    }
}
