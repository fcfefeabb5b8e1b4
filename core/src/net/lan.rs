//! LAN interface discovery: the machine's IPv4 interfaces, which one carries the default route,
//! which are virtual adapters (WSL, Hyper-V, VMs, containers, VPNs) or link-local, in the order
//! the UI offers them, and the IPs the generated certificate must cover (not the virtual ones).

use std::net::{IpAddr, Ipv4Addr};

use crate::status::LanInterface;

/// Where the gateway's LAN watcher gets the interface list: the OS ([`SystemLan`]), or a test's script.
pub trait LanSource: Send + Sync + 'static {
    /// The IPv4 interfaces, sorted as [`classify_and_sort`] does. Must not block for long.
    fn scan(&self) -> Vec<LanInterface>;
}

/// The machine's own interfaces, through [`scan`].
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemLan;

impl LanSource for SystemLan {
    fn scan(&self) -> Vec<LanInterface> {
        scan()
    }
}

/// A fixed interface list instead of the machine's: demo screenshots (`CXR_GATE_FAKE_LAN_IPS`).
#[derive(Debug, Clone, Default)]
pub struct FixedLan(pub Vec<LanInterface>);

impl LanSource for FixedLan {
    fn scan(&self) -> Vec<LanInterface> {
        self.0.clone()
    }
}

/// Reads a fake LAN list, `192.0.2.10,192.0.2.20`: only documentation addresses (RFC 5737:
/// 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24), so a demo can never claim a real network. The
/// first is the primary adapter; each is named `demo0`, `demo1`… The error names the value and why.
pub fn parse_fake_ips(value: &str) -> Result<FixedLan, String> {
    let mut raw = Vec::new();
    for (n, part) in value.split(',').map(str::trim).filter(|p| !p.is_empty()).enumerate() {
        let ip: Ipv4Addr = part.parse().map_err(|_| format!("{part:?} is not an IPv4 address"))?;
        let [a, b, c, _] = ip.octets();
        if !matches!((a, b, c), (192, 0, 2) | (198, 51, 100) | (203, 0, 113)) {
            return Err(format!(
                "{part} is not a documentation address (192.0.2.0/24, 198.51.100.0/24 or 203.0.113.0/24)"
            ));
        }
        raw.push((format!("demo{n}"), ip));
    }
    let primary = raw.first().map(|(_, ip)| IpAddr::V4(*ip)).ok_or("no address given")?;
    Ok(FixedLan(classify_and_sort(raw, Some(primary))))
}

/// Lists the IPv4 interfaces (loopback and IPv6 left out), best candidate for the headset first.
/// Never fails: if the OS query fails the list is empty and a warning is logged.
pub fn scan() -> Vec<LanInterface> {
    let raw = match local_ip_address::list_afinet_netifas() {
        Ok(list) => list,
        Err(e) => {
            tracing::warn!("cannot list network interfaces: {e}");
            return Vec::new();
        }
    };
    // Nothing is sent: on Linux a netlink route lookup (RTM_GETROUTE) gives the default route's
    // source address; Windows reads the IP Helper tables; macOS/BSD take the first non-loopback
    // IPv4 from getifaddrs (not strictly the default route there).
    let primary = match local_ip_address::local_ip() {
        Ok(ip) => Some(ip),
        Err(e) => {
            tracing::debug!("no default-route address: {e}");
            None
        }
    };
    let v4 = raw
        .into_iter()
        .filter_map(|(name, ip)| match ip {
            IpAddr::V4(v4) if !v4.is_loopback() && !v4.is_unspecified() => Some((name, v4)),
            _ => None,
        })
        .collect();
    classify_and_sort(v4, primary)
}

