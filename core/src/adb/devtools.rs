//! "Accept the certificate on the headset": over the headset browser's DevTools socket (forwarded
//! by adb to a local port), find the tab showing the certificate warning for this gate's origin and
//! press that warning's own "Proceed" link, as the user would. The browser then remembers the
//! exception for that host and certificate only; nothing turns certificate checks off (no
//! `Security.setIgnoreCertificateErrors`, no override of other tabs). The forward is removed
//! afterwards, whatever happened.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

use super::client::Server;
use super::props::{browser_socket, devtools_sockets};
use super::wire::AdbError;

/// How long the tab may take to show the warning, and the page after Proceed.
const WAIT: Duration = Duration::from_secs(15);
/// How long to look for a tab at the origin ("Open on headset" comes first; it may still be opening).
const TAB_WAIT: Duration = Duration::from_secs(8);
/// DevTools answers are small; a page list of many tabs, or an evaluation's answer, stays far below this.
const MAX_LIST: usize = 1 << 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AcceptOutcome {
    /// The warning's Proceed was pressed and the tab left the warning.
    Accepted { url: String, title: String },
    /// The tab shows the gate's page already: nothing to accept.
    AlreadyPast { url: String },
}

impl AcceptOutcome {
    pub fn message(&self, origin: &str) -> String {
        match self {
            AcceptOutcome::Accepted { title, .. } => format!(
                "Accepted the certificate for {origin} in the headset's browser (its warning's Proceed, for this \
                 address only); the tab now shows \"{title}\". The DevTools forward was removed."
            ),
            AcceptOutcome::AlreadyPast { url } => {
                format!("The headset's browser shows {url} without a warning: the certificate is accepted already.")
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error("{0}")]
    Adb(#[from] AdbError),
    #[error("the headset's browser has no DevTools socket open (found: {0}); open the page on it first")]
    NoSocket(String),
    #[error("no tab of the headset's browser shows {0}: press \"Open on headset\" first")]
    NoTab(String),
    #[error("the tab at {0} shows a warning that is not about the certificate, or one without Proceed")]
    NotCertificateWarning(String),
    #[error("the browser's DevTools: {0}")]
    DevTools(String),
    #[error("the tab still shows the warning after Proceed")]
    StillWarning,
}

/// Does it on the headset `serial`: finds the browser's DevTools socket, forwards a local port to it,
/// accepts for `origin` (`https://ip:port`), removes the forward.
pub async fn accept_on_headset(server: &Server, serial: &str, origin: &str) -> Result<AcceptOutcome, AcceptError> {
    let unix = server.shell(serial, &["cat", "/proc/net/unix"]).await?;
    let sockets = devtools_sockets(&unix.stdout);
    let name = browser_socket(&sockets)
        .ok_or_else(|| AcceptError::NoSocket(if sockets.is_empty() { "none".into() } else { sockets.join(", ") }))?;
    let port = server.forward(serial, &format!("localabstract:{name}")).await?;
    let result = accept_at(SocketAddr::from((Ipv4Addr::LOCALHOST, port)), origin).await;
    if let Err(e) = server.kill_forward(serial, port).await {
        tracing::warn!("adb: could not remove the DevTools forward of port {port}: {e}");
    }
    result
}

/// The same against a DevTools endpoint at `addr` (the forwarded port, or a desktop Chromium's
/// `--remote-debugging-port` in tests).
pub async fn accept_at(addr: SocketAddr, origin: &str) -> Result<AcceptOutcome, AcceptError> {
    let origin = origin.trim_end_matches('/');
    let start = Instant::now();
    let tab = loop {
        let tabs = list_tabs(addr).await?;
        let mine: Vec<Tab> = tabs.into_iter().filter(|t| t.kind == "page" && same_origin(&t.url, origin)).collect();
        if !mine.is_empty() || start.elapsed() > TAB_WAIT {
            break mine;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    if tab.is_empty() {
        return Err(AcceptError::NoTab(origin.to_string()));
    }
    let mut last_err = None;
    for t in tab {
        let mut cdp = Cdp::connect(addr, &t.id).await?;
        // A tab still loading shows nothing yet: wait for it (a failed look is retried too).
        let start = Instant::now();
        let look = loop {
            match cdp.look().await {
                // Loaded, and the warning or the gate's own page (not the blank page before either).
                Ok(l) if (l.loaded && (l.warning || same_origin(&l.href, origin))) || start.elapsed() > WAIT => {
                    break l
                }
                Err(e) if start.elapsed() > WAIT => return Err(e),
                _ => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        };
        if !look.warning {
            return Ok(AcceptOutcome::AlreadyPast { url: look.href });
        }
        if !look.certificate {
            last_err = Some(AcceptError::NotCertificateWarning(look.href));
            continue;
        }
        cdp.evaluate("document.getElementById('proceed-link').click(); true").await?;
        let start = Instant::now();
        while start.elapsed() < WAIT {
            tokio::time::sleep(Duration::from_millis(200)).await;
            // The page changes under the evaluation: a failed look is retried.
            if let Ok(now) = cdp.look().await {
                if now.loaded && !now.warning && same_origin(&now.href, origin) {
                    return Ok(AcceptOutcome::Accepted { url: now.href, title: now.title });
                }
            }
        }
        return Err(AcceptError::StillWarning);
    }
    Err(last_err.unwrap_or_else(|| AcceptError::NoTab(origin.to_string())))
}

/// `url` is at `origin` (scheme, host and port), not merely starting with its text.
fn same_origin(url: &str, origin: &str) -> bool {
    url == origin || url.strip_prefix(origin).is_some_and(|rest| rest.starts_with(['/', '?', '#']))
}

#[derive(Debug, Deserialize)]
struct Tab {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    url: String,
}

async fn list_tabs(addr: SocketAddr) -> Result<Vec<Tab>, AcceptError> {
    let dev = |e: &dyn std::fmt::Display| AcceptError::DevTools(format!("GET /json/list at {addr}: {e}"));
    let tcp = TcpStream::connect(addr).await.map_err(|e| dev(&e))?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp)).await.map_err(|e| dev(&e))?;
    let conn = tokio::spawn(conn);
    // The Host header must be an IP or localhost: the browser refuses others (DNS rebinding).
    let req = hyper::Request::get("/json/list")
        .header(hyper::header::HOST, addr.to_string())
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|e| dev(&e))?;
    let resp = tokio::time::timeout(WAIT, send.send_request(req))
        .await
        .map_err(|_| dev(&"no answer"))?
        .map_err(|e| dev(&e))?;
    let body = http_body_util::Limited::new(resp.into_body(), MAX_LIST);
    let bytes =
        tokio::time::timeout(WAIT, body.collect()).await.map_err(|_| dev(&"no answer"))?.map_err(|e| dev(&e))?;
    conn.abort();
    serde_json::from_slice(&bytes.to_bytes()).map_err(|e| dev(&e))
}

/// What a tab shows.
struct Look {
    href: String,
    title: String,
    /// A security interstitial with a Proceed link.
    warning: bool,
    /// …and it is about the certificate (a `NET::ERR_CERT_…` error).
    certificate: bool,
    /// Loaded (`document.readyState` is `complete`): what it shows is what it will show.
    loaded: bool,
}

const LOOK: &str = "JSON.stringify({ href: location.href, title: document.title, ready: document.readyState, \
    warning: !!document.getElementById('proceed-link') && typeof certificateErrorPageController !== 'undefined', \
    certificate: !!document.documentElement && document.documentElement.innerHTML.includes('ERR_CERT_') })";

/// One DevTools session with a tab.
struct Cdp {
    ws: tokio_tungstenite::WebSocketStream<TcpStream>,
    next: u64,
}

impl Cdp {
    async fn connect(addr: SocketAddr, id: &str) -> Result<Cdp, AcceptError> {
        // The path from the tab's id: the listed webSocketDebuggerUrl names the browser's own host.
        if !id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(AcceptError::DevTools(format!("a tab id {id:?}")));
        }
        let url = format!("ws://{addr}/devtools/page/{id}");
        let tcp = TcpStream::connect(addr).await.map_err(|e| AcceptError::DevTools(format!("{url}: {e}")))?;
        // DevTools answers here are small: a page that sends more is cut off, not buffered.
        let config = WebSocketConfig::default().max_message_size(Some(MAX_LIST)).max_frame_size(Some(MAX_LIST));
        let (ws, _) =
            tokio::time::timeout(WAIT, tokio_tungstenite::client_async_with_config(url.as_str(), tcp, Some(config)))
                .await
                .map_err(|_| AcceptError::DevTools(format!("{url}: no answer")))?
                .map_err(|e| AcceptError::DevTools(format!("{url}: {e}")))?;
        Ok(Cdp { ws, next: 1 })
    }

    /// `Runtime.evaluate` of `expr`; its value.
    async fn evaluate(&mut self, expr: &str) -> Result<Value, AcceptError> {
        let id = self.next;
        self.next += 1;
        let msg =
            json!({ "id": id, "method": "Runtime.evaluate", "params": { "expression": expr, "returnByValue": true } });
        let dev = |e: &dyn std::fmt::Display| AcceptError::DevTools(e.to_string());
        self.ws.send(Message::Text(msg.to_string().into())).await.map_err(|e| dev(&e))?;
        let answer = tokio::time::timeout(WAIT, async {
            while let Some(m) = self.ws.next().await {
                let Ok(Message::Text(t)) = m else { continue };
                let Ok(v) = serde_json::from_str::<Value>(&t) else { continue };
                if v["id"] == id {
                    return Some(v);
                }
            }
            None
        })
        .await
        .map_err(|_| dev(&"no answer to Runtime.evaluate"))?
        .ok_or_else(|| dev(&"the tab closed its DevTools connection"))?;
        if let Some(e) = answer.get("error").or_else(|| answer["result"].get("exceptionDetails")) {
            return Err(dev(&e));
        }
        Ok(answer["result"]["result"]["value"].clone())
    }

    async fn look(&mut self) -> Result<Look, AcceptError> {
        let v = self.evaluate(LOOK).await?;
        let v: Value = serde_json::from_str(v.as_str().unwrap_or("{}")).unwrap_or_default();
        Ok(Look {
            href: v["href"].as_str().unwrap_or_default().to_string(),
            title: v["title"].as_str().unwrap_or_default().to_string(),
            warning: v["warning"].as_bool().unwrap_or(false),
            certificate: v["certificate"].as_bool().unwrap_or(false),
            loaded: v["ready"] == "complete",
        })
    }
}
