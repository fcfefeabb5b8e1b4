//! A headset record → its state, one sentence and one action: what the window, the tray and the
//! log tell the user to do next. Pure: everything it needs comes in [`Context`].

use std::net::SocketAddr;
use std::time::{Duration, UNIX_EPOCH};

use super::model::{Action, Advice, Headset, HeadsetState, TlsOutcome};
use crate::qr;

/// Sessions that end this long after opening, twice in a row with the runtime UP, point at media.
pub const SHORT_SESSION: std::ops::RangeInclusive<u64> = 20_000..=45_000;
/// Browsers forget an accepted certificate after this many days (Chromium's exception lifetime).
pub const FORGET_DAYS: u32 = 7;

/// What the advice depends on besides the record.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The certificate served now and since when (as the book first saw it served).
    pub cert_fingerprint: Option<String>,
    pub cert_since_ms: Option<u64>,
    /// The certificate differs from the previous run's.
    pub cert_new_this_run: bool,
    /// The `/app/` query template when a web root is set.
    pub web_app_query: Option<String>,
}

/// "Thu, 03 Dec 2026 12:40:00 GMT" without the seconds' noise: "03 Dec 2026 12:40 UTC".
pub fn date(ms: u64) -> String {
    let s = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_millis(ms));
    // "Thu, 03 Dec 2026 12:40:00 GMT" → "03 Dec 2026 12:40 UTC"
    match (s.get(5..22), s.len()) {
        (Some(d), 29) => format!("{d} UTC"),
        _ => s,
    }
}

fn duration(ms: u64) -> String {
    let s = ms / 1000;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s / 60 % 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s} s")
    }
}

fn trust_url(h: &Headset) -> String {
    match h.reached.parse::<SocketAddr>() {
        Ok(a) => qr::trust_url(&a.ip().to_string(), a.port()),
        Err(_) => "the gate's address (https://…:48322/)".into(),
    }
}

fn app_url(h: &Headset, query: &str) -> String {
    match h.reached.parse::<SocketAddr>() {
        Ok(a) => qr::app_url(&a.ip().to_string(), a.port(), query),
        Err(_) => trust_url(h),
    }
}

/// Which TLS-level event came last, if it came after the last good handshake.
fn last_problem(h: &Headset) -> Option<HeadsetState> {
    let tls_bad = h.tls.as_ref().filter(|t| t.outcome != TlsOutcome::Trusted);
    let tls_at = tls_bad.map(|t| t.at_ms).unwrap_or(0);
    let plain_at = h.plain_http_ms.unwrap_or(0);
    let good_at = h.trusted_ms.unwrap_or(0).max(h.last_session.as_ref().map(|s| s.ended_ms).unwrap_or(0));
    if plain_at > tls_at && plain_at >= good_at && plain_at > 0 {
        return Some(HeadsetState::PlainHttp);
    }
    match tls_bad {
        Some(t) if t.at_ms >= good_at => Some(match t.outcome {
            TlsOutcome::Refused => HeadsetState::Refused,
            _ => HeadsetState::Failed,
        }),
        _ => None,
    }
}

