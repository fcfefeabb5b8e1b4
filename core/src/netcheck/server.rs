//! The measuring side of the network check, over a WebSocket already upgraded (the HTTP side is
//! `proxy::netcheck`): ~5 s of pings (server → headset → server) for round trip and jitter, ~3 s of
//! downstream bulk (the headset reports what it received), ~3 s of upstream bulk (measured here),
//! then the verdicts. One check at a time ([`Checks`]); refused while a CloudXR stream is running
//! unless the headset confirmed (`?force=1`). Every phase and every send has a deadline.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::model::NetCheckResult;
use super::stats::{jitter, judge, mbps, percentile};

const CHUNK: usize = 64 * 1024;
/// What the check accepts from the headset (its uploads are CHUNK-sized).
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().max_message_size(Some(4 * CHUNK)).max_frame_size(Some(4 * CHUNK))
}
/// A control message or the result that takes longer than this to send means the headset stopped reading.
const SEND_LIMIT: Duration = Duration::from_secs(5);
/// How long past its planned end a bulk phase may run before the headset counts as gone.
const PHASE_SLACK: Duration = Duration::from_secs(2);
/// What the headset may take to report the download and to upload (beyond the phase itself).
const REPORT_LIMIT: Duration = Duration::from_secs(15);

/// Why a check ended before its result.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// A send did not go out by its deadline: the headset stopped reading (nothing more is sent).
    #[error("the headset stopped reading")]
    Stalled,
    #[error("the headset closed the test")]
    Closed,
    #[error("the headset stopped answering")]
    Silent,
    #[error("the headset stopped sending")]
    StoppedSending,
    #[error("{0}")]
    Protocol(&'static str),
    #[error(transparent)]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
}

/// The network checks of one gateway: one at a time.
#[derive(Debug, Default)]
pub struct Checks {
    busy: AtomicBool,
}

/// The "one check at a time" flag, held for a check's whole life and cleared however it ends
/// (result, error, deadline, shutdown, a dropped task).
struct Busy<'a>(&'a AtomicBool);

impl<'a> Busy<'a> {
    fn take(flag: &'a AtomicBool) -> Option<Self> {
        (!flag.swap(true, Ordering::AcqRel)).then_some(Busy(flag))
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Timing {
    pub ping: Duration,
    pub ping_every: Duration,
    pub down: Duration,
    pub up: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            ping: Duration::from_secs(5),
            ping_every: Duration::from_millis(20),
            down: Duration::from_secs(3),
            up: Duration::from_secs(3),
        }
    }
}

/// Runs one check on `ws` for the headset at `peer`, `streams` CloudXR sessions being open. Sends
/// the result (or why not) to the headset and returns it; `Ok(None)` when the check was refused as
/// busy. The result's `at_ms` is left for the caller to stamp.
pub async fn run<S>(
    checks: &Checks,
    ws: &mut WebSocketStream<S>,
    peer: SocketAddr,
    force: bool,
    streams: usize,
) -> Result<Option<NetCheckResult>, CheckError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if streams > 0 && !force {
        let msg = format!(
            "A CloudXR stream is running ({streams} headset{} connected). Testing now takes bandwidth from it.",
            if streams == 1 { "" } else { "s" }
        );
        send_json(ws, json!({"type": "busy", "sessions": streams, "message": msg})).await?;
        return Ok(None);
    }
    let Some(busy) = Busy::take(&checks.busy) else {
        let msg = "Another network check is running; try again in a few seconds.";
        send_json(ws, json!({"type": "busy", "sessions": 0, "message": msg})).await?;
        return Ok(None);
    };
    let outcome = measure(ws, peer, Timing::default()).await;
    drop(busy);
    match outcome {
        Ok(result) => {
            send_json(ws, json!({"type": "result", "result": &result})).await?;
            Ok(Some(result))
        }
        Err(e) => {
            tracing::info!("network check from {peer} ended early: {e}");
            if !matches!(e, CheckError::Stalled) {
                send_json(ws, json!({"type": "error", "message": e.to_string()})).await?;
            }
            Err(e)
        }
    }
}

async fn send_json<S: AsyncRead + AsyncWrite + Unpin>(ws: &mut WebSocketStream<S>, v: Value) -> Result<(), CheckError> {
    send_by(ws, Message::text(v.to_string()), Instant::now() + SEND_LIMIT).await
}

/// Sends one message, failing if the headset has not taken it by `deadline` (it stopped reading).
async fn send_by<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    m: Message,
    deadline: Instant,
) -> Result<(), CheckError> {
    match tokio::time::timeout_at(deadline.into(), ws.send(m)).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(CheckError::Stalled),
    }
}

