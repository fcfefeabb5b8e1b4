//! cxr-gate-proxy: the headless CXR Gate for Linux servers and containers. Same settings as NVIDIA's
//! HAProxy container (BACKEND_HOST, BACKEND_PORT, PROXY_PORT, CERT_HOSTNAMES, HEALTH_CHECK_*), plus flags.
//! Exit codes: 0 after a clean shutdown (SIGINT/SIGTERM; on Windows also
//! Ctrl-Break, console close, logoff, shutdown), 2 for bad configuration, 1 when it cannot listen.

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;
use cxr_gate_core::config::{process_env, Config};
use cxr_gate_core::status::{CertOrigin, ListenerState, Status};
use cxr_gate_core::{qr, CliOverrides, Gateway};

#[derive(Debug, Parser)]
#[command(
    name = "cxr-gate-proxy",
    version,
    about = "wss:// → ws:// gateway for the NVIDIA CloudXR Runtime (headless CXR Gate)"
)]
struct Cli {
    #[command(flatten)]
    overrides: CliOverrides,
    /// Log filter, e.g. info, debug, cxr_gate_core=debug
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    log: String,
}

fn config_from(cli: &Cli) -> Result<Config, cxr_gate_core::ConfigError> {
    let mut cfg = Config::default();
    let env = process_env();
    cfg.apply_env(|k| env.get(k).cloned())?;
    cli.overrides.apply(&mut cfg)?;
    cfg.validate()?;
    Ok(cfg)
}

fn banner(st: &Status) -> String {
    let mut out = String::new();
    let port = st.listener.port;
    out.push_str(&format!("CXR Gate {} listening on {}\n", st.version, st.listener.addr));
    out.push_str(&format!("  backend (CloudXR Runtime): ws://{}\n", st.backend.addr));
    if let Some(c) = &st.cert {
        let origin = match c.origin {
            CertOrigin::Generated => "generated",
            CertOrigin::Custom => "custom",
        };
        out.push_str(&format!("  certificate ({origin}): {}\n", c.cert_path));
        out.push_str(&format!("    SHA-256 {}\n", c.fingerprint_sha256));
        out.push_str(&format!("    names: {}\n", c.sans.join(", ")));
        if c.changed_since_last_run {
            out.push_str("    NEW since the last run: headsets must open the trust page again\n");
        }
        if !c.missing.is_empty() {
            out.push_str(&format!("    WARNING: does not cover {}\n", c.missing.join(", ")));
        }
    }
    let listen_ip = st.listener.addr.rsplit_once(':').map(|(h, _)| h.trim_matches(['[', ']'])).unwrap_or("");
    let all = listen_ip == "0.0.0.0" || listen_ip == "::";
    let ips: Vec<String> =
        if all { st.lan.iter().map(|i| i.ip.clone()).collect() } else { vec![listen_ip.to_string()] };
    out.push_str("  open on the headset, accept the certificate, then use the wss:// URL:\n");
    for ip in &ips {
        let note = st.lan.iter().find(|i| &i.ip == ip).map(|i| {
            let mut n = i.name.clone();
            if i.primary {
                n.push_str(", primary");
            }
            if i.virtual_adapter {
                n.push_str(", virtual");
                // Left out of the generated certificate so it survives this adapter's next address.
                if st.cert.as_ref().is_some_and(|c| !c.sans.contains(&i.ip)) {
                    n.push_str(": not in the certificate, add it with CERT_HOSTNAMES to use it");
                }
            }
            format!("  ({n})")
        });
        out.push_str(&format!(
            "    {}  →  {}{}\n",
            qr::trust_url(ip, port),
            qr::wss_url(ip, port),
            note.unwrap_or_default()
        ));
    }
    let qr_ip = if all { st.primary_ip().map(str::to_string) } else { Some(listen_ip.to_string()) };
    if let Some(ip) = qr_ip {
        let url = qr::trust_url(&ip, port);
        if let Ok(code) = qr::terminal(&url) {
            out.push_str(&format!("\n  scan to open {url}\n{code}\n"));
        }
    }
    out
}

/// Waits for a request to stop; returns what it was, for the log. Unix: SIGINT, SIGTERM. Windows:
/// Ctrl-C, Ctrl-Break, the console window closed, logoff and system shutdown (for the last three
/// tokio holds Windows' handler thread until we exit, so the shutdown below still runs).
async fn wait_for_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            return tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
        }
    }
    #[cfg(windows)]
    {
        use tokio::signal::windows::{ctrl_break, ctrl_c, ctrl_close, ctrl_logoff, ctrl_shutdown};
        if let (Ok(mut c), Ok(mut brk), Ok(mut close), Ok(mut logoff), Ok(mut shutdown)) =
            (ctrl_c(), ctrl_break(), ctrl_close(), ctrl_logoff(), ctrl_shutdown())
        {
            return tokio::select! {
                _ = c.recv() => "Ctrl-C",
                _ = brk.recv() => "Ctrl-Break",
                _ = close.recv() => "console window closed",
                _ = logoff.recv() => "user logoff",
                _ = shutdown.recv() => "system shutdown",
            };
        }
    }
    let _ = tokio::signal::ctrl_c().await;
    "interrupt"
}

async fn run(cfg: Config) -> Result<ExitCode> {
    let custom = cfg.custom_cert.is_some();
    let gw = Gateway::start(cfg).await?;
    let st = gw.status().borrow().clone();
    if st.listener.state != ListenerState::Listening {
        let why = gw.listen_error().unwrap_or_default();
        let code = if custom && st.cert_error.is_some() { 2 } else { 1 };
        // A service manager restarts us; a person needs to know what to change.
        let hint = if code == 1 { "; free the port or choose another with PROXY_PORT or --listen" } else { "" };
        eprintln!("cxr-gate-proxy: {why}{hint}");
        gw.shutdown().await;
        return Ok(ExitCode::from(code));
    }
    // Not println!: a closed stdout (piped into `head`, a dead log reader) must not kill the proxy.
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", banner(&st));
        let _ = out.flush();
    }
    let why = wait_for_signal().await;
    tracing::info!("shutting down ({why})");
    gw.shutdown().await;
    Ok(ExitCode::SUCCESS)
}

/// A program started in a process group of its own (CREATE_NEW_PROCESS_GROUP) begins with Ctrl-C
/// ignored; service wrappers (NSSM and the like) stop a console program with Ctrl-C all the same,
/// so take it back.
#[cfg(windows)]
fn accept_ctrl_c() {
    // SAFETY: a plain Win32 call without pointers.
    unsafe { windows_sys::Win32::System::Console::SetConsoleCtrlHandler(None, 0) };
}

fn main() -> ExitCode {
    #[cfg(windows)]
    accept_ctrl_c();
    let cli = Cli::parse();
    let filter =
        tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr).init();
    let cfg = match config_from(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cxr-gate-proxy: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cxr-gate-proxy: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(cfg)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("cxr-gate-proxy: {e:#}");
            ExitCode::from(2)
        }
    }
}
