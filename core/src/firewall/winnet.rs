//! Windows only, through IP Helper: the adapters with their GUIDs, names and addresses
//! (`GetAdaptersAddresses`, to map the network list's adapters to the address in the QR code), the
//! listening TCP and bound UDP sockets with their owning processes (`GetExtendedTcpTable`,
//! `GetExtendedUdpTable`) and a process's program path (`QueryFullProcessImageNameW`), for who
//! listens on the Runtime's ports. What the data means is `model.rs`'s and `listener.rs`'s business.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use windows_sys::Win32::Foundation::{CloseHandle, ERROR_BUFFER_OVERFLOW, ERROR_INSUFFICIENT_BUFFER, NO_ERROR};
use windows_sys::Win32::NetworkManagement::IpHelper::{
    GetAdaptersAddresses, GetExtendedTcpTable, GetExtendedUdpTable, GAA_FLAG_SKIP_ANYCAST, GAA_FLAG_SKIP_DNS_SERVER,
    GAA_FLAG_SKIP_MULTICAST, IP_ADAPTER_ADDRESSES_LH, MIB_TCP6ROW_OWNER_PID, MIB_TCPROW_OWNER_PID,
    MIB_UDP6ROW_OWNER_PID, MIB_UDPROW_OWNER_PID, TCP_TABLE_OWNER_PID_LISTENER, UDP_TABLE_OWNER_PID,
};
use windows_sys::Win32::Networking::WinSock::{AF_INET, AF_INET6, AF_UNSPEC, SOCKADDR_IN, SOCKADDR_IN6};
use windows_sys::Win32::System::Threading::{
    OpenProcess, QueryFullProcessImageNameW, PROCESS_QUERY_LIMITED_INFORMATION,
};

use super::decide::Runtime;
use super::listener::{self, Socket};
use super::model::Adapter;
use super::{Ports, Proto};

fn os_err(code: u32) -> String {
    std::io::Error::from_raw_os_error(code as i32).to_string()
}

/// Calls an IP Helper function that fills a buffer, growing the buffer while it says too small.
/// `u64` elements keep the tables aligned for their rows.
fn filled(mut call: impl FnMut(*mut core::ffi::c_void, &mut u32) -> u32) -> Result<Vec<u64>, String> {
    let mut size: u32 = 16 * 1024;
    for _ in 0..4 {
        let mut buf = vec![0u64; (size as usize).div_ceil(8)];
        match call(buf.as_mut_ptr().cast(), &mut size) {
            NO_ERROR => return Ok(buf),
            ERROR_BUFFER_OVERFLOW | ERROR_INSUFFICIENT_BUFFER => continue,
            e => return Err(os_err(e)),
        }
    }
    Err("the table kept growing".into())
}

/// Converts a NUL-terminated UTF-16 string.
///
/// SAFETY: `p` is null or points to a NUL-terminated UTF-16 string.
unsafe fn wide(p: *const u16) -> String {
    if p.is_null() {
        return String::new();
    }
    let len = (0..).take_while(|&i| *p.add(i) != 0).count();
    String::from_utf16_lossy(std::slice::from_raw_parts(p, len))
}

/// Every adapter: `AdapterName` (its GUID), `FriendlyName`, and its unicast addresses with prefixes.
pub fn adapters() -> Result<Vec<Adapter>, String> {
    let flags = GAA_FLAG_SKIP_ANYCAST | GAA_FLAG_SKIP_MULTICAST | GAA_FLAG_SKIP_DNS_SERVER;
    // SAFETY: the buffer is as large as `size` says; the list it holds is read before it is dropped.
    let buf = filled(|p, size| unsafe {
        GetAdaptersAddresses(u32::from(AF_UNSPEC), flags, std::ptr::null(), p.cast(), size)
    })?;
    let mut out = Vec::new();
    // SAFETY: GetAdaptersAddresses wrote a linked list of adapters (and their addresses) into `buf`.
    unsafe {
        let mut a = buf.as_ptr() as *const IP_ADAPTER_ADDRESSES_LH;
        while !a.is_null() {
            let ad = &*a;
            let id = if ad.AdapterName.is_null() {
                String::new()
            } else {
                std::ffi::CStr::from_ptr(ad.AdapterName.cast()).to_string_lossy().into_owned()
            };
            let mut addresses = Vec::new();
            let mut u = ad.FirstUnicastAddress;
            while !u.is_null() {
                let ua = &*u;
                let sa = ua.Address.lpSockaddr;
                if !sa.is_null() {
                    let ip = match (*sa).sa_family {
                        AF_INET => {
                            let v4 = &*(sa as *const SOCKADDR_IN);
                            Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(v4.sin_addr.S_un.S_addr))))
                        }
                        AF_INET6 => {
                            let v6 = &*(sa as *const SOCKADDR_IN6);
                            Some(IpAddr::V6(Ipv6Addr::from(v6.sin6_addr.u.Byte)))
                        }
                        _ => None,
                    };
                    if let Some(ip) = ip {
                        addresses.push((ip, ua.OnLinkPrefixLength));
                    }
                }
                u = ua.Next;
            }
            out.push(Adapter { id, name: wide(ad.FriendlyName), addresses });
            a = ad.Next;
        }
    }
    Ok(out)
}

