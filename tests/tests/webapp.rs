//! `/app/` through the headless binary, as a LAN client meets it on the wire (docs/SECURITY.md names
//! these tests): files with their types and validators, HEAD, 304s and redirects; every traversal
//! form (`..`, `%2e%2e`, `%2f`, backslashes, absolute and drive paths, NUL, symlinks out of the
//! root, listing attempts) answered 400 or 404 without a byte of the sentinel file beside the root;
//! a missing web root at start (exit 2) and one deleted while running (503, the status and the log
//! say why, then back); the status following settings applied while running.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Result};
use cxr_gate_core::demo::EchoServer;
use cxr_gate_tests::proxy::{proxy_binary, ProxyProcess};
use cxr_gate_tests::webapp::EMPTY_WASM;
use cxr_gate_tests::*;

/// An answer: status, head (status line and headers), body.
struct Answer {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        header(&self.head, name)
    }

    fn all(&self) -> String {
        format!("{}\r\n\r\n{}", self.head, String::from_utf8_lossy(&self.body))
    }
}

/// One request (`Connection: close`) with the target sent exactly as given.
async fn ask(tls: &Arc<rustls::ClientConfig>, port: u16, method: &str, target: &str, extra: &[(&str, &str)]) -> Answer {
    let mut req = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    for (k, v) in extra {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let raw = https_raw_bytes(tls, port, req.as_bytes()).await.unwrap_or_default();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let body = raw.get(split + 4..).unwrap_or_default().to_vec();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Answer { status, head, body }
}

async fn https_raw_bytes(tls: &Arc<rustls::ClientConfig>, port: u16, request: &[u8]) -> Result<Vec<u8>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tls_connect(tls, port).await?;
    s.write_all(request).await?;
    s.flush().await?;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut out)).await;
    Ok(out)
}

/// base/{secret.txt (the sentinel), root/…}: the web root and what lies beside it.
struct Site {
    _dir: tempfile::TempDir,
    root: PathBuf,
    sentinel: String,
    /// The links (symlinks; junctions on Windows) were made, or why not.
    links: Result<(), String>,
}

fn site() -> Result<Site> {
    let dir = tempfile::tempdir()?;
    let base = dir.path();
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos();
    let sentinel = format!("SENTINEL-{}-{nanos}-OUTSIDE-THE-ROOT", std::process::id());
    std::fs::write(base.join("secret.txt"), &sentinel)?;
    let root = base.join("root");
    for d in ["nested/deep", "empty"] {
        std::fs::create_dir_all(root.join(d))?;
    }
    std::fs::write(root.join("index.html"), "<!doctype html><title>app</title><h1>the app</h1>")?;
    std::fs::write(root.join("bundle.js"), "console.log('app');")?;
    std::fs::write(root.join("mod.mjs"), "export const x = 1;")?;
    std::fs::write(root.join("client.wasm"), EMPTY_WASM)?;
    // Bigger than any buffer on the way: streamed in chunks, and every byte must arrive.
    let big: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(root.join("big.wasm"), big)?;
    std::fs::write(root.join("style.css"), "body{margin:0}")?;
    std::fs::write(root.join("data.json"), "{\"a\":1}")?;
    std::fs::write(root.join("nested/index.html"), "<h1>nested</h1>")?;
    std::fs::write(root.join("nested/deep/page.html"), "<h1>deep page</h1>")?;
    // Inside the root, but hidden: a development folder's secrets are not served either.
    std::fs::write(root.join(".env"), format!("TOKEN={sentinel}"))?;
    // Named like the gate's private key: never served, whatever folder it is in.
    std::fs::write(root.join("nested/key.pem"), &sentinel)?;
    // A dot-folder that a link inside the root (or an 8.3 name such as GIT~1) could reach.
    std::fs::create_dir_all(root.join(".git"))?;
    std::fs::write(root.join(".git/config"), &sentinel)?;
    let links = make_links(base, &root);
    // Only Windows (wine, or no Developer Mode) may lack links: elsewhere a failure fails the test.
    if cfg!(unix) {
        links.clone().map_err(anyhow::Error::msg)?;
    }
    Ok(Site { _dir: dir, root, sentinel, links })
}

