//! `/app/`: the user's built web client (`web_root`) served from the gateway's own origin, so one
//! certificate acceptance covers the page and its `wss://` socket. Owns the path sanitiser (decode
//! once; refuse NUL, backslashes, encoded slashes, dot segments, absolute and drive forms), the
//! confinement check (the canonical path must lie under the canonical root, so a symlink out is a
//! 404 and nothing outside the root is opened), the MIME table, streamed GET/HEAD answers with
//! `Cache-Control: no-cache` and ETag/Last-Modified revalidation, and the web app's status line.
//!
//! The root and the data dir are made canonical once per configuration ([`Roots`], kept in
//! `Shared` and made again at each LAN scan and after any miss); a request canonicalises only the
//! path it asks for, and what it finds must lie under that canonical root.

use std::fs::Metadata;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::StreamExt;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use tokio::io::AsyncReadExt;

use super::response::{empty, text, Body};
use super::route::percent_decode;
use super::{pages, Shared};
use crate::config::webapp::render_app_query;
use crate::config::{canonical_lenient, check_web_root, Setting, Via};
use crate::status_log;
use crate::tls::{CA_KEY_COPY_FILE, CA_KEY_FILE, KEY_FILE, STATE_FILE};

/// Whether the gateway's `/app` route answers `path` (`/appx` is not ours).
pub fn is_app_path(path: &str) -> bool {
    path == "/app" || path.starts_with("/app/")
}

/// The trust page's link to the web app, with the address the headset used; `None` without one.
pub fn link(shared: &Shared, host: &str, port: u16) -> Option<String> {
    let cfg = shared.config.load();
    cfg.web_root.as_ref().map(|_| format!("/app/{}", render_app_query(&cfg.app_query, host, port)))
}

/// A request path below `/app/` that passed the sanitiser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPath {
    /// Decoded segments, each a plain file or folder name.
    pub segments: Vec<String>,
    /// Ended in `/` (or was `/app/` itself): a folder is asked for.
    pub dir: bool,
}

/// Why a path is refused before the file system is touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub status: StatusCode,
    pub why: &'static str,
}

fn bad(why: &'static str) -> Refused {
    Refused { status: StatusCode::BAD_REQUEST, why }
}

/// Windows device names: opening `nul.js` there reaches a device, not a file. The superscript
/// forms (`COM¹`) and the console's `CONIN$`/`CONOUT$` are devices too.
const DEVICE_NAMES: [&str; 32] = [
    "con", "prn", "aux", "nul", "conin$", "conout$", "com0", "com1", "com2", "com3", "com4", "com5", "com6", "com7",
    "com8", "com9", "com¹", "com²", "com³", "lpt0", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8",
    "lpt9", "lpt¹", "lpt²", "lpt³",
];

/// The gate's own secret and state files, never served whatever the layout: the data dir's keys
/// and certificate state, and the desktop app's settings file (which may lie elsewhere).
const PRIVATE_NAMES: [&str; 6] =
    [KEY_FILE, CA_KEY_FILE, CA_KEY_COPY_FILE, STATE_FILE, "settings.json", "settings.json.bak"];

/// One name below the web root, as asked for or as found on disk: `Err` for a form that could
/// mean another file on Windows (a stream, a device, a name Windows trims); `Ok(hidden)` otherwise.
pub fn check_name(s: &str) -> Result<bool, Refused> {
    if s.is_empty() {
        return Err(bad("empty path segments (//) are not allowed"));
    }
    if s == "." || s == ".." {
        return Err(bad("'.' and '..' segments are not allowed"));
    }
    // `file::$DATA` and `file:stream` name an alternate data stream; `C:` a drive.
    if s.contains(':') {
        return Err(bad("drive letters, streams and ':' are not allowed in a path"));
    }
    // Windows drops trailing dots and spaces, so `.. ` would mean `..` there.
    if s.ends_with('.') || s.ends_with(' ') {
        return Err(bad("names ending in '.' or ' ' are not allowed"));
    }
    let stem = s.split('.').next().unwrap_or("").trim_end().to_lowercase();
    if DEVICE_NAMES.contains(&stem.as_str()) {
        return Err(bad("Windows device names (CON, NUL, COM1, CONIN$…) are not allowed"));
    }
    Ok(s.starts_with('.'))
}

