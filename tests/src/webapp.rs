//! The web app served at `/app/`, for the black-box and browser tests: a tiny test client written
//! into a temp folder (our own page, not NVIDIA's code) that reads `serverIP` and `port` from its
//! query like a client configured by the gate's link, and the browser steps that open it and check
//! its `wss://` echo. Reusable by any flow whose Chromium session already trusts the gate.

use std::io;
use std::path::Path;
use std::time::Duration;

use fantoccini::{Client, Locator};
use serde_json::Value;

use crate::chromium::{body_text, poll};

/// Where the test client's socket goes (below `wss://{serverIP}:{port}`).
pub const SIGN_IN_PATH: &str = "/sign_in?peer=webapp";

/// What the test client sends; the echo backend sends it back.
pub const ECHO_TEXT: &str = "hello from /app/";

/// The smallest valid WebAssembly module (magic and version): enough for `instantiateStreaming`,
/// which refuses any `Content-Type` but `application/wasm`.
pub const EMPTY_WASM: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];

const INDEX: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test web client</title>
<script type="module" src="app.mjs"></script></head>
<body><h1>Test web client</h1><pre id="result" data-state="running">running</pre></body></html>
"#;

/// A module script (Chromium runs it only when served as JavaScript), a streamed wasm and JSON from
/// a sub-folder prove the MIME types; then the socket to the address from the query.
const APP: &str = r#"// Test client: reads serverIP and port from the query and opens wss://serverIP:port/.
const out = document.getElementById("result");
const report = (state, data) => { out.textContent = JSON.stringify(data); out.dataset.state = state; };
try {
  const q = new URLSearchParams(location.search);
  const ip = q.get("serverIP"), port = q.get("port");
  if (!ip || !port) throw new Error("serverIP and port are missing from the query: " + location.search);
  const wasm = await WebAssembly.instantiateStreaming(fetch("empty.wasm"));
  const data = await (await fetch("nested/data.json")).json();
  const url = `wss://${ip}:${port}/sign_in?peer=webapp`;
  const echo = await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("no echo within 15 s")), 15000);
    const ws = new WebSocket(url);
    ws.onopen = () => ws.send("hello from /app/");
    ws.onmessage = (e) => { clearTimeout(t); ws.close(); resolve(String(e.data)); };
    ws.onerror = () => { clearTimeout(t); reject(new Error("WebSocket error on " + url)); };
  });
  report("done", { echo, url, origin: location.origin, wasm: wasm.instance instanceof WebAssembly.Instance, data });
} catch (e) {
  report("failed", { error: String(e) });
}
"#;

/// Writes the test client into `dir` (which becomes the web root).
pub fn write_test_client(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir.join("nested"))?;
    std::fs::write(dir.join("index.html"), INDEX)?;
    std::fs::write(dir.join("app.mjs"), APP)?;
    std::fs::write(dir.join("empty.wasm"), EMPTY_WASM)?;
    std::fs::write(dir.join("nested/data.json"), r#"{"from":"nested/data.json"}"#)?;
    Ok(())
}

/// Opens `{origin}/app/{query}` in a session that already trusts the gate and waits for the test
/// client's verdict: the echo through the gate, from the gate's own origin. Returns its report.
pub async fn app_echo(c: &Client, origin: &str, query: &str) -> Result<Value, String> {
    let url = format!("{origin}/app/{query}");
    c.goto(&url).await.map_err(|e| format!("{url}: {e}"))?;
    wait_for_report(c, origin).await
}

/// The test client's report once it has one (`done` with the right echo and origin), else why not.
pub async fn wait_for_report(c: &Client, origin: &str) -> Result<Value, String> {
    let state = poll(Duration::from_secs(30), || async {
        let el = c.find(Locator::Css("#result")).await.ok()?;
        let state = el.attr("data-state").await.ok().flatten()?;
        (state != "running").then_some(state)
    })
    .await;
    let text = match c.find(Locator::Css("#result")).await {
        Ok(el) => el.text().await.unwrap_or_default(),
        Err(_) => body_text(c).await,
    };
    let Some(state) = state else {
        return Err(format!("the test client never finished (a module script or wasm refused?): {text}"));
    };
    let report: Value = serde_json::from_str(&text).map_err(|e| format!("report {text:?}: {e}"))?;
    if state != "done" {
        return Err(format!("the test client failed: {report}"));
    }
    if report["echo"] != ECHO_TEXT || report["origin"] != origin || report["wasm"] != true {
        return Err(format!("unexpected report (want the echo, origin {origin}, wasm): {report}"));
    }
    if report["data"]["from"] != "nested/data.json" {
        return Err(format!("nested/data.json was not read: {report}"));
    }
    Ok(report)
}

/// A first visit straight to `url` in a fresh profile: Chromium's certificate interstitial,
/// "Advanced", "Proceed" — the same steps as on the trust page, on whatever https URL comes first.
pub async fn proceed_at(c: &Client, url: &str) -> Result<(), String> {
    if let Err(e) = c.goto(url).await {
        // Some chromedriver versions report the interstitial's net error; the page is still there.
        eprintln!("goto reported: {e}");
    }
    let details = poll(Duration::from_secs(20), || async { c.find(Locator::Css("#details-button")).await.ok() })
        .await
        .ok_or_else(|| format!("no certificate interstitial at {url}: was the certificate trusted without asking?"))?;
    details.click().await.map_err(|e| format!("Advanced: {e}"))?;
    let proceed = poll(Duration::from_secs(10), || async { c.find(Locator::Css("#proceed-link")).await.ok() })
        .await
        .ok_or("no #proceed-link after clicking Advanced")?;
    proceed.click().await.map_err(|e| format!("Proceed: {e}"))
}
