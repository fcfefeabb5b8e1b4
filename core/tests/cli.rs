//! The headless binary as a user runs it: exit codes and one-line reasons for bad settings and a
//! taken port, and a real wss:// client through it to a loopback echo server, then a clean stop
//! (SIGTERM on Unix, Ctrl-Break on Windows).

use std::io::{BufRead, BufReader};
use std::net::IpAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cxr_gate_core::demo::EchoServer;
use futures_util::{SinkExt, StreamExt};
use rustls::pki_types::{pem::PemObject, CertificateDer, ServerName};
use tokio_tungstenite::tungstenite::Message;

/// The binary under test: this build's, or the one CXR_GATE_PROXY_BIN names (the Windows stage
/// runs the session below against the release cxr-gate-proxy.exe).
fn bin() -> String {
    std::env::var("CXR_GATE_PROXY_BIN").unwrap_or_else(|_| env!("CARGO_BIN_EXE_cxr-gate-proxy").to_string())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The binary's own one-line reason among the log lines on stderr.
fn reason(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("cxr-gate-proxy: ")).collect()
}

fn run(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(bin());
    cmd.args(args).env("DATA_DIR", dir.path()).env_remove("BACKEND_HOST").env_remove("PROXY_PORT");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Kills the proxy if a test fails before it stopped it: never leave it running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// How a user stops the proxy: SIGTERM from a service manager on Unix; on Windows, which has no
/// SIGTERM, a console event to the child's own process group (so this test process is not hit):
/// Ctrl-Break, or under wine, whose console only passes Ctrl-C to a group, Ctrl-C (which the proxy
/// accepts even in a group of its own, as service wrappers like NSSM send it).
#[cfg(unix)]
fn stop_reason() -> &'static str {
    "SIGTERM"
}

#[cfg(windows)]
fn stop_reason() -> &'static str {
    if under_wine() {
        "Ctrl-C"
    } else {
        "Ctrl-Break"
    }
}

/// Wine's ntdll exports `wine_get_version`; Windows' does not.
#[cfg(windows)]
fn under_wine() -> bool {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleA, GetProcAddress};
    // SAFETY: NUL-terminated names; ntdll is loaded in every process.
    unsafe { GetProcAddress(GetModuleHandleA(c"ntdll.dll".as_ptr().cast()), c"wine_get_version".as_ptr().cast()) }
        .is_some()
}

#[cfg(unix)]
fn spawn_stoppable(cmd: &mut Command) -> Child {
    cmd.spawn().unwrap()
}

#[cfg(unix)]
fn ask_to_stop(child: &Child) {
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
}

#[cfg(windows)]
fn spawn_stoppable(cmd: &mut Command) -> Child {
    use std::os::windows::process::CommandExt;
    use windows_sys::Win32::System::Console::AllocConsole;
    use windows_sys::Win32::System::Threading::CREATE_NEW_PROCESS_GROUP;
    // Console control events travel only between processes on one console: make sure there is one
    // (a CI runner may start the tests without; under wine, scripts/test-windows.sh gives the test
    // a terminal) for the child to inherit. Fails harmlessly when this process has one already.
    // SAFETY: a plain Win32 call without arguments.
    unsafe { AllocConsole() };
    cmd.creation_flags(CREATE_NEW_PROCESS_GROUP).spawn().unwrap()
}

#[cfg(windows)]
fn ask_to_stop(child: &Child) {
    use windows_sys::Win32::System::Console::{GenerateConsoleCtrlEvent, CTRL_BREAK_EVENT, CTRL_C_EVENT};
    let event = if under_wine() { CTRL_C_EVENT } else { CTRL_BREAK_EVENT };
    // SAFETY: plain Win32 call; the child leads its own process group, whose id is its pid.
    let sent = unsafe { GenerateConsoleCtrlEvent(event, child.id()) };
    assert_ne!(sent, 0, "{} not sent: {}", stop_reason(), std::io::Error::last_os_error());
}

