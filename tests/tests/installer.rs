//! The Windows installer (installer/windows/cxr-gate.nsi) against the firewall interface it calls:
//! every `firewall-fix` command line in the script is read out of it and checked against the
//! interface fixed for it (`--install-rules [--media] [--result FILE]` while installing,
//! `--remove-rules [--result FILE]` while uninstalling, nothing else, never TCP 49100), and then
//! given to the real `cxr-gate` binary, which must accept it: not exit 2 (bad arguments, refused
//! before anything changes). Off Windows (and under wine) the firewall cannot be changed, so the
//! run ends with exit 1 and its result file; on Windows this runs in the release workflow's
//! install test instead. The installer itself is built and used under wine by
//! scripts/test-windows.sh's `installer` step (scripts/test-installer.sh).
//!
//! Needs the debug app (`cargo build -p cxr-gate`) or `CXR_GATE_APP`. Changes nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf).unwrap_or_default()
}

fn app() -> PathBuf {
    if let Ok(p) = std::env::var("CXR_GATE_APP") {
        return PathBuf::from(p);
    }
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().map(Path::to_path_buf).unwrap_or_default();
    target.join(format!("debug/cxr-gate{}", std::env::consts::EXE_SUFFIX))
}

/// A firewall-fix run in the script: the section it is in and its words after the program.
#[derive(Debug)]
struct FixLine {
    uninstall: bool,
    args: Vec<String>,
}

/// Splits an NSIS command string the way Windows splits a command line here: words by spaces,
/// double quotes grouping (no quote inside a word in these lines).
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in s.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Every run of `firewall-fix` in the script (each must be `nsExec::ExecToStack '…'`), with its section.
fn fix_lines(nsi: &str) -> Vec<FixLine> {
    let mut uninstall = false;
    let mut v = Vec::new();
    for line in nsi.lines().map(str::trim) {
        if line.starts_with(';') {
            continue;
        }
        if line.starts_with("Section ") || line.starts_with("Function ") {
            uninstall = line.contains("\"Uninstall\"") || line.starts_with("Function un.");
        }
        // Runs only (Exec, ExecWait, ExecShell, nsExec::…); the log's messages name it too.
        if !line.contains("firewall-fix") || !line.contains("Exec") {
            continue;
        }
        let cmd = line
            .strip_prefix("nsExec::ExecToStack '")
            .and_then(|r| r.strip_suffix('\''))
            .unwrap_or_else(|| panic!("a firewall-fix run not through nsExec::ExecToStack '…': {line}"));
        let w = words(cmd);
        assert_eq!(w[0], "$INSTDIR\\${EXE}", "not the installed cxr-gate.exe: {line}");
        v.push(FixLine { uninstall, args: w[1..].to_vec() });
    }
    v
}

/// The interface: what each run may say.
fn check_interface(l: &FixLine) -> Result<(), String> {
    let a: Vec<&str> = l.args.iter().map(String::as_str).collect();
    let (job, rest) = match a.as_slice() {
        ["firewall-fix", job, rest @ ..] => (*job, rest),
        _ => return Err(format!("not `firewall-fix JOB …`: {a:?}")),
    };
    let rest = match rest {
        [r @ .., "--result", file] if !file.is_empty() => r,
        _ => return Err(format!("no --result FILE at the end (the result would go to a data directory): {a:?}")),
    };
    match (job, rest, l.uninstall) {
        ("--install-rules", [] | ["--media"], false) => Ok(()),
        ("--remove-rules", [], _) => Ok(()),
        _ => Err(format!("not in the interface ({}): {a:?}", if l.uninstall { "uninstall" } else { "install" })),
    }
}

