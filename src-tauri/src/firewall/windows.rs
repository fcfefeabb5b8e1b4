//! Runs the Windows firewall checks: `netsh advfirewall firewall show rule` per rule, and the one
//! elevated PowerShell step (one UAC prompt) that creates the missing rules. Everything it runs is
//! built by `netsh.rs`'s tested functions. Windows only.

use std::path::Path;

use tauri::{AppHandle, Runtime};
use tauri_plugin_shell::ShellExt;

use super::netsh::{elevated_script, netsh_show_args, netsh_view, powershell_args, UAC_DECLINED};
use super::{rules, FirewallView, Ports};
use crate::tools::run;

/// Reads the firewall state for the current ports (a few hundred ms: runs on demand, not per status tick).
pub async fn status<R: Runtime>(app: &AppHandle<R>, ports: &Ports) -> FirewallView {
    let mut runs = Vec::new();
    for r in rules(ports) {
        let out = run(app, Path::new("netsh"), netsh_show_args(&r)).await;
        runs.push(out.map(|(ok, stdout, _)| (ok, stdout)));
    }
    netsh_view(ports, &runs)
}

/// Adds the missing rules in one elevated step.
pub async fn add_rules<R: Runtime>(app: &AppHandle<R>, ports: &Ports) -> Result<FirewallView, String> {
    let before = status(app, ports).await;
    let missing: Vec<_> = rules(ports)
        .into_iter()
        .zip(&before.rules)
        .filter(|(_, row)| row.present != Some(true))
        .map(|(spec, _)| spec)
        .collect();
    if missing.is_empty() {
        return Ok(before);
    }
    let o = app
        .shell()
        .command("powershell")
        .args(powershell_args(&elevated_script(&missing)))
        .output()
        .await
        .map_err(|e| format!("Could not start PowerShell: {e}"))?;
    match o.status.code() {
        Some(0) => {}
        Some(UAC_DECLINED) => return Err("The administrator prompt was declined; no rules were added.".into()),
        code => {
            let err = String::from_utf8_lossy(&o.stderr);
            let line = err.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("no details");
            return Err(format!(
                "Adding the rules failed (exit {}): {line}",
                code.map_or("?".into(), |c| c.to_string())
            ));
        }
    }
    Ok(status(app, ports).await)
}