#[test]
fn bad_settings_exit_2_with_the_setting_value_and_what_is_accepted() {
    let (code, _, err) = run(&[], &[("BACKEND_PORT", "abc")]);
    assert_eq!(code, 2);
    assert_eq!(reason(&err), ["cxr-gate-proxy: invalid BACKEND_PORT \"abc\": expected a TCP port from 1 to 65535"]);

    let (code, _, err) = run(&["--health-interval", "soon"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("invalid --health-interval \"soon\": expected a duration like 2s"), "{err}");

    let (code, _, err) = run(&[], &[("HEALTH_CHECK_FALL", "0")]);
    assert_eq!(code, 2);
    assert!(err.contains("invalid HEALTH_CHECK_FALL \"0\": expected a whole number from 1 to 100"), "{err}");

    let (code, _, err) = run(&["--listen", "127.0.0.1"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("invalid --listen \"127.0.0.1\""), "{err}");
}

#[test]
fn an_allowlist_network_with_host_bits_set_exits_2_naming_what_was_meant() {
    let (code, _, err) = run(&["--allowed-backends", "192.168.1.20/2:49100"], &[]);
    assert_eq!(code, 2, "{err}");
    let r = reason(&err);
    assert_eq!(r.len(), 1, "one reason line expected: {err}");
    assert!(r[0].starts_with("cxr-gate-proxy: invalid --allowed-backends \"192.168.1.20/2:49100\""), "{err}");
    assert!(r[0].contains("did you mean 192.168.1.20/32:49100 (this one host) or 192.0.0.0/2:49100"), "{err}");
    let (code, _, err) = run(&[], &[("ALLOWED_BACKENDS", "10.0.0.7:49100, 10.42.7.9/16")]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("invalid ALLOWED_BACKENDS \"10.42.7.9/16\""), "{err}");
}

#[test]
fn a_bad_custom_certificate_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let bogus = dir.path().join("server.pem");
    std::fs::write(&bogus, "not a certificate").unwrap();
    let port = free_port().to_string();
    let (code, _, err) = run(&["--listen", &format!("127.0.0.1:{port}"), "--cert", bogus.to_str().unwrap()], &[]);
    assert_eq!(code, 2, "{err}");
    let r = reason(&err);
    assert_eq!(r.len(), 1, "one reason line expected: {err}");
    assert!(r[0].contains("no PEM certificate in") && r[0].contains("server.pem"), "{err}");
}

#[test]
fn a_taken_port_exits_1_with_a_one_line_reason() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (code, _, err) = run(&["--listen", &format!("127.0.0.1:{port}")], &[]);
    assert_eq!(code, 1);
    assert_eq!(
        reason(&err),
        [format!(
            "cxr-gate-proxy: port {port} is already in use by another program; \
             free the port or choose another with PROXY_PORT or --listen"
        )]
    );
}

#[test]
fn version_flag() {
    let (code, out, _) = run(&["--version"], &[]);
    assert_eq!(code, 0);
    assert_eq!(out.trim(), format!("cxr-gate-proxy {}", cxr_gate_core::VERSION));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_a_real_wss_client_end_to_end_and_stops_cleanly_when_asked() {
    let echo = EchoServer::start("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    println!("proxy under test: {}", bin());
    let mut cmd = Command::new(bin());
    cmd.args(["--listen", &format!("127.0.0.1:{port}"), "--backend", &echo.addr().to_string()])
        .args(["--data-dir", dir.path().to_str().unwrap(), "--health-interval", "100ms"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = Running(spawn_stoppable(&mut cmd));
    let child = &mut child.0;
    // The banner comes once the listener is up.
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = Vec::new();
        let mut sent = false;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            lines.push(line);
            if !sent && lines.last().is_some_and(|l| l.contains("SHA-256")) {
                let _ = tx.send(lines.join("\n"));
                sent = true;
            }
        }
    });
    let banner = rx.recv_timeout(Duration::from_secs(20)).expect("banner");
    assert!(banner.contains(&format!("listening on 127.0.0.1:{port}")), "{banner}");
    assert!(banner.contains("SHA-256"), "{banner}");

    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(dir.path().join("cert.pem")).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let name = ServerName::IpAddress(IpAddr::from([127, 0, 0, 1]).into());
    let stream = tokio_rustls::TlsConnector::from(Arc::new(tls)).connect(name, tcp).await.unwrap();
    let (mut ws, resp) =
        tokio_tungstenite::client_async(format!("wss://127.0.0.1:{port}/sign_in?x=1"), stream).await.unwrap();
    assert_eq!(resp.status(), 101);
    ws.send(Message::text("through the binary")).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(5), ws.next()).await.unwrap().unwrap().unwrap();
    assert_eq!(got, Message::text("through the binary"));
    assert_eq!(echo.requests().last().map(|r| r.path.clone()).as_deref(), Some("/sign_in?x=1"));

    ask_to_stop(child);
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "did not exit after {}", stop_reason());
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(0), "{status:?} {err}");
    assert!(
        err.contains("closed after") && err.contains("(closed by the gate: shutting down)"),
        "session end not logged: {err}"
    );
    assert!(err.contains(&format!("shutting down ({})", stop_reason())), "no reason for the shutdown logged: {err}");
}