#[test]
fn the_installers_firewall_runs_are_the_interfaces_and_the_app_accepts_them() {
    let nsi = std::fs::read_to_string(workspace().join("installer/windows/cxr-gate.nsi")).expect("the .nsi");
    let lines = fix_lines(&nsi);
    for l in &lines {
        println!("{} runs: cxr-gate.exe {}", if l.uninstall { "uninstall" } else { "install" }, l.args.join(" "));
        check_interface(l).unwrap();
        assert!(!l.args.iter().any(|a| a.contains("49100")), "TCP 49100 is never opened: {l:?}");
    }
    let has = |uninstall: bool, want: &[&str]| {
        lines.iter().any(|l| l.uninstall == uninstall && want.iter().all(|w| l.args.iter().any(|a| a == w)))
    };
    assert!(has(false, &["--install-rules", "--media"]), "install: no run with the Runtime's media rule");
    assert!(
        lines
            .iter()
            .any(|l| !l.uninstall && l.args.contains(&"--install-rules".into()) && !l.args.contains(&"--media".into())),
        "install: no run without the media rule (the option unticked)"
    );
    assert!(has(true, &["--remove-rules"]), "uninstall: no --remove-rules");

    // The real program takes each one: never refused as bad arguments (exit 2).
    let exe = app();
    assert!(exe.is_file(), "{} not found: run `cargo build -p cxr-gate` first (or set CXR_GATE_APP)", exe.display());
    let tmp = tempfile::tempdir().expect("temp dir");
    for (i, l) in lines.iter().enumerate() {
        let result = tmp.path().join(format!("firewall-{i}.txt"));
        let args: Vec<String> = l
            .args
            .iter()
            .map(|a| if a.starts_with("$PLUGINSDIR") { result.display().to_string() } else { a.clone() })
            .collect();
        assert!(args.iter().all(|a| !a.contains('$')), "an NSIS variable left in {args:?}");
        // Its own home and app data: the saved settings it reads for the port are none.
        let out = Command::new(&exe)
            .args(&args)
            .env("HOME", tmp.path())
            .env("XDG_CONFIG_HOME", tmp.path().join("config"))
            .env("APPDATA", tmp.path().join("appdata"))
            .output()
            .expect("run cxr-gate firewall-fix");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        println!("cxr-gate {} -> {:?}: {}", args.join(" "), out.status.code(), text.trim());
        assert_ne!(
            out.status.code(),
            Some(2),
            "cxr-gate refused the installer's arguments as bad (the firewall-fix interface of branch `fw` \
             must be in this build): {text}"
        );
        if !cfg!(windows) {
            assert_eq!(out.status.code(), Some(1), "off Windows the firewall cannot change: {text}");
        }
        assert!(result.is_file(), "no result written to --result {}", result.display());
    }
}

#[test]
fn the_interface_check_refuses_what_the_interface_does_not_allow() {
    let line = |uninstall: bool, a: &[&str]| FixLine { uninstall, args: a.iter().map(|s| s.to_string()).collect() };
    assert!(check_interface(&line(false, &["firewall-fix", "--install-rules", "--result", "f"])).is_ok());
    assert!(check_interface(&line(false, &["firewall-fix", "--install-rules", "--media", "--result", "f"])).is_ok());
    assert!(check_interface(&line(true, &["firewall-fix", "--remove-rules", "--result", "f"])).is_ok());
    // No --result: the result would land in whichever user's data directory the elevated run sees.
    assert!(check_interface(&line(false, &["firewall-fix", "--install-rules"])).is_err());
    assert!(check_interface(&line(true, &["firewall-fix", "--install-rules", "--result", "f"])).is_err());
    assert!(check_interface(&line(true, &["firewall-fix", "--remove-rules", "--media", "--result", "f"])).is_err());
    assert!(check_interface(&line(false, &["firewall-fix", "--allow", "X=tcp:49100", "--result", "f"])).is_err());
    assert_eq!(words(r#""$INSTDIR\${EXE}" firewall-fix --result "$PLUGINSDIR\a b.txt""#)[3], r"$PLUGINSDIR\a b.txt");
    let nsi = "Section \"x\"\n  nsExec::ExecToStack '\"$INSTDIR\\${EXE}\" firewall-fix --install-rules --result \"$PLUGINSDIR\\f\"'\n\
               SectionEnd\nSection \"Uninstall\"\n  nsExec::ExecToStack '\"$INSTDIR\\${EXE}\" firewall-fix --remove-rules --result \"$PLUGINSDIR\\f\"'\n";
    let l = fix_lines(nsi);
    assert_eq!(l.len(), 2);
    assert!(!l[0].uninstall && l[1].uninstall);
    assert_eq!(l[1].args, ["firewall-fix", "--remove-rules", "--result", "$PLUGINSDIR\\f"]);
}
