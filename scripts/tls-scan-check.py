#!/usr/bin/env python3
"""Checks a testssl.sh flat JSON file (--jsonfile) against CXR Gate's TLS policy and prints a summary.

    python3 scripts/tls-scan-check.py testssl.json

Policy (see docs/SECURITY.md):
  * SSLv2, SSLv3, TLS 1.0 and TLS 1.1 not offered; TLS 1.2 and TLS 1.3 offered.
  * Every offered cipher suite is an AEAD (GCM, CCM, ChaCha20-Poly1305): no CBC, RC4, (3)DES, IDEA,
    NULL, EXPORT or anonymous suite; no weak cipher category offered.
  * Forward secrecy on every suite: TLS 1.3, or an ephemeral (EC)DHE key exchange in TLS 1.2.
  * Every vulnerability check present and rated OK or INFO.
  * No other finding rated LOW or worse (or WARN/FATAL: an inconclusive check), except the accepted
    exceptions listed in ACCEPTED below, each with its reason.
Exits 0 when all holds, 1 with one line per violation otherwise, 2 when the file cannot be read.
Python 3 standard library only. Written against testssl.sh 3.0.8 (Debian 12); the ids of later
versions (FS instead of PFS, winshock, ...) are recognised where they differ.
"""

import json
import re
import sys

GOOD_SEVERITIES = {"OK", "INFO"}

OLD_PROTOCOLS = ["SSLv2", "SSLv3", "TLS1", "TLS1_1"]
NEW_PROTOCOLS = ["TLS1_2", "TLS1_3"]
PROTO_LABEL = {
    "SSLv2": "SSLv2",
    "SSLv3": "SSLv3",
    "TLS1": "TLS 1.0",
    "TLS1_1": "TLS 1.1",
    "TLS1_2": "TLS 1.2",
    "TLS1_3": "TLS 1.3",
}
# "cipher-tls1_2_xc02b" (-E, per protocol) -> protocol key above.
CIPHER_ID = re.compile(r"^cipher-(ssl2|ssl3|tls1|tls1_1|tls1_2|tls1_3)_(x[0-9a-f]+)$")
CIPHER_PROTO = {
    "ssl2": "SSLv2",
    "ssl3": "SSLv3",
    "tls1": "TLS1",
    "tls1_1": "TLS1_1",
    "tls1_2": "TLS1_2",
    "tls1_3": "TLS1_3",
}
# Finding text: "TLS 1.2   xc02c   ECDHE-ECDSA-AES256-GCM-SHA384     ECDH 253   AESGCM      256      TLS_ECDHE_..."
CIPHER_LINE = re.compile(
    r"^(?:SSLv[23]|TLS 1(?:\.[0-3])?)\s+(?P<hex>x[0-9a-fA-F]+)\s+(?P<name>\S+)\s+"
    r"(?P<kx>\S+(?: \d+)?)\s+(?P<enc>\S+)\s+(?P<bits>\d+)(?:\s+(?P<iana>\S+))?"
)
AEAD = re.compile(r"GCM|CCM|CHACHA20[-_]POLY1305", re.I)
WEAK = re.compile(r"CBC|RC4|RC2|DES|IDEA|NULL|EXP|ANON|ADH|AECDH|MD5|SEED|CAMELLIA|ARIA", re.I)

