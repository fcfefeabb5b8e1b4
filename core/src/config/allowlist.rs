//! The routing allowlist (`--allowed-backends`, `ALLOWED_BACKENDS`): which `host:port` targets the
//! `/{ip}:{port}/…` path routing may reach besides the configured backend. Routing is decided by host
//! *and* port, so an allowed host does not open every service it runs (a browser's debugging port,
//! a notebook kernel) to the LAN.
//!
//! An entry is `HOST[:PORT]` or `HOST:LO-HI`, where HOST is an IPv4 address, `localhost`
//! (127.0.0.1) or an IPv4 network `a.b.c.d/len`. A missing port means the backend's port, so old
//! settings that list bare hosts keep their meaning. Host names are refused: routing targets are
//! IPv4 literals and are never looked up, so a name could never match anything.

use std::fmt;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Setting, SettingName, Via};

/// What an entry's ports are.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ports {
    /// No port given: the configured backend's port, whatever it is when a request comes.
    Backend,
    Range(RangeInclusive<u16>),
}

/// One allowlist entry.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AllowedBackend {
    /// Network address: no bits set beyond `prefix` (the parser refuses an entry with any).
    net: Ipv4Addr,
    prefix: u8,
    /// Written as `localhost` (kept for display).
    localhost: bool,
    ports: Ports,
}

const EXPECTED: &str = "expected IP:PORT, IP:LO-HI, IP (the backend's port) or a network like 10.0.0.0/24:49100, \
where IP is an IPv4 address or localhost; host names are never looked up";

fn mask(prefix: u8) -> u32 {
    if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    }
}

fn parse_port_number(p: &str) -> Option<u16> {
    // Plain decimal only: "+80", " 80" or "0x50" would be surprising in a security setting.
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse::<u16>().ok().filter(|&n| n > 0)
}

impl AllowedBackend {
    /// Parses one entry; the error names `setting`, the entry and the accepted forms.
    pub fn parse(s: &str, setting: SettingName) -> Result<Self, ConfigError> {
        let t = s.trim();
        let bad = |why: &str| ConfigError::new(setting, s, why);
        if t.is_empty() {
            return Err(bad(EXPECTED));
        }
        if t.starts_with('[') || t.matches(':').count() > 1 {
            return Err(bad("IPv6 routing targets are not supported; use an IPv4 address (a.b.c.d:port)"));
        }
        let (host, port) = match t.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (t, None),
        };
        let ports = match port {
            None => Ports::Backend,
            Some(p) => {
                let range = match p.split_once('-') {
                    Some((lo, hi)) => parse_port_number(lo).zip(parse_port_number(hi)),
                    None => parse_port_number(p).map(|n| (n, n)),
                };
                match range {
                    Some((lo, hi)) if lo <= hi => Ports::Range(lo..=hi),
                    Some(_) => {
                        return Err(bad("the first port of a range must not be above the last (e.g. 49100-49110)"))
                    }
                    None => return Err(bad("the port must be a number from 1 to 65535, or a range like 49100-49110")),
                }
            }
        };
        let (addr, prefix, localhost) = if host.eq_ignore_ascii_case("localhost") {
            (Ipv4Addr::LOCALHOST, 32, true)
        } else {
            let (a, len) = match host.split_once('/') {
                Some((a, len)) => {
                    let len = match len.parse::<u8>() {
                        Ok(n) if n <= 32 && !len.starts_with('+') => n,
                        _ => return Err(bad("the network length after '/' must be a number from 0 to 32")),
                    };
                    (a, len)
                }
                None => (host, 32),
            };
            match a.parse::<Ipv4Addr>() {
                Ok(ip) => (ip, len, false),
                Err(_) if a.bytes().any(|b| b.is_ascii_alphabetic()) => {
                    return Err(bad(
                        "host names are never looked up (routing targets are IPv4 addresses); write the runtime's IPv4 address, e.g. 10.0.0.7:49100",
                    ))
                }
                Err(_) => return Err(bad(EXPECTED)),
            }
        };
        if addr.is_unspecified() && prefix == 32 {
            return Err(bad("0.0.0.0 is not an address a runtime listens on; write its IPv4 address"));
        }
        let net = Ipv4Addr::from(u32::from(addr) & mask(prefix));
        if net != addr {
            // `192.168.1.20/2` reads like one host but opens 192.0.0.0/2: say both, let the user choose.
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            return Err(bad(&format!(
                "{addr} has bits set beyond the first {prefix}, so this would open the whole network \
                 {net}/{prefix} ({} addresses); did you mean {addr}/32{port} (this one host) or {net}/{prefix}{port} \
                 (the whole network)?",
                1u64 << (32 - u32::from(prefix))
            )));
        }
        Ok(Self { net, prefix, localhost, ports })
    }

    /// Whether `ip:port` is covered; `backend_port` stands in for an entry without a port.
    pub fn allows(&self, ip: Ipv4Addr, port: u16, backend_port: u16) -> bool {
        let host_ok = u32::from(ip) & mask(self.prefix) == u32::from(self.net);
        host_ok
            && match &self.ports {
                Ports::Backend => port == backend_port,
                Ports::Range(r) => r.contains(&port),
            }
    }

    /// How many `ip:port` pairs this entry opens (for the status and the logs).
    pub fn size(&self) -> u64 {
        let hosts = 1u64 << (32 - u32::from(self.prefix));
        let ports = match &self.ports {
            Ports::Backend => 1,
            Ports::Range(r) => u64::from(r.end() - r.start()) + 1,
        };
        hosts * ports
    }

    pub fn ports(&self) -> &Ports {
        &self.ports
    }
}