pub fn advise(h: &Headset, ctx: &Context) -> Advice {
    let name = h.name();
    if h.sessions_open > 0 {
        return Advice {
            state: HeadsetState::Connected,
            summary: "connected: a session is open".into(),
            sentence: format!("{name} is connected: a session is open."),
            action: Action::None,
        };
    }
    match last_problem(h) {
        Some(HeadsetState::Refused) => return refused(h, ctx, &name),
        Some(HeadsetState::PlainHttp) => {
            let url = trust_url(h);
            return Advice {
                state: HeadsetState::PlainHttp,
                summary: format!("typed http:// on the TLS port: use {url}"),
                sentence: format!(
                    "{name} opened http:// on the gate's port, which speaks only https://. On the headset, open {url} \
                     instead."
                ),
                action: Action::UseHttps { url },
            };
        }
        Some(_) => {
            let why = h.tls.as_ref().and_then(|t| t.detail.clone()).unwrap_or_else(|| "no reason given".into());
            return Advice {
                state: HeadsetState::Failed,
                summary: format!("failed the TLS handshake: {why}"),
                sentence: format!(
                    "{name} could not complete the secure connection ({why}). Open {} on the headset in its browser.",
                    trust_url(h)
                ),
                action: Action::AcceptCertificate { url: trust_url(h) },
            };
        }
        None => {}
    }
    if let Some(last) = &h.last_session {
        let took = duration(last.duration_ms);
        if h.short_in_a_row >= 2 {
            return Advice {
                state: HeadsetState::ShortSessions,
                summary: format!(
                    "sessions end after about 30 s ({} in a row, the last after {took}): the runtime's media (UDP \
                     47998–48012) probably does not reach the headset",
                    h.short_in_a_row
                ),
                sentence: format!(
                    "{name}: sessions end after about 30 s: the runtime's media (UDP 47998–48012) probably does not \
                     reach the headset. Check the Ports & firewall card, and that the headset is on the same network \
                     and subnet, not a guest Wi-Fi or one with client isolation."
                ),
                action: Action::CheckPorts,
            };
        }
        return Advice {
            state: HeadsetState::Ended,
            summary: format!("last session ended after {took}: {}", last.end),
            sentence: format!("{name}: the last session ended after {took}: {}.", last.end),
            action: Action::None,
        };
    }
    if h.trusted_ms.is_some() {
        let (url, where_) = match &ctx.web_app_query {
            Some(q) => (app_url(h, q), "the web app"),
            None => (trust_url(h), "the web client and connect to the gate's wss:// address shown on"),
        };
        let seen = if h.pages.trust_page_ms.is_some() { " and saw the trust page" } else { "" };
        return Advice {
            state: HeadsetState::Trusted,
            summary: format!("trusts the certificate{seen}; no session yet"),
            sentence: format!("{name} trusts the certificate{seen}; no session yet. Open {where_} {url} and connect."),
            action: Action::OpenApp { url },
        };
    }
    Advice {
        state: HeadsetState::Seen,
        summary: "seen".into(),
        sentence: format!("{name} reached the gate. Open {} on the headset and accept the certificate.", trust_url(h)),
        action: Action::AcceptCertificate { url: trust_url(h) },
    }
}