/// Starts the binary on `dir`; once it listens, returns its banner up to the addresses and kills
/// it. If it exits instead: its exit code and stderr.
fn start_once(dir: &std::path::Path) -> Result<String, (Option<i32>, String)> {
    let mut cmd = Command::new(bin());
    cmd.args(["--listen", &format!("127.0.0.1:{}", free_port()), "--data-dir", dir.to_str().unwrap()])
        .env_remove("BACKEND_HOST")
        .env_remove("PROXY_PORT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = Running(cmd.spawn().unwrap());
    let mut banner = String::new();
    for line in BufReader::new(child.0.stdout.take().unwrap()).lines().map_while(Result::ok) {
        if line.contains("open on the headset") {
            return Ok(banner);
        }
        banner.push_str(&line);
        banner.push('\n');
    }
    let status = child.0.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.0.stderr.take().unwrap(), &mut err).unwrap();
    Err((status.code(), err))
}

/// The local CA's fingerprint in a banner (start) or in `--rotate-ca`'s output.
fn ca_in(out: &str) -> String {
    let from = out.find("local CA").unwrap_or_else(|| panic!("no CA in {out}"));
    let line = out[from..].lines().find(|l| l.trim_start().starts_with("SHA-256 ")).unwrap();
    line.trim_start().trim_start_matches("SHA-256 ").to_string()
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

/// Issue 27's measured case: a data dir, a copy of it rotated with `--rotate-ca`, and the two CA
/// pairs mixed. Each start made a third CA, so every device would have had to install again.
#[test]
fn mixing_a_ca_pair_with_its_rotated_copy_never_makes_a_third_ca() {
    let first = tempfile::tempdir().unwrap();
    let old = ca_in(&start_once(first.path()).unwrap_or_else(|e| panic!("first start: {e:?}")));
    let rotated = tempfile::tempdir().unwrap();
    copy_dir(first.path(), rotated.path());
    let out = Command::new(bin())
        .args(["--rotate-ca", "--data-dir", rotated.path().to_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let new = ca_in(&String::from_utf8_lossy(&out.stdout));
    assert_ne!(new, old);
    let cases = [
        ("the new ca.pem beside the old key", first.path(), rotated.path(), "ca.pem"),
        ("the new key beside the old ca.pem", first.path(), rotated.path(), "ca-key.pem"),
        ("the rotated dir with the old key", rotated.path(), first.path(), "ca-key.pem"),
        ("the rotated dir with the old ca.pem", rotated.path(), first.path(), "ca.pem"),
    ];
    for (what, base, other, file) in cases {
        let mixed = tempfile::tempdir().unwrap();
        copy_dir(base, mixed.path());
        std::fs::copy(other.join(file), mixed.path().join(file)).unwrap();
        let banner = start_once(mixed.path()).unwrap_or_else(|(code, err)| panic!("{what}: exit {code:?}: {err}"));
        let got = ca_in(&banner);
        assert!(got == old || got == new, "{what}: a third CA {got}\n{banner}");
        assert!(banner.contains("NOTE: the local CA's files were damaged"), "{what}: not said\n{banner}");
        println!("{what}: the {} CA, put back", if got == old { "old" } else { "new" });
    }
}

#[test]
fn a_ca_whose_key_is_lost_exits_3_and_no_new_ca_is_made() {
    let dir = tempfile::tempdir().unwrap();
    start_once(dir.path()).unwrap_or_else(|e| panic!("first start: {e:?}"));
    let ca = std::fs::read(dir.path().join("ca.pem")).unwrap();
    // The key and its kept copy are gone: the CA devices installed can sign nothing any more.
    std::fs::remove_file(dir.path().join("ca-key.pem")).unwrap();
    std::fs::remove_file(dir.path().join("ca-key.pem.bak")).unwrap();
    let Err((code, stderr)) = start_once(dir.path()) else {
        panic!("started with a new CA");
    };
    assert_eq!(code, Some(3), "{stderr}");
    let lines = reason(&stderr);
    assert_eq!(lines.len(), 1, "{stderr}");
    for part in ["ca-key.pem", "does not replace it on its own", "--rotate-ca"] {
        assert!(lines[0].contains(part), "{part:?} in {}", lines[0]);
    }
    assert_eq!(std::fs::read(dir.path().join("ca.pem")).unwrap(), ca, "ca.pem untouched");
    assert!(!dir.path().join("ca-key.pem").exists());
}
