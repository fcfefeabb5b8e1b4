//! The local certificate authority: a root made once per install ("CXR Gate CA on <host>", ECDSA
//! P-256, ten years) that signs the serving certificate. A device that installs it once trusts
//! every serving certificate issued later — new LAN IPs, new names, renewals — without a warning.
//!
//! The root carries name constraints, so a leaked CA key can only vouch for: IPv4 10/8, 172.16/12,
//! 192.168/16, 127/8, 169.254/16 and 100.64/10 (carrier-grade NAT's shared space, not private to
//! the LAN); IPv6 ::1, fc00::/7, fe80::/10; DNS `localhost`, `local`, `lan`, `home.arpa`,
//! `internal`; plus this host's name and the configured names and addresses at the time the CA is
//! made — each DNS name with every name below it (X.509 cannot permit one host alone), each address
//! alone. A name added later outside those needs a new CA (rotation).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType, GeneralSubtree, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, NameConstraints, PublicKeyData, PKCS_ECDSA_P256_SHA256,
};
use rustls_pki_types::CertificateDer;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

use super::cert::{self, pem_encode, Name};
use super::TlsError;

/// About ten years: a device trusts it once for the life of the install.
pub(crate) const CA_VALIDITY_DAYS: i64 = 3652;

/// Networks every CA permits: RFC 1918, loopback, link-local, RFC 6598 (carrier-grade NAT, Tailscale), ULA.
const PRIVATE_V4: [([u8; 4], u8); 6] = [
    ([10, 0, 0, 0], 8),
    ([172, 16, 0, 0], 12),
    ([192, 168, 0, 0], 16),
    ([127, 0, 0, 0], 8),
    ([169, 254, 0, 0], 16),
    ([100, 64, 0, 0], 10),
];
const PRIVATE_V6: [(Ipv6Addr, u8); 3] = [
    (Ipv6Addr::LOCALHOST, 128),
    (Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0), 7),
    (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0), 10),
];
/// Local DNS names every CA permits (and their subdomains).
const LOCAL_DNS: [&str; 5] = ["localhost", "local", "lan", "home.arpa", "internal"];

/// One permitted subtree of the CA's name constraints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Permit {
    /// A DNS name and everything below it.
    Dns(String),
    Net(IpAddr, u8),
}

impl Permit {
    fn allows(&self, name: &Name) -> bool {
        match (self, name) {
            (Permit::Dns(base), Name::Dns(n)) => {
                let n = n.strip_prefix("*.").unwrap_or(n).trim_end_matches('.').to_ascii_lowercase();
                n == *base || n.ends_with(&format!(".{base}"))
            }
            (Permit::Net(net, len), Name::Ip(ip)) => in_net(ip.to_canonical(), *net, *len),
            _ => false,
        }
    }
}

impl std::fmt::Display for Permit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Permit::Dns(d) => write!(f, "{d}"),
            Permit::Net(ip, len) => write!(f, "{ip}/{len}"),
        }
    }
}

fn in_net(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - u32::from(len.min(32))) };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if len == 0 { 0 } else { u128::MAX << (128 - u32::from(len.min(128))) };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// The CA's permitted subtrees for a host name and the names in use when it is made.
pub(crate) fn permits_for(host: Option<&str>, names: &[Name]) -> Vec<Permit> {
    let mut out: Vec<Permit> = PRIVATE_V4
        .iter()
        .map(|(a, l)| Permit::Net(IpAddr::V4(Ipv4Addr::from(*a)), *l))
        .chain(PRIVATE_V6.iter().map(|(a, l)| Permit::Net(IpAddr::V6(*a), *l)))
        .chain(LOCAL_DNS.iter().map(|d| Permit::Dns((*d).to_string())))
        .collect();
    let extra = host.map(|h| Name::Dns(h.to_string())).into_iter().chain(names.iter().cloned());
    for name in extra {
        if out.iter().any(|p| p.allows(&name)) {
            continue;
        }
        out.push(match name {
            Name::Dns(d) => Permit::Dns(d.strip_prefix("*.").unwrap_or(&d).to_ascii_lowercase()),
            Name::Ip(ip) => {
                let ip = ip.to_canonical();
                Permit::Net(ip, if ip.is_ipv4() { 32 } else { 128 })
            }
        });
    }
    out
}

/// A loaded or freshly made CA: what it is, and the key it signs with.
pub(crate) struct Ca {
    pub der: CertificateDer<'static>,
    pub key: KeyPair,
    pub facts: CaFacts,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CaFacts {
    pub fingerprint: String,
    pub common_name: String,
    pub serial_hex: String,
    pub not_before: i64,
    pub not_after: i64,
    /// Empty when the certificate has no name constraints (a CA from elsewhere): everything allowed.
    pub permits: Vec<Permit>,
}

impl CaFacts {
    /// Whether the CA may sign for `name`.
    pub(crate) fn allows(&self, name: &Name) -> bool {
        self.permits.is_empty() || self.permits.iter().any(|p| p.allows(name))
    }
}

impl Ca {
    /// `ca.pem` text (LF line ends on every platform, as served).
    pub(crate) fn pem(&self) -> String {
        pem_encode("CERTIFICATE", self.der.as_ref())
    }

    /// The CA key as PKCS#8 PEM, to save (our encoder: LF on every platform).
    pub(crate) fn key_pem(&self) -> String {
        pem_encode("PRIVATE KEY", &self.key.serialize_der())
    }