/// Links inside the root: to the sentinel, to the folder holding it, to the system's folder, to
/// `.git`, and one that stays inside.
#[cfg(unix)]
fn make_links(base: &Path, root: &Path) -> Result<(), String> {
    use std::os::unix::fs::symlink;
    let made = (|| {
        symlink(base.join("secret.txt"), root.join("leak.txt"))?;
        symlink(base, root.join("up"))?;
        symlink("/etc", root.join("etc"))?;
        symlink(root.join(".git"), root.join("gitlink"))?;
        // Linux has no 8.3 short names: a link named like .git's (GIT~1) stands in for one, so
        // `/app/GIT~1/config` reaches .git/config on disk here too and the re-check must refuse it.
        symlink(root.join(".git"), root.join("GIT~1"))?;
        symlink(root.join("bundle.js"), root.join("alias.js"))
    })();
    made.map_err(|e: std::io::Error| format!("symlink: {e}"))
}

/// Folder links are junctions (no privilege needed); file links are symlinks, which need Developer
/// Mode or an administrator. Wine 8's `cmd` cannot make either: the unit tests in
/// core/src/proxy/webapp.rs check the same refusals as plain functions there.
#[cfg(windows)]
fn make_links(base: &Path, root: &Path) -> Result<(), String> {
    let junction = |link: &Path, target: &Path| -> Result<(), String> {
        let out = Command::new("cmd")
            .args(["/c", "mklink", "/J"])
            .arg(link)
            .arg(target)
            .output()
            .map_err(|e| format!("cmd /c mklink /J: {e}"))?;
        if out.status.success() && link.is_dir() {
            Ok(())
        } else {
            Err(format!("cmd /c mklink /J {} made no junction ({})", link.display(), out.status))
        }
    };
    junction(&root.join("up"), base)?;
    let windir = std::env::var_os("SystemRoot").map_or_else(|| PathBuf::from("C:\\Windows"), PathBuf::from);
    junction(&root.join("etc"), &windir)?;
    junction(&root.join("gitlink"), &root.join(".git"))?;
    let file = |target: PathBuf, link: &str| {
        std::os::windows::fs::symlink_file(target, root.join(link))
            .map_err(|e| format!("a file symlink needs Developer Mode or an administrator: {e}"))
    };
    file(base.join("secret.txt"), "leak.txt")?;
    file(root.join("bundle.js"), "alias.js")
}

async fn start(site: &Site, echo: &EchoServer) -> Result<ProxyProcess> {
    let root = site.root.display().to_string();
    ProxyProcess::start(echo.addr(), &["--web-root", &root]).await
}

