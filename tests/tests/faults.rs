//! Fault scenarios a lab workstation lives through: the runtime restarting under load, certificate
//! files damaged while running and between runs, the proxy port taken, interfaces coming and going,
//! and shutdown with many open tunnels. All on loopback; each prints its figures (`FIGURE | …`),
//! which `scripts/reliability.sh` collects for docs/RELIABILITY.md.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use cxr_gate_core::config::CustomCert;
use cxr_gate_core::demo::EchoServer;
use cxr_gate_core::session_end::{GateEnd, SessionEnd};
use cxr_gate_core::status::{BackendState, CertOrigin, ListenerState};
use cxr_gate_core::{qr, Gateway, Parts};
use cxr_gate_tests::*;
use futures_util::future::join_all;
use futures_util::StreamExt;
use rustls::pki_types::ServerName;
use tokio_tungstenite::tungstenite::Message;

const T: Duration = Duration::from_secs(10);

/// Waits until the tunnel ends; returns when it did.
async fn closed_at(ws: &mut Wss, within: Duration) -> Option<Instant> {
    tokio::time::timeout(within, async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return Instant::now(),
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .ok()
}

/// The `echo-server` binary on `port`, as a separate process that can be killed like a runtime.
fn spawn_echo(port: u16) -> Result<Child> {
    Command::new(env!("CARGO_BIN_EXE_echo-server"))
        .args(["--listen", &format!("127.0.0.1:{port}"), "--stdin-lifetime"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting echo-server")
}

/// Retries a wss echo until it works; returns how long that took.
async fn first_success(h: &Harness, since: Instant, within: Duration) -> Result<Duration> {
    loop {
        if let Ok((mut ws, _)) = wss_connect(&h.tls, h.port, "/", &[]).await {
            if echo_once(&mut ws, "hello").await.is_ok() {
                let took = since.elapsed();
                let _ = ws.close(None).await;
                return Ok(took);
            }
        }
        if since.elapsed() > within {
            bail!("no session succeeded within {within:?}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// 200 open tunnels, runtime killed (SIGKILL) and restarted 20 times: every tunnel closes within
/// fall × interval + 1 s, new sessions work within rise × interval + 1 s of each restart, and
/// afterwards no task or socket is left over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_restarts_close_every_tunnel_and_recover_without_leaks() -> Result<()> {
    let _turn = SERIAL.lock().await;
    const TUNNELS: usize = 200;
    const RESTARTS: usize = 20;
    sys::raise_fd_limit();
    let interval = Duration::from_millis(500);
    let (rise, fall) = (2u32, 3u32);
    let close_bound = interval * fall + Duration::from_secs(1);
    let up_bound = interval * rise + Duration::from_secs(1);
    let port = free_port();
    let backend = SocketAddr::from(([127, 0, 0, 1], port));
    let h = Harness::start(backend, |c| {
        c.health.interval = interval;
        c.health.rise = rise;
        c.health.fall = fall;
    })
    .await?;
    let mut rx = h.gw.status();

    let mut echo = spawn_echo(port)?;
    first_success(&h, Instant::now(), T).await?;
    wait_for(&mut rx, T, "no sessions", |s| s.sessions.is_empty()).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = tasks_and_sockets();

    let (mut worst_close, mut worst_up) = (Duration::ZERO, Duration::ZERO);
    let mut closed_total = 0;
    for round in 0..RESTARTS {
        let mut tunnels = Vec::with_capacity(TUNNELS);
        for i in 0..TUNNELS {
            let (mut ws, _) =
                wss_connect(&h.tls, h.port, "/", &[]).await.with_context(|| format!("round {round}, tunnel {i}"))?;
            echo_once(&mut ws, "x").await?;
            tunnels.push(ws);
        }
        wait_for(&mut rx, T, "all tunnels listed", |s| s.sessions.len() == TUNNELS).await?;

        echo.kill()?;
        let killed = Instant::now();
        let _ = echo.wait();
        let ends = join_all(tunnels.iter_mut().map(|ws| closed_at(ws, close_bound * 3))).await;
        for (i, end) in ends.iter().enumerate() {
            let end = end
                .ok_or_else(|| anyhow!("round {round}: tunnel {i} still open {:?} after the kill", close_bound * 3))?;
            let took = end.saturating_duration_since(killed);
            ensure!(took <= close_bound, "round {round}: tunnel {i} closed after {took:?} (bound {close_bound:?})");
            worst_close = worst_close.max(took);
        }
        closed_total += ends.len();
        drop(tunnels);
        // The runtime stays away until the checker has said so: the restart then has to rise.
        wait_for(&mut rx, T, "backend DOWN", |s| s.backend.state == BackendState::Down).await?;

        echo = spawn_echo(port)?;
        let restarted = Instant::now();
        let took = first_success(&h, restarted, up_bound * 3).await?;
        ensure!(took <= up_bound, "round {round}: first session {took:?} after the restart (bound {up_bound:?})");
        worst_up = worst_up.max(took);
    }
    wait_for(&mut rx, T, "no sessions", |s| s.sessions.is_empty()).await?;

    // Tasks and sockets wind down asynchronously: give them a moment, then they must be back.
    let mut after = tasks_and_sockets();
    let settle = Instant::now();
    while after != before && settle.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        after = tasks_and_sockets();
    }
    let _ = echo.kill();
    let _ = echo.wait();
    figure!(
        "runtime restarts",
        "{TUNNELS} tunnels x {RESTARTS} SIGKILL restarts, health {}ms rise {rise} fall {fall}",
        ms(interval)
    );
    figure!(
        "runtime restarts",
        "tunnels closed: {closed_total}, slowest close after kill {} ms (bound {} ms)",
        ms(worst_close),
        ms(close_bound)
    );
    figure!("runtime restarts", "slowest first session after restart {} ms (bound {} ms)", ms(worst_up), ms(up_bound));
    figure!("runtime restarts", "tokio tasks {} -> {}, sockets {} -> {}", before.0, after.0, before.1, after.1);
    ensure!(after.0 <= before.0, "tasks leaked: {} before, {} after", before.0, after.0);
    ensure!(after.1 <= before.1, "sockets leaked: {} before, {} after", before.1, after.1);
    Ok(())
}

/// Clean shutdown with 500 open tunnels takes under 2 s, and every client sees its tunnel end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_with_500_open_tunnels_is_quick() -> Result<()> {
    let _turn = SERIAL.lock().await;
    const TUNNELS: usize = 500;
    sys::raise_fd_limit();
    let echo = EchoServer::start("127.0.0.1:0".parse()?).await?;
    let h = Harness::start(echo.addr(), |_| {}).await?;
    let mut tunnels = Vec::with_capacity(TUNNELS);
    for _ in 0..TUNNELS {
        let (mut ws, _) = wss_connect(&h.tls, h.port, "/", &[]).await?;
        echo_once(&mut ws, "x").await?;
        tunnels.push(ws);
    }
    let mut rx = h.gw.status();
    wait_for(&mut rx, T, "all tunnels listed", |s| s.sessions.len() == TUNNELS).await?;
    let started = Instant::now();
    h.gw.shutdown().await;
    let took = started.elapsed();
    let ends = join_all(tunnels.iter_mut().map(|ws| closed_at(ws, T))).await;
    let open = ends.iter().filter(|e| e.is_none()).count();
    let last = ends.iter().flatten().map(|e| e.saturating_duration_since(started)).max().unwrap_or_default();
    let st = rx.borrow().clone();
    let shutdown = SessionEnd::Gate(GateEnd::Shutdown).to_string();
    let by_shutdown = st.recent_sessions.iter().filter(|s| s.reason == shutdown).count();
    figure!(
        "shutdown",
        "{TUNNELS} open tunnels: shutdown() returned in {} ms, last client saw its close at {} ms",
        ms(took),
        ms(last)
    );
    ensure!(took < Duration::from_secs(2), "shutdown took {took:?}");
    ensure!(open == 0, "{open} clients never saw their tunnel close");
    ensure!(st.sessions.is_empty(), "{} sessions still listed", st.sessions.len());
    ensure!(
        by_shutdown > 0 && by_shutdown == st.recent_sessions.len(),
        "ended sessions must say why: {:?}",
        st.recent_sessions.iter().find(|s| s.reason != shutdown)
    );
    Ok(())
}

fn damage(path: &Path, how: &str) -> Result<()> {
    match how {
        "deleted" => std::fs::remove_file(path)?,
        "truncated" => {
            let bytes = std::fs::read(path)?;
            std::fs::write(path, &bytes[..bytes.len() / 3])?;
        }
        "garbage" => std::fs::write(path, b"\x00\xffthis is not PEM at all\n\x7f")?,
        "empty" => std::fs::write(path, b"")?,
        other => bail!("unknown damage {other}"),
    }
    Ok(())
}

const DAMAGES: [&str; 4] = ["deleted", "truncated", "garbage", "empty"];

/// How many times the status log says a certificate file was rewritten.
fn rewrites(st: &cxr_gate_core::Status) -> usize {
    st.log.iter().filter(|l| l.msg.contains("rewrote the certificate in use")).count()
}

/// While running: the generated key or certificate deleted, truncated, emptied or garbled is
/// rewritten from the certificate in use (same fingerprint, so headsets need not trust again);
/// sessions stay up and other files in the data dir are untouched.
#[tokio::test]
async fn damaged_certificate_files_are_restored_while_running() -> Result<()> {
    let _turn = SERIAL.lock().await;
    let echo = EchoServer::start("127.0.0.1:0".parse()?).await?;
    let h = Harness::start(echo.addr(), |c| c.lan_scan_interval = Duration::from_millis(200)).await?;
    let dir = h.dir.path();
    let fingerprint = h.gw.status().borrow().cert.clone().map(|c| c.fingerprint_sha256).unwrap_or_default();
    let (cert, key) = (std::fs::read(dir.join("cert.pem"))?, std::fs::read(dir.join("key.pem"))?);
    std::fs::write(dir.join("settings.json"), b"{\"keep\": true}")?;
    let (mut ws, _) = wss_connect(&h.tls, h.port, "/", &[]).await?;
    let mut worst = Duration::ZERO;
    let mut cases = 0;
    for file in ["key.pem", "cert.pem"] {
        for how in DAMAGES {
            let before = rewrites(&h.gw.status().borrow());
            damage(&dir.join(file), how)?;
            let at = Instant::now();
            loop {
                if std::fs::read(dir.join("cert.pem")).ok().as_ref() == Some(&cert)
                    && std::fs::read(dir.join("key.pem")).ok().as_ref() == Some(&key)
                {
                    break;
                }
                ensure!(at.elapsed() < T, "{file} {how}: not restored within {T:?}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            worst = worst.max(at.elapsed());
            cases += 1;
            // The files are back before the check that wrote them has published its status and log.
            let mut rx = h.gw.status();
            let _ = tokio::time::timeout(T, rx.wait_for(|s| rewrites(s) > before)).await;
            let st = h.gw.status().borrow().clone();
            let served = st.cert.as_ref().map(|c| c.fingerprint_sha256.clone()).unwrap_or_default();
            ensure!(served == fingerprint, "{file} {how}: the served certificate changed");
            ensure!(st.cert_error.is_none(), "{file} {how}: {:?}", st.cert_error);
            let said = st.log.iter().rev().find(|l| l.msg.contains("rewrote the certificate in use"));
            ensure!(said.is_some_and(|l| l.msg.contains(file)), "{file} {how}: no log line naming the file");
            echo_once(&mut ws, &format!("{file} {how}")).await?;
        }
    }
    // A fresh handshake still verifies against the certificate the headsets trust.
    let (head, _) = https_get(&h.tls, h.port, "/test").await?;
    ensure!(head.starts_with("HTTP/1.1 200"), "{head}");
    ensure!(std::fs::read(dir.join("settings.json"))? == b"{\"keep\": true}", "settings.json was touched");
    figure!("cert files (running)", "{cases} damages (key/cert x deleted/truncated/garbage/empty), scan every 200 ms: all rewritten, slowest {} ms; fingerprint unchanged; open session kept echoing", ms(worst));
    Ok(())
}

/// Between runs: a damaged key or certificate makes the next start generate a new one, say why,
/// and serve it; files that are not the certificate's are left alone.
#[tokio::test]
async fn damaged_certificate_files_are_regenerated_between_runs() -> Result<()> {
    let _turn = SERIAL.lock().await;
    let dir = tempfile::tempdir()?;
    let cfg = test_config(dir.path(), SocketAddr::from(([127, 0, 0, 1], free_port())));
    let gw = Gateway::start(cfg.clone()).await?;
    let mut fingerprint = gw.status().borrow().cert.clone().map(|c| c.fingerprint_sha256).unwrap_or_default();
    gw.shutdown().await;
    std::fs::write(dir.path().join("settings.json"), b"{\"keep\": true}")?;
    let mut cases = 0;
    for file in ["key.pem", "cert.pem", "cert-state.json"] {
        for how in DAMAGES {
            damage(&dir.path().join(file), how)?;
            let mut cfg = cfg.clone();
            cfg.listen.set_port(free_port());
            let gw = Gateway::start(cfg.clone()).await?;
            ensure!(gw.listen_error().is_none(), "{file} {how}: {:?}", gw.listen_error());
            let st = gw.status().borrow().clone();
            let info = st.cert.clone().ok_or_else(|| anyhow!("{file} {how}: no certificate"))?;
            if file == "cert-state.json" {
                // Only the bookkeeping was hit: the certificate itself is kept.
                ensure!(info.fingerprint_sha256 == fingerprint, "{file} {how}: certificate replaced needlessly");
            } else {
                ensure!(info.fingerprint_sha256 != fingerprint, "{file} {how}: the damaged certificate was kept");
                let why = info.regenerated_reason.clone().unwrap_or_default();
                ensure!(
                    why.contains(file) || how == "deleted" && why.contains("missing"),
                    "{file} {how}: reason {why:?}"
                );
                fingerprint = info.fingerprint_sha256.clone();
            }
            let tls = client_tls(&dir.path().join("cert.pem"))?;
            let port = gw.local_addr().await.map(|a| a.port()).unwrap_or(0);
            let (head, _) = https_get(&tls, port, "/test").await?;
            ensure!(head.starts_with("HTTP/1.1 200"), "{file} {how}: {head}");
            gw.shutdown().await;
            cases += 1;
        }
    }
    ensure!(std::fs::read(dir.path().join("settings.json"))? == b"{\"keep\": true}", "settings.json was touched");
    figure!("cert files (between runs)", "{cases} restarts after key/cert/state file deleted/truncated/garbage/empty: a damaged key or cert was regenerated with the file named in the reason, damaged state kept the certificate; TLS verified each time");
    Ok(())
}

/// A custom certificate damaged while running: a clear error naming the file, the last good
/// certificate keeps serving, and mending the file clears the error.
#[tokio::test]
async fn a_damaged_custom_certificate_keeps_the_last_good_one_serving() -> Result<()> {
    let _turn = SERIAL.lock().await;
    let src = tempfile::tempdir()?;
    let gw = Gateway::start(test_config(src.path(), SocketAddr::from(([127, 0, 0, 1], free_port())))).await?;
    gw.shutdown().await;
    let own = tempfile::tempdir()?;
    let (cert, key) = (own.path().join("lab.crt"), own.path().join("lab.key"));
    std::fs::copy(src.path().join("cert.pem"), &cert)?;
    std::fs::copy(src.path().join("key.pem"), &key)?;
    let good = std::fs::read(&cert)?;
    let h = Harness::start(SocketAddr::from(([127, 0, 0, 1], free_port())), |c| {
        c.custom_cert = Some(CustomCert { cert: cert.clone(), key: Some(key.clone()) });
        c.lan_scan_interval = Duration::from_millis(200);
    })
    .await?;
    let fingerprint = h.gw.status().borrow().cert.clone().map(|c| c.fingerprint_sha256).unwrap_or_default();
    let mut rx = h.gw.status();
    for (path, how) in [(&cert, "garbage"), (&cert, "truncated"), (&key, "garbage"), (&cert, "deleted")] {
        damage(path, how)?;
        let name = path.display().to_string();
        let st =
            wait_for(&mut rx, T, "certificate error", |s| s.cert_error.as_ref().is_some_and(|e| e.contains(&name)))
                .await
                .with_context(|| format!("{name} {how}"))?;
        ensure!(st.cert.as_ref().map(|c| c.fingerprint_sha256.clone()) == Some(fingerprint.clone()));
        ensure!(st.log.iter().any(|l| l.msg.contains("still serving the last good certificate")));
        let (head, _) = https_get(&h.tls, h.port, "/test").await.with_context(|| format!("{name} {how}"))?;
        ensure!(head.starts_with("HTTP/1.1 200"), "{head}");
        // Mended: the error goes away.
        std::fs::write(&cert, &good)?;
        std::fs::copy(src.path().join("key.pem"), &key)?;
        wait_for(&mut rx, T, "error cleared", |s| s.cert_error.is_none()).await?;
    }
    ensure!(h.gw.status().borrow().cert.as_ref().is_some_and(|c| c.origin == CertOrigin::Custom));
    figure!("custom cert (running)", "4 damages (cert garbage/truncated/deleted, key garbage): error named the file within one scan, the last good certificate kept serving, mending cleared the error");
    Ok(())
}

/// The proxy port held by another program: a clear status, then freeing it is enough.
#[tokio::test]
async fn a_taken_port_is_reported_and_picked_up_once_free() -> Result<()> {
    let _turn = SERIAL.lock().await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
    let port = taken.local_addr()?.port();
    let echo = EchoServer::start("127.0.0.1:0".parse()?).await?;
    let dir = tempfile::tempdir()?;
    let mut cfg = test_config(dir.path(), echo.addr());
    cfg.listen = SocketAddr::from(([127, 0, 0, 1], port));
    let gw = Gateway::start(cfg).await?;
    let st = gw.status().borrow().clone();
    ensure!(st.listener.state == ListenerState::Failed);
    let err = st.listener.error.clone().unwrap_or_default();
    ensure!(err == format!("port {port} is already in use by another program"), "{err}");
    ensure!(
        st.log.iter().any(|l| l.level == cxr_gate_core::status::LogLevel::Error && l.msg.contains(&err)),
        "no log line"
    );
    // Held for a while: retried quietly, one log line.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let lines = gw.status().borrow().log.iter().filter(|l| l.msg.contains("cannot listen")).count();
    ensure!(lines == 1, "{lines} log lines for one held port");
    drop(taken);
    let freed = Instant::now();
    let mut rx = gw.status();
    wait_for(&mut rx, T, "listening", |s| s.listener.state == ListenerState::Listening).await?;
    let took = freed.elapsed();
    let tls = client_tls(&dir.path().join("cert.pem"))?;
    let (mut ws, _) = wss_connect(&tls, port, "/", &[]).await?;
    echo_once(&mut ws, "back").await?;
    figure!(
        "port taken",
        "port held 5 s: status Failed \"{err}\", 1 log line; listening {} ms after it was freed, no restart",
        ms(took)
    );
    ensure!(took <= Duration::from_secs(3), "took {took:?}");
    gw.shutdown().await;
    Ok(())
}

/// TLS to 127.0.0.1 checking the certificate for `ip` (which is never contacted).
async fn verifies_for(tls: &Arc<rustls::ClientConfig>, port: u16, ip: [u8; 4]) -> Result<()> {
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::IpAddress(std::net::IpAddr::from(ip).into());
    tokio_rustls::TlsConnector::from(tls.clone()).connect(name, tcp).await?;
    Ok(())
}

/// Interfaces appearing and disappearing (a scripted LAN source): the certificate's SANs and the
/// headset link (the QR) follow without a restart, and an open session stays up throughout.
#[tokio::test]
async fn interfaces_coming_and_going_move_the_sans_and_the_qr_code() -> Result<()> {
    let _turn = SERIAL.lock().await;
    let echo = EchoServer::start("127.0.0.1:0".parse()?).await?;
    let lan = Arc::new(ScriptedLan::default());
    lan.set(&[("eth0", [10, 77, 0, 5])]);
    let dir = tempfile::tempdir()?;
    let mut cfg = test_config(dir.path(), echo.addr());
    cfg.lan_scan_interval = Duration::from_millis(200);
    let gw = Gateway::start_parts(cfg, Parts { lan: lan.clone(), ..Parts::default() }).await?;
    let port = gw.local_addr().await.map(|a| a.port()).ok_or_else(|| anyhow!("not listening"))?;
    let mut rx = gw.status();
    let sans = |s: &cxr_gate_core::Status| s.cert.as_ref().map(|c| c.sans.clone()).unwrap_or_default();
    ensure!(sans(&rx.borrow()).contains(&"10.77.0.5".to_string()));
    let tls = client_tls(&dir.path().join("cert.pem"))?;
    let (mut ws, _) = wss_connect(&tls, port, "/", &[]).await?;
    echo_once(&mut ws, "start").await?;
    let qr_of = |s: &cxr_gate_core::Status| s.primary_ip().map(|ip| qr::svg(&qr::trust_url(ip, port)));
    let first_qr = qr_of(&rx.borrow());

    let changes = |s: &cxr_gate_core::Status| s.log.iter().filter(|l| l.msg.starts_with("new certificate")).count();
    let changes_before = changes(&rx.borrow());
    // Wi-Fi joins and takes the default route.
    let t0 = Instant::now();
    lan.set(&[("wlan0", [10, 88, 0, 9]), ("eth0", [10, 77, 0, 5])]);
    let st = wait_for(&mut rx, T, "new IP covered", |s| {
        s.primary_ip() == Some("10.88.0.9") && sans(s).contains(&"10.88.0.9".to_string())
    })
    .await?;
    let joined = t0.elapsed();
    ensure!(sans(&st).contains(&"10.77.0.5".to_string()), "the old IP must stay covered");
    ensure!(qr_of(&st) != first_qr, "the QR code did not change");
    ensure!(qr_of(&st) == Some(qr::svg(&qr::trust_url("10.88.0.9", port))), "QR for the new address");
    let tls_new = client_tls(&dir.path().join("cert.pem"))?;
    verifies_for(&tls_new, port, [10, 88, 0, 9]).await.context("new certificate for 10.88.0.9")?;
    echo_once(&mut ws, "after join").await?;

    // Ethernet unplugged, then everything gone (airplane mode), then back.
    lan.set(&[("wlan0", [10, 88, 0, 9])]);
    wait_for(&mut rx, T, "eth0 gone", |s| s.lan.len() == 1).await?;
    lan.set(&[]);
    let st = wait_for(&mut rx, T, "no interfaces", |s| s.lan.is_empty()).await?;
    ensure!(st.primary_ip().is_none() && st.listener.state == ListenerState::Listening);
    echo_once(&mut ws, "offline").await?;
    let t1 = Instant::now();
    lan.set(&[("eth0", [10, 77, 0, 5])]);
    wait_for(&mut rx, T, "eth0 back", |s| s.primary_ip() == Some("10.77.0.5")).await?;
    let back = t1.elapsed();
    verifies_for(&client_tls(&dir.path().join("cert.pem"))?, port, [10, 77, 0, 5]).await?;
    echo_once(&mut ws, "end").await?;
    let regenerated = changes(&rx.borrow()) - changes_before;
    figure!("interfaces", "join → SAN + QR updated in {} ms; leave, all gone, rejoin → primary back in {} ms; {regenerated} certificate change(s); one session echoed throughout", ms(joined), ms(back));
    gw.shutdown().await;
    Ok(())
}
