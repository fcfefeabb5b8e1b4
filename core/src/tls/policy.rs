//! When a certificate must be (re)issued, and which names it must cover: the rules the manager
//! applies at every check, kept apart from the files and the serving so they read as one list.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use super::ca::CaFacts;
use super::cert::{self, push_unique, CertFacts, Name, DAY_SECS};
use super::TlsError;

/// Issued certificates are valid a year (browsers cap publicly trusted ones at 398 days)…
pub(crate) const VALIDITY_DAYS: i64 = 365;
/// …starting a day early, so a headset whose clock is behind still accepts it.
pub(crate) const BACKDATE_DAYS: i64 = 1;
/// A certificate this close to expiry is replaced before headsets start refusing it.
pub(crate) const RENEW_DAYS: i64 = 30;

/// A LAN address stays in every certificate issued this long after its adapter was last seen, so
/// a morning when the Wi-Fi connects after Hyper-V or Docker, a week at another site, or a holiday
/// never drops it: when the adapter comes back the certificate still covers it, and headsets keep it.
pub(crate) const RETAIN_DAYS: i64 = 30;
/// The last-seen time of a present address is written again at most this often (cert-state.json
/// would otherwise be rewritten at every LAN scan).
const SEEN_STEP_SECS: i64 = DAY_SECS;

/// When each LAN address the certificate was wanted for was last seen (seconds since the epoch).
pub(crate) type Seen = BTreeMap<Ipv4Addr, i64>;

/// Notes the addresses of this scan as seen `now` and forgets those gone longer than
/// [`RETAIN_DAYS`]. Returns whether the record changed enough to be saved: a new address, one last
/// saved a day or more ago, or one forgotten.
pub(crate) fn note_seen(seen: &mut Seen, lan_ips: &[Ipv4Addr], now: i64) -> bool {
    let mut changed = false;
    for ip in lan_ips.iter().filter(|ip| !ip.is_unspecified()) {
        match seen.get(ip) {
            Some(&last) if now - last < SEEN_STEP_SECS && last <= now => {}
            _ => {
                seen.insert(*ip, now);
                changed = true;
            }
        }
    }
    let before = seen.len();
    seen.retain(|_, last| now - *last <= RETAIN_DAYS * DAY_SECS);
    changed || seen.len() != before
}

/// The addresses a new certificate keeps although they are not up now: seen within [`RETAIN_DAYS`].
pub(crate) fn retained(seen: &Seen, now: i64) -> Vec<Ipv4Addr> {
    seen.iter().filter(|(_, last)| now - **last <= RETAIN_DAYS * DAY_SECS).map(|(ip, _)| *ip).collect()
}

/// Why a serving certificate must be replaced, if it must: expired or nearly so, not valid yet,
/// not covering a wanted name, or not issued by the CA in use.
pub(crate) fn problem(facts: &CertFacts, wanted: &[Name], issued_by_ca: bool, now: i64) -> Option<String> {
    if let Some(why) = validity_problem(facts.not_before, facts.not_after, now, "certificate") {
        return Some(why);
    }
    let missing = cert::missing(&facts.sans, wanted);
    if !missing.is_empty() {
        return Some(format!("certificate does not cover {}", missing.join(", ")));
    }
    if !issued_by_ca {
        return Some("certificate is not issued by the local CA".to_string());
    }
    None
}

/// Why a CA must be replaced, if it must (a new CA means every device trusts again).
pub(crate) fn ca_problem(facts: &CaFacts, now: i64) -> Option<String> {
    validity_problem(facts.not_before, facts.not_after, now, "CA")
}

fn validity_problem(not_before: i64, not_after: i64, now: i64, what: &str) -> Option<String> {
    if not_after <= now {
        return Some(format!("{what} expired on {}", cert::date(not_after)));
    }
    let left = not_after - now;
    if left < RENEW_DAYS * DAY_SECS {
        return Some(match left / DAY_SECS {
            0 => format!("{what} expires in less than a day"),
            1 => format!("{what} expires in 1 day"),
            days => format!("{what} expires in {days} days"),
        });
    }
    if not_before > now {
        return Some(format!("{what} is not valid until {} (was the clock changed?)", cert::date(not_before)));
    }
    None
}

pub(crate) fn check_not_expired(path: &Path, facts: &CertFacts, now: i64) -> Result<(), TlsError> {
    if facts.not_after <= now {
        return Err(TlsError::Expired { path: path.to_path_buf(), date: cert::date(facts.not_after) });
    }
    Ok(())
}

/// Problems a custom certificate can be served with, but that the user should hear about.
pub(crate) fn warn_about_custom(path: &Path, facts: &CertFacts, now: i64) {
    let path = path.display();
    if facts.not_after - now < RENEW_DAYS * DAY_SECS {
        tracing::warn!("the custom certificate {path} expires on {}; renew it soon", cert::date(facts.not_after));
    }
    if facts.not_before > now {
        tracing::warn!(
            "the custom certificate {path} is not valid until {}; headsets will reject it until then",
            cert::date(facts.not_before)
        );
    }
    if facts.sans.is_empty() {
        tracing::warn!("the custom certificate {path} has no subject alternative names; browsers will reject it");
    }
}

