//! The headset book: one record per client IP, at most [`CAP`], the least recently seen dropped
//! first. The proxy reports events (TLS results, plain HTTP, requests, sessions) here; each is a
//! short lock and a wake-up for the publisher, never a status update of its own.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

use super::advice::{self, Context, SHORT_SESSION};
use super::agent::{self, MAX_UA};
use super::model::{Headset, LastSession, TlsOutcome, TlsResult};
use super::now_ms;
use crate::session_end::{PeerEnd, SessionEnd};

/// Headsets kept: a room of headsets fits many times over; an address flood cannot grow it.
pub const CAP: usize = 64;
/// Error texts are cut to this.
const MAX_DETAIL: usize = 120;

/// A page the book notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Page {
    Trust,
    App,
    /// `/health`: a monitor's question, which never makes a headset.
    Health,
    Other,
}

struct Entry {
    h: Headset,
    /// The last User-Agent (cut to [`MAX_UA`]), parsed again only when it changes.
    ua: String,
    /// When it was last seen, in events: the order of dropping (milliseconds tie under a flood).
    seen: u64,
}

#[derive(Default)]
struct Inner {
    map: HashMap<IpAddr, Entry>,
    /// The certificate the last good handshake was made with, and when it was first seen served.
    serving: Option<(String, u64)>,
    /// Events so far (the clock of `Entry::seen`).
    tick: u64,
    /// Records created and dropped over the gateway's life.
    created: u64,
    dropped: u64,
}

#[derive(Default)]
pub struct Book {
    inner: Mutex<Inner>,
    /// Woken on every change; the publisher coalesces.
    changed: Notify,
}

/// A v4-mapped IPv6 peer is the IPv4 client it stands for.
pub fn client_ip(peer: SocketAddr) -> IpAddr {
    match peer.ip() {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        ip => ip,
    }
}

fn reached(local: SocketAddr) -> String {
    SocketAddr::new(client_ip(local), local.port()).to_string()
}

