//! cxr-gate-proxy: the headless CXR Gate for Linux servers and containers. Same settings as NVIDIA's
//! HAProxy container (BACKEND_HOST, BACKEND_PORT, PROXY_PORT, CERT_HOSTNAMES, HEALTH_CHECK_*), plus flags.
//! Exit codes: 0 after a clean shutdown (SIGINT/SIGTERM; on Windows also
//! Ctrl-Break, console close, logoff, shutdown), 2 for bad configuration, 1 when it cannot listen,
//! 3 when the local CA's files are damaged and no kept copy matches (never replaced on its own).
//! `--open-on-headset` has codes of its own (docs/HEADLESS.md).

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;
use clap::Parser;
use cxr_gate_core::config::{process_env, Config};
use cxr_gate_core::status::{CertOrigin, ListenerState, Status};
use cxr_gate_core::{probe, qr, CliOverrides, Gateway};

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
    /// Probe the gate running on this host instead of starting one (a container's health check): exit 0
    /// when it answers, else 1
    ///
    /// Sends GET /health over TLS to its listener (PROXY_PORT / --listen; loopback when it listens on
    /// all interfaces) and prints one line.
    #[arg(long)]
    check_health: bool,
    /// With --check-health: also require the CloudXR Runtime to be UP (readiness)
    #[arg(long, requires = "check_health")]
    ready: bool,
    /// Replace the local CA in the data dir with a new one, print its fingerprint and exit (every
    /// device that installed the old CA must install the new one; a running gate picks it up)
    #[arg(long, conflicts_with = "check_health")]
    rotate_ca: bool,
    /// Open the trust page (or /app/ with --web-root) in the browser of the headset on USB, through
    /// adb, and exit: 0 opened; 3 no adb; 4 no such device; 5 several (name one); 6 USB debugging not
    /// allowed yet; 7 another state; 1 it failed
    #[arg(long, value_name = "SERIAL", num_args = 0..=1, default_missing_value = "",
          conflicts_with_all = ["check_health", "rotate_ca"])]
    open_on_headset: Option<String>,
}

