//! Addresses as the gate names them: an IPv4-mapped IPv6 address (`::ffff:192.168.1.50`, what a
//! dual-stack socket reports for an IPv4 peer) is the IPv4 address it stands for, in the book, the
//! log, `X-Forwarded-For` and the links given to a headset. A module of its own, depending on
//! nothing: `net` reads the status, which holds the headset book's model.

use std::net::{IpAddr, SocketAddr};

/// The socket address with its IP canonical (`::ffff:a.b.c.d` → `a.b.c.d`, the standard library's
/// `IpAddr::to_canonical`).
pub fn unmapped_socket(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}

/// The host part of a URL for `ip`: `192.168.1.10`, `[fd00::10]`.
pub fn url_host(ip: IpAddr) -> String {
    match ip.to_canonical() {
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
        let sock = |s: &str| unmapped_socket(s.parse().unwrap()).to_string();
        assert_eq!(sock("[::ffff:192.168.1.50]:1"), "192.168.1.50:1");
        assert_eq!(sock("[fd00::1]:1"), "[fd00::1]:1");
        assert_eq!(sock("[::1]:1"), "[::1]:1", "loopback is not a mapped address");
        assert_eq!(sock("[::ffff:10.0.0.2]:48322"), "10.0.0.2:48322");
        assert_eq!(url_host(ip("::ffff:10.0.0.2")), "10.0.0.2");
        assert_eq!(url_host(ip("fd00::10")), "[fd00::10]");
    }
}
