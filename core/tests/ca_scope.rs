//! What the local CA may sign, checked by the verifiers headsets and tools use rather than by our
//! own reading of the constraints: leaves the test signs itself with the CA's saved key, for names
//! and addresses outside the name constraints (a public name, a public address, a sibling of an
//! extra name) are refused by OpenSSL (`openssl verify`) and by rustls/webpki; leaves inside them
//! verify, so the checks can fail.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use cxr_gate_core::tls::CertManager;
use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair, SanType};
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::RootCertStore;

/// A leaf for `name` (a DNS name or an IP), signed by the CA whose files are in `dir`: DER and PEM.
fn leaf_signed_by_saved_ca(dir: &Path, name: &str) -> (CertificateDer<'static>, String) {
    let ca_pem = std::fs::read_to_string(dir.join("ca.pem")).unwrap();
    let ca_key = KeyPair::from_pem(&std::fs::read_to_string(dir.join("ca-key.pem")).unwrap()).unwrap();
    let ca_der = CertificateDer::from_pem_slice(ca_pem.as_bytes()).unwrap();
    let issuer = Issuer::from_ca_cert_der(&ca_der, ca_key).unwrap();
    let mut params = CertificateParams::default();
    params.subject_alt_names = vec![match name.parse() {
        Ok(ip) => SanType::IpAddress(ip),
        Err(_) => SanType::DnsName(name.try_into().unwrap()),
    }];
    params.distinguished_name.push(DnType::CommonName, "leaf made by the test");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &issuer).unwrap();
    (cert.der().clone(), cert.pem())
}

/// `openssl verify` of the leaf against the CA alone, as a TLS server certificate.
fn openssl_accepts(dir: &Path, leaf: &(CertificateDer<'static>, String), name: &str) -> (bool, String) {
    let leaf_pem = dir.join(format!("leaf-{name}.pem"));
    std::fs::write(&leaf_pem, &leaf.1).unwrap();
    let out = Command::new("openssl")
        .args(["verify", "-x509_strict", "-purpose", "sslserver", "-CAfile"])
        .arg(dir.join("ca.pem"))
        .arg(&leaf_pem)
        .output()
        .expect("running openssl (Debian package openssl)");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success() && text.contains(": OK"), text)
}

/// rustls's WebPKI verifier (the one the gate's own clients use) trusting only the CA.
fn webpki_accepts(dir: &Path, leaf: &CertificateDer<'_>, name: &str) -> Result<(), rustls::Error> {
    let mut roots = RootCertStore::empty();
    let ca_pem = std::fs::read(dir.join("ca.pem")).unwrap();
    roots.add(CertificateDer::from_pem_slice(&ca_pem).unwrap()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build().unwrap();
    let server = ServerName::try_from(name.to_string()).unwrap();
    verifier.verify_server_cert(leaf, &[], &server, &[], UnixTime::now()).map(|_| ())
}

#[test]
fn leaves_outside_the_name_constraints_are_refused_by_openssl_and_webpki() {
    let dir = tempfile::tempdir().unwrap();
    // A CA made with an extra public name, as `--cert-hostnames vr.example.com` makes it.
    let mgr = CertManager::new(dir.path(), None, vec!["vr.example.com".into()]);
    let info = mgr.ensure(&[]).unwrap();
    let permitted = info.ca.unwrap().permitted;
    println!("the CA permits: {}", permitted.join(", "));

    // X.509 DNS constraints take in every name below a permitted one: a.vr.example.com too.
    let inside = [
        "vr.example.com",
        "a.vr.example.com",
        "gate.lan",
        "ws.home.arpa",
        "192.168.1.20",
        "10.1.2.3",
        "172.16.0.9",
        "100.64.1.1",
    ];
    for name in inside {
        let leaf = leaf_signed_by_saved_ca(dir.path(), name);
        let (ok, text) = openssl_accepts(dir.path(), &leaf, name);
        assert!(ok, "openssl refused {name}, inside the constraints: {text}");
        webpki_accepts(dir.path(), &leaf.0, name).unwrap_or_else(|e| panic!("webpki refused {name}: {e}"));
    }
    // Outside: the public parent and a sibling of the extra name, other public names and addresses.
    let outside =
        ["example.com", "www.example.com", "vr.example.org", "www.google.com", "8.8.8.8", "1.1.1.1", "172.32.0.1"];
    for name in outside {
        let leaf = leaf_signed_by_saved_ca(dir.path(), name);
        let (ok, text) = openssl_accepts(dir.path(), &leaf, name);
        assert!(!ok && text.contains("subtree violation"), "openssl accepted {name}, outside the constraints: {text}");
        let refused = webpki_accepts(dir.path(), &leaf.0, name).expect_err(name);
        assert!(format!("{refused:?}").contains("NameConstraintViolation"), "{name}: {refused:?}");
    }
}
