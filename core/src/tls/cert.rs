//! Certificate material without state: issuing the serving certificate (rcgen, signed by the local
//! CA), reading PEM certificates and keys (PKCS#8, SEC1, PKCS#1), checking that a key matches its
//! certificate, and the facts the manager decides on (fingerprint, SANs, validity) plus SAN
//! coverage (wildcards, IPs).

use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose, SanType,
    PKCS_ECDSA_P256_SHA256,
};
use rustls::sign::{CertifiedKey, SigningKey};
use rustls_pki_types::pem::{self, PemObject};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;
use x509_parser::time::ASN1Time;

use super::TlsError;

pub(crate) const DAY_SECS: i64 = 86_400;

/// A certificate name: what a SAN holds and what a client connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Name {
    Dns(String),
    Ip(IpAddr),
}

impl Name {
    /// An IP address, or a DNS name (a leading `*.` allowed); `None` for anything else.
    pub(crate) fn parse(s: &str) -> Option<Name> {
        let s = s.trim();
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Some(Name::Ip(ip));
        }
        // A fully qualified name's trailing dot means the same name.
        let s = s.strip_suffix('.').unwrap_or(s);
        crate::config::validate_cert_name(s, crate::config::SettingName::Other("certificate name")).ok()?;
        Some(Name::Dns(s.to_ascii_lowercase()))
    }

    /// Same name (DNS case-insensitively, IPs by value).
    fn same(&self, other: &Name) -> bool {
        match (self, other) {
            (Name::Dns(a), Name::Dns(b)) => a.eq_ignore_ascii_case(b),
            (Name::Ip(a), Name::Ip(b)) => a.to_canonical() == b.to_canonical(),
            _ => false,
        }
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Name::Dns(d) => f.write_str(d),
            Name::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// Appends `name` unless an equal one is already there.
pub(crate) fn push_unique(list: &mut Vec<Name>, name: Name) {
    if !list.iter().any(|n| n.same(&name)) {
        list.push(name);
    }
}

/// Whether a SAN `pattern` matches DNS `name`: exact (case-insensitive), or `*.example.com`
/// matching exactly one extra leftmost label, as browsers do.
fn dns_matches(pattern: &str, name: &str) -> bool {
    let p = pattern.trim_end_matches('.');
    let n = name.trim_end_matches('.');
    if p.eq_ignore_ascii_case(n) {
        return true;
    }
    match (p.strip_prefix("*."), n.split_once('.')) {
        (Some(suffix), Some((first, rest))) => !first.is_empty() && first != "*" && rest.eq_ignore_ascii_case(suffix),
        _ => false,
    }
}

/// Whether the SANs cover `want` (IPs compared as parsed addresses, DNS names with wildcards).
pub(crate) fn covers(sans: &[Name], want: &Name) -> bool {
    sans.iter().any(|san| match (san, want) {
        (Name::Dns(p), Name::Dns(n)) => dns_matches(p, n),
        (Name::Ip(_), Name::Ip(_)) => san.same(want),
        _ => false,
    })
}

/// The wanted names the SANs do not cover, as text.
pub(crate) fn missing(sans: &[Name], wanted: &[Name]) -> Vec<String> {
    wanted.iter().filter(|w| !covers(sans, w)).map(|w| w.to_string()).collect()
}

/// SHA-256 of `der` as upper-case hex pairs joined by ':' (what browsers and `openssl x509 -fingerprint` show).
pub(crate) fn fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    let hex: Vec<String> = digest.iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

/// The leaf certificate's facts the manager decides on.
#[derive(Debug, Clone)]
pub(crate) struct CertFacts {
    pub fingerprint: String,
    pub sans: Vec<Name>,
    /// Seconds since the Unix epoch.
    pub not_before: i64,
    pub not_after: i64,
    /// The DER SubjectPublicKeyInfo, to compare with the private key's.
    pub spki: Vec<u8>,
}

impl CertFacts {
    pub(crate) fn parse(der: &[u8]) -> Result<CertFacts, String> {
        let (_, x509) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
        let mut sans = Vec::new();
        let ext = x509.subject_alternative_name().map_err(|e| format!("bad subjectAltName extension: {e}"))?;
        for general in ext.iter().flat_map(|e| e.value.general_names.iter()) {
            match general {
                GeneralName::DNSName(d) => sans.push(Name::Dns((*d).to_string())),
                GeneralName::IPAddress(bytes) => {
                    if let Ok(b) = <[u8; 4]>::try_from(*bytes) {
                        sans.push(Name::Ip(IpAddr::from(b)));
                    } else if let Ok(b) = <[u8; 16]>::try_from(*bytes) {
                        sans.push(Name::Ip(IpAddr::from(b)));
                    }
                }
                // Email, URI and the like say nothing about which host this is.
                _ => {}
            }
        }
        Ok(CertFacts {
            fingerprint: fingerprint(der),
            sans,
            not_before: x509.validity().not_before.timestamp(),
            not_after: x509.validity().not_after.timestamp(),
            spki: x509.public_key().raw.to_vec(),
        })
    }
}

/// A certificate chain with its key, ready to serve.
#[derive(Debug, Clone)]
pub(crate) struct Material {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: Arc<dyn SigningKey>,
    pub facts: CertFacts,
}

impl Material {
    pub(crate) fn certified_key(&self) -> Arc<CertifiedKey> {
        Arc::new(CertifiedKey::new(self.chain.clone(), self.key.clone()))
    }

    /// The chain as PEM: certificates only, never the key (a combined custom PEM holds both).
    pub(crate) fn chain_pem(&self) -> String {
        self.chain.iter().map(|c| pem_encode("CERTIFICATE", c.as_ref())).collect()
    }

    pub(crate) fn leaf_der(&self) -> Vec<u8> {
        self.chain.first().map(|c| c.to_vec()).unwrap_or_default()
    }
}

/// One PEM block, base64 in 64-column lines (RFC 7468).
pub(crate) fn pem_encode(label: &str, der: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut b64 = String::with_capacity(der.len().div_ceil(3) * 4);
    for chunk in der.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(chunk.get(1).copied().unwrap_or(0)) << 8)
            | u32::from(chunk.get(2).copied().unwrap_or(0));
        for i in 0..4 {
            if i <= chunk.len() {
                b64.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                b64.push('=');
            }
        }
    }
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A PEM syntax error in words (the library's own text prints the offending line as a byte list).
fn describe_pem_error(e: &pem::Error) -> String {
    match e {
        pem::Error::MissingSectionEnd { end_marker } => {
            format!("a PEM section has no end line (expected {})", String::from_utf8_lossy(end_marker))
        }
        pem::Error::IllegalSectionStart { line } => {
            format!("bad PEM begin line {:?}", String::from_utf8_lossy(line))
        }
        pem::Error::Base64Decode(why) => format!("bad base64 in a PEM section ({why})"),
        other => other.to_string(),
    }
}

/// Every `CERTIFICATE` block in `bytes`, leaf first as written.
pub(crate) fn certs_from_pem(path: &Path, bytes: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let mut chain = Vec::new();
    for item in CertificateDer::pem_slice_iter(bytes) {
        match item {
            Ok(c) => chain.push(c),
            Err(e) => return Err(TlsError::BadPem { path: path.to_path_buf(), reason: describe_pem_error(&e) }),
        }
    }
    if chain.is_empty() {
        return Err(TlsError::NoCertificate { path: path.to_path_buf() });
    }
    Ok(chain)
}

/// The first private key in `bytes`: PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) or PKCS#1 (`RSA PRIVATE KEY`).
pub(crate) fn key_from_pem(path: &Path, bytes: &[u8]) -> Result<PrivateKeyDer<'static>, TlsError> {
    let encrypted = contains(bytes, b"ENCRYPTED PRIVATE KEY") || contains(bytes, b"Proc-Type: 4,ENCRYPTED");
    match PrivateKeyDer::from_pem_slice(bytes) {
        Ok(key) => Ok(key),
        // Encrypted keys are skipped or fail base64; either way the fix is the same.
        Err(_) if encrypted => Err(TlsError::EncryptedKey { path: path.to_path_buf() }),
        Err(pem::Error::NoItemsFound) => Err(TlsError::NoPrivateKey { path: path.to_path_buf() }),
        Err(e) => Err(TlsError::BadPem { path: path.to_path_buf(), reason: describe_pem_error(&e) }),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Reads a chain and its key from PEM and checks that they belong together.
/// For a combined PEM pass the same path and bytes twice.
pub(crate) fn load_material(
    cert_path: &Path,
    cert_pem: &[u8],
    key_path: &Path,
    key_pem: &[u8],
) -> Result<Material, TlsError> {
    let chain = certs_from_pem(cert_path, cert_pem)?;
    let facts = CertFacts::parse(chain[0].as_ref())
        .map_err(|reason| TlsError::BadCertificate { path: cert_path.to_path_buf(), reason })?;
    let key_der = key_from_pem(key_path, key_pem)?;
    let key = rustls::crypto::ring::sign::any_supported_type(&key_der).map_err(|_| TlsError::BadKey {
        path: key_path.to_path_buf(),
        reason: "unsupported key type (expected an RSA, ECDSA P-256/P-384 or Ed25519 key)".into(),
    })?;
    // Same check as rustls' CertifiedKey::keys_match: the key's public half must be the certificate's.
    if let Some(spki) = key.public_key() {
        if spki.as_ref() != facts.spki.as_slice() {
            return Err(TlsError::KeyMismatch { cert: cert_path.to_path_buf(), key: key_path.to_path_buf() });
        }
    }
    Ok(Material { chain, key, facts })
}

/// A freshly issued certificate: PEM texts to save and the material to serve.
pub(crate) struct Generated {
    /// The leaf then its CA, LF line ends on every platform (what `/cert.pem` serves, byte for byte).
    pub cert_pem: String,
    pub key_pem: String,
    pub material: Material,
}

/// Sets `params`' validity to `not_before`..`not_after` (seconds since the epoch), converted through
/// x509-parser's ASN1Time, which speaks the same `time` type as rcgen. Always explicit: rcgen's
/// default validity (1975–4096) is rejected by browsers.
pub(crate) fn set_validity(params: &mut CertificateParams, not_before: i64, not_after: i64) -> Result<(), TlsError> {
    let to_datetime = |secs: i64| {
        ASN1Time::from_timestamp(secs)
            .map(|t| t.to_datetime())
            .map_err(|_| TlsError::Generate(format!("time {secs} is out of range")))
    };
    params.not_before = to_datetime(not_before)?;
    params.not_after = to_datetime(not_after)?;
    Ok(())
}

/// Issues an ECDSA P-256 serving certificate for `names`, valid from `not_before` to `not_after`
/// (seconds since the epoch), signed by `issuer` whose certificate is `ca_der`.
pub(crate) fn generate_signed(
    common_name: &str,
    names: &[Name],
    not_before: i64,
    not_after: i64,
    issuer: &rcgen::Issuer<'_, impl rcgen::SigningKey>,
    ca_der: CertificateDer<'static>,
) -> Result<Generated, TlsError> {
    let gen_err = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let key_pair = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(gen_err)?;

    let mut params = CertificateParams::default();
    set_validity(&mut params, not_before, not_after)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.subject_alt_names = names
        .iter()
        .map(|n| match n {
            Name::Ip(ip) => Ok(SanType::IpAddress(*ip)),
            Name::Dns(d) => d.as_str().try_into().map(SanType::DnsName),
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(gen_err)?;

    let cert = params.signed_by(&key_pair, issuer).map_err(gen_err)?;
    // Our own encoder, not rcgen's: that one ends lines with CRLF on Windows, so the saved cert.pem
    // and the served /cert.pem would differ there. One encoding everywhere: LF.
    let cert_pem = pem_encode("CERTIFICATE", cert.der().as_ref()) + &pem_encode("CERTIFICATE", ca_der.as_ref());
    let key_pem = pem_encode("PRIVATE KEY", &key_pair.serialize_der());
    // Read back through the same path as saved files, so what is served is exactly what is saved.
    let label = Path::new("(generated certificate)");
    let material = load_material(label, cert_pem.as_bytes(), label, key_pem.as_bytes())?;
    Ok(Generated { cert_pem, key_pem, material })
}

/// `secs` since the epoch as a UTC date, e.g. `2026-03-01`.
pub(crate) fn date(secs: i64) -> String {
    match ASN1Time::from_timestamp(secs) {
        Ok(t) => t.to_datetime().date().to_string(),
        Err(_) => format!("{secs} s after 1970"),
    }
}

/// The subject CN of generated certificates: `CXR Gate <hostname>` (what trust dialogs show).
pub(crate) fn common_name() -> String {
    shown_host_name().map_or_else(|| "CXR Gate".to_string(), |host| format!("CXR Gate {host}"))
}

/// This machine's host name as trust dialogs show it (any text), `None` when there is none.
pub(crate) fn shown_host_name() -> Option<String> {
    let raw = gethostname::gethostname();
    let host = raw.to_string_lossy();
    Some(host.trim().to_string()).filter(|h| !h.is_empty())
}

/// This machine's host name if it can be a DNS SAN (lower-case), else `None`.
pub(crate) fn host_name() -> Option<String> {
    let raw = gethostname::gethostname();
    let name = raw.to_str()?.trim();
    if name.is_empty() || name.starts_with("*.") {
        return None;
    }
    match Name::parse(name)? {
        Name::Dns(d) => Some(d),
        Name::Ip(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn dns(s: &str) -> Name {
        Name::Dns(s.into())
    }

    #[test]
    fn wildcard_covers_one_label_only() {
        let sans = vec![dns("*.example.com"), dns("Host.LAN")];
        assert!(covers(&sans, &dns("a.example.com")));
        assert!(covers(&sans, &dns("A.Example.com.")));
        assert!(!covers(&sans, &dns("example.com")));
        assert!(!covers(&sans, &dns("a.b.example.com")));
        assert!(covers(&sans, &dns("host.lan")));
        assert!(!covers(&sans, &dns("other.lan")));
        // A wildcard wanted name is covered by the same wildcard SAN.
        assert!(covers(&sans, &dns("*.example.com")));
    }

    #[test]
    fn ip_coverage_compares_parsed_addresses() {
        let sans = vec![Name::Ip("192.168.1.20".parse().unwrap()), Name::Ip("::1".parse().unwrap()), dns("10.0.0.1")];
        assert!(covers(&sans, &Name::parse("192.168.1.20").unwrap()));
        assert!(covers(&sans, &Name::parse("0:0:0:0:0:0:0:1").unwrap()));
        assert!(covers(&sans, &Name::Ip("::ffff:192.168.1.20".parse().unwrap())));
        // A DNS SAN that looks like an IP does not cover the IP.
        assert!(!covers(&sans, &Name::parse("10.0.0.1").unwrap()));
        assert_eq!(
            missing(&sans, &[Name::Ip(Ipv4Addr::new(10, 0, 0, 2).into()), dns("x.lan")]),
            vec!["10.0.0.2".to_string(), "x.lan".to_string()]
        );
    }

    #[test]
    fn name_parse() {
        assert_eq!(Name::parse(" 10.1.2.3 "), Some(Name::Ip("10.1.2.3".parse().unwrap())));
        assert_eq!(Name::parse("Gate.LAN."), Some(dns("gate.lan")));
        assert_eq!(Name::parse("*.lan"), Some(dns("*.lan")));
        assert_eq!(Name::parse("bad name"), None);
        assert_eq!(Name::parse(""), None);
    }

    #[test]
    fn fingerprint_format() {
        let fp = fingerprint(b"abc");
        assert_eq!(
            fp,
            "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
        );
    }

    #[test]
    fn pem_encode_round_trips() {
        for len in [0usize, 1, 2, 3, 47, 48, 49, 100, 1000] {
            let der: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
            let text = pem_encode("CERTIFICATE", &der);
            if len > 0 {
                let back = CertificateDer::from_pem_slice(text.as_bytes()).unwrap();
                assert_eq!(back.as_ref(), der.as_slice(), "len {len}");
            }
            assert!(text.lines().all(|l| l.len() <= 64 || l.starts_with("-----")));
        }
    }

    #[test]
    fn issued_material_round_trips_with_its_chain() {
        let now = 1_700_000_000;
        let permits = super::super::ca::permits_for(None, &[]);
        let ca = super::super::ca::Ca::create("CXR Gate CA test", &permits, now - DAY_SECS).unwrap();
        let names = vec![dns("localhost"), Name::Ip("127.0.0.1".parse().unwrap())];
        let g = ca.issue(&names, now - DAY_SECS, now + 365 * DAY_SECS).unwrap();
        assert_eq!(g.material.facts.not_before, now - DAY_SECS);
        assert_eq!(g.material.facts.not_after, now + 365 * DAY_SECS);
        assert_eq!(g.material.facts.sans, names);
        assert_eq!(g.material.chain.len(), 2, "leaf then CA");
        assert_eq!(g.material.chain[1].as_ref(), ca.der.as_ref());
        // One encoding: what is saved is what is served, LF only, on every platform.
        assert_eq!(g.material.chain_pem(), g.cert_pem);
        assert!(!g.cert_pem.contains('\r') && !g.key_pem.contains('\r'));
        assert!(ca.signed(g.material.leaf_der().as_slice()));
        assert!(g.key_pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{}", g.key_pem);
        assert_eq!(date(0), "1970-01-01");
    }
}
