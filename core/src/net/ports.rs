//! Port checks by bind test (nothing is sent or connected): whether the runtime's UDP media ports
//! and a TCP port are held by another program, and the text the status shows when our own bind fails.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::ops::RangeInclusive;

/// How many of the UDP ports in `range` are currently bound by some other program: try to bind
/// each on 0.0.0.0 (the socket is dropped at once); AddrInUse means bound. Binding sends no packet.
/// Other errors (e.g. permission) are not counted: they say nothing about another program.
pub fn udp_ports_bound(range: RangeInclusive<u16>) -> u16 {
    let mut bound = 0u16;
    for port in range {
        if let Err(e) = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port)) {
            if e.kind() == ErrorKind::AddrInUse {
                bound = bound.saturating_add(1);
            }
        }
    }
    bound
}

/// Whether another program holds the TCP port `addr` (bind test, no connect; the test socket is
/// dropped at once). Port 0 is never in use.
pub fn tcp_port_in_use(addr: SocketAddr) -> bool {
    if addr.port() == 0 {
        return false;
    }
    matches!(TcpListener::bind(addr), Err(e) if e.kind() == ErrorKind::AddrInUse)
}

/// The message the status shows when binding `addr` fails with `e`.
pub fn describe_bind_error(addr: SocketAddr, e: &std::io::Error) -> String {
    let port = addr.port();
    match e.kind() {
        ErrorKind::AddrInUse => format!("port {port} is already in use by another program"),
        ErrorKind::PermissionDenied if port < 1024 => {
            format!("permission denied binding port {port} (ports below 1024 need administrator rights)")
        }
        // Windows answers WSAEACCES for ports in an excluded range (Hyper-V/WinNAT) or held exclusively.
        ErrorKind::PermissionDenied => format!(
            "permission denied binding port {port} (it may be reserved by the system or held exclusively by another program)"
        ),
        ErrorKind::AddrNotAvailable => format!("address {} is not an address of this machine", addr.ip()),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    /// A run of `n` consecutive UDP ports currently free on 0.0.0.0, found from ephemeral binds.
    fn free_udp_range(n: u16) -> RangeInclusive<u16> {
        for _ in 0..200 {
            let probe = UdpSocket::bind("127.0.0.1:0").unwrap();
            let first = probe.local_addr().unwrap().port();
            drop(probe);
            let Some(last) = first.checked_add(n - 1) else {
                continue;
            };
            let free = (first..=last).all(|p| UdpSocket::bind((Ipv4Addr::UNSPECIFIED, p)).is_ok());
            if free {
                return first..=last;
            }
        }
        panic!("no free run of {n} UDP ports");
    }

    #[test]
    fn counts_bound_udp_ports() {
        // Retry: another test or program may grab one of the ports between probe and check.
        for _ in 0..20 {
            let range = free_udp_range(5);
            let start = *range.start();
            let held: Vec<UdpSocket> =
                [start, start + 2, start + 4].iter().filter_map(|p| UdpSocket::bind(("127.0.0.1", *p)).ok()).collect();
            if held.len() != 3 {
                continue;
            }
            let n = udp_ports_bound(range.clone());
            if n == 3 {
                drop(held);
                assert_eq!(udp_ports_bound(range), 0);
                return;
            }
        }
        panic!("never counted exactly 3 bound ports");
    }

    #[test]
    fn tcp_in_use_and_bind_error_text() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        assert!(tcp_port_in_use(addr));
        let err = TcpListener::bind(addr).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddrInUse);
        assert_eq!(
            describe_bind_error(addr, &err),
            format!("port {} is already in use by another program", addr.port())
        );
        drop(listener);
        assert!(!tcp_port_in_use(addr));
    }

    #[test]
    fn bind_error_texts() {
        let a: SocketAddr = "0.0.0.0:443".parse().unwrap();
        let denied = io::Error::from(ErrorKind::PermissionDenied);
        assert_eq!(
            describe_bind_error(a, &denied),
            "permission denied binding port 443 (ports below 1024 need administrator rights)"
        );
        let b: SocketAddr = "10.1.2.3:48322".parse().unwrap();
        assert_eq!(
            describe_bind_error(b, &io::Error::from(ErrorKind::AddrNotAvailable)),
            "address 10.1.2.3 is not an address of this machine"
        );
        let other = io::Error::other("boom");
        assert_eq!(describe_bind_error(b, &other), "boom");
    }
}
