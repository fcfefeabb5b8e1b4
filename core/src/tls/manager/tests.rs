//! The manager against real files in a temp dir: issuing, reuse, renewal, damage, custom certificates,
//! the local CA (creation, reuse, rotation, the one-time switch from a self-signed certificate). The
//! CA's files (damage, lost pairs, the kept copy, the lock): `local_ca/tests.rs`.

use super::*;
use rustls_pki_types::pem::PemObject;
use std::fs;
use std::time::Duration;

use rcgen::{CertificateParams, KeyPair};
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_SIG_ECDSA_WITH_SHA256};
use x509_parser::prelude::{FromDer, X509Certificate};

// Test keys made with openssl: the same RSA key as PKCS#1 and PKCS#8, the same EC key as SEC1
// and PKCS#8 (rcgen on ring can only sign with PKCS#8), and an encrypted PKCS#8 key.
const RSA_PKCS1: &str = "-----BEGIN RSA PRIVATE KEY-----
MIIEpQIBAAKCAQEAqqYpaJ6A1MvYurYlTj7QxQNV0lhFhz/ttZeumd6TNZi5eSSQ
YUM6D+URTZE+sHR4p1GnIzNcAePNico8u71IpmGACZszSNFAMwx8ZHHLSsYcvmrZ
2Tx9bUKxHescu3KVNJvGfaAjgJDqJfk+6uneb5ovDNb1uXyZvdTPG6Wa3CaFX8AV
NIz3A/M4Zyvqh2CvpEu7Ej4pa8JtVw5f9Cj5v+imNVyvUhNqPxE+bMBnOMRzsFKa
R9E6Z4xqW9/hUdkQBzR24m9fQBTUv3jgF+pBCse65JDkHNzsAsVRzcVDc68RQ1bi
4n2I269CJQ2ciaZmMN2FVMoYC+71xbe7YOdlOQIDAQABAoIBACEC/+OzNez0ejq0
XccjM7PJD2MfnGOrpEqKy0YM3qFxp/+daSjHnoXQpGZDAMOV5HlJvHF80AG1ld9f
9hvDZDh7iA9TrLobcLXvZmjv8onGhWz4sqfpocHvMuA8yVQhuGdy8xT+U5/daM5r
xxYeo98nDo8HToXRatRkRKRuhuSrZZWffGBW3iPFRtjxTGJKze6IL3GsbwdnBMmi
2uU7Uxq1fiKRphz4L0sSLEZcEgM/mxCXfzqAJkQtn4oo5gPhuBsIPqqQzw14KXMi
ymcT9MyZp1ml4E8LcVKcI1WZJNE4Vcc+e/8t/N8WKBnYIK4Pqh4cWJ2w9qYFJpUP
iB7eHWECgYEA61zli0IxV87dOXugTOk/e9iNYvRqDM6Z1ksfR+/uSU3SffPmmDKW
cTkXCfTrXj0Qecoun0sXoom5Qy7r1aSNSX75NpgA4QLp8oozIj3OvzYQZY6SjGxy
XHd15mK2it3rX2haUqCms6sVYGUYjSw+ofAJ6VDk5SNNMBGMMCINXbUCgYEAuZyo
gIALIAW559sbE5ceffS7WzBJdMcJaLY+j4OEoJLd9vwf734vTqeHHwNQkKZgnYjh
Y6o7LEZDL73YdYzpo/KO0El5FOjRvE0Dj18gzNCByLB4q1kb7IJbDTSb5fhmyg3y
cTU9Scy/stKR8eFLp7SkJHmgNu1mwfvuifH0O/UCgYEAlrSJFr5vsfX3mZMbdaP0
zmw/PBmcvk6cGqdHhFyRi8aU/alrAhGCW0VfBzUYcONQ5Wscp0sB+0WMpwQoZkhT
X7g6A0cZaPrgqjjrvQUumSkZHq5IEDpwj9y+VaLnl8u5pwG+tCHCHFF0AqE5M0wd
XrvA3PC7YC1Wg2z5AukK/fECgYEAj6dBeoKfGZ+U7G9Vm2ngPZfF0aOjlm/dRl+W
N7iQUz6X7+neRZshvfxGxafpGKrMJ+CioGJF/dQ7d521A/WVdj/qbCYRQi+W8+ef
E72KQzo02EBMhEEpLXkOQ0AuUGRaGZOFyjxsPMvsqdfzAINf7GIQj/JaH2jJmOUF
D1plrmkCgYEAzP6jjoRVfcab2oa31pyLFVfcmdk9UkyTjPQ3vZg4UuxiDqzeifX5
HmWQsiVnkla4qGnOdUhXZN1X0izZaxyJVpTwsKSZnIC6jT4x4LD/0Rq+UbBKsVuu
SeUN05/TbPhIcbbToe8cD1AYjaX6bI7ZQk4ACDKgBgpgHS/tQQvDXEY=
-----END RSA PRIVATE KEY-----
";
const RSA_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQCqpilonoDUy9i6
tiVOPtDFA1XSWEWHP+21l66Z3pM1mLl5JJBhQzoP5RFNkT6wdHinUacjM1wB482J
yjy7vUimYYAJmzNI0UAzDHxkcctKxhy+atnZPH1tQrEd6xy7cpU0m8Z9oCOAkOol
+T7q6d5vmi8M1vW5fJm91M8bpZrcJoVfwBU0jPcD8zhnK+qHYK+kS7sSPilrwm1X
Dl/0KPm/6KY1XK9SE2o/ET5swGc4xHOwUppH0TpnjGpb3+FR2RAHNHbib19AFNS/
eOAX6kEKx7rkkOQc3OwCxVHNxUNzrxFDVuLifYjbr0IlDZyJpmYw3YVUyhgL7vXF
t7tg52U5AgMBAAECggEAIQL/47M17PR6OrRdxyMzs8kPYx+cY6ukSorLRgzeoXGn
/51pKMeehdCkZkMAw5XkeUm8cXzQAbWV31/2G8NkOHuID1Osuhtwte9maO/yicaF
bPiyp+mhwe8y4DzJVCG4Z3LzFP5Tn91ozmvHFh6j3ycOjwdOhdFq1GREpG6G5Ktl
lZ98YFbeI8VG2PFMYkrN7ogvcaxvB2cEyaLa5TtTGrV+IpGmHPgvSxIsRlwSAz+b
EJd/OoAmRC2fiijmA+G4Gwg+qpDPDXgpcyLKZxP0zJmnWaXgTwtxUpwjVZkk0ThV
xz57/y383xYoGdggrg+qHhxYnbD2pgUmlQ+IHt4dYQKBgQDrXOWLQjFXzt05e6BM
6T972I1i9GoMzpnWSx9H7+5JTdJ98+aYMpZxORcJ9OtePRB5yi6fSxeiiblDLuvV
pI1Jfvk2mADhAunyijMiPc6/NhBljpKMbHJcd3XmYraK3etfaFpSoKazqxVgZRiN
LD6h8AnpUOTlI00wEYwwIg1dtQKBgQC5nKiAgAsgBbnn2xsTlx599LtbMEl0xwlo
tj6Pg4Sgkt32/B/vfi9Op4cfA1CQpmCdiOFjqjssRkMvvdh1jOmj8o7QSXkU6NG8
TQOPXyDM0IHIsHirWRvsglsNNJvl+GbKDfJxNT1JzL+y0pHx4UuntKQkeaA27WbB
++6J8fQ79QKBgQCWtIkWvm+x9feZkxt1o/TObD88GZy+Tpwap0eEXJGLxpT9qWsC
EYJbRV8HNRhw41DlaxynSwH7RYynBChmSFNfuDoDRxlo+uCqOOu9BS6ZKRkerkgQ
OnCP3L5VoueXy7mnAb60IcIcUXQCoTkzTB1eu8Dc8LtgLVaDbPkC6Qr98QKBgQCP
p0F6gp8Zn5Tsb1WbaeA9l8XRo6OWb91GX5Y3uJBTPpfv6d5FmyG9/EbFp+kYqswn
4KKgYkX91Dt3nbUD9ZV2P+psJhFCL5bz558TvYpDOjTYQEyEQSkteQ5DQC5QZFoZ
k4XKPGw8y+yp1/MAg1/sYhCP8lofaMmY5QUPWmWuaQKBgQDM/qOOhFV9xpvahrfW
nIsVV9yZ2T1STJOM9De9mDhS7GIOrN6J9fkeZZCyJWeSVrioac51SFdk3VfSLNlr
HIlWlPCwpJmcgLqNPjHgsP/RGr5RsEqxW65J5Q3Tn9Ns+EhxttOh7xwPUBiNpfps
jtlCTgAIMqAGCmAdL+1BC8NcRg==
-----END PRIVATE KEY-----
";
const EC_SEC1: &str = "-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIBKSILlCvQz+LoBrFGs1sXmi1GcHKyjV3HIJTSmBeHNyoAoGCCqGSM49
AwEHoUQDQgAE59WcyTABGri53TWgGHuyrEzDYJkYG+8aq8Afuqson5XT8LABQ1NK
hL4rrM6iEQI/mp0Z/Uw+LAkNRZE+4zEmIQ==
-----END EC PRIVATE KEY-----
";
const EC_PKCS8: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgEpIguUK9DP4ugGsU
azWxeaLUZwcrKNXccglNKYF4c3KhRANCAATn1ZzJMAEauLndNaAYe7KsTMNgmRgb
7xqrwB+6qyifldPwsAFDU0qEviuszqIRAj+anRn9TD4sCQ1FkT7jMSYh
-----END PRIVATE KEY-----
";
const EC_ENCRYPTED: &str = "-----BEGIN ENCRYPTED PRIVATE KEY-----
MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAh54tacF/dDUwICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEAIzmSZw8+Za6cJJju6GPasEgZAp
80eHMku3qBLXUDi2m4Q/1rWqmufX+ljZZEPnt6Lt6pJ9ZeuI7uEpuhTo7YWkB6eE
/7nwWv3yOAv80i62ri8O6XXokzhtLppMddX+k6bxKtSBvmewa8yjc+o0V/iJSxcH
XPGSALnbnFrbo74Xxow4zWU/8sAsbQFxuxlYQmZ3/LbUpTuUlwSwcu5b7AtfLuI=
-----END ENCRYPTED PRIVATE KEY-----
";