impl fmt::Display for AllowedBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.localhost {
            f.write_str("localhost")?;
        } else if self.prefix == 32 {
            write!(f, "{}", self.net)?;
        } else {
            write!(f, "{}/{}", self.net, self.prefix)?;
        }
        match &self.ports {
            Ports::Backend => Ok(()),
            Ports::Range(r) if r.start() == r.end() => write!(f, ":{}", r.start()),
            Ports::Range(r) => write!(f, ":{}-{}", r.start(), r.end()),
        }
    }
}

impl FromStr for AllowedBackend {
    type Err = ConfigError;
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        Self::parse(s, Setting::AllowedBackends.via(Via::Name))
    }
}

impl TryFrom<String> for AllowedBackend {
    type Error = ConfigError;
    fn try_from(s: String) -> Result<Self, ConfigError> {
        Self::parse(&s, Setting::AllowedBackends.via(Via::Name))
    }
}

impl From<AllowedBackend> for String {
    fn from(a: AllowedBackend) -> String {
        a.to_string()
    }
}

/// Parses a comma- or space-separated list; duplicates (after normalising) are dropped.
pub fn parse_allowlist(s: &str, setting: SettingName) -> Result<Vec<AllowedBackend>, ConfigError> {
    let mut out: Vec<AllowedBackend> = Vec::new();
    for item in s.split([',', ' ', '\n', '\t']).map(str::trim).filter(|i| !i.is_empty()) {
        let entry = AllowedBackend::parse(item, setting)?;
        if !out.contains(&entry) {
            out.push(entry);
        }
    }
    Ok(out)
}

