//! The headless binary `cxr-gate-proxy` as a child process for black-box tests: started on a free
//! loopback port with its own data dir, waited for until it listens, killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Result};
use tokio::net::TcpStream;

use crate::{client_tls, free_port};

/// The binary under test: the one `CXR_GATE_PROXY_BIN` names (CI runs the engine's black-box tests
/// again against `cxr-gate-proxy` built alone, with its released features, since `cargo test
/// --workspace` unifies the test crates' features into it), else where cargo put it for the
/// running test's profile: beside `deps/`, where the test is.
pub fn proxy_binary() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("CXR_GATE_PROXY_BIN").filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        ensure!(p.is_file(), "CXR_GATE_PROXY_BIN names {}, which is not a file", p.display());
        return Ok(p);
    }
    let name = format!("cxr-gate-proxy{}", std::env::consts::EXE_SUFFIX);
    let exe = std::env::current_exe()?;
    let profile_dir = exe.parent().and_then(Path::parent).ok_or_else(|| anyhow::anyhow!("{}", exe.display()))?;
    let p = profile_dir.join(name);
    ensure!(p.is_file(), "{} not found: run `cargo build -p cxr-gate-core` first", p.display());
    Ok(p)
}

/// A running `cxr-gate-proxy`.
pub struct ProxyProcess {
    pub child: Child,
    pub port: u16,
    pub tls: Arc<rustls::ClientConfig>,
    pub dir: tempfile::TempDir,
}

impl ProxyProcess {
    /// Starts the binary on `127.0.0.1:<free port>` for `backend` with `args` added, and waits until
    /// it listens. Its output is kept in the data dir (see [`ProxyProcess::stderr`], [`ProxyProcess::stdout`]).
    pub async fn start(backend: std::net::SocketAddr, args: &[&str]) -> Result<ProxyProcess> {
        Self::start_trusting(backend, args, None).await
    }

    /// As [`ProxyProcess::start`]; the client trusts the certificates in `trust` (a custom
    /// certificate given in `args`) instead of the generated `cert.pem`.
    pub async fn start_trusting(
        backend: std::net::SocketAddr,
        args: &[&str],
        trust: Option<&Path>,
    ) -> Result<ProxyProcess> {
        let dir = tempfile::tempdir()?;
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("stderr.log"))?;
        let out = std::fs::File::create(dir.path().join("stdout.log"))?;
        let child = Command::new(proxy_binary()?)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--backend")
            .arg(backend.to_string())
            .arg("--data-dir")
            .arg(dir.path())
            .args(args)
            .env("RUST_LOG", "info")
            .env_remove("ALLOWED_BACKENDS")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(log)
            .spawn()?;
        let mut child = child;
        let cert = trust.map(Path::to_path_buf).unwrap_or_else(|| dir.path().join("cert.pem"));
        match wait_listening(&mut child, port, &cert).await {
            Ok(tls) => Ok(ProxyProcess { child, port, tls, dir }),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap_or_default();
                Err(e.context(log))
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the proxy logged so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// What the proxy printed (its banner).
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stdout.log")).unwrap_or_default()
    }
}

/// Waits (up to 30 s) until the proxy listens and its certificate is on disk; a client trusting it.
async fn wait_listening(child: &mut Child, port: u16, cert: &Path) -> Result<Arc<rustls::ClientConfig>> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("cxr-gate-proxy exited with {status}");
        }
        if cert.is_file() && TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
            return client_tls(cert);
        }
        ensure!(Instant::now() < deadline, "cxr-gate-proxy did not start listening within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Drop for ProxyProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