fn ip(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn now() -> i64 {
    now_secs()
}

/// A certificate for `names`, valid `from`..`until` seconds from now, signed by `key_pem`
/// (PKCS#8) or a fresh P-256 key. Returns (cert PEM, key PEM).
fn make_cert(names: &[&str], from: i64, until: i64, key_pem: Option<&str>) -> (String, String) {
    let key = match key_pem {
        Some(pem) => KeyPair::from_pem(pem).unwrap(),
        None => KeyPair::generate().unwrap(),
    };
    let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.not_before = x509_parser::time::ASN1Time::from_timestamp(now() + from).unwrap().to_datetime();
    params.not_after = x509_parser::time::ASN1Time::from_timestamp(now() + until).unwrap().to_datetime();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// A serving certificate for `names`, valid `from`..`until` seconds from now, issued by the CA the
/// manager saved in `dir`. Returns (cert PEM with its chain, key PEM).
fn issue_from_saved_ca(dir: &Path, names: &[&str], from: i64, until: i64) -> (String, String) {
    let read = |f: &str| fs::read(dir.join(f)).unwrap();
    let ca = Ca::load(&dir.join("ca.pem"), &read("ca.pem"), &dir.join("ca-key.pem"), &read("ca-key.pem")).unwrap();
    let names: Vec<Name> = names.iter().map(|n| Name::parse(n).unwrap()).collect();
    let g = ca.issue(&names, now() + from, now() + until).unwrap();
    (g.cert_pem, g.key_pem)
}

/// The CA the manager saved in `dir`.
pub(super) fn saved_ca(dir: &Path) -> Ca {
    let read = |f: &str| fs::read(dir.join(f)).unwrap();
    Ca::load(&dir.join("ca.pem"), &read("ca.pem"), &dir.join("ca-key.pem"), &read("ca-key.pem")).unwrap()
}

pub(super) fn write(path: &Path, text: &str) {
    fs::write(path, text).unwrap();
}

fn snapshot(path: &Path) -> (Vec<u8>, SystemTime) {
    (fs::read(path).unwrap(), fs::metadata(path).unwrap().modified().unwrap())
}

fn custom(cert: &Path, key: Option<&Path>) -> Option<CustomCert> {
    Some(CustomCert { cert: cert.to_path_buf(), key: key.map(Path::to_path_buf) })
}

#[test]
fn manager_is_send_sync_and_resolver_is_stable() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CertManager>();
    let dir = tempfile::tempdir().unwrap();
    let mgr = CertManager::new(dir.path(), None, vec![]);
    assert!(format!("{mgr:?}").contains("serving: None"));
    assert!(mgr.info().is_none() && mgr.cert_pem().is_none() && mgr.cert_der().is_none());
    let before = mgr.resolver();
    mgr.ensure(&[]).unwrap();
    mgr.regenerate(&[], "test").unwrap();
    assert!(Arc::ptr_eq(&before, &mgr.resolver()));
}

#[test]
fn generated_certificate_properties() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested/data");
    let mgr = CertManager::new(&data, None, vec!["gate.lan".into(), "10.9.8.7".into(), "bad name!".into()]);
    let t0 = now();
    let info = mgr.ensure(&[ip("192.168.1.20"), ip("0.0.0.0")]).unwrap();

    let der = mgr.cert_der().unwrap();
    assert_eq!(fs::read(data.join("cert.pem")).unwrap(), mgr.cert_pem().unwrap().as_bytes());
    let (_, x) = X509Certificate::from_der(&der).unwrap();

    // ECDSA P-256, signed with SHA-256 by the local CA, which comes second in the chain.
    let spki = x.public_key();
    assert_eq!(spki.algorithm.algorithm, OID_KEY_TYPE_EC_PUBLIC_KEY);
    let curve = spki.algorithm.parameters.as_ref().unwrap().as_oid().unwrap();
    assert_eq!(curve, OID_EC_P256);
    assert_eq!(x.signature_algorithm.algorithm, OID_SIG_ECDSA_WITH_SHA256);
    let ca_der = mgr.ca_der().unwrap();
    let (_, ca) = X509Certificate::from_der(&ca_der).unwrap();
    assert_eq!(x.issuer(), ca.subject());
    x.verify_signature(Some(ca.public_key())).unwrap();
    let served_chain: Vec<_> = rustls_pki_types::CertificateDer::pem_slice_iter(mgr.cert_pem().unwrap().as_bytes())
        .map(|c| c.unwrap())
        .collect();
    assert_eq!(served_chain.len(), 2);
    assert_eq!(served_chain[1].as_ref(), ca_der.as_slice());
    assert_eq!(fs::read(data.join("ca.pem")).unwrap(), mgr.ca_pem().unwrap().as_bytes());

    // The CA: ECDSA P-256, ten years, may sign leaves only, named after this host, name-constrained.
    assert!(ca.is_ca());
    let bc = ca.basic_constraints().unwrap().unwrap().value;
    assert_eq!(bc.path_len_constraint, Some(0));
    let ca_ku = ca.key_usage().unwrap().unwrap().value;
    assert!(ca_ku.key_cert_sign() && ca_ku.crl_sign());
    assert_eq!(ca.public_key().algorithm.algorithm, OID_KEY_TYPE_EC_PUBLIC_KEY);
    let ca_cn = ca.subject().iter_common_name().next().unwrap().as_str().unwrap();
    assert!(ca_cn.starts_with("CXR Gate CA"), "{ca_cn}");
    let years = (ca.validity().not_after.timestamp() - ca.validity().not_before.timestamp()) / (365 * DAY_SECS);
    assert_eq!(years, 10);
    let nc = ca.name_constraints().unwrap().unwrap();
    assert!(nc.critical);
    let ca_info = info.ca.clone().unwrap();
    assert_eq!(ca_info.common_name, ca_cn);
    assert_eq!(ca_info.fingerprint_sha256, cert::fingerprint(&ca_der));
    for p in ["10.0.0.0/8", "192.168.0.0/16", "127.0.0.0/8", "localhost", "local", "lan"] {
        assert!(ca_info.permitted.contains(&p.to_string()), "{p} in {:?}", ca_info.permitted);
    }
    assert!(!ca_info.changed_since_last_run);
    assert!(info.outside_ca.is_empty() && info.notice.is_none());
    let cn = x.subject().iter_common_name().next().unwrap().as_str().unwrap();
    assert_eq!(cn, cert::common_name());
    assert!(cn.starts_with("CXR Gate"));

    // serverAuth, digitalSignature, not a CA.
    let eku = x.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth);
    let ku = x.key_usage().unwrap().unwrap().value;
    assert!(ku.digital_signature());
    assert!(!ku.key_cert_sign());
    assert!(!x.is_ca());

    // Validity: from a day ago, for 365 days.
    let nb = x.validity().not_before.timestamp();
    let na = x.validity().not_after.timestamp();
    assert!((nb - (t0 - DAY_SECS)).abs() < 120, "not_before {nb}");
    assert!((na - (t0 + 365 * DAY_SECS)).abs() < 120, "not_after {na}");
    assert_eq!(info.not_before_ms, nb as u64 * 1000);
    assert_eq!(info.not_after_ms, na as u64 * 1000);

    // SANs: IPs as IP SANs, names as DNS SANs.
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    for name in &x.subject_alternative_name().unwrap().unwrap().value.general_names {
        match name {
            GeneralName::DNSName(d) => dns.push(d.to_string()),
            GeneralName::IPAddress(b) => ips.push(b.to_vec()),
            other => panic!("unexpected SAN {other:?}"),
        }
    }
    let mut want_dns = vec!["localhost".to_string()];
    want_dns.extend(cert::host_name());
    want_dns.push("gate.lan".into());
    assert_eq!(dns, want_dns);
    let v6_loopback = Ipv6Addr::LOCALHOST.octets().to_vec();
    assert_eq!(ips, vec![vec![127, 0, 0, 1], v6_loopback, vec![192, 168, 1, 20], vec![10, 9, 8, 7]]);
    for s in ["localhost", "127.0.0.1", "::1", "192.168.1.20", "gate.lan", "10.9.8.7"] {
        assert!(info.sans.contains(&s.to_string()), "{s} in {:?}", info.sans);
    }

    // Info.
    assert_eq!(info.origin, CertOrigin::Generated);
    assert_eq!(info.fingerprint_sha256, cert::fingerprint(&der));
    assert_eq!(info.fingerprint_sha256.len(), 32 * 3 - 1);
    assert!(info
        .fingerprint_sha256
        .split(':')
        .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())));
    assert!(info.missing.is_empty());
    assert!(!info.changed_since_last_run);
    assert_eq!(info.regenerated_reason.as_deref(), Some("no certificate yet"));
    assert_eq!(info.cert_path, data.join("cert.pem").display().to_string());
    assert_eq!(mgr.info(), Some(info.clone()));
    assert!(!mgr.cert_pem().unwrap().contains("PRIVATE KEY"));

    // The saved key is the served one, and state records the fingerprint.
    let key_pem = fs::read(data.join("key.pem")).unwrap();
    cert::load_material(Path::new("c"), &fs::read(data.join("cert.pem")).unwrap(), Path::new("k"), &key_pem).unwrap();
    let state = fs::read_to_string(data.join("cert-state.json")).unwrap();
    assert!(state.contains(&info.fingerprint_sha256), "{state}");

    // A second check with nothing new changes nothing.
    let again = mgr.ensure(&[ip("192.168.1.20")]).unwrap();
    assert_eq!(again, info);
}

