//! WebSocket forwarding: sends the upgrade request to the backend (path, query and `Sec-WebSocket-*`
//! untouched, `X-Forwarded-For`/`-Proto` added), relays a non-101 answer as is, and after a 101 joins
//! the two connections as a raw byte tunnel until a side closes, the backend is marked DOWN, the
//! tunnel sits idle too long, the client stops reading, or the gateway shuts down. Why it ended is a
//! [`SessionEnd`]: the sender of the first WebSocket Close frame when there was one (`wsclose`),
//! else the side whose socket ended or failed (not the direction of the copy that noticed), else
//! the gate's own reason.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::header::{self, HeaderValue};
use hyper::upgrade::Upgraded;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::io::write_stalled;
use super::pages;
use super::response::{empty, text, Body};
use super::route::{route, Route};
use super::sessions::Session;
use super::wsclose::{CloseWatch, FirstCloseCell, Rules, Side};
use super::{ConnSlot, Shared};
use crate::connector::describe_io_error;
use crate::headsets::book::client_ip;
use crate::health::checker::DownSignal;
use crate::session_end::{GateEnd, PeerEnd, SessionEnd};
use crate::status::BackendState;

/// How long the backend may take to answer the upgrade request.
const UPGRADE_ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// After one side closes, how long the other direction may still drain.
const HALF_CLOSE_GRACE: Duration = Duration::from_secs(5);
// HAProxy's default bufsize: a full TLS record per read without holding much per idle session.
const BUF: usize = 16 * 1024;
const SMALL_BUF: usize = 1024;
/// A direction that waited this long for data gives its big buffer back.
const RELEASE_AFTER_IDLE: Duration = Duration::from_secs(1);

/// `slot` goes with the tunnel, so open tunnels count against `max_connections`.
pub async fn forward(
    shared: Arc<Shared>,
    peer: SocketAddr,
    slot: ConnSlot,
    mut req: Request<hyper::body::Incoming>,
) -> Response<Body> {
    let cfg = shared.config.load_full();
    let pq = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let (backend, target) = match route(&cfg, &pq) {
        Route::Refused { target } => {
            tracing::warn!("refused routing {peer} to {target}: not in allowed_backends");
            return text(StatusCode::FORBIDDEN, pages::route_refused(&target));
        }
        Route::Invalid { segment, why } => {
            tracing::warn!("refused routing {peer} to {segment:?}: {why}");
            return text(StatusCode::BAD_REQUEST, format!("Cannot route to \"{segment}\": {why}.\n"));
        }
        // Routed backends are health-checked only once they answered a 101 (see `Health::lease`).
        Route::Forward { backend, path_and_query, .. } => (backend, path_and_query),
    };
    let name = backend.to_string();
    if shared.health.state(&backend) == BackendState::Down {
        return text(StatusCode::SERVICE_UNAVAILABLE, pages::backend_unreachable(&name, None));
    }
    let tcp = match shared.connector.connect(&backend, cfg.timeouts.connect).await {
        Ok(s) => s,
        Err(e) => {
            let why = describe_io_error(&e);
            tracing::warn!("cannot reach backend {name} for {peer}: {why}");
            return text(StatusCode::SERVICE_UNAVAILABLE, pages::backend_unreachable(&name, Some(&why)));
        }
    };
    let handshake = hyper::client::conn::http1::Builder::new()
        .preserve_header_case(true)
        .handshake::<_, Body>(TokioIo::new(tcp))
        .await;
    let (mut sender, conn) = match handshake {
        Ok(x) => x,
        Err(e) => return text(StatusCode::BAD_GATEWAY, format!("Backend {name} failed: {e}\n")),
    };
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });

    let client_upgrade = hyper::upgrade::on(&mut req);
    let (mut parts, _body) = req.into_parts();
    parts.uri = match target.parse() {
        Ok(u) => u,
        Err(_) => return text(StatusCode::BAD_REQUEST, "Bad request target.\n"),
    };
    parts.version = hyper::Version::HTTP_11;
    let ip = client_ip(peer).to_string();
    let xff = match parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
        Some(prev) if !prev.trim().is_empty() => format!("{prev}, {ip}"),
        _ => ip,
    };
    if let Ok(v) = HeaderValue::from_str(&xff) {
        parts.headers.insert("x-forwarded-for", v);
    }
    parts.headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));

    let mut resp =
        match tokio::time::timeout(UPGRADE_ANSWER_TIMEOUT, sender.send_request(Request::from_parts(parts, empty())))
            .await
        {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                return text(StatusCode::BAD_GATEWAY, format!("CloudXR Runtime at {name} closed the connection: {e}\n"))
            }
            Err(_) => {
                return text(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!("CloudXR Runtime at {name} did not answer the WebSocket upgrade within 30s.\n"),
                )
            }
        };
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        // Relayed as is but for the hop-by-hop headers (the caller adds CORS): the backend's
        // `Connection: close` ends the backend's connection, not the client's keep-alive one.
        strip_hop_by_hop(resp.headers_mut());
        return resp.map(|b| b.boxed());
    }
    let backend_upgrade = hyper::upgrade::on(&mut resp);
    // The frames' RSV bits and reserved opcodes are the negotiated extensions' to use.
    let rules = Rules::negotiated(
        resp.headers().get_all(header::SEC_WEBSOCKET_EXTENSIONS).iter().map(|v| v.to_str().unwrap_or("unknown")),
    );
    let mut out = Response::new(empty());
    *out.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *out.headers_mut() = resp.headers().clone();
    out.headers_mut().remove(header::CONTENT_LENGTH);

    let path = target;
    // Taken now, before the 101 is relayed: a DOWN verdict from here on closes the tunnel.
    let mut lease = shared.health.lease(&backend);
    tokio::spawn(async move {
        let _slot = slot;
        let (c, b) = match tokio::join!(client_upgrade, backend_upgrade) {
            (Ok(c), Ok(b)) => (c, b),
            (c, b) => {
                tracing::debug!("upgrade for {peer} did not complete: client {:?} backend {:?}", c.err(), b.err());
                return;
            }
        };
        let session = shared.sessions.open(peer.to_string(), path, name);
        shared.headsets.session_opened(peer);
        let opened = Instant::now();
        let idle = shared.config.load().timeouts.tunnel_idle;
        let end = join(c, b, &session, &mut lease.down, idle, rules).await;
        shared.sessions.close(&session, &end);
        // A session the runtime ended while it stayed UP is what lost media looks like.
        let runtime_up = end != SessionEnd::Gate(GateEnd::Health) && shared.health.state(&backend) == BackendState::Up;
        let took = opened.elapsed().as_millis() as u64;
        shared.headsets.session_closed(peer, took, &end, runtime_up);
        // Given back only now: the checker's grace period starts after the session's end.
        drop(lease);
    });
    out
}

