//! The headset book: one record per client IP, at most [`CAP`], the least recently seen dropped
//! first, but never one with a session open. The proxy reports events (TLS results, plain HTTP,
//! requests, sessions) here; each is one short lock and a wake-up for the publisher, never a
//! status update of its own. A request counts for the connection it came on: a connection's
//! handshake ([`Handshake`]) never overrides a TLS result the headset got after it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Mutex, MutexGuard};

use tokio::sync::Notify;

use super::advice::{self, Context, SHORT_SESSION};
use super::agent::{self, MAX_UA};
use super::model::{Headset, LastSession, TlsOutcome, TlsResult};
use super::now_ms;
use crate::addr::unmapped_socket;
use crate::session_end::{PeerEnd, SessionEnd};

/// Headsets kept: a room of headsets fits many times over; an address flood cannot grow it. When
/// every record has a session open, a new address is not recorded (see [`Book::churn`]).
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

/// A completed TLS handshake as its connection remembers it: the certificate it was made with and
/// when, in the book's events. Requests on the connection carry it to [`Book::request`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Handshake {
    pub fingerprint: Option<String>,
    /// The book's event count at the handshake (0: no handshake known, e.g. the fuzz harness).
    event: u64,
}

struct Entry {
    h: Headset,
    /// The last User-Agent (cut to [`MAX_UA`]), parsed again only when it changes.
    ua: String,
    /// The address it last reached the gate on (`h.reached` is its text, written when it changes).
    local: Option<SocketAddr>,
    /// When it was last seen, in events: the order of dropping (milliseconds tie under a flood).
    seen: u64,
    /// The event of its last TLS result: a connection whose handshake came before it does not
    /// override it.
    tls_event: u64,
}

#[derive(Default)]
struct Inner {
    map: HashMap<IpAddr, Entry>,
    /// The certificate the last good handshake was made with, and when it was first seen served.
    serving: Option<(String, u64)>,
    /// Events so far (the clock of `Entry::seen`, `Entry::tls_event` and `Handshake`).
    tick: u64,
    /// Records created and dropped over the gateway's life.
    created: u64,
    dropped: u64,
    /// Events from a new address not recorded because every record had a session open.
    turned_away: u64,
}

impl Inner {
    /// The record of `ip`, created if `create` (dropping the least recently seen record without a
    /// session when the book is full); `None` for an unknown address without `create`, or when all
    /// [`CAP`] records have a session open: a headset mid-session is never dropped, and the cap
    /// holds.
    fn entry(&mut self, ip: IpAddr, now: u64, create: bool) -> Option<&mut Entry> {
        if !self.map.contains_key(&ip) {
            if !create {
                return None;
            }
            if self.map.len() >= CAP {
                let idle = self.map.iter().filter(|(_, e)| e.h.sessions_open == 0);
                match idle.min_by_key(|(_, e)| e.seen).map(|(k, _)| *k) {
                    Some(k) => {
                        self.map.remove(&k);
                        self.dropped += 1;
                    }
                    None => {
                        self.turned_away += 1;
                        return None;
                    }
                }
            }
            self.created += 1;
            let h = Headset { ip: ip.to_string(), first_seen_ms: now, ..Default::default() };
            self.map.insert(ip, Entry { h, ua: String::new(), local: None, seen: 0, tls_event: 0 });
        }
        self.map.get_mut(&ip)
    }
}

impl Entry {
    /// Notes the address it reached the gate on; true if it changed.
    fn reached(&mut self, local: SocketAddr) -> bool {
        if self.local == Some(local) {
            return false;
        }
        self.local = Some(local);
        self.h.reached = unmapped_socket(local).to_string();
        true
    }
}

#[derive(Default)]
pub struct Book {
    inner: Mutex<Inner>,
    /// Woken on every change; the publisher coalesces.
    changed: Notify,
}

/// A v4-mapped IPv6 peer is the IPv4 client it stands for.
pub fn client_ip(peer: SocketAddr) -> IpAddr {
    peer.ip().to_canonical()
}

impl Book {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Nothing is left half-written by a panic that matters more than keeping the book.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes the record of `peer`, creating it when `create` is set (see [`Inner::entry`]);
    /// without it an unknown peer is ignored. Returns the event's number.
    fn with_entry(
        &self,
        peer: SocketAddr,
        local: Option<SocketAddr>,
        create: bool,
        f: impl FnOnce(&mut Entry, u64, u64),
    ) -> u64 {
        let ip = client_ip(peer);
        let now = now_ms();
        let tick;
        {
            let mut inner = self.lock();
            inner.tick += 1;
            tick = inner.tick;
            let Some(e) = inner.entry(ip, now, create) else { return tick };
            e.seen = tick;
            e.h.last_seen_ms = now;
            if let Some(local) = local {
                e.reached(local);
            }
            f(e, now, tick);
        }
        self.changed.notify_one();
        tick
    }