#[tokio::test]
async fn web_root_files_are_served_with_their_types_validators_and_redirects() -> Result<()> {
    let s = site()?;
    let echo = EchoServer::start("127.0.0.1:0".parse()?).await?;
    let p = start(&s, &echo).await?;
    let get = |t: &'static str| ask(&p.tls, p.port, "GET", t, &[]);

    let a = get("/app/").await;
    assert_eq!(a.status, 200, "{}", a.all());
    assert_eq!(a.body, std::fs::read(s.root.join("index.html"))?);
    assert_eq!(a.header("content-type"), Some("text/html; charset=utf-8"));
    assert_eq!(a.header("cache-control"), Some("no-cache"));
    assert_eq!(a.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(a.header("access-control-allow-origin"), Some("*"), "CORS on every answer");
    assert!(a.header("etag").is_some_and(|e| e.starts_with('"')), "{}", a.head);
    assert!(a.header("last-modified").is_some_and(|d| d.ends_with(" GMT")), "{}", a.head);

    for (target, file, ctype) in [
        ("/app/index.html", "index.html", "text/html; charset=utf-8"),
        ("/app/bundle.js", "bundle.js", "text/javascript; charset=utf-8"),
        ("/app/mod.mjs", "mod.mjs", "text/javascript; charset=utf-8"),
        ("/app/client.wasm", "client.wasm", "application/wasm"),
        ("/app/big.wasm", "big.wasm", "application/wasm"),
        ("/app/style.css", "style.css", "text/css; charset=utf-8"),
        ("/app/data.json", "data.json", "application/json"),
        ("/app/nested/", "nested/index.html", "text/html; charset=utf-8"),
        ("/app/nested/deep/page.html", "nested/deep/page.html", "text/html; charset=utf-8"),
        ("/app/alias.js", "bundle.js", "text/javascript; charset=utf-8"),
        ("/app/index.html?v=2", "index.html", "text/html; charset=utf-8"),
    ] {
        if target == "/app/alias.js" && s.links.is_err() {
            continue;
        }
        let a = get(target).await;
        assert_eq!(a.status, 200, "{target}: {}", a.all());
        assert_eq!(a.header("content-type"), Some(ctype), "{target}");
        assert_eq!(a.body, std::fs::read(s.root.join(file))?, "{target}");
        assert_eq!(a.header("content-length"), Some(a.body.len().to_string().as_str()), "{target}");
    }

    // Redirects: /app → /app/ (query kept), a folder without its slash → with it.
    for (target, to) in
        [("/app", "/app/"), ("/app?serverIP=1.2.3.4", "/app/?serverIP=1.2.3.4"), ("/app/nested", "/app/nested/")]
    {
        let a = get(target).await;
        assert_eq!(a.status, 301, "{target}: {}", a.all());
        assert_eq!(a.header("location"), Some(to), "{target}");
    }

    // HEAD: the GET's headers, no body.
    let wasm = ask(&p.tls, p.port, "HEAD", "/app/client.wasm", &[]).await;
    assert_eq!(wasm.status, 200, "{}", wasm.all());
    assert_eq!(wasm.header("content-type"), Some("application/wasm"));
    assert_eq!(wasm.header("content-length"), Some(EMPTY_WASM.len().to_string().as_str()));
    assert!(wasm.body.is_empty(), "HEAD got a body: {:?}", wasm.body);

    // Revalidation: the ETag or the date gets a 304 without a body; a stale tag the file.
    let first = get("/app/bundle.js").await;
    let tag = first.header("etag").ok_or_else(|| anyhow!("no ETag"))?.to_string();
    let date = first.header("last-modified").ok_or_else(|| anyhow!("no Last-Modified"))?.to_string();
    for (k, v) in [("If-None-Match", tag.as_str()), ("If-Modified-Since", date.as_str())] {
        let a = ask(&p.tls, p.port, "GET", "/app/bundle.js", &[(k, v)]).await;
        assert_eq!(a.status, 304, "{k}: {}", a.all());
        assert!(a.body.is_empty());
        assert_eq!(a.header("etag"), Some(tag.as_str()));
    }
    let a = ask(&p.tls, p.port, "GET", "/app/bundle.js", &[("If-None-Match", "\"stale\"")]).await;
    assert_eq!((a.status, a.body.as_slice()), (200, &b"console.log('app');"[..]));
    // A rebuilt file gets a new tag, so the old one no longer matches.
    std::fs::write(s.root.join("bundle.js"), "console.log('rebuilt, longer');")?;
    let a = ask(&p.tls, p.port, "GET", "/app/bundle.js", &[("If-None-Match", tag.as_str())]).await;
    assert_eq!(a.status, 200, "{}", a.all());
    assert_eq!(a.body, b"console.log('rebuilt, longer');");

    let a = ask(&p.tls, p.port, "POST", "/app/index.html", &[("Content-Length", "0")]).await;
    assert_eq!(a.status, 405, "{}", a.all());

    // The trust page links to the web app with the address this client used.
    let a = get("/").await;
    let link = format!(r#"id="open-app" href="/app/?serverIP=127.0.0.1&amp;port={}""#, p.port);
    assert!(String::from_utf8_lossy(&a.body).contains(&link), "no {link} in the trust page");
    Ok(())
}

#[tokio::test]
async fn nothing_outside_the_web_root_is_ever_served() -> Result<()> {
    let s = site()?;
    let echo = EchoServer::start("127.0.0.1:0".parse()?).await?;
    let p = start(&s, &echo).await?;
    let absolute = format!("https://127.0.0.1:{}/app/../secret.txt", p.port);
    // Forms that try to name something outside the root are refused as such (400) before any file
    // system call; names that are fine as paths but lead nowhere allowed are 404.
    let attempts: Vec<(&str, u16)> = vec![
        ("/app/../secret.txt", 400),
        ("/app/nested/../../secret.txt", 400),
        ("/app/..%2fsecret.txt", 400),
        ("/app/..%2Fsecret.txt", 400),
        ("/app/%2e%2e/secret.txt", 400),
        ("/app/%2E%2E/secret.txt", 400),
        ("/app/%2E%2E%2Fsecret.txt", 400),
        ("/app/%2e%2e%2f%2e%2e%2fsecret.txt", 400),
        ("/app/nested/%2e%2e%2f%2e%2e%2fsecret.txt", 400),
        ("/app/%c0%ae%c0%ae/secret.txt", 400),
        ("/app/..\\secret.txt", 400),
        ("/app/nested\\..\\..\\secret.txt", 400),
        ("/app/..%5csecret.txt", 400),
        ("/app/..%5Csecret.txt", 400),
        ("/app//etc/passwd", 400),
        ("/app/%2fetc%2fpasswd", 400),
        ("/app/C:/Windows/win.ini", 400),
        ("/app/C:%5cWindows%5cwin.ini", 400),
        ("/app/c%3a/Windows/win.ini", 400),
        ("/app/index.html%00", 400),
        ("/app/%00../secret.txt", 400),
        (&absolute, 400),
        // Decoded once: the literal name `%2e%2e`, which does not exist.
        ("/app/%252e%252e/secret.txt", 404),
        // Hidden files inside the root, and .git by its 8.3 short name: on Windows where the volume
        // makes short names (with none, as under wine, nothing is at that path and only the unit
        // test `names_found_on_disk_are_checked_again_below_the_root` checks it); on Linux through
        // the link named GIT~1 that `make_links` puts there.
        ("/app/.env", 404),
        ("/app/%2eenv", 404),
        ("/app/.git/config", 404),
        ("/app/GIT~1/config", 404),
        // The gate's own file names.
        ("/app/nested/key.pem", 404),
        // Windows devices and streams.
        ("/app/CONIN$", 400),
        ("/app/COM%C2%B9", 400),
        ("/app/index.html::$DATA", 400),
        // Folders without index.html: never a listing.
        ("/app/empty/", 404),
        ("/app/empty", 404),
        ("/app/nested/deep/", 404),
        ("/app/nested/deep", 404),
        // A listing's sort query is just a query: index.html.
        ("/app/?C=M;O=A", 200),
    ];
    // Links out of the root (to the sentinel, to the folder holding it, to the system's folder),
    // and inside it to .git.
    let links: Vec<(&str, u16)> = vec![
        ("/app/leak.txt", 404),
        ("/app/up/secret.txt", 404),
        ("/app/up/", 404),
        ("/app/up", 404),
        ("/app/etc/passwd", 404),
        ("/app/etc/", 404),
        ("/app/gitlink/config", 404),
    ];
    let attempts = match &s.links {
        Ok(()) => attempts.into_iter().chain(links).collect(),
        Err(why) => {
            eprintln!("SKIPPED the link cases (they are unit-tested in core/src/proxy/webapp.rs): {why}");
            attempts
        }
    };
    for (target, want) in attempts {
        let a = ask(&p.tls, p.port, "GET", target, &[]).await;
        let all = a.all();
        assert!(!all.contains(&s.sentinel), "{target} leaked the sentinel: {all}");
        assert!(!all.contains("root:x:0:0"), "{target} leaked /etc/passwd: {all}");
        // A listing would name the files.
        assert!(!all.contains("page.html"), "{target} listed a folder: {all}");
        assert_eq!(a.status, want, "{target}: {all}");
        let head = ask(&p.tls, p.port, "HEAD", target, &[]).await;
        assert_eq!(head.status, want, "HEAD {target}: {}", head.all());
        assert!(!head.all().contains(&s.sentinel));
    }
    // And the gate still serves.
    assert_eq!(ask(&p.tls, p.port, "GET", "/app/", &[]).await.status, 200);
    assert!(!p.stderr().contains("panicked"), "{}", p.stderr());
    Ok(())
}

fn run_proxy(args: &[&str], env: &[(&str, &str)]) -> Result<(Option<i32>, String)> {
    let data = tempfile::tempdir()?;
    let mut cmd = Command::new(proxy_binary()?);
    cmd.arg("--listen").arg(format!("127.0.0.1:{}", free_port())).arg("--data-dir").arg(data.path()).args(args);
    cmd.env_remove("WEB_ROOT").env_remove("APP_QUERY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output()?;
    Ok((out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned()))
}

#[test]
fn a_missing_web_root_stops_the_headless_binary_with_exit_2() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("no-such-folder");
    let m = missing.display().to_string();
    let (code, err) = run_proxy(&["--web-root", &m], &[])?;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&format!("invalid --web-root {m:?}: the folder does not exist")), "{err}");
    assert!(err.contains("index.html"), "says what to give: {err}");

    let (code, err) = run_proxy(&[], &[("WEB_ROOT", &m)])?;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("invalid WEB_ROOT"), "{err}");

    let no_index = dir.path().display().to_string();
    let (code, err) = run_proxy(&["--web-root", &no_index], &[])?;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("has no index.html"), "{err}");

    let (code, err) = run_proxy(&["--app-query", "?ip={host}"], &[])?;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("invalid --app-query \"?ip={host}\": {host} is not a placeholder"), "{err}");
    Ok(())
}