fn refused(h: &Headset, ctx: &Context, name: &str) -> Advice {
    let alert = h.tls.as_ref().and_then(|t| t.detail.clone()).unwrap_or_else(|| "an alert".into());
    let url = trust_url(h);
    let why = match (&h.trusted_fingerprint, &ctx.cert_fingerprint) {
        (Some(old), Some(now)) if old != now => {
            let when = ctx.cert_since_ms.map(|ms| format!(" on {}", date(ms))).unwrap_or_default();
            let before = h.trusted_ms.map(|ms| format!(" (it last accepted one on {})", date(ms))).unwrap_or_default();
            format!("the certificate changed{when}, after this headset last trusted it{before}")
        }
        _ if ctx.cert_new_this_run => "the certificate is new since the gate's last run".to_string(),
        _ => "it was never accepted in this browser, or the acceptance expired".to_string(),
    };
    Advice {
        state: HeadsetState::Refused,
        summary: format!("refused the certificate (alert {alert}): {why}; open {url} on the headset and accept it"),
        sentence: format!(
            "{name} does not trust this certificate ({why}; browsers also forget an accepted certificate after \
             {FORGET_DAYS} days). On the headset, open {url} and accept it again."
        ),
        action: Action::AcceptCertificate { url },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headsets::model::{LastSession, TlsResult};
    use crate::session_end::{PeerEnd, SessionEnd};

    fn quest() -> Headset {
        Headset {
            ip: "192.168.1.50".into(),
            device: "Quest 3 / 3S".into(),
            browser: "Quest Browser 39.2".into(),
            reached: "192.168.1.10:48322".into(),
            ..Default::default()
        }
    }

    fn refusal(at_ms: u64) -> Option<TlsResult> {
        Some(TlsResult { outcome: TlsOutcome::Refused, detail: Some("certificate_unknown".into()), at_ms })
    }

    #[test]
    fn a_refusal_names_the_headset_the_alert_and_the_link() {
        let mut h = quest();
        h.tls = refusal(1_000);
        let a = advise(&h, &Context::default());
        assert_eq!(a.state, HeadsetState::Refused);
        assert!(
            a.sentence.starts_with("Quest 3 / 3S (192.168.1.50) does not trust this certificate"),
            "{}",
            a.sentence
        );
        assert!(a.sentence.contains("after 7 days"), "{}", a.sentence);
        assert!(a.sentence.contains("open https://192.168.1.10:48322/ and accept it again"), "{}", a.sentence);
        assert!(a.summary.contains("certificate_unknown"), "{}", a.summary);
        assert_eq!(a.action, Action::AcceptCertificate { url: "https://192.168.1.10:48322/".into() });
    }

    #[test]
    fn a_refusal_after_a_certificate_change_names_the_change() {
        let mut h = quest();
        h.trusted_fingerprint = Some("AA".into());
        h.trusted_ms = Some(1_000);
        h.tls = refusal(2_000);
        let ctx = Context {
            cert_fingerprint: Some("BB".into()),
            cert_since_ms: Some(1_764_000_000_000),
            ..Default::default()
        };
        let a = advise(&h, &ctx);
        assert!(a.sentence.contains("the certificate changed on "), "{}", a.sentence);
        assert!(a.sentence.contains("after this headset last trusted it"), "{}", a.sentence);
    }

    #[test]
    fn trusted_points_to_the_app_when_a_web_root_is_set() {
        let mut h = quest();
        h.trusted_ms = Some(5);
        h.pages.trust_page_ms = Some(5);
        let a = advise(&h, &Context::default());
        assert_eq!(a.state, HeadsetState::Trusted);
        assert!(a.summary.contains("saw the trust page"));
        let ctx = Context { web_app_query: Some(String::new()), ..Default::default() };
        let a = advise(&h, &ctx);
        assert_eq!(a.action, Action::OpenApp { url: "https://192.168.1.10:48322/app/".into() });
    }

    #[test]
    fn a_later_good_handshake_clears_a_refusal_and_http_is_named() {
        let mut h = quest();
        h.tls = refusal(1_000);
        h.trusted_ms = Some(2_000);
        assert_eq!(advise(&h, &Context::default()).state, HeadsetState::Trusted);
        h.plain_http_ms = Some(3_000);
        let a = advise(&h, &Context::default());
        assert_eq!(a.state, HeadsetState::PlainHttp);
        assert!(a.sentence.contains("only https://"), "{}", a.sentence);
    }

    #[test]
    fn sessions_connected_ended_and_short() {
        let mut h = quest();
        h.trusted_ms = Some(1);
        h.sessions_open = 1;
        assert_eq!(advise(&h, &Context::default()).state, HeadsetState::Connected);
        h.sessions_open = 0;
        h.last_session = Some(LastSession {
            ended_ms: 40_000,
            duration_ms: 31_000,
            end: SessionEnd::Runtime(PeerEnd::Closed),
            runtime_up: true,
        });
        h.short_in_a_row = 1;
        let a = advise(&h, &Context::default());
        assert_eq!(a.state, HeadsetState::Ended);
        assert!(
            a.sentence.ends_with(": the last session ended after 31 s: closed by the runtime: connection closed."),
            "{}",
            a.sentence
        );
        h.short_in_a_row = 2;
        let a = advise(&h, &Context::default());
        assert_eq!(a.state, HeadsetState::ShortSessions);
        assert!(a.sentence.contains("UDP 47998–48012"), "{}", a.sentence);
        assert_eq!(a.action, Action::CheckPorts);
    }

    #[test]
    fn dates_read_as_utc() {
        assert_eq!(date(0), "01 Jan 1970 00:00 UTC");
    }
}