/// Configured extra names that can be SANs; the rest are logged and dropped (otherwise they would
/// count as missing forever and force a new certificate at every check).
pub(crate) fn valid_names(names: Vec<String>) -> Vec<Name> {
    let mut out = Vec::new();
    for raw in names {
        match Name::parse(&raw) {
            Some(name) => push_unique(&mut out, name),
            None => tracing::warn!("ignoring certificate name {raw:?}: expected an IP address or a DNS name"),
        }
    }
    out
}

/// The names the certificate must cover: the LAN IPs, then the configured extra names.
pub(crate) fn wanted_names(lan_ips: &[Ipv4Addr], extra: &[Name]) -> Vec<Name> {
    let mut wanted = Vec::new();
    for ip in lan_ips.iter().filter(|ip| !ip.is_unspecified()) {
        push_unique(&mut wanted, Name::Ip(IpAddr::V4(*ip)));
    }
    for name in extra {
        push_unique(&mut wanted, name.clone());
    }
    wanted
}

/// Splits the wanted names into those the CA may sign for and those outside its name constraints.
pub(crate) fn within_ca(wanted: &[Name], ca: &CaFacts) -> (Vec<Name>, Vec<Name>) {
    wanted.iter().cloned().partition(|n| ca.allows(n))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(nb: i64, na: i64, sans: &[&str]) -> CertFacts {
        CertFacts {
            fingerprint: String::new(),
            sans: sans.iter().filter_map(|s| Name::parse(s)).collect(),
            not_before: nb,
            not_after: na,
            spki: Vec::new(),
        }
    }

    #[test]
    fn reasons_to_reissue_in_order() {
        let now = 1_800_000_000;
        let good = facts(now - DAY_SECS, now + 300 * DAY_SECS, &["localhost", "10.0.0.5"]);
        let want = [Name::parse("10.0.0.5").unwrap()];
        assert_eq!(problem(&good, &want, true, now), None);
        assert_eq!(problem(&good, &want, false, now).as_deref(), Some("certificate is not issued by the local CA"));
        let other = [Name::parse("10.0.0.6").unwrap()];
        assert_eq!(problem(&good, &other, true, now).as_deref(), Some("certificate does not cover 10.0.0.6"));
        let soon = facts(now - DAY_SECS, now + 9 * DAY_SECS + 10, &[]);
        assert_eq!(problem(&soon, &[], true, now).as_deref(), Some("certificate expires in 9 days"));
        let expired = facts(now - 9 * DAY_SECS, now - DAY_SECS, &[]);
        assert!(problem(&expired, &[], true, now).unwrap().starts_with("certificate expired on "));
        let future = facts(now + DAY_SECS, now + 300 * DAY_SECS, &[]);
        assert!(problem(&future, &[], true, now).unwrap().contains("not valid until"));
    }

    #[test]
    fn addresses_are_kept_thirty_days_after_last_seen_and_saved_at_most_daily() {
        let now = 1_800_000_000;
        let wifi: Ipv4Addr = [10, 99, 0, 2].into();
        let office: Ipv4Addr = [10, 7, 0, 9].into();
        let mut seen = Seen::new();
        assert!(note_seen(&mut seen, &[wifi], now), "a new address is saved");
        assert!(!note_seen(&mut seen, &[wifi], now + 3600), "not rewritten at every scan");
        assert!(note_seen(&mut seen, &[wifi], now + DAY_SECS), "but once a day");
        let last = now + DAY_SECS;
        // The Wi-Fi is away (a morning with only Docker up, a month elsewhere): still kept…
        assert!(!note_seen(&mut seen, &[], last + 10 * DAY_SECS));
        assert_eq!(retained(&seen, last + RETAIN_DAYS * DAY_SECS), [wifi]);
        // …and a new address joins it rather than replacing it.
        assert!(note_seen(&mut seen, &[office], last + 20 * DAY_SECS));
        assert_eq!(retained(&seen, last + 20 * DAY_SECS), [office, wifi]);
        // Gone longer than RETAIN_DAYS: forgotten, and the record says so.
        assert!(note_seen(&mut seen, &[office], last + (RETAIN_DAYS + 1) * DAY_SECS));
        assert_eq!(retained(&seen, last + (RETAIN_DAYS + 1) * DAY_SECS), [office]);
        // A clock set back does not freeze an address's record in the future.
        let mut seen = Seen::from([(wifi, now + 90 * DAY_SECS)]);
        assert!(note_seen(&mut seen, &[wifi], now));
        assert_eq!(seen[&wifi], now);
    }

    #[test]
    fn names_outside_the_ca_are_set_apart() {
        let ca = CaFacts {
            fingerprint: String::new(),
            common_name: String::new(),
            serial_hex: String::new(),
            not_before: 0,
            not_after: 0,
            permits: super::super::ca::permits_for(Some("ws-01"), &[]),
        };
        let wanted: Vec<Name> = ["192.168.1.20", "ws-01", "gate.lan", "vr.example.com", "8.8.8.8"]
            .iter()
            .filter_map(|s| Name::parse(s))
            .collect();
        let (inside, outside) = within_ca(&wanted, &ca);
        let text = |v: &[Name]| v.iter().map(ToString::to_string).collect::<Vec<_>>();
        assert_eq!(text(&inside), ["192.168.1.20", "ws-01", "gate.lan"]);
        assert_eq!(text(&outside), ["vr.example.com", "8.8.8.8"]);
    }
}
