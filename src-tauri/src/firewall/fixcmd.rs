//! `cxr-gate firewall-fix …`: the elevated run. The window's "Fix the firewall" starts it with
//! exactly the changes its confirmation listed (`--add`, `--disable-rule`); the installer with
//! `--install-rules [--media]` (our rules: the gate's port, from the saved settings when readable,
//! and the Runtime's media ports), the uninstaller with `--remove-rules` (exactly our rules). Parses
//! its arguments with the engine's tested parser (bad ones: exit 2 with the reason, before anything
//! changes), applies them through the Windows Firewall's COM API (exit 1 when the firewall refuses;
//! elsewhere: Windows only), and writes the result to `--result FILE` or the data directory's
//! result file (`result`) as well as to stdout/stderr.

use std::path::{Path, PathBuf};

use cxr_gate_core::config::{DEFAULT_PROXY_PORT, MEDIA_PORTS};
use cxr_gate_core::firewall::args::{parse_args, SUBCOMMAND};
use cxr_gate_core::firewall::fix::install_plan;
use cxr_gate_core::firewall::{FixAction, FixPlan};

use super::result;

/// Exit codes: done, the change failed, bad arguments.
pub const EXIT_DONE: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;

/// The command line (`args[0]` the program) asks for the fix.
pub fn asked(args: &[String]) -> bool {
    args.get(1).is_some_and(|a| a == SUBCOMMAND)
}

/// What the elevated run does, resolved: a plan to apply, or our rules to remove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Job {
    Apply(FixPlan),
    Remove,
}

/// The proxy port for `--install-rules`: the saved settings' (`settings.json`, when it reads), else
/// the default.
pub fn install_port(settings: Option<&str>) -> u16 {
    settings
        .and_then(|t| serde_json::from_str::<crate::settings::Settings>(t).ok())
        .map(|s| s.proxy_port)
        .filter(|p| *p != 0)
        .unwrap_or(DEFAULT_PROXY_PORT)
}

/// Where the window keeps `settings.json` (Tauri's app config directory), found without Tauri.
fn settings_file() -> Option<PathBuf> {
    cxr_gate_core::config::saved::desktop_config_folder().map(|d| crate::settings::path_in(&d))
}

/// `--result FILE` from arguments the parser refused (so even a refusal reaches the caller's file).
fn result_flag(args: &[String]) -> Option<PathBuf> {
    args.windows(2).find(|w| w[0] == "--result" && !w[1].trim().is_empty()).map(|w| PathBuf::from(&w[1]))
}

/// The exit code, the lines to print, and where the result goes, for `args` (after the program);
/// `settings` reads the saved settings, `apply` makes the changes.
pub fn outcome(
    args: &[String],
    settings: impl FnOnce() -> Option<String>,
    apply: impl FnOnce(&Job) -> Result<Vec<String>, String>,
) -> (i32, Vec<String>, Option<PathBuf>) {
    let req = match parse_args(args) {
        Ok(r) => r,
        Err(e) => return (EXIT_USAGE, vec![format!("cxr-gate {SUBCOMMAND}: {e}")], result_flag(args)),
    };
    let job = match req.action {
        FixAction::Fix(plan) => Job::Apply(plan),
        FixAction::Install { media } => {
            let media = media.then(|| (*MEDIA_PORTS.start(), *MEDIA_PORTS.end()));
            Job::Apply(FixPlan { add: install_plan(install_port(settings().as_deref()), media), disable: Vec::new() })
        }
        FixAction::Remove => Job::Remove,
    };
    match apply(&job) {
        Ok(done) if done.is_empty() => (EXIT_DONE, vec!["nothing to change".into()], req.result),
        Ok(done) => (EXIT_DONE, done, req.result),
        Err(e) => (EXIT_FAILED, vec![format!("cxr-gate {SUBCOMMAND}: {e}")], req.result),
    }
}

fn apply(job: &Job) -> Result<Vec<String>, String> {
    #[cfg(windows)]
    {
        use cxr_gate_core::firewall::windows;
        let exe = std::env::current_exe().map_err(|e| format!("could not find this program's path: {e}"))?;
        match job {
            Job::Apply(plan) => windows::apply(plan, &exe.display().to_string()),
            Job::Remove => windows::remove_ours(),
        }
        .map_err(|e| e.to_string())
    }
    #[cfg(not(windows))]
    {
        let _ = job;
        Err("it changes Windows Firewall, so it runs on Windows only".into())
    }
}

