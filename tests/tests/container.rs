//! The container image from the outside, against the containers that `scripts/container-test.sh`
//! starts with podman (`--network host`, listening on 127.0.0.1; the `echo-server` bin as the
//! runtime, also on loopback). Ignored in a plain `cargo test`; that script runs them with
//! `--ignored` and says where the containers are through environment variables:
//!
//! - `CXR_GATE_CONTAINER_PORT`, `CXR_GATE_CONTAINER_CERT` (the `cert.pem` the container generated
//!   into its `/data` volume), `CXR_GATE_CONTAINER_BACKEND` (the echo server's `127.0.0.1:port`):
//!   the image with its generated certificate. The last session stays open until the script runs
//!   `podman stop`, so the shutdown of PID 1 is seen from a client too.
//! - `CXR_GATE_CONTAINER_CUSTOM_PORT`, `CXR_GATE_CONTAINER_CUSTOM_CERT`: the image serving a
//!   certificate mounted read-only like a Kubernetes TLS Secret (`tls.crt`, `tls.key`), with the
//!   default `BACKEND_HOST` (`localhost`, resolved inside the scratch image).
//!
//! Without those variables a test skips, except under CI (`CI` set, as `scripts/test.sh` does), where it fails.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use cxr_gate_tests::chromium::in_ci;
use cxr_gate_tests::{client_tls, echo_once, header, https_get, https_raw, wss_connect, Wss};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

/// Printed when the held session is open; the script then runs `podman stop`.
const READY_FOR_STOP: &str = "CONTAINER-TEST: session open, stop the container now";

/// The variables `names`, or None (skip) outside CI; a failure under CI=true.
fn container_env(names: &[&str]) -> Option<Vec<String>> {
    let values: Vec<Option<String>> = names.iter().map(|n| std::env::var(n).ok().filter(|v| !v.is_empty())).collect();
    if values.iter().all(Option::is_some) {
        return Some(values.into_iter().flatten().collect());
    }
    let missing: Vec<&str> = names.iter().zip(&values).filter(|(_, v)| v.is_none()).map(|(n, _)| *n).collect();
    if in_ci() {
        panic!("CI=true but {} not set: run scripts/container-test.sh, which starts the container", missing.join(", "));
    }
    eprintln!("skipped: no container ({} not set; scripts/container-test.sh sets them)", missing.join(", "));
    None
}

fn port(s: &str) -> Result<u16> {
    s.parse().with_context(|| format!("not a port: {s:?}"))
}

/// `/health` over TLS, trusting only `cert`: state, backend, CORS.
async fn health(tls: &std::sync::Arc<rustls::ClientConfig>, port: u16) -> Result<Value> {
    let (head, body) = https_get(tls, port, "/health").await?;
    ensure!(head.starts_with("HTTP/1.1 200"), "GET /health: {head}");
    ensure!(header(&head, "access-control-allow-origin") == Some("*"), "no CORS on /health: {head}");
    ensure!(header(&head, "access-control-allow-private-network") == Some("true"), "no PNA on /health: {head}");
    Ok(serde_json::from_slice(&body)?)
}

