//! Addresses as the gate names them: an IPv4-mapped IPv6 address (`::ffff:192.168.1.50`, what a
//! dual-stack socket reports for an IPv4 peer) is the IPv4 address it stands for, in the book, the
//! log, `X-Forwarded-For` and the links given to a headset. A module of its own, depending on
//! nothing: `net` reads the status, which holds the headset book's model.

use std::net::{IpAddr, SocketAddr};

/// `::ffff:a.b.c.d` → `a.b.c.d`; any other address unchanged.
pub fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        ip => ip,
    }
}

/// The socket address with its IP [`unmapped`].
pub fn unmapped_socket(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(unmapped(addr.ip()), addr.port())
}

/// The host part of a URL for `ip`: `192.168.1.10`, `[fd00::10]`.
pub fn url_host(ip: IpAddr) -> String {
    match unmapped(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapped_addresses_are_their_ipv4_address() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(unmapped(ip("::ffff:192.168.1.50")), ip("192.168.1.50"));
        assert_eq!(unmapped(ip("fd00::1")), ip("fd00::1"));
        assert_eq!(unmapped(ip("::1")), ip("::1"), "loopback is not a mapped address");
        assert_eq!(unmapped_socket("[::ffff:10.0.0.2]:48322".parse().unwrap()).to_string(), "10.0.0.2:48322");
        assert_eq!(url_host(ip("::ffff:10.0.0.2")), "10.0.0.2");
        assert_eq!(url_host(ip("fd00::10")), "[fd00::10]");
    }
}