    /// Makes a new CA valid from `not_before` for [`CA_VALIDITY_DAYS`].
    pub(crate) fn create(common_name: &str, permits: &[Permit], not_before: i64) -> Result<Ca, TlsError> {
        let gen_err = |e: rcgen::Error| TlsError::Generate(e.to_string());
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(gen_err)?;
        let mut params = CertificateParams::default();
        cert::set_validity(&mut params, not_before, not_before + CA_VALIDITY_DAYS * cert::DAY_SECS)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        dn.push(DnType::OrganizationName, "CXR Gate");
        // Each CA's own name, so a rotated CA never shares a subject with the one it replaces
        // (trust stores and chain builders find issuers by name).
        let id = cert::fingerprint(&key.subject_public_key_info());
        dn.push(DnType::OrganizationalUnitName, format!("CA {}", id.replace(':', "").get(..12).unwrap_or("")));
        params.distinguished_name = dn;
        // It signs serving certificates only, never another CA.
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages =
            vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let subtrees = permits
            .iter()
            .map(|p| match p {
                Permit::Dns(d) => GeneralSubtree::DnsName(d.clone()),
                Permit::Net(ip, len) => GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(*ip, *len)),
            })
            .collect();
        params.name_constraints = Some(NameConstraints { permitted_subtrees: subtrees, excluded_subtrees: Vec::new() });
        let cert = params.self_signed(&key).map_err(gen_err)?;
        let der = cert.der().clone().into_owned();
        let facts = parse_facts(der.as_ref()).map_err(TlsError::Generate)?;
        Ok(Ca { der, key, facts })
    }

    /// Loads `ca.pem` + `ca-key.pem` and checks they are a CA and its key.
    pub(crate) fn load(cert_path: &Path, cert_pem: &[u8], key_path: &Path, key_pem: &[u8]) -> Result<Ca, TlsError> {
        let chain = cert::certs_from_pem(cert_path, cert_pem)?;
        let der = chain.into_iter().next().ok_or_else(|| TlsError::NoCertificate { path: cert_path.to_path_buf() })?;
        let bad = |reason: String| TlsError::BadCertificate { path: cert_path.to_path_buf(), reason };
        let (_, x509) = X509Certificate::from_der(der.as_ref()).map_err(|e| bad(e.to_string()))?;
        if !x509.is_ca() {
            return Err(bad("it is not a CA certificate".into()));
        }
        let text = std::str::from_utf8(key_pem)
            .map_err(|_| TlsError::BadKey { path: key_path.to_path_buf(), reason: "not PEM text".into() })?;
        let key = KeyPair::from_pem(text)
            .map_err(|e| TlsError::BadKey { path: key_path.to_path_buf(), reason: e.to_string() })?;
        if key.subject_public_key_info() != x509.public_key().raw {
            return Err(TlsError::KeyMismatch { cert: cert_path.to_path_buf(), key: key_path.to_path_buf() });
        }
        let facts = parse_facts(der.as_ref()).map_err(bad)?;
        Ok(Ca { der, key, facts })
    }

    /// Signs a serving certificate for `names`, valid `not_before`..`not_after`.
    pub(crate) fn issue(&self, names: &[Name], not_before: i64, not_after: i64) -> Result<cert::Generated, TlsError> {
        let gen_err = |e: rcgen::Error| TlsError::Generate(e.to_string());
        let issuer = Issuer::from_ca_cert_der(&self.der, &self.key).map_err(gen_err)?;
        cert::generate_signed(&cert::common_name(), names, not_before, not_after, &issuer, self.der.clone())
    }

    /// Whether `leaf_der` was signed by this CA's key.
    pub(crate) fn signed(&self, leaf_der: &[u8]) -> bool {
        let (Ok((_, leaf)), Ok((_, ca))) =
            (X509Certificate::from_der(leaf_der), X509Certificate::from_der(self.der.as_ref()))
        else {
            return false;
        };
        leaf.issuer() == ca.subject() && leaf.verify_signature(Some(ca.public_key())).is_ok()
    }
}

/// The facts about a CA certificate the manager and the status need.
pub(crate) fn parse_facts(der: &[u8]) -> Result<CaFacts, String> {
    let (_, x509) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
    let common_name =
        x509.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).unwrap_or("").to_string();
    let mut permits = Vec::new();
    if let Ok(Some(nc)) = x509.name_constraints() {
        for subtree in nc.value.permitted_subtrees.iter().flatten() {
            match &subtree.base {
                GeneralName::DNSName(d) => permits.push(Permit::Dns(d.trim_start_matches('.').to_ascii_lowercase())),
                GeneralName::IPAddress(bytes) => {
                    if let Some(p) = ip_subtree(bytes) {
                        permits.push(p);
                    }
                }
                _ => {}
            }
        }
    }
    Ok(CaFacts {
        fingerprint: cert::fingerprint(der),
        common_name,
        serial_hex: x509.raw_serial().iter().map(|b| format!("{b:02x}")).collect(),
        not_before: x509.validity().not_before.timestamp(),
        not_after: x509.validity().not_after.timestamp(),
        permits,
    })
}

/// An IP subtree is the address followed by its mask (RFC 5280 §4.2.1.10).
fn ip_subtree(bytes: &[u8]) -> Option<Permit> {
    match bytes.len() {
        8 => {
            let ip = Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]);
            let mask = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]);
            Some(Permit::Net(IpAddr::V4(ip), mask.count_ones() as u8))
        }
        32 => {
            let a: [u8; 16] = bytes[..16].try_into().ok()?;
            let m: [u8; 16] = bytes[16..].try_into().ok()?;
            Some(Permit::Net(IpAddr::V6(Ipv6Addr::from(a)), u128::from_be_bytes(m).count_ones() as u8))
        }
        _ => None,
    }
}

/// The CA's common name: says whose it is in every trust dialog.
pub(crate) fn ca_common_name() -> String {
    cert::shown_host_name().map_or_else(|| "CXR Gate CA".to_string(), |host| format!("CXR Gate CA on {host}"))
}