#[test]
fn a_web_root_holding_the_data_dir_stops_the_headless_binary_with_exit_2_naming_both() -> Result<()> {
    let s = site()?;
    let root = s.root.display().to_string();
    let real_root = std::fs::canonicalize(&s.root)?.display().to_string();
    let run = |web_root: &str, data_dir: &Path| -> Result<(Option<i32>, String)> {
        let err = tempfile::NamedTempFile::new()?;
        let mut child = Command::new(proxy_binary()?)
            .arg("--listen")
            .arg(format!("127.0.0.1:{}", free_port()))
            .arg("--web-root")
            .arg(web_root)
            .arg("--data-dir")
            .arg(data_dir)
            .env_remove("WEB_ROOT")
            .env_remove("DATA_DIR")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(err.reopen()?)
            .spawn()?;
        // A gate that starts anyway would serve forever: stop it (a watchdog, not a timing check).
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let code = loop {
            if let Some(status) = child.try_wait()? {
                break status.code();
            }
            if std::time::Instant::now() > deadline {
                child.kill()?;
                child.wait()?;
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        Ok((code, std::fs::read_to_string(err.path())?))
    };
    // A data dir not created yet, below the web root (`--web-root .` in a home folder).
    let data = s.root.join("gate-data");
    let (code, err) = run(&root, &data)?;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains(&format!("invalid --web-root {root:?}: this folder contains the data dir")), "{err}");
    assert!(
        err.contains(&format!("{}", Path::new(&real_root).join("gate-data").display())),
        "names the data dir: {err}"
    );
    assert!(err.contains("choose"), "says what to do: {err}");
    assert!(!data.exists(), "nothing was written before refusing");
    // A web root inside the data dir.
    let base = s.root.parent().ok_or_else(|| anyhow!("no parent"))?;
    let (code, err) = run(&root, base)?;
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("lies inside the data dir"), "{err}");
    assert!(err.contains(&std::fs::canonicalize(base)?.display().to_string()), "{err}");
    Ok(())
}

