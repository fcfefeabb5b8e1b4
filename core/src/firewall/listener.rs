//! Who listens on the CloudXR Runtime's ports: from the sockets with their owning processes
//! (`GetExtendedTcpTable` / `GetExtendedUdpTable` on Windows, read by `winnet`), the process that
//! listens on TCP 49100 (else one bound to a UDP media port), and its program's path. The Runtime's
//! own firewall rules are bound to that path. Pure; tested on every platform.

use super::decide::Runtime;
use super::{Ports, Proto};

/// A listening TCP socket or a bound UDP socket, with the process that owns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Socket {
    pub proto: Proto,
    pub port: u16,
    pub pid: u32,
}

/// The process holding the Runtime's ports: the TCP signaling listener first (the Runtime binds
/// its media ports only during a session), else the one bound to a media port.
pub fn runtime_pid(sockets: &[Socket], p: &Ports) -> Option<u32> {
    let tcp = sockets.iter().find(|s| s.proto == Proto::Tcp && s.port == p.signaling);
    let udp = || sockets.iter().find(|s| s.proto == Proto::Udp && (p.media_first..=p.media_last).contains(&s.port));
    tcp.or_else(udp).map(|s| s.pid)
}

/// The Runtime's program from the socket tables (or why they could not be read) and a lookup of a
/// process's image path.
pub fn runtime(
    sockets: Result<Vec<Socket>, String>,
    p: &Ports,
    path_of: impl Fn(u32) -> Result<String, String>,
) -> Runtime {
    let sockets = match sockets {
        Ok(s) => s,
        Err(e) => return Runtime::Unknown(format!("the socket tables could not be read: {e}")),
    };
    match runtime_pid(&sockets, p) {
        None => Runtime::NotRunning,
        // No owner reported (wine reports none), or the System process (http.sys and other kernel
        // listeners): no program path.
        Some(0) => Runtime::Unknown("the socket table names no process for the port".into()),
        Some(4) => Runtime::Unknown("the port is held by the System process (pid 4)".into()),
        Some(pid) => match path_of(pid) {
            Ok(path) if !path.trim().is_empty() => Runtime::Program(path),
            Ok(_) => Runtime::Unknown(format!("process {pid} has no program path")),
            Err(e) => Runtime::Unknown(format!("the program of process {pid} could not be read: {e}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PORTS: Ports = Ports { signaling: 49100, media_first: 47998, media_last: 48012, proxy: 48322 };
    const SERVER: &str = r"C:\Program Files\NVIDIA Corporation\CloudXR\CloudXRService.exe";

    fn sock(proto: Proto, port: u16, pid: u32) -> Socket {
        Socket { proto, port, pid }
    }

    fn path(pid: u32) -> Result<String, String> {
        match pid {
            1200 => Ok(SERVER.into()),
            1300 => Err("Access is denied. (os error 5)".into()),
            _ => Ok(String::new()),
        }
    }

    #[test]
    fn the_runtime_is_the_program_listening_on_its_signaling_port_else_on_a_media_port() {
        let busy = vec![sock(Proto::Tcp, 48322, 900), sock(Proto::Udp, 47999, 1300), sock(Proto::Tcp, 49100, 1200)];
        assert_eq!(runtime(Ok(busy), &PORTS, path), Runtime::Program(SERVER.into()));
        let session = vec![sock(Proto::Udp, 48000, 1200), sock(Proto::Tcp, 49101, 77)];
        assert_eq!(runtime(Ok(session), &PORTS, path), Runtime::Program(SERVER.into()));
        // UDP 49100 or TCP on a media port is not the Runtime.
        let other = vec![sock(Proto::Udp, 49100, 1200), sock(Proto::Tcp, 48000, 1200)];
        assert_eq!(runtime(Ok(other), &PORTS, path), Runtime::NotRunning);
        assert!(matches!(
            runtime(Ok(vec![sock(Proto::Tcp, 49100, 1300)]), &PORTS, path),
            Runtime::Unknown(e) if e == "the program of process 1300 could not be read: Access is denied. (os error 5)"
        ));
        assert!(matches!(runtime(Ok(vec![sock(Proto::Tcp, 49100, 4)]), &PORTS, path),
                Runtime::Unknown(e) if e.contains("System")));
        assert!(
            matches!(runtime(Err("error 87".into()), &PORTS, path), Runtime::Unknown(e) if e.ends_with("error 87"))
        );
    }
}