#[cfg(unix)]
#[test]
fn key_file_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let mgr = CertManager::new(dir.path(), None, vec![]);
    mgr.ensure(&[]).unwrap();
    let key = dir.path().join("key.pem");
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&key), 0o600);
    for ca_key in ["ca-key.pem", "ca-key.pem.bak"] {
        assert_eq!(mode(&dir.path().join(ca_key)), 0o600, "{ca_key}");
    }
    mgr.regenerate(&[], "test").unwrap();
    assert_eq!(mode(&key), 0o600);
    // No temp files left behind.
    let names: Vec<_> =
        fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");

    // A saved key that others can read is made private when loaded.
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).unwrap();
    CertManager::new(dir.path(), None, vec![]).ensure(&[]).unwrap();
    assert_eq!(mode(&key), 0o600);
}

#[test]
fn reused_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let lan = [ip("192.168.1.20")];
    let first = CertManager::new(dir.path(), None, vec!["gate.lan".into()]).ensure(&lan).unwrap();
    let cert_before = snapshot(&dir.path().join("cert.pem"));
    std::thread::sleep(Duration::from_millis(20));

    let mgr = CertManager::new(dir.path(), None, vec!["GATE.lan".into()]);
    let second = mgr.ensure(&lan).unwrap();
    assert_eq!(second.fingerprint_sha256, first.fingerprint_sha256);
    assert!(!second.changed_since_last_run);
    assert_eq!(second.regenerated_reason, None);
    assert_eq!(snapshot(&dir.path().join("cert.pem")), cert_before);
    // Fewer LAN IPs than covered is fine too.
    assert_eq!(mgr.ensure(&[]).unwrap().fingerprint_sha256, first.fingerprint_sha256);
}

