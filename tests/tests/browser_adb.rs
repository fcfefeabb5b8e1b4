//! "Accept the certificate on the headset" with a real browser: Debian's Chromium, headless, a fresh
//! profile, a Quest 3's User-Agent and `--remote-debugging-port`, standing in for the headset browser's
//! DevTools socket behind the fake adb server's forward. The gate's trust page shows the certificate
//! warning; core's `adb::devtools` finds that tab through the forward, passes the warning for that
//! origin, and the forward is removed; the headset book records the browser as trusted with the
//! trust page seen. A second gate (another loopback address, another certificate) opened in the same
//! browser afterwards still gets its warning: nothing turned certificate checks off.
//!
//! Loopback only; needs /usr/bin/chromium (fails under CI without it, skipped otherwise).

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::time::Duration;

use cxr_gate_core::adb::devtools::{accept_on_headset, AcceptOutcome};
use cxr_gate_core::headsets::HeadsetState;
use cxr_gate_core::status::Status;
use cxr_gate_tests::adb::{FakeAdb, FakeDevice};
use cxr_gate_tests::chromium::{
    browser_args, chromium_bin, missing_tools, skip_without, wait_port, LoopbackGate, Options,
};
use cxr_gate_tests::{free_port, QUEST_3};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

const SERIAL: &str = "2G0YC5ZGB5000J";

/// The book's record of the browser (it connects from 127.0.0.1) once it is in `state`.
async fn book_says(rx: &mut watch::Receiver<Status>, state: HeadsetState) -> Option<cxr_gate_core::headsets::Headset> {
    cxr_gate_tests::headset_in(rx, "127.0.0.1", state, Duration::from_secs(20)).await.ok()
}

/// DevTools' `PUT /json/new?URL`: a new tab at `url`.
async fn new_tab(devtools: u16, url: &str) -> String {
    let mut s = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, devtools)).await.expect("DevTools");
    let req = format!(
        "PUT /json/new?{url} HTTP/1.1\r\nHost: 127.0.0.1:{devtools}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    // The answer is one small JSON object; the DevTools server keeps the connection open after it.
    let mut buf = vec![0u8; 8192];
    let n =
        tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await.ok().and_then(Result::ok).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_headsets_browser_passes_the_warning_for_this_gate_only() {
    if skip_without(missing_tools()) {
        return;
    }
    let gate = LoopbackGate::start(free_port(), |_| {}).await.expect("gate");
    let port2 = free_port();
    let other = LoopbackGate::start(port2, |c| c.listen = SocketAddr::from(([127, 0, 0, 2], port2)))
        .await
        .expect("second gate");
    let origin = format!("https://127.0.0.1:{}", gate.port);

    // Chromium with a Quest's agent and its DevTools on a loopback port, opening the trust page.
    let profile = tempfile::tempdir().unwrap();
    let opts = Options { user_agent: Some(QUEST_3.into()), ..Default::default() };
    let args: Vec<String> = browser_args(profile.path(), &opts)
        .into_iter()
        .map(|a| if a.starts_with("--host-resolver-rules=") { format!("{a}, EXCLUDE 127.0.0.2") } else { a })
        .collect();
    let devtools = free_port();
    let mut chromium = tokio::process::Command::new(chromium_bin())
        .args(&args)
        .arg(format!("--remote-debugging-port={devtools}"))
        .arg(format!("{origin}/"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start chromium");
    assert!(wait_port(devtools, Duration::from_secs(30)).await, "Chromium's DevTools did not listen");

    // The headset on the fake adb server, its browser's DevTools socket leading to Chromium's.
    let mut quest = FakeDevice::quest3(SERIAL, "192.168.1.50/24");
    quest.devtools = Some(SocketAddr::from((Ipv4Addr::LOCALHOST, devtools)));
    let adb = FakeAdb::start(vec![quest]).await.unwrap();

    let mut book = gate.gw.status();
    let refused = book_says(&mut book, HeadsetState::Refused).await;
    assert!(refused.is_some(), "the trust page's warning first: {:#?}", book.borrow().headsets);

    let outcome = accept_on_headset(&adb.server(), SERIAL, &origin).await;
    let result = match &outcome {
        Ok(AcceptOutcome::Accepted { url, title }) => {
            assert_eq!(url, &format!("{origin}/"));
            assert_eq!(title, "Certificate accepted · CXR Gate");
            Ok(())
        }
        other => Err(format!("not accepted: {other:?}")),
    };
    eprintln!("{}", outcome.as_ref().map(|o| o.message(&origin)).unwrap_or_else(|e| e.to_string()));
    // The forward is gone, and was the only one.
    assert!(adb.forwards().is_empty(), "forward left behind");
    assert_eq!(adb.killed_forwards().len(), 1);

    let trusted = if result.is_ok() { book_says(&mut book, HeadsetState::Trusted).await } else { None };
    // Another gate in the same browser: still its warning (a refused handshake, never trusted).
    let mut other_book = other.gw.status();
    new_tab(devtools, &format!("https://127.0.0.2:{port2}/")).await;
    let other_refused = book_says(&mut other_book, HeadsetState::Refused).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let other_now = other_book.borrow().headsets.iter().find(|h| h.ip == "127.0.0.1").cloned();

    let _ = chromium.kill().await;
    adb.stop();
    gate.stop().await;
    other.stop().await;
    result.unwrap_or_else(|e| panic!("{e}"));
    let trusted = trusted.expect("the book records the browser as trusted");
    assert!(trusted.pages.trust_page_ms.is_some() && trusted.device == "Quest 3 / 3S", "{trusted:#?}");
    assert!(other_refused.is_some(), "the second gate's certificate was not refused: {other_now:#?}");
    let other_now = other_now.expect("the second gate saw the browser");
    assert_eq!(other_now.advice.state, HeadsetState::Refused, "{other_now:#?}");
    assert!(other_now.pages.trust_page_ms.is_none(), "the second gate's page was shown: {other_now:#?}");
}
