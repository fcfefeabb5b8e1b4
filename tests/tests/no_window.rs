//! The desktop app (`cxr-gate`, src-tauri) as a user runs it when its window cannot open: a
//! missing or damaged WebView2 Runtime on Windows. The gate must keep serving: started with
//! `--demo` (its own loopback echo server stands in for the CloudXR Runtime), a real wss:// client
//! gets its echo through it; its log says why the window failed and which webview runtime it found
//! (none); the tray shows the runtime UP; the explaining message box was asked for; it is still
//! running 10 s later; and it stops cleanly when asked (SIGTERM on Linux, a console Ctrl-C on
//! Windows), its data dir intact.
//!
//! - Windows, under wine (`scripts/test-windows.sh gui`): wine has no WebView2, the real failure.
//!   The script runs this in a loopback-only network namespace with its own Xvfb. Wine's message
//!   box stays open on a thread of its own; the stop ends the process with it.
//! - Linux (and Windows with WebView2 installed): the debug build's injected failure
//!   (`CXR_GATE_TEST_FAIL_WINDOW`), under `DISPLAY` or an Xvfb of its own, with a D-Bus session of
//!   its own for the tray. The message box (GTK) is left open the same way.
//!
//! Also `cxr-gate --quit`, which the installer runs before it replaces the program: a second
//! launch with it closes the running app cleanly (the single-instance plugin hands it over), and
//! with none running it exits at once without starting anything.
//!
//! Needs the debug app (`cargo build -p cxr-gate`) or `CXR_GATE_APP`. Only loopback is contacted.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cxr_gate_tests::{client_tls, echo_once, free_port, wss_connect};

fn app() -> PathBuf {
    if let Ok(p) = std::env::var("CXR_GATE_APP") {
        return PathBuf::from(p);
    }
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().map(Path::to_path_buf).unwrap_or_default();
    target.join(format!("debug/cxr-gate{}", std::env::consts::EXE_SUFFIX))
}

/// Kills what a failed test left running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

fn log_text(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("cxr-gate.log")).unwrap_or_default()
}

/// Waits for `what` in the log (the app writes it as it goes).
fn wait_log(dir: &Path, child: &mut Child, what: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let log = log_text(dir);
        if log.contains(what) {
            return log;
        }
        if let Ok(Some(s)) = child.try_wait() {
            panic!("the app exited ({s}) before logging {what:?}:\n{log}");
        }
        assert!(Instant::now() < deadline, "no {what:?} in the log after {within:?}:\n{log}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[cfg(unix)]
mod platform {
    use super::*;

    pub const STOP: &str = "SIGTERM";

    fn which(name: &str) -> Option<PathBuf> {
        let path = std::env::var_os("PATH").unwrap_or_default();
        std::env::split_paths(&path).map(|d| d.join(name)).find(|p| p.is_file())
    }

    /// An X display and a D-Bus session bus (the tray's), each ours unless given.
    pub struct Desktop {
        pub env: Vec<(String, String)>,
        _children: Vec<Running>,
    }

    pub fn desktop() -> Desktop {
        let mut env = vec![("CXR_GATE_TEST_FAIL_WINDOW".to_string(), "1".to_string())];
        let mut children = Vec::new();
        match std::env::var("DISPLAY") {
            Ok(d) if !d.is_empty() => env.push(("DISPLAY".into(), d)),
            _ => {
                let n = (100..300)
                    .find(|n| !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists())
                    .expect("a free X display number");
                let xvfb = Command::new(which("Xvfb").expect("Xvfb (apt-get install xvfb)"))
                    .args([format!(":{n}"), "-nolisten".into(), "tcp".into()])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start Xvfb");
                children.push(Running(xvfb));
                let socket = format!("/tmp/.X11-unix/X{n}");
                let deadline = Instant::now() + Duration::from_secs(20);
                while !Path::new(&socket).exists() {
                    assert!(Instant::now() < deadline, "Xvfb :{n} did not come up");
                    std::thread::sleep(Duration::from_millis(50));
                }
                env.push(("DISPLAY".into(), format!(":{n}")));
            }
        }
        if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
            if let Some(daemon) = which("dbus-daemon") {
                let mut d = Command::new(daemon)
                    .args(["--session", "--nofork", "--print-address=1"])
                    .stdout(Stdio::piped())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("start dbus-daemon");
                let mut line = String::new();
                let out = d.stdout.take().expect("dbus-daemon stdout");
                std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line).expect("bus address");
                env.push(("DBUS_SESSION_BUS_ADDRESS".into(), line.trim().to_string()));
                children.push(Running(d));
            }
        }
        env.push(("NO_AT_BRIDGE".into(), "1".into()));
        Desktop { env, _children: children }
    }

    pub fn spawn(cmd: &mut Command) -> Child {
        cmd.spawn().expect("start the app")
    }

    pub fn ask_to_stop(child: &Child) {
        // SAFETY: a plain syscall on our own child's pid.
        assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    }

    /// The failure the app met: the injected one.
    pub fn failure_logged(log: &str) -> bool {
        log.contains("CXR_GATE_TEST_FAIL_WINDOW=1 (a test's injected failure)")
    }
}