#[test]
fn new_lan_ip_regenerates() {
    let dir = tempfile::tempdir().unwrap();
    let first = CertManager::new(dir.path(), None, vec![]).ensure(&[ip("192.168.1.10")]).unwrap();

    // Next run, on a new network.
    let mgr = CertManager::new(dir.path(), None, vec![]);
    let info = mgr.ensure(&[ip("192.168.1.10"), ip("192.168.1.20")]).unwrap();
    assert_ne!(info.fingerprint_sha256, first.fingerprint_sha256);
    assert_eq!(info.regenerated_reason.as_deref(), Some("certificate does not cover 192.168.1.20"));
    assert!(info.changed_since_last_run);
    assert!(info.sans.contains(&"192.168.1.20".to_string()));
    assert!(info.missing.is_empty());

    // Within the same run.
    let later = mgr.ensure(&[ip("10.0.0.7")]).unwrap();
    assert_ne!(later.fingerprint_sha256, info.fingerprint_sha256);
    assert_eq!(later.regenerated_reason.as_deref(), Some("certificate does not cover 10.0.0.7"));
    assert!(later.changed_since_last_run);

    // The run after that sees what was served last: no change.
    let next = CertManager::new(dir.path(), None, vec![]).ensure(&[ip("10.0.0.7")]).unwrap();
    assert_eq!(next.fingerprint_sha256, later.fingerprint_sha256);
    assert!(!next.changed_since_last_run);
}