/// The next text message as JSON (binary messages are skipped), within `within`.
async fn next_json<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    within: Duration,
) -> Result<Value, CheckError> {
    tokio::time::timeout(within, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) => {
                    return serde_json::from_str::<Value>(t.as_str())
                        .map_err(|_| CheckError::Protocol("bad message from the headset"))
                }
                Some(Ok(Message::Close(_))) | None => return Err(CheckError::Closed),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(_)) => {}
            }
        }
    })
    .await
    .map_err(|_| CheckError::Silent)?
}

pub async fn measure<S: AsyncRead + AsyncWrite + Unpin>(
    ws: &mut WebSocketStream<S>,
    peer: SocketAddr,
    t: Timing,
) -> Result<NetCheckResult, CheckError> {
    // Round trip: the server stamps each ping and the headset echoes it at once.
    send_json(ws, json!({"type": "phase", "phase": "ping", "seconds": t.ping.as_secs_f64()})).await?;
    let start = Instant::now();
    let mut sent: HashMap<u32, Instant> = HashMap::new();
    let mut rtts: Vec<(u32, f64)> = Vec::new();
    let mut seq: u32 = 0;
    let mut tick = tokio::time::interval(t.ping_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let ping_end = start + t.ping;
    let drain_end = ping_end + Duration::from_millis(500);
    loop {
        let now = Instant::now();
        if now >= drain_end || (now >= ping_end && rtts.len() as u32 == seq) {
            break;
        }
        tokio::select! {
            _ = tick.tick(), if now < ping_end => {
                sent.insert(seq, Instant::now());
                send_by(ws, Message::text(format!("p:{seq}")), drain_end).await?;
                seq += 1;
            }
            m = ws.next() => match m {
                Some(Ok(Message::Text(txt))) => {
                    if let Some(n) = txt.as_str().strip_prefix("p:").and_then(|n| n.parse::<u32>().ok()) {
                        if let Some(at) = sent.remove(&n) {
                            rtts.push((n, at.elapsed().as_secs_f64() * 1000.0));
                        }
                    }
                }
                Some(Ok(Message::Close(_))) | None => return Err(CheckError::Closed),
                Some(Err(e)) => return Err(e.into()),
                Some(Ok(_)) => {}
            },
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(drain_end)) => break,
        }
    }
    rtts.sort_by_key(|(n, _)| *n);
    let ordered: Vec<f64> = rtts.iter().map(|(_, r)| *r).collect();

    // Downstream: as fast as TCP takes it; the headset times what arrives.
    send_json(ws, json!({"type": "phase", "phase": "down", "seconds": t.down.as_secs_f64()})).await?;
    let chunk = Bytes::from(vec![0x5a; CHUNK]);
    let t0 = Instant::now();
    let down_deadline = t0 + t.down + PHASE_SLACK;
    let mut down_sent: u64 = 0;
    while t0.elapsed() < t.down {
        send_by(ws, Message::Binary(chunk.clone()), down_deadline).await?;
        down_sent += CHUNK as u64;
    }
    send_json(ws, json!({"type": "down_end", "bytes": down_sent})).await?;
    let report = next_json(ws, REPORT_LIMIT).await?;
    if report["type"] != "down_result" {
        return Err(CheckError::Protocol("unexpected message from the headset"));
    }
    let down_mbps = mbps(report["bytes"].as_u64().unwrap_or(0), report["ms"].as_f64().unwrap_or(0.0));

    // Upstream: timed here, from the first to the last chunk received.
    send_json(ws, json!({"type": "phase", "phase": "up", "seconds": t.up.as_secs_f64()})).await?;
    let mut first: Option<Instant> = None;
    let mut last = Instant::now();
    let mut up_bytes: u64 = 0;
    let mut first_len: u64 = 0;
    let deadline = Instant::now() + t.up + REPORT_LIMIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, ws.next()).await {
            Err(_) => return Err(CheckError::StoppedSending),
            Ok(Some(Ok(Message::Binary(b)))) => {
                let now = Instant::now();
                if first.is_none() {
                    first = Some(now);
                    first_len = b.len() as u64;
                }
                last = now;
                up_bytes += b.len() as u64;
            }
            Ok(Some(Ok(Message::Text(txt)))) => {
                if txt.as_str().contains("up_end") {
                    break;
                }
            }
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) => return Err(CheckError::Closed),
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(Some(Ok(_))) => {}
        }
    }
    // The first chunk only starts the clock.
    let up_ms = first.map(|f| last.duration_since(f).as_secs_f64() * 1000.0).unwrap_or(0.0);
    let up_mbps = mbps(up_bytes.saturating_sub(first_len), up_ms);

    let mut r = NetCheckResult {
        client: peer.to_string(),
        rtt_p50_ms: percentile(&ordered, 50.0),
        rtt_p95_ms: percentile(&ordered, 95.0),
        jitter_ms: jitter(&ordered),
        pings_sent: seq,
        pings_answered: ordered.len() as u32,
        down_mbps,
        up_mbps,
        ..Default::default()
    };
    judge(&mut r);
    Ok(r)
}