/// Whether a canonical path's part below the canonical root may be served: every component is a
/// plain name, none hidden, none a Windows device or stream. Run again after canonicalising, so
/// an 8.3 short name (`GIT~1`), a junction or a link inside the root cannot reach `.git/`.
pub fn servable_below_root(rel: &Path) -> bool {
    rel.components().all(|c| match c {
        std::path::Component::Normal(name) => name.to_str().is_some_and(|n| check_name(n) == Ok(false)),
        _ => false,
    })
}

/// Whether `real` (canonical) is one of the gate's own files: inside the data dir (`data`,
/// canonical) or named like its keys, certificate state or settings.
pub fn is_private(real: &Path, data: &Path) -> bool {
    let named = real.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        let n = n.to_lowercase();
        PRIVATE_NAMES.contains(&n.as_str())
    });
    named || real.starts_with(data)
}

/// Checks the raw (still percent-encoded) path after `/app/`. Everything that could name a file
/// outside the root, or a different file on another OS, is a 400; hidden names are a 404.
pub fn sanitize(raw: &str) -> Result<AppPath, Refused> {
    if raw.contains('\\') {
        return Err(bad("backslashes are not allowed in a path"));
    }
    let lower = raw.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") {
        return Err(bad("encoded slashes (%2F, %5C) are not allowed in a path"));
    }
    let decoded = percent_decode(raw).ok_or(bad("a '%' must start a %XX escape"))?;
    if decoded.contains(&0) {
        return Err(bad("NUL is not allowed in a path"));
    }
    if decoded.iter().any(|b| b.is_ascii_control()) {
        return Err(bad("control characters are not allowed in a path"));
    }
    let decoded = String::from_utf8(decoded).map_err(|_| bad("the path is not UTF-8"))?;
    if decoded.starts_with('/') {
        return Err(bad("absolute paths are not allowed"));
    }
    let mut segments: Vec<String> = decoded.split('/').map(str::to_string).collect();
    let dir = segments.last().is_none_or(String::is_empty);
    if dir {
        segments.pop();
    }
    let mut hidden = false;
    for s in &segments {
        hidden |= check_name(s)?;
    }
    if hidden {
        // `.git/`, `.env`: a development folder's secrets are not part of the web app.
        return Err(Refused { status: StatusCode::NOT_FOUND, why: "hidden files are not served" });
    }
    Ok(AppPath { segments, dir })
}

/// `Content-Type` by extension (case-insensitive); anything else is `application/octet-stream`.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "json" | "map" => "application/json",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "glb" => "model/gltf-binary",
        "gltf" => "model/gltf+json",
        _ => "application/octet-stream",
    }
}