fn rename(from: &Path, to: &Path) -> Result<()> {
    std::fs::rename(from, to).map_err(|e| anyhow!("{} → {}: {e}", from.display(), to.display()))
}

#[tokio::test]
async fn a_web_root_removed_while_running_gets_a_503_that_says_why_then_recovers() -> Result<()> {
    let s = site()?;
    let echo = EchoServer::start("127.0.0.1:0".parse()?).await?;
    let p = start(&s, &echo).await?;
    assert_eq!(ask(&p.tls, p.port, "GET", "/app/", &[]).await.status, 200);

    let moved = s.root.with_file_name("moved");
    rename(&s.root, &moved)?;
    let a = ask(&p.tls, p.port, "GET", "/app/bundle.js", &[]).await;
    assert_eq!(a.status, 503, "{}", a.all());
    let body = String::from_utf8_lossy(&a.body);
    assert!(body.contains("does not exist") && body.contains("--web-root"), "{body}");
    // The log says why, once.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while !p.stderr().contains("/app/ cannot be served") && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(p.stderr().contains("/app/ cannot be served"), "{}", p.stderr());

    rename(&moved, &s.root)?;
    assert_eq!(ask(&p.tls, p.port, "GET", "/app/bundle.js", &[]).await.status, 200);
    Ok(())
}