#[test]
fn new_extra_name_regenerates() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = CertManager::new(dir.path(), None, vec![]);
    let first = mgr.ensure(&[]).unwrap();
    mgr.reconfigure(None, vec!["vr.studio.lan".into()]);
    let info = mgr.ensure(&[]).unwrap();
    assert_ne!(info.fingerprint_sha256, first.fingerprint_sha256);
    assert_eq!(info.regenerated_reason.as_deref(), Some("certificate does not cover vr.studio.lan"));
    assert!(info.sans.contains(&"vr.studio.lan".to_string()));
    // Re-issued silently: same CA, so a device that installed it keeps trusting.
    assert_eq!(info.ca.as_ref().unwrap().fingerprint_sha256, first.ca.as_ref().unwrap().fingerprint_sha256);

    // Across a restart, too.
    let other = CertManager::new(dir.path(), None, vec!["10.1.1.1".into()]);
    let info = other.ensure(&[]).unwrap();
    assert_eq!(info.regenerated_reason.as_deref(), Some("certificate does not cover 10.1.1.1"));
}

#[test]
fn expiring_certificate_regenerates() {
    let dir = tempfile::tempdir().unwrap();
    CertManager::new(dir.path(), None, vec![]).ensure(&[]).unwrap();
    let put = |names: &[&str], from: i64, until: i64| {
        let (cert_pem, key_pem) = issue_from_saved_ca(dir.path(), names, from, until);
        write(&dir.path().join("cert.pem"), &cert_pem);
        write(&dir.path().join("key.pem"), &key_pem);
    };
    put(&["localhost", "127.0.0.1"], -DAY_SECS, 10 * DAY_SECS);
    let info = CertManager::new(dir.path(), None, vec![]).ensure(&[]).unwrap();
    let reason = info.regenerated_reason.unwrap();
    assert!(reason == "certificate expires in 9 days" || reason == "certificate expires in 10 days", "{reason}");
    assert!(info.changed_since_last_run);
    assert!(info.not_after_ms as i64 / 1000 > now() + 360 * DAY_SECS);

    // Already expired.
    put(&["localhost"], -30 * DAY_SECS, -DAY_SECS);
    let info = CertManager::new(dir.path(), None, vec![]).ensure(&[]).unwrap();
    let reason = info.regenerated_reason.unwrap();
    assert!(reason.starts_with("certificate expired on "), "{reason}");

    // Not valid yet (the clock went back).
    put(&["localhost"], 5 * DAY_SECS, 100 * DAY_SECS);
    let info = CertManager::new(dir.path(), None, vec![]).ensure(&[]).unwrap();
    assert!(info.regenerated_reason.unwrap().contains("not valid until"));

    // A good one from the same CA is kept as it is.
    put(&["localhost", "127.0.0.1"], -DAY_SECS, 200 * DAY_SECS);
    let before = fs::read(dir.path().join("cert.pem")).unwrap();
    let info = CertManager::new(dir.path(), None, vec![]).ensure(&[]).unwrap();
    assert_eq!(info.regenerated_reason, None);
    assert_eq!(fs::read(dir.path().join("cert.pem")).unwrap(), before);
}

#[test]
fn mismatched_key_regenerates() {
    let dir = tempfile::tempdir().unwrap();
    let first = CertManager::new(dir.path(), None, vec![]).ensure(&[]).unwrap();
    write(&dir.path().join("key.pem"), &KeyPair::generate().unwrap().serialize_pem());
    let info = CertManager::new(dir.path(), None, vec![]).ensure(&[]).unwrap();
    assert_ne!(info.fingerprint_sha256, first.fingerprint_sha256);
    let reason = info.regenerated_reason.unwrap();
    assert!(reason.contains("does not match the certificate"), "{reason}");
    assert!(info.changed_since_last_run);
    // What was saved now belongs together.
    let again = CertManager::new(dir.path(), None, vec![]).ensure(&[]).unwrap();
    assert_eq!(again.fingerprint_sha256, info.fingerprint_sha256);
}

#[test]
fn corrupt_or_missing_files_regenerate() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let fresh = || CertManager::new(dir.path(), None, vec![]).ensure(&[]).unwrap();
    let mut last = fresh().fingerprint_sha256;

    type Damage<'a> = Box<dyn Fn() + 'a>;
    let cases: Vec<(Damage, &str)> = vec![
        (Box::new(|| write(&cert, "garbage\n")), "no PEM certificate in"),
        (
            Box::new(|| write(&cert, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")),
            "cannot be parsed",
        ),
        (Box::new(|| write(&key, "not a key")), "no private key in"),
        (Box::new(|| fs::remove_file(&key).unwrap()), "key.pem is missing"),
        (Box::new(|| fs::remove_file(&cert).unwrap()), "cert.pem is missing"),
    ];
    for (damage, expected) in cases {
        damage();
        let info = fresh();
        let reason = info.regenerated_reason.unwrap();
        assert!(reason.contains(expected), "{reason:?} should contain {expected:?}");
        assert_ne!(info.fingerprint_sha256, last);
        assert!(info.changed_since_last_run);
        last = info.fingerprint_sha256;
    }

    // A corrupt state file only loses the comparison.
    write(&dir.path().join("cert-state.json"), "{oops");
    let info = fresh();
    assert_eq!(info.fingerprint_sha256, last);
    assert!(!info.changed_since_last_run);
}

#[test]
fn first_run_and_lost_state() {
    let dir = tempfile::tempdir().unwrap();
    let first = CertManager::new(dir.path(), None, vec![]).ensure(&[]).unwrap();
    assert!(!first.changed_since_last_run);
    // Files gone but the record kept: the new certificate is a change headsets must know of.
    fs::remove_file(dir.path().join("cert.pem")).unwrap();
    fs::remove_file(dir.path().join("key.pem")).unwrap();
    let info = CertManager::new(dir.path(), None, vec![]).ensure(&[]).unwrap();
    assert_eq!(info.regenerated_reason.as_deref(), Some("no certificate yet"));
    assert!(info.changed_since_last_run);
}

#[test]
fn regenerate_forces_a_new_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = CertManager::new(dir.path(), None, vec![]);
    let first = mgr.ensure(&[ip("192.168.1.20")]).unwrap();
    let info = mgr.regenerate(&[ip("192.168.1.20")], "requested from the tray").unwrap();
    assert_ne!(info.fingerprint_sha256, first.fingerprint_sha256);
    assert_eq!(info.regenerated_reason.as_deref(), Some("requested from the tray"));
    assert!(info.changed_since_last_run);
    assert!(info.sans.contains(&"192.168.1.20".to_string()));
    assert_eq!(mgr.info().unwrap(), info);
    let reloaded = CertManager::new(dir.path(), None, vec![]).ensure(&[]).unwrap();
    assert_eq!(reloaded.fingerprint_sha256, info.fingerprint_sha256);
}

