//! Port checks by bind test (nothing is sent or connected): whether the runtime's UDP media ports
//! and a TCP port are held by another program, and the text the status shows when our own bind fails.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::ops::RangeInclusive;

/// How many of the UDP ports in `range` are currently bound by some other program: try to bind
/// each on 0.0.0.0 (the socket is dropped at once); see [`bind_error_means_taken`]. Binding sends
/// no packet.
pub fn udp_ports_bound(range: RangeInclusive<u16>) -> u16 {
    count_taken(range, |port| UdpSocket::bind((Ipv4Addr::UNSPECIFIED, port)).map(drop))
}

/// Counts the ports in `range` whose test bind fails because another program holds them.
fn count_taken(range: RangeInclusive<u16>, bind: impl Fn(u16) -> std::io::Result<()>) -> u16 {
    let taken = range.filter(|port| bind(*port).is_err_and(|e| bind_error_means_taken(&e))).count();
    u16::try_from(taken).unwrap_or(u16::MAX)
}

/// Windows' WSAEACCES: what a bind gets there when another program holds the port exclusively
/// (SO_EXCLUSIVEADDRUSE), not only AddrInUse.
const WSAEACCES: i32 = 10013;

/// Whether a failed test bind says another program holds the port: AddrInUse, or Windows'
/// WSAEACCES (an exclusive bind; 10013 is no errno on Unix, so the check is the same everywhere).
/// Other errors (e.g. EACCES for a low port on Unix) say nothing about another program.
pub fn bind_error_means_taken(e: &std::io::Error) -> bool {
    e.kind() == ErrorKind::AddrInUse || e.raw_os_error() == Some(WSAEACCES)
}

/// Whether another program holds the TCP port `addr` (bind test, no connect; the test socket is
/// dropped at once). Port 0 is never in use.
pub fn tcp_port_in_use(addr: SocketAddr) -> bool {
    if addr.port() == 0 {
        return false;
    }
    matches!(TcpListener::bind(addr), Err(e) if bind_error_means_taken(&e))
}

/// The message the status shows when binding `addr` fails with `e`.
pub fn describe_bind_error(addr: SocketAddr, e: &std::io::Error) -> String {
    let port = addr.port();
    match e.kind() {
        ErrorKind::AddrInUse => format!("port {port} is already in use by another program"),
        _ if e.raw_os_error() == Some(WSAEACCES) => format!(
            "port {port} is held exclusively by another program or reserved by Windows \
             (`netsh interface ipv4 show excludedportrange protocol=tcp` lists the reserved ranges)"
        ),
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
    fn an_exclusive_bind_on_windows_counts_as_taken() {
        // Ports 3 and 5 in use, 4 held exclusively (Windows answers WSAEACCES), 6 refused for another reason.
        let bind = |port: u16| match port {
            3 | 5 => Err(io::Error::from(ErrorKind::AddrInUse)),
            4 => Err(io::Error::from_raw_os_error(WSAEACCES)),
            6 => Err(io::Error::other("no buffer space")),
            _ => Ok(()),
        };
        assert_eq!(count_taken(1..=8, bind), 3);
        assert!(bind_error_means_taken(&io::Error::from(ErrorKind::AddrInUse)));
        assert!(bind_error_means_taken(&io::Error::from_raw_os_error(WSAEACCES)));
        // A Unix EACCES (a low port without privileges) is no other program's doing.
        assert!(!bind_error_means_taken(&io::Error::from(ErrorKind::PermissionDenied)));
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
        assert_eq!(
            describe_bind_error(b, &io::Error::from_raw_os_error(WSAEACCES)),
            "port 48322 is held exclusively by another program or reserved by Windows \
             (`netsh interface ipv4 show excludedportrange protocol=tcp` lists the reserved ranges)"
        );
        let other = io::Error::other("boom");
        assert_eq!(describe_bind_error(b, &other), "boom");
    }
}