/// Writes the result file; a failure to write is said on stderr (the exit code stands).
fn write_result(path: &Path, code: i32, lines: &[String]) {
    if let Err(e) = result::write(path, &result::render(code, lines)) {
        eprintln!("cxr-gate {SUBCOMMAND}: could not write the result to {}: {e}", path.display());
    }
}

/// Runs the subcommand: prints what it did (or why not), writes the result file, returns the exit code.
pub fn run(args: &[String]) -> i32 {
    crate::console::attach_parent();
    let settings = || settings_file().and_then(|p| std::fs::read_to_string(p).ok());
    let (code, lines, to) = outcome(&args[1..], settings, apply);
    for l in &lines {
        if code == EXIT_DONE {
            println!("{l}");
        } else {
            eprintln!("{l}");
        }
    }
    let to = to.unwrap_or_else(|| result::path_in(&cxr_gate_core::config::default_data_dir()));
    write_result(&to, code, &lines);
    code
}

#[cfg(test)]
mod tests {
    use super::*;
    use cxr_gate_core::firewall::fix::OurRule;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_subcommand_is_recognised_and_bad_arguments_exit_2_before_anything_changes() {
        assert!(asked(&v(&["cxr-gate.exe", "firewall-fix", "--install-rules"])));
        assert!(!asked(&v(&["cxr-gate.exe", "--demo"])));
        assert!(!asked(&v(&["cxr-gate.exe"])));
        let mut applied = false;
        let (code, lines, to) = outcome(
            &v(&["firewall-fix", "--add", "proxy=99999", "--result", "r.txt"]),
            || None,
            |_| {
                applied = true;
                Ok(vec![])
            },
        );
        assert_eq!(code, EXIT_USAGE);
        assert!(!applied);
        assert_eq!(lines, ["cxr-gate firewall-fix: --add \"proxy=99999\": \"99999\" is not a port (1-65535)"]);
        assert_eq!(to, Some(PathBuf::from("r.txt")), "the refusal reaches the caller's result file");
        let (code, lines, _) =
            outcome(&v(&["firewall-fix", "--remove-rules"]), || None, |j| Ok(vec![format!("{j:?}")]));
        assert_eq!((code, lines), (EXIT_DONE, vec!["Remove".to_string()]));
        let (code, lines, to) =
            outcome(&v(&["firewall-fix", "--remove-rules"]), || None, |_| Err("access denied".into()));
        assert_eq!((code, lines, to), (EXIT_FAILED, vec!["cxr-gate firewall-fix: access denied".to_string()], None));
    }

    #[test]
    fn install_rules_take_the_saved_proxy_port_and_media_only_when_asked() {
        let job = |args: &[&str], settings: Option<&str>| {
            let mut got = None;
            let settings = settings.map(String::from);
            outcome(
                &v(args),
                || settings,
                |j| {
                    got = Some(j.clone());
                    Ok(vec!["ok".into()])
                },
            );
            got
        };
        let plan = |add: Vec<OurRule>| Some(Job::Apply(FixPlan { add, disable: Vec::new() }));
        assert_eq!(job(&["firewall-fix", "--install-rules"], None), plan(vec![OurRule::proxy(48322)]));
        assert_eq!(
            job(
                &["firewall-fix", "--install-rules", "--media"],
                Some(r#"{"proxy_port": 9443, "start_at_login": true}"#)
            ),
            plan(vec![OurRule::proxy(9443), OurRule::media(47998, 48012)])
        );
        // Unreadable settings: the default port.
        assert_eq!(job(&["firewall-fix", "--install-rules"], Some("{not json")), plan(vec![OurRule::proxy(48322)]));
        assert_eq!(install_port(Some(r#"{"proxy_port": 0}"#)), 48322);
    }

    /// Off Windows the change cannot be made: exit 1, and the result file says so.
    #[cfg(not(windows))]
    #[test]
    fn off_windows_the_result_file_says_why_nothing_changed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("fw.txt");
        let args = v(&["cxr-gate", "firewall-fix", "--install-rules", "--result", &file.display().to_string()]);
        assert_eq!(run(&args), EXIT_FAILED);
        let got = result::read(&file, 1);
        assert!(!got.done);
        assert_eq!(got.lines, ["cxr-gate firewall-fix: it changes Windows Firewall, so it runs on Windows only"]);
    }
}