/// Flags and orders raw `(interface name, IPv4)` pairs: primary first, then physical, then
/// virtual, then link-local; ties by name then IP. Duplicate pairs are dropped.
pub fn classify_and_sort(raw: Vec<(String, Ipv4Addr)>, primary: Option<IpAddr>) -> Vec<LanInterface> {
    let mut list: Vec<(Ipv4Addr, LanInterface)> = raw
        .into_iter()
        .filter(|(_, ip)| !ip.is_loopback())
        .map(|(name, ip)| {
            let iface = LanInterface {
                primary: primary == Some(IpAddr::V4(ip)),
                virtual_adapter: is_virtual_adapter(&name),
                link_local: ip.is_link_local(),
                ip: ip.to_string(),
                name,
            };
            (ip, iface)
        })
        .collect();
    list.sort_by(|(ip_a, a), (ip_b, b)| rank(a).cmp(&rank(b)).then_with(|| a.name.cmp(&b.name)).then(ip_a.cmp(ip_b)));
    list.dedup_by(|(ip_a, a), (ip_b, b)| ip_a == ip_b && a.name == b.name);
    list.into_iter().map(|(_, iface)| iface).collect()
}

fn rank(i: &LanInterface) -> u8 {
    if i.primary {
        0
    } else if i.link_local {
        3
    } else if i.virtual_adapter {
        2
    } else {
        1
    }
}

/// Distinctive words found anywhere in adapter names (mostly Windows friendly names).
const VIRTUAL_WORDS: &[&str] = &[
    "vethernet",
    "wsl",
    "hyper-v",
    "virtualbox",
    "vbox",
    "vmware",
    "vmnet",
    "docker",
    "virbr",
    "vpn",
    "tailscale",
    "zerotier",
    "wireguard",
    "wintun",
    "tap-windows",
    "npcap",
    "loopback",
    "hamachi",
    "nordlynx",
    "podman",
    "lxcbr",
    "lxdbr",
    "default switch",
    "pseudo-interface",
];

/// Short Unix-style name prefixes; matched only at the start so e.g. "tap" in a longer word is not hit.
const VIRTUAL_PREFIXES: &[&str] = &[
    "br-", "veth", "tun", "tap", "zt", "wg", "utun", "vnet", "cni", "cali", "flannel", "kube", "bridge", "ipsec",
    "ppp", "awdl", "llw", "anpi", "gif", "stf",
];

/// Whether an interface name looks like a virtual adapter (VMs, containers, VPNs, tunnels), case-insensitive.
pub fn is_virtual_adapter(name: &str) -> bool {
    let n = name.trim().to_ascii_lowercase();
    VIRTUAL_WORDS.iter().any(|w| n.contains(w)) || VIRTUAL_PREFIXES.iter().any(|p| n.starts_with(p))
}

