//! The pages the proxy answers itself: the "Certificate accepted" trust page, `/test`, `/health`,
//! the 404 page, and the plain-text bodies of its error answers.

use serde::Serialize;

use crate::status::Status;

pub const TEST_BODY: &str = "WebSocket proxy ready\n";

pub fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

const STYLE: &str = r#"
:root{color-scheme:light dark;--fg:#10151c;--bg:#f5f7fa;--card:#fff;--ok:#14853b;--muted:#5b6673;--accent:#2a62d9}
@media (prefers-color-scheme:dark){:root{--fg:#eef2f6;--bg:#0f1318;--card:#1a2027;--ok:#3ccf6e;--muted:#9aa6b2;--accent:#7aa7ff}}
*{box-sizing:border-box}body{margin:0;font:clamp(20px,2.6vw,30px)/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
main{max-width:1100px;margin:0 auto;padding:6vh 5vw}
.card{background:var(--card);border-radius:28px;padding:1.4em 1.6em;box-shadow:0 8px 40px #0002}
h1{font-size:2.1em;margin:.1em 0 .3em;display:flex;gap:.45em;align-items:center}
.tick{display:inline-grid;place-items:center;width:1.3em;height:1.3em;border-radius:50%;background:var(--ok);color:#fff;font-size:.9em}
p{margin:.5em 0}.muted{color:var(--muted)}
.url{display:flex;gap:.6em;align-items:center;flex-wrap:wrap;margin:.8em 0}
code{font:1.25em/1.3 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#8881;padding:.35em .55em;border-radius:12px;word-break:break-all;user-select:all}
button,a.button{font:inherit;font-size:.95em;padding:.55em 1.1em;border-radius:14px;border:0;background:var(--accent);color:#fff;cursor:pointer;text-decoration:none;min-height:2.4em}
button:focus-visible,a.button:focus-visible{outline:4px solid var(--fg);outline-offset:3px}
h2{font-size:1.3em;margin:.2em 0 .4em}section.card{margin-top:1.2em}details{margin:.5em 0}summary{cursor:pointer;font-weight:600;min-height:2em}
li{margin:.3em 0}
#copied{min-height:1.5em;color:var(--ok)}
"#;

/// The local CA as the trust page shows it.
pub struct CaView<'a> {
    pub common_name: &'a str,
    pub fingerprint_sha256: &'a str,
}

/// "Install once": the CA's fingerprint, its download links and, per device, the steps and whether
/// installing the CA there was verified (and how) or is untested. Headsets lead with accept once:
/// no consumer setting to install a CA on them is known to work (docs/TRUST.md has the sources).
fn install_once(ca: Option<&CaView<'_>>) -> String {
    let Some(ca) = ca else {
        return String::new();
    };
    let (cn, fp) = (html_escape(ca.common_name), html_escape(ca.fingerprint_sha256));
    format!(
        r#"<section class="card" id="install-once">
<h2>Install once, where a device allows it</h2>
<p>A device that trusts this computer's certificate authority opens CXR Gate without a warning, also
after the computer's IP address changes or the certificate is renewed. Not every device lets you
install one: on headsets, accepting the warning once is the way.</p>
<p><b id="ca-name">{cn}</b><br><span class="muted">SHA-256</span> <code id="ca-fingerprint">{fp}</code></p>
<p><a class="button" id="ca-download" href="/ca.crt" download="cxr-gate-ca.crt">Download the CA (.crt)</a>
<a href="/ca.pem">PEM</a></p>
<p class="muted">Compare the fingerprint on the device with the one CXR Gate shows on the computer before you trust it.</p>
<details data-device="quest" data-verified="no"><summary>Meta Quest</summary>
<p><b>Accept once:</b> you just did. CXR Gate keeps its certificate across restarts, so the warning
comes back only when the certificate or the computer's address changes, or when the browser forgets
the exception (Chromium, which the Quest browser is built on, keeps it for a week).</p>
<p class="muted">Installing the CA: untested. Quest has no setting for it that we know of. Developer
mode only, and it may not work on every Horizon OS version:
<code>adb push cxr-gate-ca.crt /sdcard/Download/</code>, then
<code>adb shell am start -n com.android.settings/.security.InstallCaCertificateWarning</code>.</p>
</details>
<details data-device="pico" data-verified="no"><summary>Pico 4 Ultra</summary>
<p><b>Accept once:</b> you just did; as on Quest, the warning comes back only when the certificate or
the address changes, or the browser forgets the exception.</p>
<p class="muted">Installing the CA: untested. If your Pico's settings have Security → Encryption &amp;
credentials → Install a certificate → <i>CA certificate</i>, pick the downloaded file there.</p>
</details>
<details data-device="android" data-verified="no"><summary>Android phones</summary><ol>
<li>Download the CA on the phone with the button above.</li>
<li>Settings → Security → Encryption &amp; credentials → Install a certificate → <i>CA certificate</i> → <i>Install anyway</i> → pick <i>cxr-gate-ca.crt</i>.</li>
</ol><p class="muted">Untested here.</p></details>
<details data-device="windows" data-verified="no"><summary>Windows (Chrome, Edge)</summary><ol>
<li>Double-click the downloaded file → <i>Install Certificate</i> → <i>Current User</i> → <i>Place all certificates in</i> <i>Trusted Root Certification Authorities</i>. Or in a terminal: <code>certutil -user -addstore Root cxr-gate-ca.crt</code> (what CXR Gate's <i>Trust on this PC</i> runs).</li>
<li>Firefox: Settings → Privacy &amp; Security → Certificates → View Certificates → Authorities → Import.</li>
</ol><p class="muted">Untested on a Windows machine here.</p></details>
<details data-device="macos" data-verified="no"><summary>macOS</summary><ol>
<li>Double-click the file: Keychain Access adds it; open it, <i>Trust</i> → <i>When using this certificate: Always Trust</i>.</li>
</ol><p class="muted">Untested here.</p></details>
<details data-device="linux" data-verified="yes"><summary>Linux (Chrome, Chromium, Firefox)</summary><ol>
<li>Chrome/Chromium: <code>certutil -d sql:$HOME/.pki/nssdb -A -t C,, -n "{cn}" -i cxr-gate-ca.crt</code> (package <code>libnss3-tools</code>), or CXR Gate's <i>Trust on this PC</i>.</li>
<li>Firefox: Settings → Privacy &amp; Security → Certificates → View Certificates → Authorities → Import.</li>
</ol><p class="muted">Verified for Chromium: with the CA in its NSS database it opens this page and the
<code>wss://</code> socket with no warning, and <i>Trust on this PC</i> writes that database (CXR Gate's
tests). Firefox: untested.</p></details>
</section>"#
    )
}

/// The trust page: what a headset sees after "Advanced → Proceed" (or at once, with the CA
/// installed). `ca` adds "Install once"; `app` is the link to the web app served at `/app/`.
pub fn trust_page(wss_url: &str, version: &str, ca: Option<&CaView<'_>>, app: Option<&str>) -> String {
    let url = html_escape(wss_url);
    let install = install_once(ca);
    let app_block = app.map(app_link_block).unwrap_or_default();
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Certificate accepted · CXR Gate</title><style>{STYLE}</style></head>
<body><main><div class="card">
<h1><span class="tick" aria-hidden="true">✓</span>Certificate accepted</h1>
<p>This headset now trusts the CXR Gate proxy. Go back to your CloudXR web app and connect to:</p>
<div class="url"><code id="wss-url">{url}</code>
<button id="copy" type="button">Copy</button></div>
<p id="copied" role="status" aria-live="polite"></p>
{app_block}<p><a class="button" id="netcheck" href="/netcheck">Test my connection</a></p>
<p class="muted">Keep this address: if the computer's IP address changes, open this page again.</p>
<p class="muted">CXR Gate {version} · <a href="/cert.crt">download certificate</a></p>
</div>
{install}
</main>
<script>
document.getElementById('copy').addEventListener('click', async () => {{
  const text = document.getElementById('wss-url').textContent;
  const done = (m) => document.getElementById('copied').textContent = m;
  try {{ await navigator.clipboard.writeText(text); done('Copied'); }}
  catch (e) {{
    const r = document.createRange(); r.selectNodeContents(document.getElementById('wss-url'));
    const s = getSelection(); s.removeAllRanges(); s.addRange(r);
    done(document.execCommand && document.execCommand('copy') ? 'Copied' : 'Selected: copy it from the menu');
  }}
}});
</script></body></html>"#
    )
}

/// The trust page's "Open the web app" block: the same origin, so this acceptance covers it.
fn app_link_block(href: &str) -> String {
    format!(
        r#"<p><a class="button" id="open-app" href="{}">Open the web app</a></p>
<p class="muted">The web app is served from this address, so it may connect right away.</p>
"#,
        html_escape(href)
    )
}

pub fn not_found_page(path: &str) -> String {
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Not found · CXR Gate</title><style>{STYLE}</style></head><body><main><div class="card">
<h1>Not found</h1><p>CXR Gate has no page at <code>{}</code>.</p>
<p><a class="button" href="/">Go to the start page</a></p></div></main></body></html>"#,
        html_escape(path)
    )
}

/// `GET /health`.
#[derive(Debug, Serialize)]
pub struct Health<'a> {
    /// `up`, `down` or `unknown`: the configured backend.
    pub state: &'a str,
    pub backend: &'a str,
    /// When the state last changed, ms since the epoch.
    pub since_ms: u64,
    pub active_sessions: usize,
    pub version: &'a str,
    pub last_error: Option<&'a str>,
    /// Path-routed backends being checked (each answered a 101; at most 32).
    pub routed: Vec<Routed<'a>>,
    /// Headsets seen, refusing the certificate, connected: counts only (this page is on the LAN).
    pub headsets: crate::headsets::HeadsetCounts,
    /// The local CA's files on disk are not the CA in use (the status says why; not this LAN page).
    pub ca_damaged: bool,
}

#[derive(Debug, Serialize)]
pub struct Routed<'a> {
    pub backend: &'a str,
    pub state: &'a str,
    pub since_ms: u64,
    pub last_error: Option<&'a str>,
}

pub fn health_json(st: &Status, active_sessions: usize) -> String {
    let routed = st
        .routed_backends
        .iter()
        .map(|b| Routed {
            backend: &b.addr,
            state: b.state.as_str(),
            since_ms: b.since_ms,
            last_error: b.last_error.as_deref(),
        })
        .collect();
    let h = Health {
        state: st.backend.state.as_str(),
        backend: &st.backend.addr,
        since_ms: st.backend.since_ms,
        active_sessions,
        version: crate::VERSION,
        last_error: st.backend.last_error.as_deref(),
        routed,
        headsets: crate::headsets::HeadsetCounts::of(&st.headsets),
        ca_damaged: st.cert.as_ref().and_then(|c| c.ca.as_ref()).is_some_and(|ca| ca.damaged.is_some()),
    };
    serde_json::to_string_pretty(&h).unwrap_or_else(|_| "{}".into())
}

pub fn backend_unreachable(backend: &str, why: Option<&str>) -> String {
    let mut s = format!("CloudXR Runtime is not reachable at {backend} — is it running?\n");
    if let Some(w) = why {
        s.push_str(&format!("({w})\n"));
    }
    s
}

pub fn route_refused(target: &str) -> String {
    format!(
        "Routing to {target} is not allowed. Only the configured backend and the host:port entries of the \
allowed_backends setting can be reached; to add this one, list {target} in ALLOWED_BACKENDS / \
--allowed-backends / Settings → Allowed backends.\n"
    )
}

pub const NO_CA_BODY: &str =
    "This CXR Gate serves a certificate of your own (--cert), so it has no local CA to install.\n";

pub const PLAIN_HTTP_BODY: &str =
    "This is the CXR Gate TLS port: use https:// (for pages) or wss:// (for WebSockets) instead of http://.\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_page_shows_the_escaped_url() {
        let p = trust_page("wss://192.168.1.20:48322", "1.0", None, None);
        assert!(p.contains("Certificate accepted"));
        assert!(p.contains(r#"<code id="wss-url">wss://192.168.1.20:48322</code>"#));
        assert!(!p.contains("install-once"), "no CA, no install section");
        assert!(trust_page("wss://<x>", "1", None, None).contains("wss://&lt;x&gt;"));
    }

    #[test]
    fn trust_page_offers_the_ca_once_with_its_fingerprint() {
        let ca = CaView { common_name: "CXR Gate CA on <ws>", fingerprint_sha256: "AB:CD" };
        let p = trust_page("wss://10.0.0.5:48322", "1.0", Some(&ca), None);
        assert!(p.contains(r#"<code id="ca-fingerprint">AB:CD</code>"#));
        assert!(p.contains("CXR Gate CA on &lt;ws&gt;") && !p.contains("<ws>"));
        assert!(p.contains(r#"href="/ca.crt""#) && p.contains(r#"href="/ca.pem""#));
        for device in ["Meta Quest", "Pico 4 Ultra", "Android phones", "Windows", "macOS", "Linux"] {
            assert!(p.contains(&format!("<summary>{device}")), "{device}");
        }
        assert!(p.contains("certutil -user -addstore Root"));
    }

    #[test]
    fn trust_page_says_per_device_what_is_verified_and_headsets_lead_with_accept_once() {
        let ca = CaView { common_name: "CXR Gate CA on ws", fingerprint_sha256: "AB:CD" };
        let p = trust_page("wss://10.0.0.5:48322", "1.0", Some(&ca), None);
        let device = |name: &str| {
            let start = p.find(&format!("data-device=\"{name}\"")).unwrap_or_else(|| panic!("{name}"));
            &p[start..start + p[start..].find("</details>").unwrap()]
        };
        // Only what CXR Gate's own tests show is claimed: Chromium on Linux with an NSS database.
        for (name, verified) in
            [("quest", "no"), ("pico", "no"), ("android", "no"), ("windows", "no"), ("macos", "no"), ("linux", "yes")]
        {
            let d = device(name);
            assert!(d.contains(&format!("data-verified=\"{verified}\"")), "{name}: {d}");
            let says = if verified == "yes" { "Verified for Chromium" } else { "ntested" };
            assert!(d.contains(says), "{name} must say {says:?}: {d}");
        }
        for headset in ["quest", "pico"] {
            let d = device(headset);
            let accept = d.find("Accept once").unwrap_or_else(|| panic!("{headset}: no accept once"));
            assert!(accept < d.find("Installing the CA").unwrap(), "{headset}: accept once comes first");
        }
        // The adb route stays only as a developer-mode option that may not work.
        let quest = device("quest");
        assert!(quest.contains("com.android.settings/.security.InstallCaCertificateWarning"));
        assert!(quest.contains("Developer\nmode only, and it may not work on every Horizon OS version"), "{quest}");
        assert!(!device("pico").contains("adb"), "no adb route claimed for Pico");
    }

    #[test]
    fn trust_page_links_the_web_app() {
        let p = trust_page("wss://192.168.1.20:48322", "1.0", None, None);
        assert!(!p.contains("open-app"));
        let with_app = trust_page("wss://10.0.0.5:48322", "1", None, Some("/app/?serverIP=10.0.0.5&port=48322"));
        assert!(
            with_app.contains(r#"<a class="button" id="open-app" href="/app/?serverIP=10.0.0.5&amp;port=48322">"#),
            "{with_app}"
        );
    }

    #[test]
    fn health_json_has_the_fields() {
        let mut st = Status::default();
        st.backend.addr = "localhost:49100".into();
        st.backend.state = crate::status::BackendState::Up;
        let v: serde_json::Value = serde_json::from_str(&health_json(&st, 3)).unwrap();
        assert_eq!(v["state"], "up");
        assert_eq!(v["backend"], "localhost:49100");
        assert_eq!(v["active_sessions"], 3);
        assert_eq!(v["version"], crate::VERSION);
        assert_eq!(v["routed"], serde_json::json!([]));
        assert_eq!(v["headsets"], serde_json::json!({"seen": 0, "refused": 0, "connected": 0}));
        st.routed_backends.push(crate::status::BackendStatus { addr: "10.0.0.7:49100".into(), ..Default::default() });
        let v: serde_json::Value = serde_json::from_str(&health_json(&st, 0)).unwrap();
        assert_eq!(v["routed"][0]["backend"], "10.0.0.7:49100");
        assert_eq!(v["routed"][0]["state"], "unknown");
        assert_eq!(v["ca_damaged"], false);
        let ca = crate::status::CaInfo { damaged: Some("ca-key.pem does not match".into()), ..Default::default() };
        st.cert = Some(crate::status::CertInfo { ca: Some(ca), ..Default::default() });
        let v: serde_json::Value = serde_json::from_str(&health_json(&st, 0)).unwrap();
        assert_eq!(v["ca_damaged"], true, "a yes or no only: {v}");
        assert!(!v.to_string().contains("ca-key.pem"), "no detail on this LAN page: {v}");
    }
}
