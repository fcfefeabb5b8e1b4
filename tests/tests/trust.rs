//! Trust that lasts, through the headless binary: the local CA it serves (`/ca.crt`, `/ca.pem`, the
//! banner), the chain it presents checked by OpenSSL against that CA (and refused by another one),
//! and `--rotate-ca` replacing the CA under a running gate, which follows.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use cxr_gate_core::demo::EchoServer;
use cxr_gate_tests::proxy::{proxy_binary, ProxyProcess};
use cxr_gate_tests::*;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use sha2_fingerprint::fingerprint;

mod sha2_fingerprint {
    /// SHA-256 as upper-case hex pairs joined by ':', as CXR Gate prints it (computed by openssl here,
    /// so the test does not reuse the code it checks).
    pub fn fingerprint(der: &[u8], dir: &std::path::Path) -> anyhow::Result<String> {
        let path = dir.join("fp.der");
        std::fs::write(&path, der)?;
        let out = std::process::Command::new("openssl")
            .args(["x509", "-inform", "DER", "-noout", "-fingerprint", "-sha256", "-in"])
            .arg(&path)
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let fp = text.trim().rsplit('=').next().unwrap_or("").to_string();
        anyhow::ensure!(fp.len() == 95, "openssl printed {text:?}");
        Ok(fp)
    }
}

/// The chain the gate presents in a real handshake (leaf first), to a client trusting its CA.
async fn served_chain(p: &ProxyProcess) -> Result<Vec<Vec<u8>>> {
    served_chain_with(&p.tls, p.port).await
}

async fn served_chain_with(tls: &std::sync::Arc<rustls::ClientConfig>, port: u16) -> Result<Vec<Vec<u8>>> {
    let s = tls_connect(tls, port).await?;
    let certs = s.get_ref().1.peer_certificates().context("no certificates")?;
    Ok(certs.iter().map(|c| c.to_vec()).collect())
}

/// `openssl verify` of the leaf against `ca_pem` alone, for the IP 127.0.0.1 as a TLS server.
fn openssl_verify(dir: &Path, ca_pem: &str, leaf_der: &[u8], name: &str) -> Result<(bool, String)> {
    let ca = dir.join(format!("{name}-ca.pem"));
    let der = dir.join(format!("{name}-leaf.der"));
    let leaf = dir.join(format!("{name}-leaf.pem"));
    std::fs::write(&ca, ca_pem)?;
    std::fs::write(&der, leaf_der)?;
    let conv =
        Command::new("openssl").args(["x509", "-inform", "DER", "-in"]).arg(&der).arg("-out").arg(&leaf).output()?;
    ensure!(conv.status.success(), "openssl x509: {}", String::from_utf8_lossy(&conv.stderr));
    let out = Command::new("openssl")
        .args(["verify", "-x509_strict", "-purpose", "sslserver", "-verify_ip", "127.0.0.1", "-CAfile"])
        .arg(&ca)
        .arg(&leaf)
        .output()
        .context("running openssl (Debian package openssl)")?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    Ok((out.status.success() && text.contains(": OK"), text))
}

async fn get_body(p: &ProxyProcess, path: &str) -> Result<(String, Vec<u8>)> {
    https_get(&p.tls, p.port, path).await
}