/// What a sanitised path names under the root.
#[derive(Debug)]
pub enum Found {
    /// A regular file, by its canonical path (inside the canonical root).
    File(PathBuf, Metadata),
    /// A folder with an `index.html`, asked for without the trailing `/`: redirect, so the page's
    /// relative links resolve inside it.
    AddSlash,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Miss {
    /// The root itself is unusable (deleted, no `index.html`): the message says why.
    Root(String),
    NotFound,
}

/// `path`'s canonical form, if it lies inside `root` (already canonical) and every name below the
/// root is servable, and it is none of the gate's own files (`data`: the canonical data dir). A
/// link that leads out of the root, or to a hidden name inside it, fails here, before anything is
/// opened.
fn confined(root: &Path, data: &Path, path: &Path) -> Result<(PathBuf, Metadata), Miss> {
    let real = std::fs::canonicalize(path).map_err(|_| Miss::NotFound)?;
    let Ok(below) = real.strip_prefix(root) else {
        tracing::debug!("web app: {} leads out of the web root; refused", path.display());
        return Err(Miss::NotFound);
    };
    if !servable_below_root(below) {
        tracing::debug!(
            "web app: {} is {} on disk, a hidden or reserved name; refused",
            path.display(),
            real.display()
        );
        return Err(Miss::NotFound);
    }
    if is_private(&real, data) {
        tracing::warn!(
            "web app: {} is one of the gate's own files (keys, certificate state, settings); refused",
            real.display()
        );
        return Err(Miss::NotFound);
    }
    let meta = std::fs::metadata(&real).map_err(|_| Miss::NotFound)?;
    Ok((real, meta))
}

/// The configured web root and data dir, made canonical: what each request's path is checked
/// against. Made once per configuration (and at each LAN scan), not per request: a request then
/// canonicalises only the path it asks for. Confinement is unchanged: whatever a request finds
/// must canonicalise to a place under `root`, so a root replaced by a link after start, or a file
/// renamed to a link, leads out of it and is refused like any link out; the root the configured
/// path now names is taken up at the next miss ([`lookup`]) or scan, as each request did before.
#[derive(Debug, PartialEq, Eq)]
pub struct Roots {
    /// The configured paths these were made from.
    configured: (PathBuf, PathBuf),
    /// The canonical web root, or why it cannot be served.
    root: Result<PathBuf, String>,
    /// The canonical data dir (lenient: it may not exist yet).
    data: PathBuf,
}

impl Roots {
    /// Checks and canonicalises `root` and `data_dir` (blocking: file system calls).
    pub fn new(root: &Path, data_dir: &Path) -> Roots {
        let canonical = check_web_root(root, Setting::WebRoot.via(Via::Name))
            .map_err(|e| e.expected)
            .and_then(|()| std::fs::canonicalize(root).map_err(|e| format!("cannot read the folder ({e})")));
        Roots {
            configured: (root.to_path_buf(), data_dir.to_path_buf()),
            root: canonical,
            data: canonical_lenient(data_dir),
        }
    }

    /// Why the root cannot be served, if it cannot.
    pub fn problem(&self) -> Option<&str> {
        self.root.as_ref().err().map(String::as_str)
    }

