//! `cxr-gate firewall-fix --allow NAME=tcp:48322 --disable-rule NAME…`: the elevated run the
//! "Fix the firewall" button starts (see `windows.rs`). Parses its arguments with the engine's
//! tested parser (bad ones: exit 2 with the reason, on every platform) and applies them through
//! the Windows Firewall's COM API (exit 1 when the firewall refuses; elsewhere: Windows only).

use cxr_gate_core::firewall::fix::{parse_args, SUBCOMMAND};
use cxr_gate_core::firewall::FixPlan;

/// Exit codes: done, the change failed, bad arguments.
pub const EXIT_DONE: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;

/// The command line (`args[0]` the program) asks for the fix.
pub fn asked(args: &[String]) -> bool {
    args.get(1).is_some_and(|a| a == SUBCOMMAND)
}

/// The exit code and the lines to print for `args` (after the program), with `apply` making the changes.
pub fn outcome(args: &[String], apply: impl FnOnce(&FixPlan) -> Result<Vec<String>, String>) -> (i32, Vec<String>) {
    let plan = match parse_args(args) {
        Ok(p) => p,
        Err(e) => return (EXIT_USAGE, vec![format!("cxr-gate {SUBCOMMAND}: {e}")]),
    };
    match apply(&plan) {
        Ok(done) => (EXIT_DONE, done),
        Err(e) => (EXIT_FAILED, vec![format!("cxr-gate {SUBCOMMAND}: {e}")]),
    }
}

fn apply(plan: &FixPlan) -> Result<Vec<String>, String> {
    #[cfg(windows)]
    {
        cxr_gate_core::firewall::windows::apply(plan).map_err(|e| e.to_string())
    }
    #[cfg(not(windows))]
    {
        let _ = plan;
        Err("it changes Windows Firewall, so it runs on Windows only".into())
    }
}

/// Runs the subcommand: prints what it did (or why not) and returns the exit code.
pub fn run(args: &[String]) -> i32 {
    crate::console::attach_parent();
    let (code, lines) = outcome(&args[1..], apply);
    for l in lines {
        if code == EXIT_DONE {
            println!("{l}");
        } else {
            eprintln!("{l}");
        }
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_subcommand_is_recognised_and_bad_arguments_exit_2_before_anything_changes() {
        assert!(asked(&v(&["cxr-gate.exe", "firewall-fix", "--allow", "X=tcp:1"])));
        assert!(!asked(&v(&["cxr-gate.exe", "--demo"])));
        assert!(!asked(&v(&["cxr-gate.exe"])));
        let mut applied = false;
        let (code, lines) = outcome(&v(&["firewall-fix", "--allow", "X=tcp:99999"]), |_| {
            applied = true;
            Ok(vec![])
        });
        assert_eq!(code, EXIT_USAGE);
        assert!(!applied);
        assert_eq!(lines, ["cxr-gate firewall-fix: --allow \"X=tcp:99999\": \"99999\" is not a port (1-65535)"]);
        let (code, lines) = outcome(&v(&["firewall-fix", "--disable-rule", "CXR Gate"]), |p| {
            Ok(vec![format!("disabled {}", p.disable[0])])
        });
        assert_eq!((code, lines), (EXIT_DONE, vec!["disabled CXR Gate".to_string()]));
        let (code, lines) =
            outcome(&v(&["firewall-fix", "--disable-rule", "CXR Gate"]), |_| Err("access denied".into()));
        assert_eq!((code, lines), (EXIT_FAILED, vec!["cxr-gate firewall-fix: access denied".to_string()]));
    }
}