/// `--open-on-headset [SERIAL]`: "Open on headset" once (core's `adb::oneshot`).
fn open_on_headset(cli: &Cli, serial: &str) -> ExitCode {
    use cxr_gate_core::adb::{oneshot, Page, Server};
    let cfg = match config_from(cli).and_then(|c| cli.overrides.check_given(&c).map(|()| c)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cxr-gate-proxy: {e}");
            return ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cxr-gate-proxy: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let page = Page::from_config(&cfg, cxr_gate_core::net::lan::scan());
    let serial = Some(serial.trim()).filter(|s| !s.is_empty());
    match rt.block_on(oneshot::open_once(&Server::from_env(), cfg.adb_dir.as_deref(), serial, &page)) {
        Ok(opened) => {
            println!("{}", opened.message());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cxr-gate-proxy: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// `--rotate-ca`: a new CA (and certificate) in the data dir; 0 done, 2 when it cannot be done.
fn rotate_ca(cli: &Cli) -> ExitCode {
    let cfg = match config_from(cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cxr-gate-proxy: {e}");
            return ExitCode::from(2);
        }
    };
    // The new CA's constraints must take in the names the desktop app saved for this data dir too.
    let mut names = cfg.cert_hostnames.clone();
    for path in cxr_gate_core::config::desktop_settings_paths(&cfg.data_dir) {
        match cxr_gate_core::config::saved_cert_names(&path) {
            Ok(saved) if !saved.is_empty() => {
                println!("certificate names from {}: {}", path.display(), saved.join(", "));
                for name in saved {
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
            }
            Ok(_) => {}
            Err(e) => {
                eprintln!("cxr-gate-proxy: {e}");
                return ExitCode::from(2);
            }
        }
    }
    let certs = cxr_gate_core::tls::CertManager::new(&cfg.data_dir, cfg.custom_cert.clone(), names);
    let lan = cxr_gate_core::net::lan::scan();
    match certs.rotate_ca(&cxr_gate_core::net::lan::cert_ips(&lan), "--rotate-ca") {
        Ok(info) => {
            let ca = info.ca.unwrap_or_default();
            let port = cfg.listen.port();
            println!("new local CA \"{}\" in {}", ca.common_name, ca.cert_path);
            println!("  SHA-256 {}", ca.fingerprint_sha256);
            println!("every device that installed the previous CA must install this one:");
            for i in &lan {
                println!("  {}", qr::ca_url(&i.ip, port));
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cxr-gate-proxy: cannot rotate the CA: {e}");
            ExitCode::from(2)
        }
    }
}

/// The local CA cannot be loaded and no kept copy matches: a person must put it back or make a
/// new one on purpose (`--rotate-ca`); restarting changes nothing.
const EXIT_CA_LOST: u8 = 3;

/// How long `--check-health` waits for the whole answer (container health checks time out at 5 s+).
const CHECK_WITHIN: Duration = Duration::from_secs(4);

/// `--check-health [--ready]`: exit 0 healthy, 1 otherwise (Docker's HEALTHCHECK codes; 2 is reserved there).
fn check_health(cli: &Cli) -> ExitCode {
    let cfg = match config_from(cli) {
        Ok(c) => c,
        Err(e) => {
            println!("unhealthy: cxr-gate-proxy: {e}");
            return ExitCode::from(1);
        }
    };
    let result = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt.block_on(probe::check(cfg.listen, cli.ready, CHECK_WITHIN)),
        Err(e) => {
            println!("unhealthy: cxr-gate-proxy: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let (healthy, line) = probe::verdict(&result, cli.ready);
    println!("{line}");
    if healthy {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
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
        if !c.outside_ca.is_empty() {
            out.push_str(&format!(
                "    WARNING: the CA may not sign for {} (run --rotate-ca to include them)\n",
                c.outside_ca.join(", ")
            ));
        }
        if let Some(ca) = &c.ca {
            out.push_str(&format!("  local CA: {} ({})\n", ca.common_name, ca.cert_path));
            out.push_str(&format!("    SHA-256 {}\n", ca.fingerprint_sha256));
            if ca.changed_since_last_run {
                out.push_str("    NEW since the last run: devices must install it again\n");
            }
            if let Some(why) = &ca.damaged {
                out.push_str(&format!("    WARNING: its files: {why}\n"));
            }
        }
        if let Some(notice) = &c.notice {
            out.push_str(&format!("  NOTE: {notice}\n"));
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
    if st.cert.as_ref().is_some_and(|c| c.ca.is_some()) {
        out.push_str("  or install the CA once per device, and never see a warning again:\n");
        for ip in &ips {
            out.push_str(&format!("    {}\n", qr::ca_url(ip, port)));
        }
    }
    if let Some(root) = &st.web_app.root {
        out.push_str(&format!("  web app from {root}: open it on the headset (accept the certificate there once):\n"));
        for ip in &ips {
            out.push_str(&format!("    {}\n", qr::app_url(ip, port, &st.web_app.query)));
        }
        if let Some(e) = &st.web_app.error {
            out.push_str(&format!("    WARNING: /app/ cannot be served: {e}\n"));
        }
    }
    let qr_ip = if all { st.primary_ip().map(str::to_string) } else { Some(listen_ip.to_string()) };
    if let Some(ip) = qr_ip {
        // With a web app, the code opens it directly: its page meets the certificate warning itself.
        let url = match &st.web_app.root {
            Some(_) => qr::app_url(&ip, port, &st.web_app.query),
            None => qr::trust_url(&ip, port),
        };
        if let Ok(code) = qr::terminal(&url) {
            out.push_str(&format!("\n  scan to open {url}\n{code}\n"));
        }
    }
    out
}

/// Waits for a request to stop; returns what it was, for the log. Unix: SIGINT, SIGTERM. Windows:
/// Ctrl-C, Ctrl-Break, the console window closed, logoff and system shutdown (for the last three
/// tokio holds Windows' handler thread until we exit, so the shutdown below still runs).
/// The stop requests this process listens for, installed before anything is announced: a request
/// that comes right after the banner (a supervisor's quick stop) must end in a clean shutdown, not
/// the signal's default action.
struct Stop {
    #[cfg(unix)]
    signals: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
    #[cfg(windows)]
    events: Option<Box<WindowsEvents>>,
}

#[cfg(windows)]
struct WindowsEvents {
    c: tokio::signal::windows::CtrlC,
    brk: tokio::signal::windows::CtrlBreak,
    close: tokio::signal::windows::CtrlClose,
    logoff: tokio::signal::windows::CtrlLogoff,
    shutdown: tokio::signal::windows::CtrlShutdown,
}

impl Stop {
    fn install() -> Stop {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Stop { signals: signal(SignalKind::interrupt()).ok().zip(signal(SignalKind::terminate()).ok()) }
        }
        #[cfg(windows)]
        {
            use tokio::signal::windows::{ctrl_break, ctrl_c, ctrl_close, ctrl_logoff, ctrl_shutdown};
            let events = match (ctrl_c(), ctrl_break(), ctrl_close(), ctrl_logoff(), ctrl_shutdown()) {
                (Ok(c), Ok(brk), Ok(close), Ok(logoff), Ok(shutdown)) => {
                    Some(Box::new(WindowsEvents { c, brk, close, logoff, shutdown }))
                }
                _ => None,
            };
            Stop { events }
        }
        #[cfg(not(any(unix, windows)))]
        Stop {}
    }

    /// Waits for a stop request; says which.
    async fn requested(self) -> &'static str {
        #[cfg(unix)]
        if let Some((mut int, mut term)) = self.signals {
            return tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
        }
        #[cfg(windows)]
        if let Some(mut e) = self.events {
            return tokio::select! {
                _ = e.c.recv() => "Ctrl-C",
                _ = e.brk.recv() => "Ctrl-Break",
                _ = e.close.recv() => "console window closed",
                _ = e.logoff.recv() => "user logoff",
                _ = e.shutdown.recv() => "system shutdown",
            };
        }
        let _ = tokio::signal::ctrl_c().await;
        "interrupt"
    }
}

async fn run(cfg: Config) -> Result<ExitCode> {
    let custom = cfg.custom_cert.is_some();
    let stop = Stop::install();
    let gw = Gateway::start(cfg).await?;
    let st = gw.status().borrow().clone();
    if st.listener.state != ListenerState::Listening {
        let why = gw.listen_error().unwrap_or_default();
        let code = if st.ca_lost {
            EXIT_CA_LOST
        } else if custom && st.cert_error.is_some() {
            2
        } else {
            1
        };
        // A service manager restarts us; a person needs to know what to change.
        let hint = if code == 1 && st.cert_error.is_none() {
            "; free the port or choose another with PROXY_PORT or --listen"
        } else {
            ""
        };
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
    // On Windows, whether the firewall lets headsets reach the ports (read off the async threads,
    // not awaited: a stop request is served meanwhile).
    #[cfg(windows)]
    {
        let ports = cxr_gate_core::firewall::Ports {
            signaling: st.ports.signaling_port,
            media_first: st.ports.media_first,
            media_last: st.ports.media_last,
            proxy: st.listener.port,
        };
        // The address the banner's QR code carries: its network is the headsets'.
        let primary = st.primary_ip().and_then(|ip| ip.parse().ok());
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let lines = cxr_gate_core::firewall::windows::startup_lines(&ports, primary, Duration::from_secs(10));
            let mut out = std::io::stdout().lock();
            for l in lines {
                let _ = writeln!(out, "{l}");
            }
            let _ = out.flush();
        });
    }
    let why = stop.requested().await;
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
    if cli.check_health {
        return check_health(&cli);
    }
    if cli.rotate_ca {
        return rotate_ca(&cli);
    }
    if let Some(serial) = &cli.open_on_headset {
        return open_on_headset(&cli, serial);
    }
    let filter =
        tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: container logs (podman logs, kubectl logs) and journals get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .with_writer(std::io::stderr)
        .init();
    let cfg = match config_from(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("cxr-gate-proxy: {e}");
            return ExitCode::from(2);
        }
    };
    // A web root that is missing or has no index.html, named as given (--web-root or WEB_ROOT).
    if let Err(e) = cli.overrides.check_given(&cfg) {
        eprintln!("cxr-gate-proxy: {e}");
        return ExitCode::from(2);
    }
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