    fn made_from(&self, root: &Path, data_dir: &Path) -> bool {
        self.configured.0 == root && self.configured.1 == data_dir
    }
}

/// Finds the file for `p` under `roots` (blocking: file system calls). Never lists a folder, and
/// never serves a file inside the data dir (the gate's keys), even if the web root holds it.
pub fn resolve(roots: &Roots, p: &AppPath) -> Result<Found, Miss> {
    let root = roots.root.as_ref().map_err(|why| Miss::Root(why.clone()))?;
    let data = &roots.data;
    let joined = p.segments.iter().fold(root.clone(), |acc, s| acc.join(s));
    let (real, meta) = confined(root, data, &joined)?;
    if meta.is_file() {
        return if p.dir { Err(Miss::NotFound) } else { Ok(Found::File(real, meta)) };
    }
    if !meta.is_dir() {
        return Err(Miss::NotFound);
    }
    let (index, index_meta) = confined(root, data, &real.join("index.html"))?;
    if !index_meta.is_file() {
        return Err(Miss::NotFound);
    }
    if p.dir || p.segments.is_empty() {
        Ok(Found::File(index, index_meta))
    } else {
        Ok(Found::AddSlash)
    }
}

/// [`resolve`] with `cached` roots when they were made for `root` and `data_dir` and are usable,
/// else with new ones (blocking). A miss looks again from new roots: the folder may have moved,
/// been deleted or been re-pointed since they were made (so a miss costs what every request did
/// before). Returns the roots to keep when new ones were made.
pub fn lookup(
    cached: Option<Arc<Roots>>,
    root: &Path,
    data_dir: &Path,
    p: &AppPath,
) -> (Result<Found, Miss>, Option<Arc<Roots>>) {
    let usable = cached.filter(|r| r.made_from(root, data_dir) && r.root.is_ok());
    let Some(roots) = usable else {
        let fresh = Arc::new(Roots::new(root, data_dir));
        return (resolve(&fresh, p), Some(fresh));
    };
    let found = resolve(&roots, p);
    if matches!(found, Err(Miss::NotFound)) {
        let fresh = Roots::new(root, data_dir);
        if fresh != *roots {
            let fresh = Arc::new(fresh);
            return (resolve(&fresh, p), Some(fresh));
        }
    }
    (found, None)
}

/// A strong validator from size and modification time (what changes when a build rewrites a file).
pub fn etag(meta: &Metadata) -> Option<String> {
    let mtime = meta.modified().ok()?.duration_since(UNIX_EPOCH).ok()?;
    Some(format!("\"{:x}-{:x}\"", meta.len(), mtime.as_nanos()))
}

/// Whether the client's copy is current: `If-None-Match` when sent (it wins, RFC 9110 §13.2.2),
/// else `If-Modified-Since` at one-second resolution.
pub fn not_modified(headers: &HeaderMap, etag: Option<&str>, modified: Option<SystemTime>) -> bool {
    let weak = |t: &str| t.trim().trim_start_matches("W/").to_string();
    if let Some(inm) = headers.get(header::IF_NONE_MATCH) {
        let (Some(etag), Ok(inm)) = (etag, inm.to_str()) else {
            return false;
        };
        return inm.split(',').any(|t| t.trim() == "*" || weak(t) == weak(etag));
    }
    let since = headers.get(header::IF_MODIFIED_SINCE).and_then(|v| v.to_str().ok());
    match (since.and_then(|s| httpdate::parse_http_date(s).ok()), modified) {
        (Some(since), Some(m)) => {
            let secs = m.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
            UNIX_EPOCH + Duration::from_secs(secs) <= since
        }
        _ => false,
    }
}

fn html(status: StatusCode, body: String) -> Response<Body> {
    let mut r = text(status, body);
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    r
}

fn redirect(location: &str) -> Response<Body> {
    match HeaderValue::from_str(location) {
        Ok(v) => {
            let mut r = text(StatusCode::MOVED_PERMANENTLY, format!("Moved to {location}\n"));
            r.headers_mut().insert(header::LOCATION, v);
            r
        }
        Err(_) => text(StatusCode::BAD_REQUEST, "Bad path.\n"),
    }
}

/// Publishes whether the web root can be served, logging only changes (a request per file must
/// not flood the log). Called per request and at every LAN scan.
pub fn note_problem(shared: &Shared, problem: Option<String>) {
    if shared.hub.read(|s| s.web_app.error == problem) {
        return;
    }
    let root = shared.config.load().web_root.clone().unwrap_or_default();
    match &problem {
        Some(p) => status_log!(shared.hub, warn, "web app: /app/ cannot be served from {}: {p}", root.display()),
        None => status_log!(shared.hub, info, "web app: serving {} at /app/", root.display()),
    }
    shared.hub.update(|s| s.web_app.error = problem);
}

/// Puts the configured web root and query template into the status and checks the folder.
pub fn refresh(shared: &Shared) {
    let cfg = shared.config.load();
    let root = cfg.web_root.as_ref().map(|r| r.display().to_string());
    // Only a change wakes the status's receivers (this runs at every LAN scan).
    let changed = !shared.hub.read(|s| s.web_app.root == root);
    if changed || !shared.hub.read(|s| s.web_app.query == cfg.app_query) {
        shared.hub.update(|s| {
            if s.web_app.root != root {
                s.web_app.error = None;
            }
            s.web_app.root = root.clone();
            s.web_app.query = cfg.app_query.clone();
        });
    }
    let Some(r) = &cfg.web_root else {
        shared.web_roots.store(None);
        return;
    };
    // (Blocking, as the checks before it: a few stats and one canonicalisation per scan.)
    let roots = Roots::new(r, &cfg.data_dir);
    let problem = roots.problem().map(str::to_string);
    shared.web_roots.store(Some(Arc::new(roots)));
    if changed && problem.is_none() {
        status_log!(shared.hub, info, "web app: serving {} at /app/", r.display());
    }
    note_problem(shared, problem);
}

/// Answers a request for `/app` or below (GET and HEAD; the caller already answered OPTIONS).
pub async fn serve<B>(shared: &Shared, req: &Request<B>) -> Response<Body> {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "The web app answers GET and HEAD only.\n");
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, OPTIONS"));
        return r;
    }
    let path = req.uri().path();
    let query = req.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
    let (root, data_dir) = {
        let cfg = shared.config.load();
        (cfg.web_root.clone(), cfg.data_dir.clone())
    };
    let Some(root) = root else {
        return text(
            StatusCode::NOT_FOUND,
            "No web app is configured here. Choose its folder in CXR Gate's Settings → Web app folder, \
             or start cxr-gate-proxy with --web-root DIR (WEB_ROOT).\n",
        );
    };
    let Some(raw) = path.strip_prefix("/app/") else {
        return redirect(&format!("/app/{query}"));
    };
    let app_path = match sanitize(raw) {
        Ok(p) => p,
        Err(r) if r.status == StatusCode::NOT_FOUND => return html(r.status, pages::not_found_page(path)),
        Err(r) => return text(r.status, format!("Bad path: {}.\n", r.why)),
    };
    let asked = app_path.clone();
    let cached = shared.web_roots.load_full();
    let found = match tokio::task::spawn_blocking(move || lookup(cached, &root, &data_dir, &asked)).await {
        Ok((found, made)) => {
            if let Some(roots) = made {
                shared.web_roots.store(Some(roots));
            }
            found
        }
        Err(e) => return text(StatusCode::INTERNAL_SERVER_ERROR, format!("The web app lookup failed: {e}\n")),
    };
    match found {
        Ok(Found::AddSlash) => redirect(&format!("{path}/{query}")),
        Ok(Found::File(file, meta)) => {
            note_problem(shared, None);
            send_file(req, &file, &meta).await
        }
        Err(Miss::NotFound) => html(StatusCode::NOT_FOUND, pages::not_found_page(path)),
        Err(Miss::Root(why)) => {
            note_problem(shared, Some(why.clone()));
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "The web app cannot be served: {why}. Fix the folder, or choose another one in CXR Gate's \
                     Settings → Web app folder (headless: --web-root / WEB_ROOT).\n"
                ),
            )
        }
    }
}

