//! The HTTP layer (hyper): head limits, CORS on every answer, OPTIONS preflight, the proxy's own
//! pages (`/health?ready=1` answers 503 unless the runtime is UP), and handing WebSocket upgrades to the tunnel.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};

use super::io::{HeadAfterBody, HeadDeadlineIo};
use super::pages;
use super::response::{set_cors, text, with_type, Body};
use super::{ConnSlot, Shared};
use crate::addr::url_host;
use crate::headsets::Handshake;
use crate::status::BackendState;

pub const MAX_HEAD_BYTES: usize = 16 * 1024;
pub const MAX_HEADERS: usize = 100;

/// Per-connection facts the handlers need.
pub struct ConnCtx {
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// This connection's TLS handshake, for the headset book.
    handshake: Handshake,
    awaiting_head: Arc<AtomicBool>,
    /// Requests that reached the service so far.
    served: Arc<AtomicU64>,
    slot: ConnSlot,
}

/// `Connection: upgrade` + `Upgrade: websocket` (tokens, any case).
pub fn is_websocket_upgrade<B>(req: &Request<B>) -> bool {
    let has_token = |name: header::HeaderName, token: &str| {
        req.headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    has_token(header::CONNECTION, "upgrade") && has_token(header::UPGRADE, "websocket")
}

/// Why a WebSocket upgrade request is not a valid RFC 6455 handshake, as the answer to give.
pub struct BadUpgrade {
    pub status: StatusCode,
    pub body_text: &'static str,
}

impl BadUpgrade {
    fn into_response(self) -> Response<Body> {
        let mut r = text(self.status, format!("{}\n", self.body_text));
        if self.status == StatusCode::UPGRADE_REQUIRED {
            r.headers_mut().insert("sec-websocket-version", HeaderValue::from_static("13"));
        }
        r
    }
}

/// Checks what RFC 6455 §4.1 requires of the opening handshake: GET, HTTP/1.1, a Host, one
/// `Sec-WebSocket-Key` of 16 base64-encoded bytes, and `Sec-WebSocket-Version: 13` (else 426).
pub fn upgrade_problem<B>(req: &Request<B>) -> Option<BadUpgrade> {
    let bad = |body_text| Some(BadUpgrade { status: StatusCode::BAD_REQUEST, body_text });
    if req.method() != Method::GET {
        return bad("A WebSocket upgrade must be a GET request");
    }
    if req.version() != hyper::Version::HTTP_11 {
        return bad("A WebSocket upgrade must use HTTP/1.1");
    }
    if req.headers().get_all(header::HOST).iter().count() != 1 {
        return bad("A WebSocket upgrade needs exactly one Host header");
    }
    let keys: Vec<&HeaderValue> = req.headers().get_all(header::SEC_WEBSOCKET_KEY).iter().collect();
    match keys.as_slice() {
        [key] if is_websocket_key(key.as_bytes()) => {}
        [] => return bad("A WebSocket upgrade needs a Sec-WebSocket-Key header"),
        [_] => return bad("Sec-WebSocket-Key must be 16 random bytes in base64 (24 characters)"),
        _ => return bad("A WebSocket upgrade needs exactly one Sec-WebSocket-Key header"),
    }
    let versions: Vec<&HeaderValue> = req.headers().get_all(header::SEC_WEBSOCKET_VERSION).iter().collect();
    match versions.as_slice() {
        [v] if v.as_bytes().trim_ascii() == b"13" => None,
        [] => bad("A WebSocket upgrade needs a Sec-WebSocket-Version header (13)"),
        _ => Some(BadUpgrade {
            status: StatusCode::UPGRADE_REQUIRED,
            body_text: "Only WebSocket version 13 is supported (Sec-WebSocket-Version: 13)",
        }),
    }
}

/// 16 bytes in base64: 22 alphabet characters, one of `AQgw` (the last 4 bits are padding), `==`.
fn is_websocket_key(v: &[u8]) -> bool {
    let v = v.trim_ascii();
    let b64 = |c: &u8| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/';
    v.len() == 24 && v[..21].iter().all(b64) && b"AQgw".contains(&v[21]) && &v[22..] == b"=="
}

/// Serves one connection (TLS in the gateway, which completed `handshake`; any byte stream in the
/// fuzz target) until it closes, upgrades or the gateway stops.
pub async fn serve<S>(
    shared: Arc<Shared>,
    tls: S,
    peer: SocketAddr,
    local: SocketAddr,
    handshake: Handshake,
    slot: ConnSlot,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let timeouts = shared.config.load().timeouts.clone();
    let awaiting_head = Arc::new(AtomicBool::new(true));
    let served = Arc::new(AtomicU64::new(0));
    let io =
        HeadDeadlineIo::new(tls, awaiting_head.clone(), served.clone(), timeouts.request_head, timeouts.write_stall);
    let ctx = Arc::new(ConnCtx { peer, local, handshake, awaiting_head, served, slot });
    let svc_shared = shared.clone();
    let svc = service_fn(move |req| {
        let shared = svc_shared.clone();
        let ctx = ctx.clone();
        async move { Ok::<_, Infallible>(handle(shared, ctx, req).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        // The head deadline (with its 408) is HeadDeadlineIo's job.
        .header_read_timeout(None)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS)
        .preserve_header_case(true)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(io), svc).with_upgrades();
    tokio::select! {
        r = conn => {
            if let Err(e) = r {
                tracing::debug!("connection from {peer}: {e}");
            }
        }
        _ = shared.shutdown.cancelled() => {}
    }
}

async fn handle(shared: Arc<Shared>, ctx: Arc<ConnCtx>, req: Request<hyper::body::Incoming>) -> Response<Body> {
    ctx.awaiting_head.store(false, Ordering::Release);
    ctx.served.fetch_add(1, Ordering::AcqRel);
    note_headset(&shared, &ctx, &req);
    let mut resp = if req.method() == Method::OPTIONS {
        // Preflight: answered here, never forwarded (HAProxy: `http-request return status 200 … if METH_OPTIONS`).
        text(StatusCode::OK, "OK")
    } else if is_websocket_upgrade(&req) {
        if let Some(bad) = upgrade_problem(&req) {
            // Refused here, so a malformed handshake never reaches (or even dials) the runtime.
            tracing::debug!("bad WebSocket upgrade from {}: {}", ctx.peer, bad.body_text);
            bad.into_response()
        } else if req.uri().path() == "/netcheck/ws" {
            // Terminated here, never forwarded to the runtime.
            super::netcheck::accept(shared.clone(), ctx.peer, ctx.slot.clone(), req)
        } else {
            super::tunnel::forward(shared.clone(), ctx.peer, ctx.slot.clone(), req).await
        }
    } else if super::webapp::is_app_path(req.uri().path()) {
        super::webapp::serve(&shared, &req).await
    } else {
        page(&shared, &ctx, &req)
    };
    set_cors(resp.headers_mut());
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        return resp;
    }
    // The next head is awaited once hyper is done with this body, not now: a file or a relayed
    // body may take minutes to reach a slow reader.
    let awaiting = ctx.awaiting_head.clone();
    resp.map(|b| HeadAfterBody::new(b, awaiting).boxed())
}

/// Tells the headset book who asked for what (its User-Agent, the trust page or `/app/`).
fn note_headset<B>(shared: &Shared, ctx: &ConnCtx, req: &Request<B>) {
    use crate::headsets::Page;
    let path = req.uri().path();
    // As `handle` dispatches: a preflight or an upgrade (a wss:// session to `/` included) never
    // loads a page, and only GET and HEAD are answered with one outside `/app/`.
    let page = if req.method() == Method::OPTIONS || is_websocket_upgrade(req) {
        Page::Other
    } else if super::webapp::is_app_path(path) {
        Page::App
    } else if req.method() != Method::GET && req.method() != Method::HEAD {
        Page::Other
    } else {
        match path {
            "/" | "/index.html" => Page::Trust,
            "/health" => Page::Health,
            _ => Page::Other,
        }
    };
    let ua = req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    shared.headsets.request(ctx.peer, ctx.local, &ctx.handshake, ua, page);
}

fn page(shared: &Shared, ctx: &ConnCtx, req: &Request<hyper::body::Incoming>) -> Response<Body> {
    let path = req.uri().path();
    if req.method() != Method::GET && req.method() != Method::HEAD {
        let mut r = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "Only GET, HEAD and OPTIONS are answered here; WebSockets use an Upgrade request.\n",
        );
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD, OPTIONS"));
        return r;
    }
    match path {
        "/" | "/index.html" => {
            let url = format!("wss://{}:{}", url_host(ctx.local.ip()), ctx.local.port());
            let cert = shared.certs.info();
            let ca = cert
                .as_ref()
                .and_then(|c| c.ca.as_ref())
                .map(|c| pages::CaView { common_name: &c.common_name, fingerprint_sha256: &c.fingerprint_sha256 });
            let app = super::webapp::link(shared, &url_host(ctx.local.ip()), ctx.local.port());
            let page = pages::trust_page(&url, crate::VERSION, ca.as_ref(), app.as_deref());
            let mut r = with_type(page, "text/html; charset=utf-8");
            // A reused connection after this page made the WebXR client see a spurious 501.
            r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        "/test" => text(StatusCode::OK, pages::TEST_BODY),
        "/netcheck" => {
            let mut r = with_type(crate::netcheck::page::netcheck_page(crate::VERSION), "text/html; charset=utf-8");
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        "/health" => {
            let sessions = shared.sessions.count();
            // Built from a read of the status, never a clone of it: the status carries the log and
            // the session paths clients chose, and monitors poll this page.
            let (body, up) =
                shared.hub.read(|s| (pages::health_json(s, sessions), s.backend.state == BackendState::Up));
            let mut r = with_type(body, "application/json");
            // A readiness probe's question, "can a headset start a session now?": 503 unless the runtime is UP.
            if asks_ready(req.uri().query()) && !up {
                *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            }
            r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            r
        }
        "/cert.pem" => match shared.certs.cert_pem() {
            Some(pem) => with_type(pem, "application/x-pem-file"),
            None => text(StatusCode::SERVICE_UNAVAILABLE, "No certificate is loaded.\n"),
        },
        "/cert.crt" => match shared.certs.cert_der() {
            Some(der) => {
                let mut r = with_type(der, "application/x-x509-ca-cert");
                r.headers_mut().insert(
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_static("attachment; filename=\"cxr-gate.crt\""),
                );
                r
            }
            None => text(StatusCode::SERVICE_UNAVAILABLE, "No certificate is loaded.\n"),
        },
        "/ca.crt" => match shared.certs.ca_der() {
            Some(der) => {
                // The type Android and Windows open as "install a CA certificate".
                let mut r = with_type(der, "application/x-x509-ca-cert");
                r.headers_mut().insert(
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_static("attachment; filename=\"cxr-gate-ca.crt\""),
                );
                r
            }
            None => text(StatusCode::NOT_FOUND, pages::NO_CA_BODY),
        },
        "/ca.pem" => match shared.certs.ca_pem() {
            Some(pem) => with_type(pem, "application/x-pem-file"),
            None => text(StatusCode::NOT_FOUND, pages::NO_CA_BODY),
        },
        other => {
            let mut r = with_type(pages::not_found_page(other), "text/html; charset=utf-8");
            *r.status_mut() = StatusCode::NOT_FOUND;
            r
        }
    }
}

/// `/health?ready=1` (or `?ready`): the readiness form of `/health`.
fn asks_ready(query: Option<&str>) -> bool {
    query.is_some_and(|q| q.split('&').any(|kv| kv == "ready" || kv == "ready=1"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_is_asked_with_ready_1() {
        assert!(asks_ready(Some("ready=1")));
        assert!(asks_ready(Some("x=2&ready")));
        assert!(!asks_ready(None));
        assert!(!asks_ready(Some("ready=0")));
        assert!(!asks_ready(Some("already=1")));
    }

    fn req(method: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut b = Request::builder().method(method).uri("/sign_in");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap()
    }

    const GOOD: [(&str, &str); 3] =
        [("host", "x"), ("sec-websocket-version", "13"), ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")];

    #[test]
    fn real_client_keys_pass() {
        for _ in 0..200 {
            let key = tokio_tungstenite::tungstenite::handshake::client::generate_key();
            assert!(is_websocket_key(key.as_bytes()), "{key}");
        }
        assert!(upgrade_problem(&req("GET", &GOOD)).is_none());
    }

    #[test]
    fn bad_handshakes_are_named() {
        let status = |method: &str, h: &[(&str, &str)]| upgrade_problem(&req(method, h)).map(|b| b.status);
        assert_eq!(status("POST", &GOOD), Some(StatusCode::BAD_REQUEST));
        assert_eq!(status("GET", &GOOD[1..]), Some(StatusCode::BAD_REQUEST));
        assert_eq!(status("GET", &GOOD[..2]), Some(StatusCode::BAD_REQUEST));
        assert_eq!(status("GET", &[GOOD[0], GOOD[2]]), Some(StatusCode::BAD_REQUEST));
        let v8 = [GOOD[0], ("sec-websocket-version", "8"), GOOD[2]];
        assert_eq!(status("GET", &v8), Some(StatusCode::UPGRADE_REQUIRED));
        for key in [
            "",
            "abc",
            "dGhlIHNhbXBsZSBub25jZQ=",
            "dGhlIHNhbXBsZSBub25jZR==",
            "dGhlIHNhbXBsZSBub25j$Q==",
            "AAAAAAAAAAAAAAAAAAAAAAA=",
        ] {
            assert!(!is_websocket_key(key.as_bytes()), "{key}");
        }
    }
}