impl Book {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing is left half-written by a panic that matters more than keeping the book.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes the record of `peer`, creating it (and dropping the least recently seen beyond
    /// [`CAP`]) when `create` is set; without it an unknown peer is ignored.
    fn with(&self, peer: SocketAddr, local: Option<SocketAddr>, create: bool, f: impl FnOnce(&mut Headset, u64)) {
        let ip = client_ip(peer);
        let now = now_ms();
        {
            let mut inner = self.lock();
            if !inner.map.contains_key(&ip) {
                if !create {
                    return;
                }
                while inner.map.len() >= CAP {
                    let oldest = inner.map.iter().min_by_key(|(_, e)| e.seen).map(|(k, _)| *k);
                    match oldest {
                        Some(k) => {
                            inner.map.remove(&k);
                            inner.dropped += 1;
                        }
                        None => break,
                    }
                }
                inner.created += 1;
                let h = Headset { ip: ip.to_string(), first_seen_ms: now, ..Default::default() };
                inner.map.insert(ip, Entry { h, ua: String::new(), seen: 0 });
            }
            inner.tick += 1;
            let tick = inner.tick;
            let Some(e) = inner.map.get_mut(&ip) else { return };
            e.seen = tick;
            e.h.last_seen_ms = now;
            if let Some(local) = local {
                e.h.reached = reached(local);
            }
            f(&mut e.h, now);
        }
        self.changed.notify_one();
    }

    /// The client ended the handshake with `alert` about the certificate.
    pub fn tls_refused(&self, peer: SocketAddr, local: SocketAddr, alert: &str) {
        let detail = Some(agent::cut(alert, MAX_DETAIL).to_string());
        self.with(peer, Some(local), true, |h, now| {
            h.tls = Some(TlsResult { outcome: TlsOutcome::Refused, detail, at_ms: now })
        });
    }

    /// The handshake failed otherwise (another alert, a protocol error).
    pub fn tls_failed(&self, peer: SocketAddr, local: SocketAddr, why: &str) {
        let detail = Some(agent::cut(why, MAX_DETAIL).to_string());
        self.with(peer, Some(local), true, |h, now| {
            h.tls = Some(TlsResult { outcome: TlsOutcome::Failed, detail, at_ms: now })
        });
    }

    /// A completed handshake with the certificate `fingerprint`. Only a client already in the book
    /// is updated: a monitor's handshake followed by `/health` makes no headset (see [`Book::request`]).
    pub fn tls_trusted(&self, peer: SocketAddr, local: SocketAddr, fingerprint: Option<&str>) {
        if let Some(fp) = fingerprint {
            let mut inner = self.lock();
            if inner.serving.as_ref().map(|(f, _)| f.as_str()) != Some(fp) {
                inner.serving = Some((fp.to_string(), now_ms()));
            }
        }
        let fp = fingerprint.map(str::to_string);
        self.with(peer, Some(local), false, |h, now| trusted(h, now, fp));
    }

    /// Plain HTTP on the TLS port.
    pub fn plain_http(&self, peer: SocketAddr, local: SocketAddr) {
        self.with(peer, Some(local), true, |h, now| h.plain_http_ms = Some(now));
    }

    /// A request over TLS (so a completed handshake): its User-Agent and the page.
    pub fn request(&self, peer: SocketAddr, local: SocketAddr, ua: Option<&str>, page: Page) {
        if page == Page::Health {
            return;
        }
        let ua = agent::cut(ua.unwrap_or(""), MAX_UA);
        let serving = self.lock().serving.as_ref().map(|(f, _)| f.clone());
        let ip = client_ip(peer);
        let now = now_ms();
        let mut changed = false;
        {
            let mut inner = self.lock();
            inner.tick += 1;
            let tick = inner.tick;
            if let Some(e) = inner.map.get_mut(&ip) {
                // The common case, a known headset with the same agent: only the time moves.
                let trusted = e.h.tls.as_ref().is_some_and(|t| t.outcome == TlsOutcome::Trusted);
                if e.ua == ua && page == Page::Other && trusted {
                    e.h.last_seen_ms = now;
                    e.seen = tick;
                    return;
                }
            }
        }
        self.with(peer, Some(local), true, |h, now| {
            if h.trusted_ms.is_none() || h.tls.as_ref().is_some_and(|t| t.outcome != TlsOutcome::Trusted) {
                trusted(h, now, serving);
            }
            match page {
                Page::Trust => h.pages.trust_page_ms = Some(now),
                Page::App => h.pages.app_ms = Some(now),
                _ => {}
            }
            changed = true;
        });
        if changed && !ua.is_empty() {
            let mut inner = self.lock();
            if let Some(e) = inner.map.get_mut(&ip) {
                if e.ua != ua {
                    let a = agent::parse(ua);
                    e.ua = ua.to_string();
                    e.h.device = a.device;
                    e.h.browser = a.browser;
                    e.h.chromium = a.chromium;
                    e.h.xr = a.headset;
                }
            }
        }
    }

    /// A network check's overall verdict.
    pub fn netcheck(&self, peer: SocketAddr, verdict: &str) {
        let v = agent::cut(verdict, 16).to_string();
        self.with(peer, None, true, |h, now| h.pages.netcheck = Some((now, v)));
    }

    pub fn session_opened(&self, peer: SocketAddr) {
        self.with(peer, None, true, |h, _| {
            h.sessions_open = h.sessions_open.saturating_add(1);
            h.sessions_total = h.sessions_total.saturating_add(1);
        });
    }

    /// A session ended after `duration_ms`, as `end` says; `runtime_up`: the runtime was UP when it
    /// ended. Short sessions in a row count only those the runtime or the network ended: a headset
    /// that closed, or the gate, says nothing about the media.
    pub fn session_closed(&self, peer: SocketAddr, duration_ms: u64, end: &SessionEnd, runtime_up: bool) {
        let mut end = end.clone();
        if let SessionEnd::Headset(PeerEnd::Error(e)) | SessionEnd::Runtime(PeerEnd::Error(e)) = &mut end {
            *e = agent::cut(e, MAX_DETAIL).to_string();
        }
        self.with(peer, None, true, |h, now| {
            h.sessions_open = h.sessions_open.saturating_sub(1);
            let short = runtime_up && end.by_runtime_or_network() && SHORT_SESSION.contains(&duration_ms);
            h.short_in_a_row = if short { h.short_in_a_row.saturating_add(1) } else { 0 };
            h.last_session = Some(LastSession { ended_ms: now, duration_ms, end, runtime_up });
        });
    }

    /// Every record with its advice, most recently seen first.
    pub fn render(&self, mut ctx: Context) -> Vec<Headset> {
        let inner = self.lock();
        if let Some((fp, since)) = &inner.serving {
            ctx.cert_fingerprint.get_or_insert_with(|| fp.clone());
            if ctx.cert_fingerprint.as_deref() == Some(fp.as_str()) {
                ctx.cert_since_ms = Some(*since);
            }
        }
        let mut list: Vec<Headset> = inner
            .map
            .values()
            .map(|e| {
                let mut h = e.h.clone();
                h.advice = advice::advise(&h, &ctx);
                h
            })
            .collect();
        list.sort_by(|a, b| b.last_seen_ms.cmp(&a.last_seen_ms).then_with(|| a.ip.cmp(&b.ip)));
        list
    }

    /// Resolves after the next change (at once if one came since the last call).
    pub async fn changed(&self) {
        self.changed.notified().await
    }

    /// Records created and dropped so far.
    pub fn churn(&self) -> (u64, u64) {
        let inner = self.lock();
        (inner.created, inner.dropped)
    }

    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn trusted(h: &mut Headset, now: u64, fingerprint: Option<String>) {
    h.tls = Some(TlsResult { outcome: TlsOutcome::Trusted, detail: None, at_ms: now });
    h.trusted_ms = Some(now);
    if fingerprint.is_some() {
        h.trusted_fingerprint = fingerprint;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headsets::model::HeadsetState;
    use crate::session_end::{CloseFrame, GateEnd};

    fn at(ip: &str) -> SocketAddr {
        format!("{ip}:50000").parse().unwrap()
    }
    const LOCAL: &str = "192.168.1.10:48322";

    #[test]
    fn bounded_least_recently_seen_dropped_first() {
        let book = Book::default();
        let local: SocketAddr = LOCAL.parse().unwrap();
        book.tls_refused(at("10.0.0.1"), local, "certificate_unknown");
        for i in 0..3000u32 {
            let ip = format!("10.{}.{}.{}", 1 + i / 65536, (i / 256) % 256, i % 256);
            book.tls_refused(at(&ip), local, "unknown_ca");
        }
        assert_eq!(book.len(), CAP);
        let (created, dropped) = book.churn();
        assert_eq!(created, 3001);
        assert_eq!(dropped, 3001 - CAP as u64);
        assert!(book.render(Context::default()).iter().all(|h| h.ip != "10.0.0.1"));
    }

    #[test]
    fn health_requests_make_no_headset_and_pages_do() {
        let book = Book::default();
        let local: SocketAddr = LOCAL.parse().unwrap();
        book.tls_trusted(at("10.0.0.2"), local, Some("AA"));
        book.request(at("10.0.0.2"), local, Some("kube-probe/1.30"), Page::Health);
        assert!(book.is_empty());
        let quest = "Mozilla/5.0 (X11; Linux x86_64; Quest 3) AppleWebKit/537.36 (KHTML, like Gecko) \
                     OculusBrowser/39.2.0.0.56.754450099 Chrome/136.0.7103.177 VR Safari/537.36";
        book.request(at("10.0.0.2"), local, Some(quest), Page::Trust);
        let h = &book.render(Context::default())[0];
        assert_eq!(h.device, "Quest 3 / 3S");
        assert_eq!(h.trusted_fingerprint.as_deref(), Some("AA"));
        assert!(h.pages.trust_page_ms.is_some());
        assert_eq!(h.advice.state, HeadsetState::Trusted);
        assert_eq!(h.reached, LOCAL);
    }

    #[test]
    fn two_short_sessions_with_the_runtime_up() {
        let book = Book::default();
        let p = at("10.0.0.3");
        let runtime = SessionEnd::Runtime(PeerEnd::Closed);
        book.session_opened(p);
        assert_eq!(book.render(Context::default())[0].advice.state, HeadsetState::Connected);
        book.session_closed(p, 30_000, &runtime, true);
        assert_eq!(book.render(Context::default())[0].advice.state, HeadsetState::Ended);
        book.session_opened(p);
        book.session_closed(p, 31_000, &runtime, true);
        let h = &book.render(Context::default())[0];
        assert_eq!(h.advice.state, HeadsetState::ShortSessions);
        assert_eq!(h.sessions_total, 2);
        assert_eq!(h.last_session.as_ref().map(|s| s.end.closed_by()), Some("runtime"));
        // The runtime went down: not the media's fault.
        book.session_opened(p);
        book.session_closed(p, 30_000, &SessionEnd::Gate(GateEnd::Health), false);
        assert_eq!(book.render(Context::default())[0].advice.state, HeadsetState::Ended);
    }

    /// Only the runtime and the network count: a headset that closes its page after 30 s twice, or
    /// the gate closing a stalled reader, is no media problem; a reset twice is.
    #[test]
    fn short_sessions_count_only_when_the_runtime_or_the_network_ended_them() {
        let book = Book::default();
        let p = at("10.0.0.4");
        let twice = |end: SessionEnd| {
            for took in [30_000, 31_000] {
                book.session_opened(p);
                book.session_closed(p, took, &end, true);
            }
            book.render(Context::default())[0].advice.state
        };
        let close = PeerEnd::Close(CloseFrame::Code { code: 1001, text: String::new() });
        assert_eq!(twice(SessionEnd::Headset(close)), HeadsetState::Ended);
        assert_eq!(twice(SessionEnd::Headset(PeerEnd::Closed)), HeadsetState::Ended);
        assert_eq!(twice(SessionEnd::Gate(GateEnd::Stall { ms: 60_000 })), HeadsetState::Ended);
        assert_eq!(twice(SessionEnd::Gate(GateEnd::Shutdown)), HeadsetState::Ended);
        assert_eq!(twice(SessionEnd::Headset(PeerEnd::Error("connection reset".into()))), HeadsetState::ShortSessions);
        assert_eq!(twice(SessionEnd::Runtime(PeerEnd::Closed)), HeadsetState::ShortSessions);
    }
}