/// The rows of a `MIB_*TABLE_OWNER_PID`: a `u32` count, then the rows (aligned as the struct is).
///
/// SAFETY: `buf` holds such a table of `T` rows.
unsafe fn rows<T: Copy>(buf: &[u64]) -> Vec<T> {
    let n = *(buf.as_ptr() as *const u32) as usize;
    let first = (buf.as_ptr() as *const u8).add(std::mem::align_of::<T>().max(4)) as *const T;
    let max = (buf.len() * 8).saturating_sub(std::mem::align_of::<T>().max(4)) / std::mem::size_of::<T>();
    (0..n.min(max)).map(|i| *first.add(i)).collect()
}

fn port(dw: u32) -> u16 {
    u16::from_be((dw & 0xFFFF) as u16)
}

/// Listening TCP sockets and bound UDP sockets, IPv4 and IPv6, with their owning processes.
pub fn sockets() -> Result<Vec<Socket>, String> {
    let mut out = Vec::new();
    for af in [AF_INET, AF_INET6] {
        let af = u32::from(af);
        // SAFETY: buffers as large as `size` says; rows read by `rows` within them.
        let tcp = filled(|p, size| unsafe { GetExtendedTcpTable(p, size, 0, af, TCP_TABLE_OWNER_PID_LISTENER, 0) })?;
        let udp = filled(|p, size| unsafe { GetExtendedUdpTable(p, size, 0, af, UDP_TABLE_OWNER_PID, 0) })?;
        // SAFETY: each buffer holds the table class asked for, for this address family.
        unsafe {
            if af == u32::from(AF_INET) {
                out.extend(rows::<MIB_TCPROW_OWNER_PID>(&tcp).iter().map(|r| Socket {
                    proto: Proto::Tcp,
                    port: port(r.dwLocalPort),
                    pid: r.dwOwningPid,
                }));
                out.extend(rows::<MIB_UDPROW_OWNER_PID>(&udp).iter().map(|r| Socket {
                    proto: Proto::Udp,
                    port: port(r.dwLocalPort),
                    pid: r.dwOwningPid,
                }));
            } else {
                out.extend(rows::<MIB_TCP6ROW_OWNER_PID>(&tcp).iter().map(|r| Socket {
                    proto: Proto::Tcp,
                    port: port(r.dwLocalPort),
                    pid: r.dwOwningPid,
                }));
                out.extend(rows::<MIB_UDP6ROW_OWNER_PID>(&udp).iter().map(|r| Socket {
                    proto: Proto::Udp,
                    port: port(r.dwLocalPort),
                    pid: r.dwOwningPid,
                }));
            }
        }
    }
    Ok(out)
}

/// A process's program path (`C:\…\x.exe`).
pub fn image_path(pid: u32) -> Result<String, String> {
    // SAFETY: the handle is checked and closed once; the buffer's length is passed with it.
    unsafe {
        let h = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid);
        if h.is_null() {
            return Err(std::io::Error::last_os_error().to_string());
        }
        let mut buf = vec![0u16; 32 * 1024];
        let mut len = buf.len() as u32;
        let ok = QueryFullProcessImageNameW(h, 0, buf.as_mut_ptr(), &mut len);
        let err = std::io::Error::last_os_error();
        CloseHandle(h);
        if ok == 0 {
            return Err(err.to_string());
        }
        Ok(String::from_utf16_lossy(&buf[..len as usize]))
    }
}

/// Who listens on the Runtime's ports now.
pub fn runtime(ports: &Ports) -> Runtime {
    listener::runtime(sockets(), ports, image_path)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Wine exports `wine_get_version` from ntdll; Windows does not.
    fn under_wine() -> bool {
        use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleA, GetProcAddress};
        // SAFETY: NUL-terminated names; ntdll is loaded in every process.
        unsafe {
            let ntdll = GetModuleHandleA(c"ntdll.dll".as_ptr().cast());
            !ntdll.is_null() && GetProcAddress(ntdll, c"wine_get_version".as_ptr().cast()).is_some()
        }
    }

    /// Windows (wine in the Windows stage): the sockets this test binds are in the tables at their
    /// ports, and on Windows with this process's program path, as the Runtime's would be. Wine lists
    /// sockets without their owners (pid 0): there the Runtime's program reads unknown, never a guess.
    #[test]
    fn a_listener_is_found_with_its_program() {
        let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let (t, u) = (tcp.local_addr().unwrap().port(), udp.local_addr().unwrap().port());
        let ports = Ports { signaling: t, media_first: u, media_last: u, proxy: 1 };
        let socks = sockets().unwrap();
        let ours: Vec<&Socket> = socks
            .iter()
            .filter(|s| (s.proto, s.port) == (Proto::Tcp, t) || (s.proto, s.port) == (Proto::Udp, u))
            .collect();
        println!("{} sockets; ours: {ours:?}", socks.len());
        assert_eq!(ours.len(), 2, "the TCP listener and the UDP socket at their ports");
        let found = runtime(&ports);
        println!("the program on TCP {t}: {found:?}");
        if under_wine() {
            assert_eq!(found, Runtime::Unknown("the socket table names no process for the port".into()));
        } else {
            let me = std::env::current_exe().unwrap().display().to_string().to_lowercase();
            assert!(matches!(&found, Runtime::Program(p) if p.to_lowercase() == me), "{found:?}");
        }
        let names: Vec<String> =
            adapters().unwrap().iter().map(|a| format!("{} {} {:?}", a.name, a.id, a.addresses)).collect();
        println!("adapters: {names:#?}");
    }
}