#[tokio::test]
async fn without_a_web_root_app_is_a_404_that_says_how_to_set_one() -> Result<()> {
    let echo = EchoServer::start("127.0.0.1:0".parse()?).await?;
    let p = ProxyProcess::start(echo.addr(), &[]).await?;
    let a = ask(&p.tls, p.port, "GET", "/app/", &[]).await;
    assert_eq!(a.status, 404, "{}", a.all());
    assert!(String::from_utf8_lossy(&a.body).contains("--web-root"), "{}", a.all());
    let trust = ask(&p.tls, p.port, "GET", "/", &[]).await;
    assert!(!String::from_utf8_lossy(&trust.body).contains("open-app"), "no link without a web app");
    Ok(())
}

#[tokio::test]
async fn the_status_says_why_the_web_app_cannot_be_served_and_follows_settings() -> Result<()> {
    let s = site()?;
    let echo = EchoServer::start("127.0.0.1:0".parse()?).await?;
    let root = s.root.clone();
    let h = Harness::start(echo.addr(), |c| c.web_root = Some(root)).await?;
    let st = h.gw.status().borrow().web_app.clone();
    assert_eq!(st.root.as_deref(), Some(s.root.display().to_string().as_str()));
    assert_eq!((st.query.as_str(), st.error), ("?serverIP={ip}&port={port}", None));

    let moved = s.root.with_file_name("moved");
    rename(&s.root, &moved)?;
    assert_eq!(ask(&h.tls, h.port, "GET", "/app/", &[]).await.status, 503);
    let mut rx = h.gw.status();
    let st = wait_for(&mut rx, Duration::from_secs(5), "web app error", |s| s.web_app.error.is_some()).await?;
    assert!(st.web_app.error.as_deref().is_some_and(|e| e.contains("does not exist")), "{:?}", st.web_app);
    assert!(
        st.log
            .iter()
            .any(|l| l.level == cxr_gate_core::status::LogLevel::Warn && l.msg.contains("/app/ cannot be served")),
        "{:?}",
        st.log
    );
    rename(&moved, &s.root)?;
    assert_eq!(ask(&h.tls, h.port, "GET", "/app/", &[]).await.status, 200);
    wait_for(&mut rx, Duration::from_secs(5), "web app error cleared", |s| s.web_app.error.is_none()).await?;

    // Settings applied while running: another template, then no web app at all.
    let mut cfg = h.gw.config();
    cfg.app_query = "?server={wss}".into();
    h.gw.apply_config(cfg.clone()).await?;
    assert_eq!(h.gw.status().borrow().web_app.query, "?server={wss}");
    let trust = ask(&h.tls, h.port, "GET", "/", &[]).await;
    let link = format!("href=\"/app/?server=wss%3A%2F%2F127.0.0.1%3A{}\"", h.port);
    assert!(String::from_utf8_lossy(&trust.body).contains(&link), "no {link}");
    cfg.web_root = None;
    h.gw.apply_config(cfg).await?;
    assert_eq!(h.gw.status().borrow().web_app.root, None);
    assert_eq!(ask(&h.tls, h.port, "GET", "/app/", &[]).await.status, 404);
    Ok(())
}