/// Removes the headers that describe one connection, not the message (RFC 9110 §7.6.1): those a
/// `Connection` header names, and the well-known ones.
pub fn strip_hop_by_hop(h: &mut hyper::HeaderMap) {
    let named: Vec<header::HeaderName> = h
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| header::HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .collect();
    for name in named {
        h.remove(name);
    }
    for name in [header::CONNECTION, header::TE, header::TRAILER, header::UPGRADE, header::PROXY_AUTHENTICATE] {
        h.remove(name);
    }
    for name in ["keep-alive", "proxy-connection"] {
        h.remove(name);
    }
}

/// How one direction's copy ended: which socket, and how.
enum PumpEnd {
    /// The reader's side ended its stream.
    Eof,
    /// Reading from the reader's side failed.
    Read(std::io::Error),
    /// Writing to the other side failed.
    Write(std::io::Error),
}

/// Copies one direction, counting bytes and stamping activity; ends with a half-close of the writer.
/// An idle direction waits with only a small buffer: the full one is taken when a read fills the
/// small one and given back after a long wait, so a thousand idle headsets hold little memory while
/// a busy stream keeps the fast path.
async fn pump<R: AsyncRead + Unpin, W: AsyncWrite + Unpin>(
    mut r: R,
    mut w: W,
    count: &AtomicU64,
    activity: &AtomicU64,
    origin: Instant,
    (mut frames, first_close): (CloseWatch, &FirstCloseCell),
) -> PumpEnd {
    let mut small = [0u8; SMALL_BUF];
    let mut big: Vec<u8> = Vec::new();
    loop {
        let buf: &mut [u8] = if big.is_empty() { &mut small } else { &mut big };
        let waited = Instant::now();
        let n = match r.read(buf).await {
            Ok(n) => n,
            // Headsets often drop TCP without a TLS close_notify: that is still a close.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => 0,
            Err(e) => return PumpEnd::Read(e),
        };
        if n == 0 {
            let _ = w.shutdown().await;
            return PumpEnd::Eof;
        }
        let data = if big.is_empty() { &small[..n] } else { &big[..n] };
        // (Returns at once after the Close or once the stream broke the protocol.)
        if let Some(close) = frames.feed(data) {
            // The other direction may have seen its Close first: then that one stays.
            let _ = first_close.set(close);
        }
        if let Err(e) = w.write_all(data).await {
            return PumpEnd::Write(e);
        }
        if let Err(e) = w.flush().await {
            return PumpEnd::Write(e);
        }
        count.fetch_add(n as u64, Ordering::Relaxed);
        activity.store(origin.elapsed().as_millis() as u64, Ordering::Relaxed);
        if big.is_empty() && n == SMALL_BUF {
            big = vec![0u8; BUF];
        } else if !big.is_empty() && waited.elapsed() >= RELEASE_AFTER_IDLE {
            big = Vec::new();
        }
    }
}