    fn with(&self, peer: SocketAddr, local: Option<SocketAddr>, create: bool, f: impl FnOnce(&mut Headset, u64)) {
        self.with_entry(peer, local, create, |e, now, _| f(&mut e.h, now));
    }

    fn tls_result(&self, peer: SocketAddr, local: SocketAddr, outcome: TlsOutcome, detail: &str) {
        let detail = Some(agent::cut(detail, MAX_DETAIL).to_string());
        self.with_entry(peer, Some(local), true, |e, now, tick| {
            e.h.tls = Some(TlsResult { outcome, detail, at_ms: now });
            e.tls_event = tick;
        });
    }

    /// The client ended the handshake with `alert` about the certificate.
    pub fn tls_refused(&self, peer: SocketAddr, local: SocketAddr, alert: &str) {
        self.tls_result(peer, local, TlsOutcome::Refused, alert);
    }

    /// The handshake failed otherwise (another alert, a protocol error).
    pub fn tls_failed(&self, peer: SocketAddr, local: SocketAddr, why: &str) {
        self.tls_result(peer, local, TlsOutcome::Failed, why);
    }

    /// A completed handshake with the certificate `fingerprint`; the connection keeps the returned
    /// [`Handshake`] for its requests. Only a client already in the book is updated: a monitor's
    /// handshake followed by `/health` makes no headset (see [`Book::request`]).
    pub fn tls_trusted(&self, peer: SocketAddr, local: SocketAddr, fingerprint: Option<&str>) -> Handshake {
        let ip = client_ip(peer);
        let now = now_ms();
        let fp = fingerprint.map(str::to_string);
        let (event, known) = {
            let mut inner = self.lock();
            if let Some(fp) = fingerprint {
                if inner.serving.as_ref().map(|(f, _)| f.as_str()) != Some(fp) {
                    inner.serving = Some((fp.to_string(), now));
                }
            }
            inner.tick += 1;
            let tick = inner.tick;
            let known = match inner.entry(ip, now, false) {
                Some(e) => {
                    e.seen = tick;
                    e.h.last_seen_ms = now;
                    e.reached(local);
                    trusted(e, now, tick, fp.clone());
                    true
                }
                None => false,
            };
            (tick, known)
        };
        if known {
            self.changed.notify_one();
        }
        Handshake { fingerprint: fp, event }
    }

    /// Plain HTTP on the TLS port.
    pub fn plain_http(&self, peer: SocketAddr, local: SocketAddr) {
        self.with(peer, Some(local), true, |h, now| h.plain_http_ms = Some(now));
    }