/// The file's answer: validators, `no-cache` (use it, but ask first: a rebuilt client shows up on
/// the next load), and the body streamed in 64 KiB chunks.
async fn send_file<B>(req: &Request<B>, file: &Path, meta: &Metadata) -> Response<Body> {
    let tag = etag(meta);
    let modified = meta.modified().ok();
    let mut h = HeaderMap::new();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Some(v) = tag.as_deref().and_then(|t| HeaderValue::from_str(t).ok()) {
        h.insert(header::ETAG, v);
    }
    if let Some(v) = modified.and_then(|m| HeaderValue::from_str(&httpdate::fmt_http_date(m)).ok()) {
        h.insert(header::LAST_MODIFIED, v);
    }
    if not_modified(req.headers(), tag.as_deref(), modified) {
        let mut r = Response::new(empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        *r.headers_mut() = h;
        return r;
    }
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(file)));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.len()));
    let body = if req.method() == Method::HEAD {
        empty()
    } else {
        let f = match tokio::fs::File::open(file).await {
            Ok(f) => f,
            // Removed between the lookup and now.
            Err(_) => return html(StatusCode::NOT_FOUND, pages::not_found_page(req.uri().path())),
        };
        // At most the announced length, even if the file grows meanwhile; a read error ends the
        // body early, which the client sees as a short (failed) answer, never as a complete one.
        let shown = file.display().to_string();
        let chunks = tokio_util::io::ReaderStream::with_capacity(f.take(meta.len()), 64 * 1024)
            .take_while(move |r| {
                if let Err(e) = r {
                    tracing::warn!("web app: reading {shown} failed: {e}");
                }
                std::future::ready(r.is_ok())
            })
            .map(|r| Ok::<_, hyper::Error>(Frame::data(r.unwrap_or_default())));
        BodyExt::boxed(StreamBody::new(chunks))
    };
    let mut r = Response::new(body);
    *r.headers_mut() = h;
    r
}

#[cfg(test)]
mod tests;
