//! `/netcheck/ws` on the HTTP side: answers the WebSocket upgrade itself (never forwarded to the
//! runtime), runs the check on the upgraded connection ([`crate::netcheck::server`]) for as long as
//! its connection slot and the gateway live, and keeps the results in the status.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;
use tokio_tungstenite::WebSocketStream;

use super::response::{empty, text, Body};
use super::{ConnSlot, Shared};
use crate::netcheck::server::{self, CheckError};
use crate::netcheck::stats::summary;
use crate::netcheck::NetCheckResult;
use crate::status::{now_ms, StatusHub};
use crate::status_log;

/// Results kept for the desktop window.
pub const KEEP_RESULTS: usize = 20;
/// A headset that does not take the close frame within this is just dropped.
const CLOSE_LIMIT: Duration = Duration::from_secs(5);

/// Answers the upgrade and runs the check on the upgraded connection.
pub fn accept(
    shared: Arc<Shared>,
    peer: SocketAddr,
    slot: ConnSlot,
    mut req: Request<hyper::body::Incoming>,
) -> Response<Body> {
    let key = match req.headers().get("sec-websocket-key") {
        Some(k) if req.headers().get("sec-websocket-version").map(|v| v == "13").unwrap_or(false) => k.clone(),
        _ => return text(StatusCode::BAD_REQUEST, "A WebSocket version 13 upgrade is expected here.\n"),
    };
    let force = req.uri().query().map(|q| q.split('&').any(|p| p == "force=1")).unwrap_or(false);
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let _slot = slot;
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(_) => return,
        };
        let mut ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, Some(server::ws_config())).await;
        let shutdown = shared.shutdown.clone();
        let streams = shared.sessions.count();
        tokio::select! {
            ended = server::run(&shared.netcheck, &mut ws, peer, force, streams) => {
                if let Ok(Some(result)) = &ended {
                    if let Some(v) = result.overall {
                        let verdict = serde_json::to_value(v).ok().and_then(|v| v.as_str().map(str::to_string));
                        shared.headsets.netcheck(peer, verdict.as_deref().unwrap_or("done"));
                    }
                    record(&shared.hub, NetCheckResult { at_ms: now_ms(), ..result.clone() });
                }
                // A headset that stopped reading would not take a close frame either.
                if !matches!(ended, Err(CheckError::Stalled)) {
                    let _ = tokio::time::timeout(CLOSE_LIMIT, ws.close(None)).await;
                }
            }
            // Ends the check (and frees its flag and connection slot) with the gateway.
            _ = shutdown.cancelled() => {}
        }
    });
    let mut r = Response::new(empty());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        h.insert("sec-websocket-accept", v);
    }
    r
}

/// Keeps the newest results for the desktop window and logs one line.
pub fn record(hub: &StatusHub, result: NetCheckResult) {
    status_log!(hub, info, "{}", summary(&result));
    hub.update(|s| {
        s.netchecks.push_front(result);
        s.netchecks.truncate(KEEP_RESULTS);
    });
}