    /// A request over TLS on a connection that completed `handshake`: its User-Agent and the page.
    /// One lock; the publisher is woken only if something it shows changed.
    pub fn request(&self, peer: SocketAddr, local: SocketAddr, handshake: &Handshake, ua: Option<&str>, page: Page) {
        if page == Page::Health {
            return;
        }
        let ua = agent::cut(ua.unwrap_or(""), MAX_UA);
        let ip = client_ip(peer);
        let now = now_ms();
        let changed = {
            let mut inner = self.lock();
            inner.tick += 1;
            let tick = inner.tick;
            let Some(e) = inner.entry(ip, now, true) else { return };
            let mut changed = e.seen == 0; // a new record
            e.seen = tick;
            e.h.last_seen_ms = now;
            changed |= e.reached(local);
            // A request proves its own connection's handshake, not a later one: a TLS result newer
            // than it (a refusal on a new connection after a certificate change) stands.
            let stale = match &e.h.tls {
                None => true,
                Some(t) => t.outcome != TlsOutcome::Trusted && e.tls_event < handshake.event,
            };
            if stale {
                trusted(e, now, handshake.event, handshake.fingerprint.clone());
                changed = true;
            }
            match page {
                Page::Trust => e.h.pages.trust_page_ms = Some(now),
                Page::App => e.h.pages.app_ms = Some(now),
                _ => {}
            }
            changed |= page != Page::Other;
            if !ua.is_empty() && e.ua != ua {
                let a = agent::parse(ua);
                e.ua = ua.to_string();
                e.h.device = a.device;
                e.h.browser = a.browser;
                e.h.chromium = a.chromium;
                e.h.xr = a.headset;
                changed = true;
            }
            changed
        };
        if changed {
            self.changed.notify_one();
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

    /// Every record with its advice, most recently seen first. The lock is held only to copy the
    /// records; the advice (a sentence each) is written after.
    pub fn render(&self, mut ctx: Context) -> Vec<Headset> {
        let (mut list, serving) = {
            let inner = self.lock();
            (inner.map.values().map(|e| e.h.clone()).collect::<Vec<Headset>>(), inner.serving.clone())
        };
        if let Some((fp, since)) = serving {
            if ctx.cert_fingerprint.get_or_insert_with(|| fp.clone()) == &fp {
                ctx.cert_since_ms = Some(since);
            }
        }
        for h in &mut list {
            h.advice = advice::advise(h, &ctx);
        }
        list.sort_by(|a, b| b.last_seen_ms.cmp(&a.last_seen_ms).then_with(|| a.ip.cmp(&b.ip)));
        list
    }

    /// Resolves after the next change (at once if one came since the last call).
    pub async fn changed(&self) {
        self.changed.notified().await
    }

    /// Records created and dropped so far, and events from new addresses not recorded because every
    /// record had a session open.
    pub fn churn(&self) -> (u64, u64, u64) {
        let inner = self.lock();
        (inner.created, inner.dropped, inner.turned_away)
    }

    pub fn len(&self) -> usize {
        self.lock().map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A handshake (event `event`) with the certificate `fingerprint` succeeded.
fn trusted(e: &mut Entry, now: u64, event: u64, fingerprint: Option<String>) {
    e.h.tls = Some(TlsResult { outcome: TlsOutcome::Trusted, detail: None, at_ms: now });
    e.h.trusted_ms = Some(now);
    e.tls_event = event;
    if fingerprint.is_some() {
        e.h.trusted_fingerprint = fingerprint;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headsets::model::HeadsetState;
    use crate::headsets::QUEST_3_UA;
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
        let (created, dropped, _) = book.churn();
        assert_eq!(created, 3001);
        assert_eq!(dropped, 3001 - CAP as u64);
        assert!(book.render(Context::default()).iter().all(|h| h.ip != "10.0.0.1"));
    }

    #[test]
    fn health_requests_make_no_headset_and_pages_do() {
        let book = Book::default();
        let local: SocketAddr = LOCAL.parse().unwrap();
        let hs = book.tls_trusted(at("10.0.0.2"), local, Some("AA"));
        book.request(at("10.0.0.2"), local, &hs, Some("kube-probe/1.30"), Page::Health);
        assert!(book.is_empty());
        book.request(at("10.0.0.2"), local, &hs, Some(QUEST_3_UA), Page::Trust);
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

    // A session makes no book events: before, 64 refusing addresses dropped a connected headset,
    // and `/health`'s `connected` lost it.
    #[test]
    fn a_headset_with_a_session_open_is_never_dropped() {
        let book = Book::default();
        let local: SocketAddr = LOCAL.parse().unwrap();
        let a = at("10.0.0.1");
        book.session_opened(a);
        for i in 0..CAP as u32 {
            book.tls_refused(at(&format!("10.1.0.{}", i + 1)), local, "unknown_ca");
        }
        let list = book.render(Context::default());
        assert_eq!(list.len(), CAP);
        let rec = list.iter().find(|h| h.ip == "10.0.0.1").expect("the connected headset is still in the book");
        assert_eq!(rec.advice.state, HeadsetState::Connected);
        assert_eq!(crate::headsets::HeadsetCounts::of(&list).connected, 1);
        // The oldest record without a session went instead.
        assert!(list.iter().all(|h| h.ip != "10.1.0.1"));
        book.session_closed(a, 60_000, &SessionEnd::Headset(PeerEnd::Closed), true);
        let rec = book.render(Context::default()).into_iter().find(|h| h.ip == "10.0.0.1").expect("still there");
        assert_eq!((rec.sessions_total, rec.advice.state), (1, HeadsetState::Ended));
    }

    // When every record has a session open, the cap holds: a new address is not recorded (counted),
    // and no connected headset is dropped for it.
    #[test]
    fn a_book_full_of_open_sessions_turns_new_addresses_away() {
        let book = Book::default();
        let local: SocketAddr = LOCAL.parse().unwrap();
        for i in 0..CAP as u32 {
            book.session_opened(at(&format!("10.2.0.{}", i + 1)));
        }
        book.tls_refused(at("10.3.0.1"), local, "unknown_ca");
        book.session_opened(at("10.3.0.2"));
        let list = book.render(Context::default());
        assert_eq!(list.len(), CAP);
        let open: Vec<(&str, u32)> = list.iter().map(|h| (h.ip.as_str(), h.sessions_open)).collect();
        assert!(open.iter().all(|(_, n)| *n == 1), "{open:?}");
        assert_eq!(book.churn(), (CAP as u64, 0, 2));
        // One session ends: its record may now make room, the others stay.
        book.session_closed(at("10.2.0.1"), 60_000, &SessionEnd::Headset(PeerEnd::Closed), true);
        book.tls_refused(at("10.3.0.1"), local, "unknown_ca");
        let list = book.render(Context::default());
        assert_eq!(list.len(), CAP);
        assert!(list.iter().any(|h| h.ip == "10.3.0.1") && list.iter().all(|h| h.ip != "10.2.0.1"));
        assert_eq!(list.iter().filter(|h| h.sessions_open == 1).count(), CAP - 1);
    }

    // A keep-alive `/app/` connection made before the certificate changed is still open; a new
    // connection from the same headset refuses the new certificate; another headset trusts it.
    // The old connection's next request must not make the first headset "trusted" again, nor
    // give it the other headset's certificate.
    #[test]
    fn a_request_on_an_older_connection_does_not_erase_a_newer_refusal() {
        let book = Book::default();
        let local: SocketAddr = LOCAL.parse().unwrap();
        let (a, b) = (at("10.0.0.1"), at("10.0.0.2"));
        let old = book.tls_trusted(a, local, Some("AA"));
        book.request(a, local, &old, Some(QUEST_3_UA), Page::App);
        book.tls_refused(a, local, "certificate_unknown");
        let hs_b = book.tls_trusted(b, local, Some("BB"));
        book.request(b, local, &hs_b, Some(QUEST_3_UA), Page::Trust);
        book.request(a, local, &old, Some(QUEST_3_UA), Page::App);
        let ctx = Context { cert_fingerprint: Some("BB".into()), ..Default::default() };
        let list = book.render(ctx);
        let rec = list.iter().find(|h| h.ip == "10.0.0.1").expect("a");
        assert_eq!(rec.advice.state, HeadsetState::Refused, "{rec:#?}");
        assert_eq!(rec.tls.as_ref().map(|t| t.outcome), Some(TlsOutcome::Refused));
        assert_eq!(rec.trusted_fingerprint.as_deref(), Some("AA"));
        assert!(rec.advice.sentence.contains("the certificate changed"), "{}", rec.advice.sentence);
        let other = list.iter().find(|h| h.ip == "10.0.0.2").expect("b");
        assert_eq!((other.advice.state, other.trusted_fingerprint.as_deref()), (HeadsetState::Trusted, Some("BB")));
        // A new connection that completes its handshake is newer than the refusal: trusted again.
        let new = book.tls_trusted(a, local, Some("BB"));
        book.request(a, local, &new, Some(QUEST_3_UA), Page::App);
        let rec = book.render(Context::default()).into_iter().find(|h| h.ip == "10.0.0.1").expect("a");
        assert_eq!((rec.advice.state, rec.trusted_fingerprint.as_deref()), (HeadsetState::Trusted, Some("BB")));
    }

    // A request with nothing new (a known headset, the same agent, no page) wakes no publisher;
    // a page or a new agent does.
    #[tokio::test]
    async fn only_a_visible_change_wakes_the_publisher() {
        let book = Book::default();
        let local: SocketAddr = LOCAL.parse().unwrap();
        let p = at("10.0.0.1");
        let hs = book.tls_trusted(p, local, Some("AA"));
        book.request(p, local, &hs, Some(QUEST_3_UA), Page::Trust);
        book.changed().await;
        let woke = |book: &Book| {
            let f = std::pin::pin!(book.changed());
            futures_util::FutureExt::now_or_never(f).is_some()
        };
        book.request(p, local, &hs, Some(QUEST_3_UA), Page::Other);
        assert!(!woke(&book), "nothing changed");
        book.request(p, local, &hs, Some(QUEST_3_UA), Page::App);
        assert!(woke(&book), "a page");
        book.request(p, local, &hs, Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/139.0"), Page::Other);
        assert!(woke(&book), "another agent");
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
