//! Address scopes: a rule's remote addresses as `INetFwRule::RemoteAddresses` reports them (`*`,
//! `LocalSubnet`, `192.168.1.50/255.255.255.255`, the mask form `192.168.0.0/255.255.0.0`, a CIDR,
//! a range, other keywords; ufw's `Anywhere` too), and how much of the headsets' network (the
//! subnet of the address in the QR code) such a scope covers. Pure; used by `evaluate` (the
//! desktop's ufw reader compares its `From` column itself).

use std::net::IpAddr;

/// The headsets' network: the address in the QR code and its on-link prefix (when known).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lan {
    pub ip: IpAddr,
    /// `OnLinkPrefixLength` (24 for 255.255.255.0); None when it could not be read.
    pub prefix: Option<u8>,
}

/// One item of an address list.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    /// A network (a host is a /32 or /128).
    Net(IpAddr, u8),
    Range(IpAddr, IpAddr),
    LocalSubnet,
    /// `DNS`, `DefaultGateway`, `Intranet`… or text not understood: what it covers is unknown.
    Other(String),
}

/// Who a rule's remote-address scope lets in, as far as headsets on the LAN go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    /// Every address.
    Any,
    /// The local subnet (`LocalSubnet`): headsets on the same LAN.
    LocalSubnet,
    /// Only the listed addresses (as the rule writes them).
    Only(String),
}

/// How much of the headsets' network a scope covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coverage {
    /// Every headset on it.
    All,
    /// Some addresses on it, not all.
    Some,
    /// None of it.
    None,
    /// Keywords (`DNS`, `Intranet`…) or a network whose size is unknown: cannot say.
    Unknown,
}

fn bits(ip: IpAddr) -> (u128, u8) {
    match ip {
        IpAddr::V4(a) => (u128::from(u32::from(a)), 32),
        IpAddr::V6(a) => (u128::from(a), 128),
    }
}

/// The first and last address of `ip/prefix`, as numbers of the address's width.
fn span(ip: IpAddr, prefix: u8) -> (u128, u128) {
    let (n, width) = bits(ip);
    let host = u32::from(width.saturating_sub(prefix.min(width)));
    let mask = if host >= 128 { u128::MAX } else { (1u128 << host) - 1 };
    (n & !mask, n | mask)
}

/// `255.255.0.0` → 16 (contiguous masks only).
fn mask_prefix(mask: &str) -> Option<u8> {
    let m: std::net::Ipv4Addr = mask.parse().ok()?;
    let m = u32::from(m);
    let ones = m.leading_ones();
    (m.checked_shl(ones).unwrap_or(0) == 0).then_some(ones as u8)
}

fn parse_item(s: &str) -> Item {
    if s.eq_ignore_ascii_case("LocalSubnet") {
        return Item::LocalSubnet;
    }
    if let Some((a, b)) = s.split_once('/') {
        if let Ok(ip) = a.trim().parse::<IpAddr>() {
            let width = bits(ip).1;
            let prefix = match b.trim().parse::<u8>() {
                Ok(p) if p <= width => Some(p),
                Ok(_) => None,
                Err(_) if ip.is_ipv4() => mask_prefix(b.trim()),
                Err(_) => None,
            };
            if let Some(p) = prefix {
                return Item::Net(ip, p);
            }
        }
        return Item::Other(s.to_string());
    }
    if let Some((a, b)) = s.split_once('-') {
        if let (Ok(a), Ok(b)) = (a.trim().parse::<IpAddr>(), b.trim().parse::<IpAddr>()) {
            if a.is_ipv4() == b.is_ipv4() {
                return Item::Range(a, b);
            }
        }
        return Item::Other(s.to_string());
    }
    match s.parse::<IpAddr>() {
        Ok(ip) => Item::Net(ip, bits(ip).1),
        Err(_) => Item::Other(s.to_string()),
    }
}

/// A rule's "any address" (`*`, `Any`, empty), or ufw's word for it.
fn is_any(list: &str) -> bool {
    super::model::is_any(list) || list.trim().eq_ignore_ascii_case("Anywhere")
}

fn items(list: &str) -> Vec<&str> {
    list.split(',').map(str::trim).filter(|s| !s.is_empty()).collect()
}