#[tokio::test]
async fn the_served_chain_verifies_against_the_served_ca_with_openssl() -> Result<()> {
    let echo = EchoServer::start("127.0.0.1:0".parse()?).await?;
    let p = ProxyProcess::start(echo.addr(), &[]).await?;
    let work = tempfile::tempdir()?;

    let (head, ca_der) = get_body(&p, "/ca.crt").await?;
    ensure!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(header(&head, "content-type"), Some("application/x-x509-ca-cert"));
    assert!(header(&head, "content-disposition").is_some_and(|d| d.contains("cxr-gate-ca.crt")), "{head}");
    let (head, ca_pem) = get_body(&p, "/ca.pem").await?;
    ensure!(head.starts_with("HTTP/1.1 200"), "{head}");
    let ca_pem = String::from_utf8(ca_pem)?;
    assert_eq!(CertificateDer::from_pem_slice(ca_pem.as_bytes())?.as_ref(), ca_der.as_slice());
    assert_eq!(std::fs::read_to_string(p.dir.path().join("ca.pem"))?, ca_pem, "what is served is what is saved");

    // The handshake presents the leaf and then the CA.
    let chain = served_chain(&p).await?;
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[1], ca_der);
    let (ok, out) = openssl_verify(work.path(), &ca_pem, &chain[0], "own")?;
    assert!(ok, "openssl verify against the served CA: {out}");

    // Against another gate's CA it fails: the check can fail.
    let other = ProxyProcess::start(echo.addr(), &[]).await?;
    let (_, other_ca) = get_body(&other, "/ca.pem").await?;
    let (ok, out) = openssl_verify(work.path(), &String::from_utf8(other_ca)?, &chain[0], "other")?;
    assert!(!ok, "verified against a CA that did not issue it: {out}");

    // The banner names the CA by the fingerprint the CA really has, and where to get it.
    let banner = p.stdout();
    let fp = fingerprint(&ca_der, work.path())?;
    assert!(banner.contains("local CA: CXR Gate CA"), "{banner}");
    assert!(banner.contains(&format!("SHA-256 {fp}")), "{fp} in {banner}");
    assert!(banner.contains(&format!("https://127.0.0.1:{}/ca.crt", p.port)), "{banner}");
    // The trust page offers it with the same fingerprint.
    let (_, page) = get_body(&p, "/").await?;
    let page = String::from_utf8(page)?;
    assert!(page.contains(&format!(r#"<code id="ca-fingerprint">{fp}</code>"#)), "{page}");
    Ok(())
}

#[tokio::test]
async fn rotate_ca_replaces_the_ca_and_a_running_gate_follows() -> Result<()> {
    let echo = EchoServer::start("127.0.0.1:0".parse()?).await?;
    let p = ProxyProcess::start(echo.addr(), &[]).await?;
    let (_, old_ca) = get_body(&p, "/ca.crt").await?;
    let old_leaf = served_chain(&p).await?.remove(0);
    // The desktop app's settings in the same data dir name a public host: the new CA takes it in.
    std::fs::write(p.dir.path().join("settings.json"), r#"{"cert_hostnames": ["vr.studio.example"]}"#)?;

    let out = Command::new(proxy_binary()?)
        .arg("--rotate-ca")
        .arg("--data-dir")
        .arg(p.dir.path())
        .arg("--listen")
        .arg(format!("127.0.0.1:{}", p.port))
        .env_remove("ALLOWED_BACKENDS")
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(out.status.success(), "--rotate-ca failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    let new_ca_pem = std::fs::read_to_string(p.dir.path().join("ca.pem"))?;
    let new_ca = CertificateDer::from_pem_slice(new_ca_pem.as_bytes())?.to_vec();
    assert_ne!(new_ca, old_ca);
    let work = tempfile::tempdir()?;
    assert!(stdout.contains(&format!("SHA-256 {}", fingerprint(&new_ca, work.path())?)), "{stdout}");
    assert!(stdout.contains("certificate names from ") && stdout.contains("vr.studio.example"), "{stdout}");
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-ext", "nameConstraints", "-in"])
        .arg(p.dir.path().join("ca.pem"))
        .output()?;
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("DNS:vr.studio.example"), "{text}");

    // The running gate serves from the new CA within one LAN scan (10 s), without a restart: a
    // client that trusts only the new CA gets through.
    let new_client = client_tls(&p.dir.path().join("ca.pem"))?;
    let deadline = Instant::now() + Duration::from_secs(25);
    loop {
        let chain = served_chain_with(&new_client, p.port).await.unwrap_or_default();
        if chain.get(1) == Some(&new_ca) {
            assert_ne!(chain[0], old_leaf);
            let (ok, text) = openssl_verify(work.path(), &new_ca_pem, &chain[0], "rotated")?;
            assert!(ok, "{text}");
            let (_, served_ca) = https_get(&new_client, p.port, "/ca.crt").await?;
            assert_eq!(served_ca, new_ca);
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("still serving from the old CA after 25 s: {}", p.stderr());
        }
        // Meanwhile, a client trusting the old CA still gets in.
        assert!(served_chain(&p).await.is_ok() || chain.get(1) == Some(&new_ca));
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn a_custom_certificate_shows_no_ca() -> Result<()> {
    let echo = EchoServer::start("127.0.0.1:0".parse()?).await?;
    // A gate's own generated pair serves as "your own certificate" for another gate.
    let donor = ProxyProcess::start(echo.addr(), &[]).await?;
    let cert = donor.dir.path().join("cert.pem");
    let key = donor.dir.path().join("key.pem");
    let (cert_arg, key_arg) = (cert.display().to_string(), key.display().to_string());
    let p = ProxyProcess::start_trusting(echo.addr(), &["--cert", &cert_arg, "--key", &key_arg], Some(&cert)).await?;
    let (head, body) = get_body(&p, "/ca.crt").await?;
    assert!(head.starts_with("HTTP/1.1 404"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("no local CA"), "{}", String::from_utf8_lossy(&body));
    let (_, page) = get_body(&p, "/").await?;
    assert!(!String::from_utf8_lossy(&page).contains("install-once"));
    assert!(!p.dir.path().join("ca.pem").exists(), "no CA made for a custom certificate");
    assert!(!p.stdout().contains("local CA"), "{}", p.stdout());
    Ok(())
}
