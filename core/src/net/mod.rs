//! Local network facts the status shows: which LAN interfaces and IPs this machine has (`lan`) and
//! which of the gateway's and the runtime's ports are taken (`ports`). Nothing here sends a packet:
//! interfaces come from the OS (netlink / getifaddrs / IP Helper) and port checks are bind tests.

pub mod lan;
pub mod ports;

pub use lan::{cert_ips, is_virtual_adapter, parse_fake_ips, scan, FixedLan, LanSource, SystemLan};
pub use ports::{describe_bind_error, tcp_port_in_use, udp_ports_bound};