#[test]
fn custom_combined_pem_is_served_untouched() {
    let data = tempfile::tempdir().unwrap();
    let certs = tempfile::tempdir().unwrap();
    let (cert_pem, key_pem) = make_cert(&["gate.example.com", "10.0.0.5"], -DAY_SECS, 90 * DAY_SECS, None);
    let server_pem = certs.path().join("server.pem");
    write(&server_pem, &format!("{cert_pem}{key_pem}"));
    let before = snapshot(&server_pem);
    std::thread::sleep(Duration::from_millis(20));

    let mgr = CertManager::new(data.path(), custom(&server_pem, None), vec!["gate.example.com".into()]);
    let info = mgr.ensure(&[ip("10.0.0.5"), ip("192.168.1.50")]).unwrap();
    assert_eq!(info.origin, CertOrigin::Custom);
    assert_eq!(info.missing, vec!["192.168.1.50".to_string()]);
    assert_eq!(info.sans, vec!["gate.example.com".to_string(), "10.0.0.5".to_string()]);
    assert_eq!(info.cert_path, server_pem.display().to_string());
    assert_eq!(info.regenerated_reason, None);
    assert!(!info.changed_since_last_run);
    let der = mgr.cert_der().unwrap();
    assert_eq!(info.fingerprint_sha256, cert::fingerprint(&der));
    // The served PEM is the chain only, never the key from the combined file.
    let served = mgr.cert_pem().unwrap();
    assert!(served.contains("BEGIN CERTIFICATE") && !served.contains("PRIVATE KEY"));

    let err = mgr.regenerate(&[ip("192.168.1.50")], "test").unwrap_err();
    assert!(err.to_string().starts_with("a custom certificate is configured; "), "{err}");
    assert_eq!(mgr.info().unwrap(), info);
    mgr.ensure(&[ip("192.168.1.51")]).unwrap();

    // Never modified, and nothing generated: no certificate, no CA.
    assert_eq!(snapshot(&server_pem), before);
    for f in ["cert.pem", "key.pem", "ca.pem", "ca-key.pem"] {
        assert!(!data.path().join(f).exists(), "{f}");
    }
    assert!(info.ca.is_none() && mgr.ca_der().is_none() && mgr.ca_pem().is_none());
}

#[test]
fn custom_separate_files_every_key_format() {
    let data = tempfile::tempdir().unwrap();
    let certs = tempfile::tempdir().unwrap();
    let cases = [
        ("rsa-pkcs1", RSA_PKCS8, RSA_PKCS1),
        ("rsa-pkcs8", RSA_PKCS8, RSA_PKCS8),
        ("ec-sec1", EC_PKCS8, EC_SEC1),
        ("ec-pkcs8", EC_PKCS8, EC_PKCS8),
    ];
    for (label, signing, stored) in cases {
        let (cert_pem, _) = make_cert(&["*.example.com", "192.168.1.20"], -DAY_SECS, 90 * DAY_SECS, Some(signing));
        let cert_path = certs.path().join(format!("{label}.crt"));
        let key_path = certs.path().join(format!("{label}.key"));
        write(&cert_path, &cert_pem);
        write(&key_path, stored);
        let before = (snapshot(&cert_path), snapshot(&key_path));

        let inspected =
            super::super::inspect_custom(&cert_path, Some(&key_path)).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(inspected.origin, CertOrigin::Custom);

        let mgr = CertManager::new(data.path(), custom(&cert_path, Some(&key_path)), vec!["vr.example.com".into()]);
        let info = mgr.ensure(&[ip("192.168.1.20")]).unwrap_or_else(|e| panic!("{label}: {e}"));
        assert_eq!(info.fingerprint_sha256, inspected.fingerprint_sha256, "{label}");
        // The wildcard covers vr.example.com.
        assert!(info.missing.is_empty(), "{label}: {:?}", info.missing);
        assert_eq!(mgr.info().unwrap().fingerprint_sha256, info.fingerprint_sha256);
        assert_eq!((snapshot(&cert_path), snapshot(&key_path)), before, "{label}");
    }
}

#[test]
fn custom_bad_files_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name);
    let (cert_pem, key_pem) = make_cert(&["localhost"], -DAY_SECS, 90 * DAY_SECS, None);
    let (other_cert, _) = make_cert(&["localhost"], -DAY_SECS, 90 * DAY_SECS, None);
    let (expired_cert, expired_key) = make_cert(&["localhost"], -90 * DAY_SECS, -2 * DAY_SECS, None);
    write(&p("cert.crt"), &cert_pem);
    write(&p("key.pem"), &key_pem);
    write(&p("other.crt"), &other_cert);
    write(&p("expired.pem"), &format!("{expired_cert}{expired_key}"));
    write(&p("enc.key"), EC_ENCRYPTED);
    write(&p("empty.txt"), "");
    write(&p("broken.crt"), "-----BEGIN CERTIFICATE-----\nMIIB\n");

    let check = |cert: &str, key: Option<&str>, expected: String| {
        let key_path = key.map(p);
        let err = super::super::inspect_custom(&p(cert), key_path.as_deref()).unwrap_err();
        assert!(err.to_string().starts_with(&expected), "{err} should start with {expected}");
        // The same error from the manager.
        let mgr = CertManager::new(dir.path(), custom(&p(cert), key_path.as_deref()), vec![]);
        assert_eq!(mgr.ensure(&[]).unwrap_err().to_string(), err.to_string());
        assert!(mgr.info().is_none());
    };
    let d = |name: &str| p(name).display().to_string();
    check("key.pem", Some("key.pem"), format!("no PEM certificate in {}", d("key.pem")));
    check("empty.txt", None, format!("no PEM certificate in {}", d("empty.txt")));
    check("cert.crt", None, format!("no private key in {} (expected -----BEGIN PRIVATE KEY-----)", d("cert.crt")));
    check("other.crt", Some("key.pem"), format!("the private key in {} does not match the certificate", d("key.pem")));
    check("expired.pem", None, format!("certificate {} expired on ", d("expired.pem")));
    check("cert.crt", Some("enc.key"), format!("the private key in {} is encrypted", d("enc.key")));
    check("missing.crt", None, format!("cannot read {}", d("missing.crt")));
    check("cert.crt", Some("missing.key"), format!("cannot read {}", d("missing.key")));
    check("broken.crt", Some("key.pem"), format!("{} is not valid PEM", d("broken.crt")));
}

