//! When a certificate must be (re)issued, and which names it must cover: the rules the manager
//! applies at every check, kept apart from the files and the serving so they read as one list.

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