/// The client's close handshake, waiting for the runtime's answer, then the connection dropped:
/// the gate logs that session as ended by the client, not by the shutdown.
async fn close(mut ws: Wss) -> Result<()> {
    ws.close(None).await?;
    tokio::time::timeout(Duration::from_secs(10), async { while let Some(Ok(_)) = ws.next().await {} })
        .await
        .context("no answer to the close frame")?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the container that scripts/container-test.sh starts"]
async fn a_wss_session_passes_through_the_image_and_ends_at_podman_stop() -> Result<()> {
    let Some(v) = container_env(&["CXR_GATE_CONTAINER_PORT", "CXR_GATE_CONTAINER_CERT", "CXR_GATE_CONTAINER_BACKEND"])
    else {
        return Ok(());
    };
    let (port, cert, backend) = (port(&v[0])?, PathBuf::from(&v[1]), v[2].clone());
    // The certificate the container generated into its volume, checked for the name 127.0.0.1.
    let tls = client_tls(&cert)?;

    let h = health(&tls, port).await?;
    ensure!(h["state"] == "up" && h["backend"] == backend.as_str(), "runtime not UP behind the container: {h}");

    // A CORS preflight is answered by the gate itself.
    let pre = https_raw(
        &tls,
        port,
        format!(
            "OPTIONS /sign_in HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: https://app.example\r\n\
             Access-Control-Request-Method: GET\r\nAccess-Control-Request-Private-Network: true\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
        Duration::from_secs(5),
    )
    .await?;
    ensure!(pre.starts_with("HTTP/1.1 200"), "preflight: {pre}");
    ensure!(header(&pre, "access-control-allow-private-network") == Some("true"), "preflight without PNA: {pre}");

    // A session to the configured runtime, text and binary both ways, closed by the client.
    let (mut ws, resp) =
        wss_connect(&tls, port, "/sign_in?via=container", &[("origin", "https://app.example")]).await?;
    ensure!(resp.status() == 101, "upgrade answered {}", resp.status());
    ensure!(
        resp.headers().get("access-control-allow-origin").is_some_and(|v| v == "*"),
        "no CORS on the 101: {:?}",
        resp.headers()
    );
    echo_once(&mut ws, "through the container").await?;
    let blob: Vec<u8> = (0..=255u8).cycle().take(256 * 1024).collect();
    ws.send(Message::binary(blob.clone())).await?;
    match tokio::time::timeout(Duration::from_secs(10), ws.next()).await? {
        Some(Ok(Message::Binary(b))) if b[..] == blob[..] => {}
        other => bail!("256 KiB binary echo: {other:?}"),
    }
    close(ws).await?;

    // /{ip}:{port}/ routing to the configured runtime (allowed whatever else the allowlist says).
    let (mut routed, resp) = wss_connect(&tls, port, &format!("/{backend}/routed"), &[]).await?;
    ensure!(resp.status() == 101, "routed upgrade answered {}", resp.status());
    echo_once(&mut routed, "routed through the container").await?;
    close(routed).await?;

    // The held session: open while the script stops the container.
    let (mut held, _) = wss_connect(&tls, port, "/held", &[]).await?;
    echo_once(&mut held, "held").await?;
    // The sessions closed above may still be winding down, so at least this one.
    let h = health(&tls, port).await?;
    ensure!(h["active_sessions"].as_u64().is_some_and(|n| n >= 1), "the held session is not counted: {h}");
    println!("{READY_FOR_STOP}");
    let ended = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            match held.next().await {
                None => return "the stream ended".to_string(),
                Some(Ok(Message::Close(c))) => return format!("a close frame {c:?}"),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return format!("the connection closed ({e})"),
            }
        }
    })
    .await
    .context("the held session did not end within 60 s of asking for podman stop")?;
    println!("CONTAINER-TEST: held session ended: {ended}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the container that scripts/container-test.sh starts"]
async fn the_image_serves_a_certificate_mounted_like_a_tls_secret() -> Result<()> {
    let Some(v) = container_env(&["CXR_GATE_CONTAINER_CUSTOM_PORT", "CXR_GATE_CONTAINER_CUSTOM_CERT"]) else {
        return Ok(());
    };
    let (port, cert) = (port(&v[0])?, PathBuf::from(&v[1]));
    // Trusting only tls.crt: a certificate generated inside the container would fail the handshake.
    let tls = client_tls(&cert)?;
    let h = health(&tls, port).await?;
    ensure!(h["state"] == "up", "runtime behind BACKEND_HOST=localhost not UP: {h}");
    ensure!(h["backend"].as_str().is_some_and(|b| b.starts_with("localhost:")), "default backend host: {h}");
    let (mut ws, resp) = wss_connect(&tls, port, "/sign_in", &[]).await?;
    ensure!(resp.status() == 101, "upgrade answered {}", resp.status());
    echo_once(&mut ws, "custom certificate").await?;
    close(ws).await?;
    Ok(())
}