# The vulnerability checks of `testssl -U` (3.0.8 ids). Every one must be present and OK/INFO.
VULNERABILITIES = [
    ("heartbleed", "Heartbleed (CVE-2014-0160)"),
    ("CCS", "CCS injection (CVE-2014-0224)"),
    ("ticketbleed", "Ticketbleed (CVE-2016-9244)"),
    ("ROBOT", "ROBOT"),
    ("secure_renego", "Secure renegotiation (RFC 5746)"),
    ("secure_client_renego", "Secure client-initiated renegotiation"),
    ("CRIME_TLS", "CRIME (CVE-2012-4929)"),
    ("BREACH", "BREACH (CVE-2013-3587)"),
    ("POODLE_SSL", "POODLE SSL (CVE-2014-3566)"),
    ("fallback_SCSV", "TLS_FALLBACK_SCSV (RFC 7507)"),
    ("SWEET32", "SWEET32 (CVE-2016-2183, -6329)"),
    ("FREAK", "FREAK (CVE-2015-0204)"),
    ("DROWN", "DROWN (CVE-2016-0800, -0703)"),
    ("LOGJAM", "LOGJAM (CVE-2015-4000)"),
    ("LOGJAM-common_primes", "LOGJAM common primes"),
    ("BEAST", "BEAST (CVE-2011-3389)"),
    ("LUCKY13", "LUCKY13 (CVE-2013-0169)"),
    ("RC4", "RC4 (CVE-2013-2566, CVE-2015-2808)"),
]
# Present only in other testssl versions; checked (must be OK/INFO) when present.
OPTIONAL_VULNERABILITIES = [
    ("winshock", "Winshock (CVE-2014-6321)"),
    ("opossum", "Opossum"),
    ("POODLE_TLS", "POODLE TLS"),
    ("GREASE", "GREASE"),
    ("DROWN_hint", "DROWN (certificate elsewhere)"),
]

# Findings rated worse than INFO that are expected for CXR Gate, each with the finding text it must
# match (anything else under the same id still fails) and the reason it is accepted.
ACCEPTED = {
    "cert_chain_of_trust": (
        r"self.signed",
        "issued by the install's own local CA (self-signed root, sent in the chain), which no public store "
        "holds: a device installs the CA once (/ca.crt) or accepts the certificate on the trust page; a "
        "CA-issued one can be given with --cert",
    ),
    "cert_revocation": (
        r"Neither CRL nor OCSP",
        "the local CA runs no CRL/OCSP service on a LAN without internet; a compromised CA is rotated "
        "(--rotate-ca / New CA…), a certificate re-issued",
    ),
    "HSTS": (
        r"not offered",
        "reached by IP on a LAN with a self-signed certificate: browsers ignore HSTS for IP literals and "
        "for connections with certificate errors (RFC 6797 8.1, 8.1.1); plain HTTP on the port only gets a "
        "400 pointing to https://",
    ),
    "sessionresumption_ticket": (
        r"check failed",
        "testssl's s_client resumption probe is inconclusive on TLS 1.3 (varies run to run); resumption "
        "is a performance feature, not a security property",
    ),
    "sessionresumption_ID": (
        r"check failed",
        "as sessionresumption_ticket",
    ),
    "engine_problem": (
        r"GOST",
        "about the scanner's local openssl (no GOST engine), not the server",
    ),
}