#[test]
fn bad_custom_certificate_keeps_serving_the_old_one() {
    let data = tempfile::tempdir().unwrap();
    let certs = tempfile::tempdir().unwrap();
    let mgr = CertManager::new(data.path(), None, vec![]);
    let generated = mgr.ensure(&[]).unwrap();
    let generated_der = mgr.cert_der().unwrap();

    let server_pem = certs.path().join("server.pem");
    write(&server_pem, "nothing here");
    mgr.reconfigure(custom(&server_pem, None), vec![]);
    let err = mgr.ensure(&[]).unwrap_err();
    assert!(err.to_string().starts_with("no PEM certificate in"), "{err}");
    assert_eq!(mgr.info().unwrap(), generated);
    assert_eq!(mgr.cert_der().unwrap(), generated_der);

    // Fixed: the custom one is served now, a change for headsets.
    let (cert_pem, key_pem) = make_cert(&["localhost"], -DAY_SECS, 90 * DAY_SECS, None);
    write(&server_pem, &format!("{cert_pem}{key_pem}"));
    let custom_info = mgr.ensure(&[]).unwrap();
    assert_eq!(custom_info.origin, CertOrigin::Custom);
    assert!(custom_info.changed_since_last_run);
    assert_ne!(mgr.cert_der().unwrap(), generated_der);

    // Broken again: the custom one stays.
    write(&server_pem, &cert_pem);
    assert!(mgr.ensure(&[]).unwrap_err().to_string().starts_with("no private key in"));
    assert_eq!(mgr.info().unwrap().fingerprint_sha256, custom_info.fingerprint_sha256);

    // Renewed on disk: picked up at the next check.
    let (cert2, key2) = make_cert(&["localhost"], -DAY_SECS, 90 * DAY_SECS, None);
    write(&server_pem, &format!("{cert2}{key2}"));
    let renewed = mgr.ensure(&[]).unwrap();
    assert_ne!(renewed.fingerprint_sha256, custom_info.fingerprint_sha256);

    // Custom removed: back to the saved generated certificate.
    mgr.reconfigure(None, vec![]);
    let back = mgr.ensure(&[]).unwrap();
    assert_eq!(back.origin, CertOrigin::Generated);
    assert_eq!(back.fingerprint_sha256, generated.fingerprint_sha256);
    assert!(!back.changed_since_last_run, "the previous run's certificate again");
    assert_eq!(mgr.cert_der().unwrap(), generated_der);
}

#[test]
fn a_self_signed_certificate_from_before_the_ca_is_replaced_once_with_a_notice() {
    let dir = tempfile::tempdir().unwrap();
    // What an earlier version left: a self-signed certificate, its key and its record.
    let (cert_pem, key_pem) = make_cert(&["localhost", "127.0.0.1", "192.168.1.20"], -DAY_SECS, 300 * DAY_SECS, None);
    write(&dir.path().join("cert.pem"), &cert_pem);
    write(&dir.path().join("key.pem"), &key_pem);
    let old_fp =
        cert::fingerprint(rustls_pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap().as_ref());
    write(&dir.path().join("cert-state.json"), &format!(r#"{{"fingerprint_sha256":"{old_fp}","origin":"generated"}}"#));

    let info = CertManager::new(dir.path(), None, vec![]).ensure(&[ip("192.168.1.20")]).unwrap();
    assert_ne!(info.fingerprint_sha256, old_fp);
    assert_eq!(info.regenerated_reason.as_deref(), Some("switched to a certificate issued by the local CA"));
    assert!(info.changed_since_last_run, "headsets must accept it once more");
    let notice = info.notice.clone().unwrap();
    assert!(notice.contains("accept the certificate once more") && notice.contains("/ca.crt"), "{notice}");
    let ca = saved_ca(dir.path());
    assert_eq!(info.ca.as_ref().unwrap().fingerprint_sha256, ca.facts.fingerprint);
    let leaf = fs::read(dir.path().join("cert.pem")).unwrap();
    let leaf = rustls_pki_types::CertificateDer::from_pem_slice(&leaf).unwrap();
    assert!(ca.signed(leaf.as_ref()));

    // Once: the next run keeps it, and says nothing more.
    let next = CertManager::new(dir.path(), None, vec![]).ensure(&[ip("192.168.1.20")]).unwrap();
    assert_eq!(next.fingerprint_sha256, info.fingerprint_sha256);
    assert!(next.notice.is_none() && !next.changed_since_last_run);
    assert!(!next.ca.unwrap().changed_since_last_run);
}

#[test]
fn rotating_the_ca_issues_from_a_new_one_that_the_old_does_not_vouch_for() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = CertManager::new(dir.path(), None, vec![]);
    let first = mgr.ensure(&[ip("10.0.0.5")]).unwrap();
    let old_ca = saved_ca(dir.path());
    let info = mgr.rotate_ca(&[ip("10.0.0.5")], "requested by the user").unwrap();
    let new_ca = saved_ca(dir.path());
    assert_ne!(new_ca.facts.fingerprint, old_ca.facts.fingerprint);
    assert_eq!(info.ca.as_ref().unwrap().fingerprint_sha256, new_ca.facts.fingerprint);
    assert!(info.ca.as_ref().unwrap().changed_since_last_run, "every device must install the new CA");
    assert_ne!(info.fingerprint_sha256, first.fingerprint_sha256);
    assert_eq!(info.regenerated_reason.as_deref(), Some("new CA (requested by the user)"));
    let leaf = mgr.cert_der().unwrap();
    assert!(new_ca.signed(&leaf) && !old_ca.signed(&leaf));
    // The next run keeps the new CA.
    let next = CertManager::new(dir.path(), None, vec![]).ensure(&[ip("10.0.0.5")]).unwrap();
    assert_eq!(next.fingerprint_sha256, info.fingerprint_sha256);
    assert!(!next.ca.unwrap().changed_since_last_run);
    // Not for a custom certificate.
    let (c, k) = make_cert(&["localhost"], -DAY_SECS, 90 * DAY_SECS, None);
    let pem = dir.path().join("server.pem");
    write(&pem, &format!("{c}{k}"));
    mgr.reconfigure(custom(&pem, None), vec![]);
    let err = mgr.rotate_ca(&[], "x").unwrap_err();
    assert!(err.to_string().starts_with("a custom certificate is configured"), "{err}");
}

#[test]
fn names_outside_the_ca_constraints_are_reported_not_issued_again_and_again() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = CertManager::new(dir.path(), None, vec![]);
    let first = mgr.ensure(&[]).unwrap();
    mgr.reconfigure(None, vec!["vr.example.com".into(), "gate.lan".into()]);
    let info = mgr.ensure(&[]).unwrap();
    assert_eq!(info.outside_ca, ["vr.example.com"]);
    assert!(info.missing.is_empty(), "{:?}", info.missing);
    assert!(info.sans.contains(&"gate.lan".to_string()) && !info.sans.contains(&"vr.example.com".to_string()));
    assert_ne!(info.fingerprint_sha256, first.fingerprint_sha256, "issued for gate.lan");
    let again = mgr.ensure(&[]).unwrap();
    assert_eq!(again.fingerprint_sha256, info.fingerprint_sha256, "no endless re-issuing");
    // A new CA made now takes the name in.
    let rotated = mgr.rotate_ca(&[], "to include vr.example.com").unwrap();
    assert!(rotated.outside_ca.is_empty());
    assert!(rotated.sans.contains(&"vr.example.com".to_string()));
    assert!(rotated.ca.unwrap().permitted.contains(&"vr.example.com".to_string()));
}