/// Why a session ended, from the first direction that ended: named by the socket that ended or
/// failed. `up` is the client → backend direction.
fn ended(up: bool, how: PumpEnd) -> SessionEnd {
    type Who = fn(PeerEnd) -> SessionEnd;
    let (reader, writer): (Who, Who) =
        if up { (SessionEnd::Headset, SessionEnd::Runtime) } else { (SessionEnd::Runtime, SessionEnd::Headset) };
    match how {
        PumpEnd::Eof => reader(PeerEnd::Closed),
        PumpEnd::Read(e) => reader(PeerEnd::Error(describe_io_error(&e))),
        // The gate gave up on a client that read nothing: its decision, not the network's.
        PumpEnd::Write(e) => match write_stalled(&e) {
            Some(limit) if !up => SessionEnd::Gate(GateEnd::Stall { ms: limit.as_millis() as u64 }),
            _ => writer(PeerEnd::Error(describe_io_error(&e))),
        },
    }
}

async fn join(
    client: Upgraded,
    backend: Upgraded,
    s: &Session,
    down: &mut DownSignal,
    idle: Duration,
    rules: Rules,
) -> SessionEnd {
    let origin = Instant::now();
    let activity = AtomicU64::new(0);
    let (cr, cw) = tokio::io::split(TokioIo::new(client));
    let (br, bw) = tokio::io::split(TokioIo::new(backend));
    let first_close = FirstCloseCell::new();
    let up = pump(cr, bw, &s.up, &activity, origin, (CloseWatch::new(Side::Client, rules), &first_close));
    let dn = pump(br, cw, &s.down, &activity, origin, (CloseWatch::new(Side::Backend, rules), &first_close));
    tokio::pin!(up, dn);
    let (mut up_done, mut dn_done) = (false, false);
    let mut end: Option<SessionEnd> = None;
    let mut grace_at: Option<tokio::time::Instant> = None;
    loop {
        let last = Duration::from_millis(activity.load(Ordering::Relaxed));
        let idle_at = tokio::time::Instant::from_std(origin + last + idle);
        tokio::select! {
            r = &mut up, if !up_done => {
                up_done = true;
                end.get_or_insert_with(|| ended(true, r));
                if dn_done { break; }
                grace_at = Some(tokio::time::Instant::now() + HALF_CLOSE_GRACE);
            }
            r = &mut dn, if !dn_done => {
                dn_done = true;
                let why = ended(false, r);
                // A headset the gate gave up on gets no grace: nothing more reaches it.
                if end.is_none() && matches!(why, SessionEnd::Gate(_)) {
                    return why;
                }
                end.get_or_insert(why);
                if up_done { break; }
                grace_at = Some(tokio::time::Instant::now() + HALF_CLOSE_GRACE);
            }
            _ = tokio::time::sleep_until(grace_at.unwrap_or(idle_at)), if grace_at.is_some() => break,
            _ = down.marked_down() => return SessionEnd::Gate(GateEnd::Health),
            _ = s.shutdown.cancelled() => return SessionEnd::Gate(GateEnd::Shutdown),
            _ = tokio::time::sleep_until(idle_at) => {
                let now = origin.elapsed();
                if now >= Duration::from_millis(activity.load(Ordering::Relaxed)) + idle {
                    return SessionEnd::Gate(GateEnd::Idle { ms: idle.as_millis() as u64 });
                }
            }
        }
    }
    // After a Close frame its sender ended the session, whichever socket ended first and however
    // (the runtime closes TCP after a headset's Close, a browser may reset after its own); the
    // gate's own reasons stand.
    match (end, first_close.get()) {
        (Some(SessionEnd::Gate(g)), _) => SessionEnd::Gate(g),
        (_, Some(close)) => {
            let how = PeerEnd::Close(close.frame.clone());
            match close.side {
                Side::Client => SessionEnd::Headset(how),
                Side::Backend => SessionEnd::Runtime(how),
            }
        }
        (end, None) => end.unwrap_or(SessionEnd::Gate(GateEnd::Shutdown)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_headers_are_dropped_and_the_rest_kept() {
        let mut h = hyper::HeaderMap::new();
        for (k, v) in [
            ("connection", "close, x-session-hint"),
            ("x-session-hint", "a"),
            ("keep-alive", "timeout=5"),
            ("upgrade", "websocket"),
            ("content-type", "text/plain"),
            ("x-runtime", "cloudxr"),
        ] {
            h.append(header::HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        strip_hop_by_hop(&mut h);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(left, ["content-type", "x-runtime"]);
    }
}