#[cfg(windows)]
mod platform {
    use super::*;

    pub const STOP: &str = "Ctrl-C";

    /// Wine's ntdll exports `wine_get_version`; Windows' does not.
    fn under_wine() -> bool {
        use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleA, GetProcAddress};
        // SAFETY: NUL-terminated names; ntdll is loaded in every process.
        unsafe { GetProcAddress(GetModuleHandleA(c"ntdll.dll".as_ptr().cast()), c"wine_get_version".as_ptr().cast()) }
            .is_some()
    }

    pub struct Desktop {
        pub env: Vec<(String, String)>,
    }

    /// Under wine the failure is real; on a Windows with WebView2 it is injected.
    pub fn desktop() -> Desktop {
        let env = if under_wine() { vec![] } else { vec![("CXR_GATE_TEST_FAIL_WINDOW".into(), "1".into())] };
        Desktop { env }
    }

    pub fn spawn(cmd: &mut Command) -> Child {
        use std::os::windows::process::CommandExt;
        use windows_sys::Win32::System::Console::AllocConsole;
        use windows_sys::Win32::System::Threading::CREATE_NEW_PROCESS_GROUP;
        // Console control events travel between processes on one console (see core/tests/cli.rs).
        // SAFETY: a plain Win32 call without arguments.
        unsafe { AllocConsole() };
        cmd.creation_flags(CREATE_NEW_PROCESS_GROUP).spawn().expect("start the app")
    }

    pub fn ask_to_stop(child: &Child) {
        use windows_sys::Win32::System::Console::{GenerateConsoleCtrlEvent, CTRL_C_EVENT};
        // SAFETY: plain Win32 call; the child leads its own process group, whose id is its pid.
        let sent = unsafe { GenerateConsoleCtrlEvent(CTRL_C_EVENT, child.id()) };
        assert_ne!(sent, 0, "Ctrl-C not sent: {}", std::io::Error::last_os_error());
    }

    /// The failure the app met: no WebView2 (under wine), or the injected one.
    pub fn failure_logged(log: &str) -> bool {
        log.contains("Microsoft Edge WebView2 Runtime: none found")
            || log.contains("CXR_GATE_TEST_FAIL_WINDOW=1 (a test's injected failure)")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_its_window_the_app_keeps_serving_explains_and_stops_cleanly() {
    let exe = app();
    assert!(exe.is_file(), "{} not found: run `cargo build -p cxr-gate` first (or set CXR_GATE_APP)", exe.display());
    let desktop = platform::desktop();
    let data = tempfile::tempdir().expect("temp data dir");
    let port = free_port();
    let mut cmd = Command::new(&exe);
    cmd.args(["--demo", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data.path())
        .env("RUST_LOG", "info")
        .envs(desktop.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    println!("app under test: {} (a log in {})", exe.display(), data.path().display());
    let mut child = Running(platform::spawn(&mut cmd));
    let child = &mut child.0;

    // Why the window failed, with the runtime found or not; the box asked for; the tray UP.
    let log = wait_log(data.path(), child, "the window could not open: ", Duration::from_secs(120));
    assert!(platform::failure_logged(&log), "the failure is not named:\n{log}");
    let log = wait_log(
        data.path(),
        child,
        "message box shown: CXR Gate is running, but its window needs",
        Duration::from_secs(30),
    );
    assert!(log.contains("headset-qr.html"), "the QR page is not written:\n{log}");
    assert!(data.path().join("headset-qr.html").is_file());
    wait_log(data.path(), child, "tray: CXR Gate (demo) — runtime UP", Duration::from_secs(60));

    // A real wss:// session through it, to the demo echo server.
    let tls = client_tls(&data.path().join("cert.pem")).expect("the app's certificate");
    let (mut ws, resp) = wss_connect(&tls, port, "/sign_in?no-window=1", &[]).await.expect("wss:// handshake");
    assert_eq!(resp.status(), 101);
    echo_once(&mut ws, "served without a window").await.expect("echo through the gate");

    // Still serving 10 s later (the message box left open all the while).
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(child.try_wait().expect("child status").is_none(), "the app exited:\n{}", log_text(data.path()));
    echo_once(&mut ws, "still served").await.expect("echo 10 s later");
    drop(ws);

    platform::ask_to_stop(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().expect("child status") {
            break s;
        }
        assert!(Instant::now() < deadline, "did not exit after {}:\n{}", platform::STOP, log_text(data.path()));
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = log_text(data.path());
    for l in
        log.lines().filter(|l| ["window", "message box", "tray: ", "QR code", "stopped"].iter().any(|w| l.contains(w)))
    {
        println!("log: {l}");
    }
    assert_eq!(status.code(), Some(0), "{status:?}\n{log}");
    assert!(log.contains("shutting down the gateway") && log.contains("CXR Gate stopped"), "{log}");
    // The data dir is intact: the certificate still loads.
    client_tls(&data.path().join("cert.pem")).expect("cert.pem after the stop");
}

/// Waits for the app to exit; its status.
fn wait_exit(child: &mut Child, within: Duration, data: &Path) -> std::process::ExitStatus {
    let deadline = Instant::now() + within;
    loop {
        if let Some(s) = child.try_wait().expect("child status") {
            return s;
        }
        assert!(Instant::now() < deadline, "still running after {within:?}:\n{}", log_text(data));
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn quit_closes_the_running_app_cleanly_and_with_none_running_exits_at_once() {
    let exe = app();
    assert!(exe.is_file(), "{} not found: run `cargo build -p cxr-gate` first (or set CXR_GATE_APP)", exe.display());
    let desktop = platform::desktop();
    let quit = |data: &Path| {
        let started = Instant::now();
        let mut c = Command::new(&exe);
        c.arg("--quit")
            .arg("--data-dir")
            .arg(data)
            .envs(desktop.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut child = Running(c.spawn().expect("start cxr-gate --quit"));
        let status = wait_exit(&mut child.0, Duration::from_secs(60), data);
        (status, started.elapsed())
    };

    // None running: exit 0 at once, nothing started (not even the log in the data dir).
    let none = tempfile::tempdir().expect("temp dir");
    let fresh = none.path().join("never-started");
    let (status, took) = quit(&fresh);
    println!("cxr-gate --quit with none running: {status:?} after {took:?}");
    assert_eq!(status.code(), Some(0));
    assert!(!fresh.exists(), "--quit with nothing to quit created {}", fresh.display());

    // One running: a second launch with --quit closes it, as its tray's Quit does.
    let data = tempfile::tempdir().expect("temp data dir");
    let port = free_port();
    let mut cmd = Command::new(&exe);
    cmd.args(["--demo", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(data.path())
        .env("RUST_LOG", "info")
        .envs(desktop.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut child = Running(platform::spawn(&mut cmd));
    wait_log(data.path(), &mut child.0, "tray: CXR Gate (demo) — runtime UP", Duration::from_secs(120));
    let (status, took) = quit(data.path());
    println!("cxr-gate --quit with one running: {status:?} after {took:?}");
    assert_eq!(status.code(), Some(0));
    let status = wait_exit(&mut child.0, Duration::from_secs(30), data.path());
    let log = log_text(data.path());
    assert_eq!(status.code(), Some(0), "{status:?}\n{log}");
    assert!(log.contains("CXR Gate was started with --quit"), "{log}");
    assert!(log.contains("shutting down the gateway") && log.contains("CXR Gate stopped"), "{log}");
}