impl Remote {
    pub fn parse(list: &str) -> Remote {
        if is_any(list) || items(list).iter().any(|i| is_any(i)) {
            return Remote::Any;
        }
        let items = items(list);
        if items.iter().any(|i| parse_item(i) == Item::LocalSubnet) {
            return Remote::LocalSubnet;
        }
        Remote::Only(items.join(", "))
    }

    /// How much of `lan` the scope covers (None: the headsets' network is not known).
    pub fn coverage(&self, lan: Option<&Lan>) -> Coverage {
        match self {
            Remote::Any | Remote::LocalSubnet => Coverage::All,
            Remote::Only(list) => list_coverage(list, lan),
        }
    }
}

/// The widest coverage any one item gives (a network split over several items reads as Some).
fn list_coverage(list: &str, lan: Option<&Lan>) -> Coverage {
    let Some(lan) = lan else { return Coverage::Unknown };
    let (ip, width) = bits(lan.ip);
    let (lo, hi) = match lan.prefix {
        Some(p) => span(lan.ip, p),
        None => (ip, ip),
    };
    let mut best = Coverage::None;
    for item in items(list).into_iter().map(parse_item) {
        let (a, b) = match item {
            Item::LocalSubnet => return Coverage::All,
            Item::Other(_) => {
                best = Coverage::Unknown;
                continue;
            }
            Item::Net(n, p) if bits(n).1 == width => span(n, p),
            Item::Range(a, b) if bits(a).1 == width => (bits(a).0.min(bits(b).0), bits(a).0.max(bits(b).0)),
            // The other IP family: no headset on this network.
            _ => continue,
        };
        if a <= lo && hi <= b {
            // Holds the whole network; without its prefix only the address itself is known.
            if lan.prefix.is_some() {
                return Coverage::All;
            }
            best = Coverage::Unknown;
        } else if a <= hi && lo <= b && best == Coverage::None {
            best = Coverage::Some;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lan(ip: &str, prefix: Option<u8>) -> Lan {
        Lan { ip: ip.parse().unwrap(), prefix }
    }

    #[test]
    fn the_mask_form_and_cidr_cover_the_headsets_network() {
        let home = lan("192.168.1.20", Some(24));
        let cov = |list: &str| Remote::parse(list).coverage(Some(&home));
        assert_eq!(cov("192.168.0.0/255.255.0.0"), Coverage::All, "the mask form Windows reports");
        assert_eq!(cov("192.168.0.0/16"), Coverage::All);
        assert_eq!(cov("192.168.1.0/255.255.255.0"), Coverage::All);
        assert_eq!(cov("192.168.1.0/255.255.255.128"), Coverage::Some, "half the /24");
        assert_eq!(cov("192.168.1.50/255.255.255.255"), Coverage::Some, "one headset");
        assert_eq!(cov("192.168.1.50"), Coverage::Some);
        assert_eq!(cov("10.0.0.0/255.0.0.0"), Coverage::None);
        assert_eq!(cov("10.0.0.0/255.0.0.0,192.168.0.0/255.255.0.0"), Coverage::All);
        assert_eq!(cov("192.168.1.1-192.168.1.254"), Coverage::Some, "a range short of .0 and .255");
        assert_eq!(cov("192.168.0.0-192.168.255.255"), Coverage::All);
        assert_eq!(cov("fe80::/64"), Coverage::None, "IPv6 scopes hold no IPv4 headset");
        assert_eq!(cov("DNS,DHCP"), Coverage::Unknown);
        assert_eq!(cov("Intranet"), Coverage::Unknown);
        assert_eq!(cov("192.168.0.0/255.0.255.0"), Coverage::Unknown, "a mask with a hole is not read as a subnet");
        assert_eq!(cov("LocalSubnet"), Coverage::All);
        assert_eq!(cov("*"), Coverage::All);
        assert_eq!(Remote::parse("10.0.0.0/255.0.0.0,LocalSubnet"), Remote::LocalSubnet);
        assert_eq!(Remote::parse("Anywhere"), Remote::Any);
        // The headsets' network unknown, or its prefix: a list says nothing sure.
        assert_eq!(Remote::parse("192.168.0.0/16").coverage(None), Coverage::Unknown);
        let no_prefix = lan("192.168.1.20", None);
        assert_eq!(Remote::parse("192.168.0.0/16").coverage(Some(&no_prefix)), Coverage::Unknown);
        assert_eq!(Remote::parse("10.0.0.0/8").coverage(Some(&no_prefix)), Coverage::None);
    }
}