/// The list as one line, the way it is written in settings and flags.
pub fn format_allowlist(list: &[AllowedBackend]) -> String {
    list.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> AllowedBackend {
        AllowedBackend::parse(s, Setting::AllowedBackends.via(Via::Env)).unwrap()
    }
    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn host_port_entries_allow_exactly_that_port() {
        let e = p("10.0.0.7:49100");
        assert!(e.allows(ip("10.0.0.7"), 49100, 1));
        assert!(!e.allows(ip("10.0.0.7"), 49101, 49101));
        assert!(!e.allows(ip("10.0.0.8"), 49100, 49100));
        assert_eq!(e.to_string(), "10.0.0.7:49100");
        assert_eq!(e.size(), 1);
    }

    #[test]
    fn ranges_networks_and_localhost() {
        let r = p("10.0.0.7:49100-49103");
        assert!(r.allows(ip("10.0.0.7"), 49100, 0) && r.allows(ip("10.0.0.7"), 49103, 0));
        assert!(!r.allows(ip("10.0.0.7"), 49099, 0) && !r.allows(ip("10.0.0.7"), 49104, 0));
        let n = p("10.42.0.0/16:49100");
        assert_eq!(n.to_string(), "10.42.0.0/16:49100");
        assert!(n.allows(ip("10.42.255.1"), 49100, 0));
        assert!(!n.allows(ip("10.43.0.1"), 49100, 0));
        assert_eq!(n.size(), 65536);
        let l = p("LOCALHOST:49101");
        assert_eq!(l.to_string(), "localhost:49101");
        assert!(l.allows(Ipv4Addr::LOCALHOST, 49101, 0));
        assert!(!l.allows(ip("127.0.0.2"), 49101, 0));
        assert!(!l.allows(Ipv4Addr::LOCALHOST, 9222, 0));
    }

    #[test]
    fn a_bare_host_means_the_backends_port_like_old_settings() {
        let e = p("192.168.1.20");
        assert_eq!(e.ports(), &Ports::Backend);
        assert!(e.allows(ip("192.168.1.20"), 49100, 49100));
        assert!(e.allows(ip("192.168.1.20"), 5000, 5000), "follows the backend's port when it changes");
        assert!(!e.allows(ip("192.168.1.20"), 9222, 49100));
        assert_eq!(e.to_string(), "192.168.1.20");
        // Round-trips through serde as the same text (settings files).
        let j = serde_json::to_string(&e).unwrap();
        assert_eq!(j, "\"192.168.1.20\"");
        assert_eq!(serde_json::from_str::<AllowedBackend>(&j).unwrap(), e);
    }

    #[test]
    fn bad_entries_say_what_is_wrong() {
        let err = |s: &str| AllowedBackend::parse(s, Setting::AllowedBackends.via(Via::Flag)).unwrap_err().to_string();
        assert!(err("render-box").contains("host names are never looked up"), "{}", err("render-box"));
        assert!(err("render-box:49100").contains("host names are never looked up"));
        assert!(err("10.0.0.7:0").contains("port must be a number from 1 to 65535"));
        assert!(err("10.0.0.7:70000").contains("port must be"));
        assert!(err("10.0.0.7:+80").contains("port must be"));
        assert!(err("10.0.0.7:49110-49100").contains("must not be above"));
        assert!(err("10.0.0.7:1-").contains("port must be"));
        assert!(err("10.0.0.0/33").contains("network length"));
        assert!(err("[::1]:49100").contains("IPv6"));
        assert!(err("::1").contains("IPv6"));
        assert!(err("0.0.0.0:49100").contains("0.0.0.0"));
        assert!(err("10.0.0:49100").starts_with("invalid --allowed-backends \"10.0.0:49100\": expected IP:PORT"));
        assert!(err("").contains("expected IP:PORT"));
    }

    #[test]
    fn a_network_with_host_bits_set_is_refused_naming_both_readings() {
        let err = |s: &str| AllowedBackend::parse(s, Setting::AllowedBackends.via(Via::Flag)).unwrap_err().to_string();
        let e = err("192.168.1.20/2:49100");
        assert!(e.starts_with("invalid --allowed-backends \"192.168.1.20/2:49100\": "), "{e}");
        assert!(e.contains("192.0.0.0/2"), "{e}");
        assert!(e.contains("did you mean 192.168.1.20/32:49100 (this one host) or 192.0.0.0/2:49100"), "{e}");
        let e = err("10.42.7.9/16");
        assert!(e.contains("did you mean 10.42.7.9/32 (this one host) or 10.42.0.0/16 (the whole network)"), "{e}");
        assert!(err("10.0.0.1/0:1-2").contains("0.0.0.0/0:1-2"));
        // The masked forms, and a host written as /32, stay accepted.
        for ok in ["192.0.0.0/2:49100", "10.42.0.0/16", "10.0.0.7/32:49100", "0.0.0.0/0:1-65535"] {
            p(ok);
        }
    }

    #[test]
    fn lists_parse_normalise_and_drop_duplicates() {
        let l =
            parse_allowlist("10.0.0.7:49100, 10.0.0.7:49100  localhost:49101-49102", SettingName::Other("x")).unwrap();
        assert_eq!(format_allowlist(&l), "10.0.0.7:49100, localhost:49101-49102");
        assert!(
            parse_allowlist("10.0.0.7, bad name", Setting::AllowedBackends.via(Via::Env)).unwrap_err().value == "bad"
        );
    }
}