#[test]
fn an_address_away_stays_in_new_certificates_for_thirty_days() {
    let dir = tempfile::tempdir().unwrap();
    let first = CertManager::new(dir.path(), None, vec![]).ensure(&[ip("10.99.0.2")]).unwrap();
    assert!(first.sans.contains(&"10.99.0.2".to_string()));
    // The next start, the Wi-Fi not up yet: nothing wanted, nothing re-issued.
    let mgr = CertManager::new(dir.path(), None, vec![]);
    assert_eq!(mgr.ensure(&[]).unwrap().fingerprint_sha256, first.fingerprint_sha256);
    // A certificate issued for another reason meanwhile keeps the address.
    let other = mgr.ensure(&[ip("10.98.0.7")]).unwrap();
    assert_ne!(other.fingerprint_sha256, first.fingerprint_sha256);
    assert!(other.sans.contains(&"10.99.0.2".to_string()) && other.sans.contains(&"10.98.0.7".to_string()));
    let state: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("cert-state.json")).unwrap()).unwrap();
    assert!(state["lan_last_seen"]["10.99.0.2"].is_i64(), "{state}");
    // Last seen more than RETAIN_DAYS ago (as the record says): the next certificate drops it.
    let mut state = state;
    state["lan_last_seen"]["10.99.0.2"] = serde_json::json!(now() - (policy::RETAIN_DAYS + 1) * DAY_SECS);
    fs::write(dir.path().join("cert-state.json"), serde_json::to_vec(&state).unwrap()).unwrap();
    let mgr = CertManager::new(dir.path(), None, vec![]);
    let next = mgr.regenerate(&[ip("10.98.0.7")], "test").unwrap();
    assert!(!next.sans.contains(&"10.99.0.2".to_string()), "{:?}", next.sans);
    let state: serde_json::Value =
        serde_json::from_slice(&fs::read(dir.path().join("cert-state.json")).unwrap()).unwrap();
    assert!(state["lan_last_seen"].get("10.99.0.2").is_none(), "forgotten: {state}");
}

#[test]
fn a_mismatched_serving_pair_is_rewritten_from_memory_once_it_persists() {
    let dir = tempfile::tempdir().unwrap();
    let mgr = CertManager::new(dir.path(), None, vec![]);
    let first = mgr.ensure(&[]).unwrap();
    let key_path = dir.path().join("key.pem");
    let key = fs::read(&key_path).unwrap();
    // A key that is not the certificate's: a replacement in progress? Left alone at this check.
    let foreign = KeyPair::generate().unwrap().serialize_pem();
    write(&key_path, &foreign);
    assert_eq!(mgr.ensure(&[]).unwrap().fingerprint_sha256, first.fingerprint_sha256);
    assert_eq!(fs::read_to_string(&key_path).unwrap(), foreign);
    assert!(mgr.take_events().is_empty());
    // Still there at the next check: rewritten from memory, said once.
    assert_eq!(mgr.ensure(&[]).unwrap().fingerprint_sha256, first.fingerprint_sha256);
    assert_eq!(fs::read(&key_path).unwrap(), key);
    let events = mgr.take_events();
    assert!(
        matches!(events.as_slice(), [CertEvent::Repaired(what)] if what.contains("at two checks in a row")),
        "{events:?}"
    );
    mgr.ensure(&[]).unwrap();
    assert!(mgr.take_events().is_empty());
}