/// The IPv4 addresses a generated certificate must name: the primary adapter's and every other
/// physical adapter's, not loopback or link-local, deduped and sorted. Virtual adapters (Hyper-V's
/// Default Switch, WSL, Docker, VM host-only networks, VPNs) are left out even though a headset could
/// reach us there: they get new addresses at each boot or connect, and a certificate that had to
/// follow them would change, and need trusting again on every headset, after each reboot. They
/// are shown as such, and a user who needs one adds it as an extra name. The primary adapter counts
/// even when it looks virtual (a full-tunnel VPN: it is where the headset link points), but only
/// while a physical adapter is up too: with only virtual adapters up (a boot before the Wi-Fi
/// connects, when Hyper-V's or Docker's adapter holds the default route) nothing is wanted, so such
/// a LAN never causes a new certificate.
pub fn cert_ips(ifaces: &[LanInterface]) -> Vec<Ipv4Addr> {
    let usable = |i: &&LanInterface| {
        i.ip.parse::<Ipv4Addr>().is_ok_and(|ip| !ip.is_loopback() && !ip.is_link_local() && !ip.is_unspecified())
    };
    let physical_up = ifaces.iter().filter(usable).any(|i| !i.virtual_adapter);
    let mut ips: Vec<Ipv4Addr> = ifaces
        .iter()
        .filter(usable)
        .filter(|i| !i.virtual_adapter || (i.primary && physical_up))
        .filter_map(|i| i.ip.parse::<Ipv4Addr>().ok())
        .collect();
    ips.sort();
    ips.dedup();
    ips
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(list: &[(&str, [u8; 4])]) -> Vec<(String, Ipv4Addr)> {
        list.iter().map(|(n, ip)| (n.to_string(), Ipv4Addr::from(*ip))).collect()
    }

    #[test]
    fn fake_lan_takes_documentation_addresses_only_first_is_primary() {
        let lan = parse_fake_ips(" 192.0.2.20, 198.51.100.7 ,").unwrap().scan();
        let got: Vec<_> = lan.iter().map(|i| (i.name.as_str(), i.ip.as_str(), i.primary, i.virtual_adapter)).collect();
        assert_eq!(got, [("demo0", "192.0.2.20", true, false), ("demo1", "198.51.100.7", false, false)]);
        assert_eq!(cert_ips(&lan), [Ipv4Addr::new(192, 0, 2, 20), Ipv4Addr::new(198, 51, 100, 7)]);
        let real = parse_fake_ips("192.0.2.1,192.168.1.20").unwrap_err();
        assert!(real.starts_with("192.168.1.20 is not a documentation address"), "{real}");
        assert_eq!(parse_fake_ips("192.0.2.300").unwrap_err(), "\"192.0.2.300\" is not an IPv4 address");
        assert_eq!(parse_fake_ips(" , ").unwrap_err(), "no address given");
    }

    #[test]
    fn classification_table() {
        let cases = [
            ("eth0", false),
            ("enp3s0", false),
            ("wlan0", false),
            ("wlp2s0", false),
            ("en0", false),
            ("Ethernet", false),
            ("Ethernet 2", false),
            ("Wi-Fi", false),
            ("WLAN", false),
            ("vEthernet (WSL)", true),
            ("vEthernet (Default Switch)", true),
            ("Hyper-V Virtual Ethernet Adapter", true),
            ("VirtualBox Host-Only Network", true),
            ("vboxnet0", true),
            ("VMware Network Adapter VMnet8", true),
            ("vmnet1", true),
            ("docker0", true),
            ("br-3f2a9c1d", true),
            ("veth12ab34", true),
            ("virbr0", true),
            ("Cisco AnyConnect VPN", true),
            ("TAP-Windows Adapter V9", true),
            ("tap0", true),
            ("tun0", true),
            ("Tailscale", true),
            ("tailscale0", true),
            ("ZeroTier One [8056c2e21c000001]", true),
            ("ztks5abcde", true),
            ("wg0", true),
            ("WireGuard Tunnel", true),
            ("utun3", true),
            ("Npcap Loopback Adapter", true),
            ("bridge100", true),
        ];
        for (name, want) in cases {
            assert_eq!(is_virtual_adapter(name), want, "{name}");
        }
    }

    #[test]
    fn sorting_primary_physical_virtual_link_local() {
        let list = classify_and_sort(
            raw(&[
                ("vEthernet (WSL)", [172, 20, 0, 1]),
                ("Ethernet 3", [169, 254, 10, 2]),
                ("Wi-Fi", [192, 168, 1, 20]),
                ("docker0", [172, 17, 0, 1]),
                ("Ethernet", [10, 0, 0, 5]),
                ("Ethernet", [10, 0, 0, 4]),
                ("Ethernet", [10, 0, 0, 4]),
                ("lo", [127, 0, 0, 1]),
            ]),
            Some("192.168.1.20".parse().unwrap()),
        );
        let got: Vec<(&str, &str)> = list.iter().map(|i| (i.name.as_str(), i.ip.as_str())).collect();
        assert_eq!(
            got,
            [
                ("Wi-Fi", "192.168.1.20"),
                ("Ethernet", "10.0.0.4"),
                ("Ethernet", "10.0.0.5"),
                ("docker0", "172.17.0.1"),
                ("vEthernet (WSL)", "172.20.0.1"),
                ("Ethernet 3", "169.254.10.2"),
            ]
        );
        assert!(list[0].primary && !list[0].virtual_adapter);
        assert_eq!(list.iter().filter(|i| i.primary).count(), 1);
        assert!(list[3].virtual_adapter && list[4].virtual_adapter);
        assert!(list[5].link_local && !list[5].virtual_adapter);
    }

    #[test]
    fn no_primary_keeps_physical_first() {
        let list = classify_and_sort(raw(&[("tun0", [10, 8, 0, 2]), ("eth0", [192, 168, 0, 9])]), None);
        assert_eq!(list[0].name, "eth0");
        assert!(list.iter().all(|i| !i.primary));
    }

    #[test]
    fn cert_ips_filters_and_dedups() {
        let list = classify_and_sort(
            raw(&[
                ("eth0", [192, 168, 1, 20]),
                ("eth1", [192, 168, 1, 20]),
                ("docker0", [172, 17, 0, 1]),
                ("eth2", [169, 254, 3, 4]),
                ("Ethernet", [10, 0, 0, 1]),
            ]),
            None,
        );
        let mut with_lo = list.clone();
        with_lo.push(LanInterface { name: "lo".into(), ip: "127.0.0.1".into(), ..Default::default() });
        with_lo.push(LanInterface { name: "bad".into(), ip: "not-an-ip".into(), ..Default::default() });
        let want: Vec<Ipv4Addr> = vec![[10, 0, 0, 1].into(), [192, 168, 1, 20].into()];
        assert_eq!(cert_ips(&with_lo), want);
    }

    #[test]
    fn virtual_adapters_stay_out_of_the_certificate_unless_primary() {
        let lan = |list: &[(&str, [u8; 4])], primary: [u8; 4]| {
            classify_and_sort(raw(list), Some(IpAddr::from(Ipv4Addr::from(primary))))
        };
        let home = [("Wi-Fi", [192, 168, 1, 20]), ("Ethernet 2", [10, 0, 0, 4])];
        let want: Vec<Ipv4Addr> = vec![[10, 0, 0, 4].into(), [192, 168, 1, 20].into()];
        assert_eq!(cert_ips(&lan(&home, [192, 168, 1, 20])), want);
        // After a reboot: Hyper-V, WSL, Docker, VirtualBox, VMware and VPN adapters with new addresses.
        let rebooted = [
            home[0],
            home[1],
            ("vEthernet (Default Switch)", [172, 29, 112, 1]),
            ("vEthernet (WSL)", [172, 20, 48, 1]),
            ("docker0", [172, 17, 0, 1]),
            ("VirtualBox Host-Only Network", [192, 168, 56, 1]),
            ("VMware Network Adapter VMnet8", [192, 168, 77, 1]),
            ("TAP-Windows Adapter V9", [10, 8, 0, 6]),
            ("Wintun Userspace Tunnel", [100, 64, 0, 2]),
            ("WireGuard Tunnel", [10, 66, 0, 2]),
        ];
        assert_eq!(cert_ips(&lan(&rebooted, [192, 168, 1, 20])), want);
        // The primary adapter is in, even one that looks virtual (a full-tunnel VPN).
        let mut with_vpn = want.clone();
        with_vpn.insert(1, [10, 8, 0, 6].into());
        assert_eq!(cert_ips(&lan(&rebooted, [10, 8, 0, 6])), with_vpn);
    }

    #[test]
    fn only_virtual_adapters_want_nothing() {
        let lan = |list: &[(&str, [u8; 4])], primary: [u8; 4]| {
            classify_and_sort(raw(list), Some(IpAddr::from(Ipv4Addr::from(primary))))
        };
        // A morning before the Wi-Fi connects: Hyper-V's, WSL's or Docker's adapter holds the route.
        let morning = [("docker0", [172, 17, 0, 1]), ("vEthernet (WSL)", [172, 20, 48, 1])];
        assert!(cert_ips(&lan(&morning, [172, 17, 0, 1])).is_empty());
        // A link-local "physical" adapter (no DHCP answer yet) does not count as up.
        let dhcp_pending = [morning[0], ("Ethernet", [169, 254, 7, 7])];
        assert!(cert_ips(&lan(&dhcp_pending, [172, 17, 0, 1])).is_empty());
        // With the Wi-Fi up the virtual primary (a full-tunnel VPN) is wanted again.
        let with_wifi = [morning[0], ("Wi-Fi", [192, 168, 1, 20])];
        let want: Vec<Ipv4Addr> = vec![[172, 17, 0, 1].into(), [192, 168, 1, 20].into()];
        assert_eq!(cert_ips(&lan(&with_wifi, [172, 17, 0, 1])), want);
    }

    #[test]
    fn scan_runs_and_skips_loopback() {
        let list = scan();
        for i in &list {
            let ip: Ipv4Addr = i.ip.parse().unwrap();
            assert!(!ip.is_loopback(), "{i:?}");
        }
        if list.iter().any(|i| i.primary) {
            assert!(list[0].primary, "primary must sort first: {list:?}");
        }
    }
}