def load(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if isinstance(data, dict):  # --jsonfile-pretty: {"scanResult": [{"protocols": [...], ...}]}
        flat = []
        for scan in data.get("scanResult", []):
            for value in scan.values():
                if isinstance(value, list):
                    flat.extend(v for v in value if isinstance(v, dict) and "id" in v)
        data = flat
    return [f for f in data if isinstance(f, dict) and "id" in f]


def main(argv):
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[2].strip(), file=sys.stderr)
        return 2
    try:
        findings = load(argv[1])
    except (OSError, ValueError) as e:
        print(f"tls-scan-check: cannot read {argv[1]}: {e}", file=sys.stderr)
        return 2
    if not findings:
        print(f"tls-scan-check: no findings in {argv[1]}", file=sys.stderr)
        return 2

    by_id = {}
    for f in findings:
        by_id.setdefault(f["id"], []).append(f)

    def one(fid):
        return by_id.get(fid, [None])[0]

    def text(f):
        return " ".join(str(f.get("finding", "")).split()) if f else "(missing)"

    violations = []
    checked = set()

    # Scan-level problems: testssl could not scan at all.
    for f in findings:
        if f.get("severity") == "FATAL" or (f["id"] == "scanProblem" and f.get("severity") != "INFO"):
            violations.append(f"{f['id']}: testssl reported {f.get('severity')}: {text(f)}")
            checked.add(f["id"])

    # ---- protocols --------------------------------------------------------------------------------
    print("Protocols")
    for p in OLD_PROTOCOLS + NEW_PROTOCOLS:
        f = one(p)
        checked.add(p)
        t = text(f)
        want_offered = p in NEW_PROTOCOLS
        offered = bool(f) and t.startswith("offered")
        not_offered = bool(f) and t.startswith("not offered")
        ok = offered if want_offered else not_offered
        print(f"  {PROTO_LABEL[p]:<8} {t:<28} {'ok' if ok else 'VIOLATION'}")
        if not f:
            violations.append(f"{p}: protocol check missing from the JSON")
        elif not ok:
            violations.append(f"{p}: expected {'offered' if want_offered else 'not offered'}, got {t!r}")
    alpn = one("ALPN")
    if alpn:
        print(f"  ALPN     {text(alpn)}")

    # ---- cipher suites, per protocol ---------------------------------------------------------------
    fs_names = set()
    for fid in ("PFS_ciphers", "FS_ciphers"):
        if one(fid):
            fs_names.update(text(one(fid)).split())
    suites = []
    for f in findings:
        m = CIPHER_ID.match(f["id"])
        if not m:
            continue
        checked.add(f["id"])
        proto = CIPHER_PROTO[m.group(1)]
        line = CIPHER_LINE.match(text(f))
        if not line:
            violations.append(f"{f['id']}: cannot parse the cipher line {text(f)!r}")
            continue
        s = line.groupdict()
        s["proto"] = proto
        iana = s["iana"] or ""
        names = f"{s['name']} {iana}"
        s["aead"] = bool(AEAD.search(names)) and not WEAK.search(names)
        # TLS 1.3 suites always use an ephemeral (EC)DHE exchange; before, the name says so
        # (ECDHE-/DHE-/EDH-; static ECDH-/DH- and RSA key transport have no forward secrecy).
        ephemeral = re.search(r"(^|[-_ ])(ECDHE|DHE|EDH)[-_]", names) is not None
        s["fs"] = proto == "TLS1_3" or (s["kx"].upper().startswith(("ECDH", "DH")) and ephemeral)
        s["fs_listed"] = s["name"] in fs_names or iana in fs_names
        suites.append(s)

    print("\nCipher suites offered (testssl -E, each cipher per protocol)")
    print(f"  {'proto':<8} {'hex':<6} {'OpenSSL name':<31} {'kx':<9} {'enc':<9} {'bits':>4}  FS   AEAD")
    for p in OLD_PROTOCOLS + NEW_PROTOCOLS:
        ps = [s for s in suites if s["proto"] == p]
        for s in ps:
            print(
                f"  {PROTO_LABEL[p]:<8} {s['hex']:<6} {s['name']:<31} {s['kx']:<9} {s['enc']:<9} "
                f"{s['bits']:>4}  {'yes' if s['fs'] else 'NO':<4} {'yes' if s['aead'] else 'NO'}"
            )
        if p in OLD_PROTOCOLS and ps:
            violations.append(f"{p}: {len(ps)} cipher suite(s) offered on a protocol that must be off")
        if p in NEW_PROTOCOLS and not ps:
            violations.append(f"{p}: no cipher suite found (was testssl run with -E?)")
    for s in suites:
        label = f"{PROTO_LABEL[s['proto']]} {s['hex']} {s['name']}"
        if not s["aead"]:
            violations.append(f"{label}: not an AEAD suite (CBC/RC4/3DES/NULL/EXPORT/anon are refused)")
        if not s["fs"]:
            violations.append(f"{label}: no forward secrecy (key exchange {s['kx']})")
        elif fs_names and not s["fs_listed"]:
            violations.append(f"{label}: missing from testssl's forward-secrecy list")

    # Cipher categories (-s): only the strong (AEAD) category may be offered.
    cats = [f for f in findings if f["id"].startswith("cipherlist_")]
    print("\nCipher categories (testssl -s)")
    if not cats:
        violations.append("cipherlist_*: cipher category checks missing from the JSON")
    for f in cats:
        checked.add(f["id"])
        cat = f["id"][len("cipherlist_"):]
        strong = cat in ("STRONG", "STRONG_FS", "GOOD")
        t = text(f)
        ok = t.startswith("offered") if cat in ("STRONG", "STRONG_FS") else t.startswith("not offered") or (strong and t.startswith("offered"))
        print(f"  {cat:<12} {t:<24} {'ok' if ok else 'VIOLATION'}")
        if not ok:
            violations.append(f"{f['id']}: {t!r} (only strong AEAD ciphers may be offered)")

    # Forward secrecy (-f).
    fs = one("PFS") or one("FS")
    curves = one("PFS_ECDHE_curves") or one("FS_ECDHE_curves")
    for fid in ("PFS", "FS", "PFS_ciphers", "FS_ciphers", "PFS_ECDHE_curves", "FS_ECDHE_curves"):
        checked.add(fid)
    fs_ok = bool(fs) and text(fs).startswith("offered") and fs.get("severity") in GOOD_SEVERITIES
    n_fs = sum(1 for s in suites if s["fs"])
    print(f"\nForward secrecy: {text(fs)} ({n_fs}/{len(suites)} suites); curves: {text(curves)}")
    if not fs_ok:
        violations.append(f"forward secrecy: testssl says {text(fs)!r}")
    if curves and curves.get("severity") not in GOOD_SEVERITIES:
        violations.append(f"{curves['id']}: {curves.get('severity')} {text(curves)}")

    # ---- vulnerabilities ----------------------------------------------------------------------------
    print("\nVulnerabilities (testssl -U)")
    for fid, label in VULNERABILITIES + OPTIONAL_VULNERABILITIES:
        fs_ = by_id.get(fid)
        if not fs_:
            if (fid, label) in VULNERABILITIES:
                print(f"  {label:<40} MISSING")
                violations.append(f"{fid}: vulnerability check missing from the JSON (was testssl run with -U?)")
            continue
        for f in fs_:
            checked.add(fid)
            sev = f.get("severity")
            ok = sev in GOOD_SEVERITIES
            print(f"  {label:<40} {sev:<5} {text(f)}")
            if not ok:
                violations.append(f"{fid}: {sev}: {text(f)}")
    # Any other finding carrying a CVE is a vulnerability check too.
    for f in findings:
        if f["id"] not in checked and f.get("cve") and f.get("severity") not in GOOD_SEVERITIES:
            violations.append(f"{f['id']} ({f['cve']}): {f.get('severity')}: {text(f)}")
            checked.add(f["id"])

    # ---- everything else: accepted exceptions and other non-OK findings -----------------------------
    accepted = []
    for f in findings:
        sev = f.get("severity")
        if f["id"] in checked or sev in GOOD_SEVERITIES:
            continue
        rule = ACCEPTED.get(f["id"])
        if rule and re.search(rule[0], text(f), re.I):
            accepted.append((f["id"], sev, text(f), rule[1]))
        else:
            violations.append(f"{f['id']}: {sev}: {text(f)}")
    print("\nAccepted exceptions (rated worse than INFO by testssl, expected for CXR Gate)")
    for fid, sev, t, why in accepted:
        print(f"  {fid} [{sev}] {t}\n      reason: {why}")
    if not accepted:
        print("  none")

    sims = [f for f in findings if f["id"].startswith("clientsimulation-")]
    if sims:
        refused = [f["id"][len("clientsimulation-"):] for f in sims if text(f).startswith("No connection")]
        print(f"\nClient simulation: {len(sims) - len(refused)}/{len(sims)} simulated clients connect", end="")
        print(f"; no connection: {', '.join(refused)}" if refused else "")

    print()
    if violations:
        print(f"TLS POLICY VIOLATED ({len(violations)}):")
        for v in violations:
            print(f"  - {v}")
        return 1
    print(
        f"TLS policy: all checks passed ({len(suites)} suites, all AEAD with forward secrecy; "
        f"{len(accepted)} accepted exception(s))"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
