//! Owns the commands the window may call (each granted by name in capabilities/default.json).
//! The window keeps no state of its own: it renders `get_status` / the `status` event and fills
//! the settings form from `get_settings`. Clipboard, file dialogs, autostart and the firewall are
//! done here in Rust, so the webview needs no plugin or shell permission.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use cxr_gate_core::config::{CustomCert, Setting, Via};
use cxr_gate_core::{adb, qr, tls};
use serde::Serialize;
use tauri::{AppHandle, Manager, Runtime, State};
use tauri_plugin_autostart::ManagerExt as _;
use tauri_plugin_clipboard_manager::ClipboardExt;
use tauri_plugin_dialog::DialogExt;

use crate::firewall::{self, FirewallView};
use crate::pump;
use crate::settings::{self, FieldErrors, Settings, SettingsForm};
use crate::state::{lock, AppState, MAIN_WINDOW};
use crate::trust;
use crate::view::StatusView;

#[tauri::command]
pub fn get_status(state: State<'_, AppState>) -> StatusView {
    state.view()
}

#[derive(Debug, Clone, Serialize)]
pub struct SettingsView {
    /// Saved values, as the form shows them.
    pub form: SettingsForm,
    /// Placeholders.
    pub defaults: SettingsForm,
    /// Field → "This run uses … (from the command line)…".
    pub overrides: BTreeMap<String, String>,
    pub path: String,
    /// The form's text fields (input ids), from the settings table.
    pub fields: Vec<&'static str>,
}

fn settings_view(st: &AppState) -> SettingsView {
    let mut overrides = BTreeMap::new();
    for o in lock(&st.overrides).iter() {
        overrides.entry(o.field().to_string()).or_insert_with(|| o.note());
    }
    SettingsView {
        form: st.settings().to_form(),
        defaults: Settings::default().to_form(),
        overrides,
        path: st.settings_path.display().to_string(),
        fields: settings::form_fields(),
    }
}

#[tauri::command]
pub fn get_settings(state: State<'_, AppState>) -> SettingsView {
    settings_view(&state)
}

/// A rejected save: messages per field (shown next to each), or one for the whole form.
#[derive(Debug, Clone, Serialize, Default)]
pub struct SaveError {
    pub fields: FieldErrors,
    pub message: Option<String>,
}

impl From<String> for SaveError {
    fn from(message: String) -> Self {
        SaveError { fields: FieldErrors::new(), message: Some(message) }
    }
}

async fn save_form<R: Runtime>(app: &AppHandle<R>, form: SettingsForm) -> Result<SettingsView, SaveError> {
    let st = app.state::<AppState>();
    let change = st.begin_change().await;
    let current = change.current();
    let next = settings::validate_form(&form, &current).map_err(|fields| SaveError { fields, message: None })?;
    // The engine's own check of the combined config (bounds across fields, this run's overrides).
    match st.launch.effective(&next) {
        Err(e) => {
            let mut fields = FieldErrors::new();
            fields.insert(settings::field_of(&e.setting).to_string(), e.to_string());
            return Err(SaveError { fields, message: None });
        }
        // The web app folder against the data dir this run uses.
        Ok((cfg, _)) => settings::check_layout(&cfg).map_err(|fields| SaveError { fields, message: None })?,
    }
    if next.start_at_login != current.start_at_login {
        let al = app.autolaunch();
        let r = if next.start_at_login { al.enable() } else { al.disable() };
        if let Err(e) = r {
            let mut fields = FieldErrors::new();
            fields.insert("start_at_login".into(), format!("Could not change the login item: {e}"));
            return Err(SaveError { fields, message: None });
        }
    }
    change.save_and_apply(next).await?;
    pump::emit_status(app);
    Ok(settings_view(&st))
}

#[tauri::command]
pub async fn save_settings<R: Runtime>(app: AppHandle<R>, form: SettingsForm) -> Result<SettingsView, SaveError> {
    save_form(&app, form).await
}

/// The Certificate card's "extra host names" field: the same setting as the form's, saved alone.
#[tauri::command]
pub async fn set_cert_hostnames<R: Runtime>(app: AppHandle<R>, value: String) -> Result<SettingsView, SaveError> {
    let form = app.state::<AppState>().settings().to_form().with(Setting::CertHostnames, value);
    save_form(&app, form).await
}

#[tauri::command]
pub fn dismiss_notice<R: Runtime>(app: AppHandle<R>, state: State<'_, AppState>) {
    lock(&state.info).notice = None;
    pump::emit_status(&app);
}

#[derive(Debug, Clone, Serialize)]
pub struct QrView {
    pub svg: String,
    /// What the code carries (the trust page or the web app, or the Meta Web Launch link to it).
    pub url: String,
}

/// The link a QR code carries for `ip`: the web app (`/app/` with `app_query` filled in) when a
/// web app folder is set, else the trust page; or a Meta Web Launch link to it. Either page meets
/// the certificate warning first, so one acceptance covers it.
pub fn qr_url(ip: &str, port: u16, meta_launch: bool, app_query: Option<&str>) -> Result<String, String> {
    let ip: IpAddr = ip.trim().parse().map_err(|_| format!("{ip:?} is not an IP address"))?;
    let page = match app_query {
        Some(q) => qr::app_url(&ip.to_string(), port, q),
        None => qr::trust_url(&ip.to_string(), port),
    };
    Ok(if meta_launch { qr::meta_web_launch(&page) } else { page })
}

#[tauri::command]
pub fn qr(state: State<'_, AppState>, ip: String, meta_launch: bool) -> Result<QrView, String> {
    let (port, app_query) = {
        let s = state.status.borrow();
        (s.listener.port, s.web_app.root.as_ref().map(|_| s.web_app.query.clone()))
    };
    let url = qr_url(&ip, port, meta_launch, app_query.as_deref())?;
    let svg = qr::svg(&url).map_err(|e| e.to_string())?;
    Ok(QrView { svg, url })
}

#[tauri::command]
pub fn copy_text<R: Runtime>(app: AppHandle<R>, text: String) -> Result<(), String> {
    app.clipboard().write_text(text).map_err(|e| format!("Could not copy: {e}"))
}

#[tauri::command]
pub async fn regenerate_cert<R: Runtime>(app: AppHandle<R>) -> Result<String, String> {
    let st = app.state::<AppState>();
    let gw = st.gateway.read().await;
    let gw = gw.as_ref().ok_or("CXR Gate is shutting down")?;
    let info = gw.regenerate_cert().await.map_err(|e| e.to_string())?;
    Ok(format!(
        "New certificate {}. Devices that installed the CA keep trusting it; others open the trust page again.",
        short_fp(&info.fingerprint_sha256)
    ))
}

/// The local CA in use, with its DER read back from `ca.pem`.
fn ca_file(st: &AppState) -> Result<trust::CaFile, String> {
    let status = st.status.borrow().clone();
    let ca =
        status.cert.and_then(|c| c.ca).ok_or("No local CA is in use (a certificate of your own is configured).")?;
    let pem = std::fs::read_to_string(&ca.cert_path).map_err(|e| format!("Could not read {}: {e}", ca.cert_path))?;
    let der = {
        use rustls_pki_types::pem::PemObject;
        rustls_pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| format!("{} is not a PEM certificate: {e}", ca.cert_path))?
            .to_vec()
    };
    Ok(trust::CaFile {
        path: ca.cert_path.into(),
        common_name: ca.common_name,
        fingerprint_sha256: ca.fingerprint_sha256,
        serial_hex: ca.serial_hex,
        der,
    })
}

/// Whether this PC's browsers trust the local CA.
#[tauri::command]
pub async fn ca_trust_status<R: Runtime>(app: AppHandle<R>) -> Result<trust::TrustView, String> {
    let ca = ca_file(&app.state::<AppState>())?;
    Ok(trust::status(&app, &ca).await)
}

/// "Trust on this PC".
#[tauri::command]
pub async fn trust_ca<R: Runtime>(app: AppHandle<R>) -> Result<trust::TrustView, String> {
    let ca = ca_file(&app.state::<AppState>())?;
    trust::install(&app, &ca).await
}

/// "New CA…": after a confirmation, a new local CA; every device must install it again.
#[tauri::command]
pub async fn rotate_ca<R: Runtime>(app: AppHandle<R>) -> Result<Option<String>, String> {
    use tauri_plugin_dialog::{MessageDialogButtons, MessageDialogKind};
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut d = app
        .dialog()
        .message(
            "A new CA replaces the current one. Every headset and PC that installed the current CA must \
             install the new one (or accept the certificate again). Do this when the CA key may have leaked, \
             or to cover names the current CA may not sign for.",
        )
        .title("Make a new CA?")
        .kind(MessageDialogKind::Warning)
        .buttons(MessageDialogButtons::OkCancelCustom("Make a new CA".into(), "Cancel".into()));
    if let Some(w) = app.get_webview_window(MAIN_WINDOW) {
        d = d.parent(&w);
    }
    d.show(move |ok| {
        let _ = tx.send(ok);
    });
    if !rx.await.unwrap_or(false) {
        return Ok(None);
    }
    let st = app.state::<AppState>();
    let gw = st.gateway.read().await;
    let gw = gw.as_ref().ok_or("CXR Gate is shutting down")?;
    let info = gw.rotate_ca().await.map_err(|e| e.to_string())?;
    let ca = info.ca.map(|c| short_fp(&c.fingerprint_sha256)).unwrap_or_default();
    Ok(Some(format!("New CA {ca}. Install it on every device again (the trust page offers it).")))
}

fn short_fp(fp: &str) -> String {
    fp.split(':').take(4).collect::<Vec<_>>().join(":") + "…"
}

/// LAN addresses a certificate leaves out (core's `missing`, plus any LAN IP not among the SANs).
pub fn uncovered(lan: &[String], sans: &[String], missing: &[String]) -> Vec<String> {
    let mut out: Vec<String> = missing.to_vec();
    for ip in lan {
        if !sans.iter().any(|s| s == ip) && !out.contains(ip) {
            out.push(ip.clone());
        }
    }
    out
}

pub fn pem_has_certificate(pem: &str) -> bool {
    pem.lines().any(|l| l.trim_end() == "-----BEGIN CERTIFICATE-----")
}

/// A PEM that carries its own key (HAProxy's combined server.pem) needs no second file.
pub fn pem_has_private_key(pem: &str) -> bool {
    pem.lines().any(|l| l.starts_with("-----BEGIN") && l.contains("PRIVATE KEY"))
}

async fn pick_file<R: Runtime>(app: &AppHandle<R>, title: &str, filter: (&str, &[&str])) -> Option<PathBuf> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut d = app.dialog().file().set_title(title).add_filter(filter.0, filter.1).add_filter("All files", &["*"]);
    if let Some(w) = app.get_webview_window(MAIN_WINDOW) {
        d = d.set_parent(&w);
    }
    d.pick_file(move |f| {
        let _ = tx.send(f);
    });
    rx.await.ok().flatten().and_then(|f| f.into_path().ok())
}

/// Browse… next to "Web app folder" (and "adb folder"): the folder is checked (same wording as
/// `--web-root`) but not saved; the form's Save applies it.
#[derive(Debug, Clone, Serialize)]
pub struct WebRootPick {
    pub path: String,
    /// Why this folder would be refused, shown on the field at once.
    pub problem: Option<String>,
}

/// The system's folder picker over the window; None when cancelled.
async fn pick_folder<R: Runtime>(app: &AppHandle<R>, title: &str) -> Option<PathBuf> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let mut d = app.dialog().file().set_title(title);
    if let Some(w) = app.get_webview_window(MAIN_WINDOW) {
        d = d.set_parent(&w);
    }
    d.pick_folder(move |f| {
        let _ = tx.send(f);
    });
    rx.await.ok().flatten().and_then(|f| f.into_path().ok())
}

#[tauri::command]
pub async fn choose_web_root<R: Runtime>(app: AppHandle<R>) -> Result<Option<WebRootPick>, String> {
    let Some(dir) = pick_folder(&app, "Choose the folder of your built web app (it holds index.html)").await else {
        return Ok(None);
    };
    let problem =
        cxr_gate_core::config::check_web_root(&dir, Setting::WebRoot.via(Via::Name)).err().map(|e| e.to_string());
    Ok(Some(WebRootPick { path: dir.display().to_string(), problem }))
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| p.display().to_string())
}

/// "Use my own certificate…": file dialogs for the PEM chain (and the key when the chain has none),
/// validated before anything changes. Ok(None) = cancelled; a bad file keeps the current certificate.
#[tauri::command]
pub async fn choose_custom_cert<R: Runtime>(app: AppHandle<R>) -> Result<Option<String>, String> {
    let Some(cert) = pick_file(
        &app,
        "Choose your certificate (PEM chain, or chain + key)",
        ("PEM certificate", &["pem", "crt", "cer", "cert"]),
    )
    .await
    else {
        return Ok(None);
    };
    let text = match std::fs::metadata(&cert) {
        Ok(m) if m.len() > 1024 * 1024 => {
            return Err(format!(
                "{} is over 1 MB; that is not a PEM certificate. Your current certificate is still in use.",
                file_name(&cert)
            ))
        }
        Ok(_) => std::fs::read(&cert)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .map_err(|e| format!("Could not read {}: {e}", file_name(&cert)))?,
        Err(e) => return Err(format!("Could not read {}: {e}", file_name(&cert))),
    };
    let not_ours = |e: tls::TlsError| format!("{e}. Your current certificate is still in use.");
    let key = if pem_has_private_key(&text) {
        None
    } else if !pem_has_certificate(&text) {
        // Not a certificate at all: say so now (core's wording) instead of asking for a key.
        return Err(tls::inspect_custom(&cert, None)
            .map_or_else(not_ours, |_| format!("{} is not a PEM certificate.", file_name(&cert))));
    } else {
        let title = format!("Choose the private key for {}", file_name(&cert));
        match pick_file(&app, &title, ("PEM private key", &["key", "pem"])).await {
            Some(k) => Some(k),
            None => return Ok(None),
        }
    };
    let info = tls::inspect_custom(&cert, key.as_deref()).map_err(not_ours)?;
    let st = app.state::<AppState>();
    let change = st.begin_change().await;
    let next = Settings { custom_cert: Some(CustomCert { cert: cert.clone(), key }), ..change.current() };
    change.save_and_apply(next).await?;
    pump::emit_status(&app);
    let mut msg = format!("Now using {} ({}).", file_name(&cert), short_fp(&info.fingerprint_sha256));
    let lan: Vec<String> = st.status.borrow().lan.iter().map(|i| i.ip.clone()).collect();
    let uncovered = uncovered(&lan, &info.sans, &info.missing);
    if !uncovered.is_empty() {
        msg.push_str(&format!(
            " It does not cover {}: headsets using that address will see a name mismatch.",
            uncovered.join(", ")
        ));
    }
    Ok(Some(msg))
}

#[tauri::command]
pub async fn use_generated_cert<R: Runtime>(app: AppHandle<R>) -> Result<String, String> {
    let st = app.state::<AppState>();
    let change = st.begin_change().await;
    let next = Settings { custom_cert: None, ..change.current() };
    change.save_and_apply(next).await?;
    pump::emit_status(&app);
    Ok("Using the generated certificate.".into())
}

#[tauri::command]
pub async fn restart_proxy<R: Runtime>(app: AppHandle<R>) -> Result<(), String> {
    let st = app.state::<AppState>();
    let gw = st.gateway.read().await;
    gw.as_ref().ok_or("CXR Gate is shutting down")?.restart_listener().await;
    Ok(())
}

#[tauri::command]
pub async fn firewall_status<R: Runtime>(app: AppHandle<R>) -> Result<FirewallView, String> {
    let ports = app.state::<AppState>().firewall_ports();
    Ok(firewall::status(&app, &ports).await)
}

#[tauri::command]
pub async fn add_firewall_rules<R: Runtime>(app: AppHandle<R>) -> Result<FirewallView, String> {
    let ports = app.state::<AppState>().firewall_ports();
    firewall::add_rules(&app, &ports).await
}

/// Headsets on USB, "Look again": asks adb again (and starts its server if none runs).
#[tauri::command]
pub fn usb_refresh(state: State<'_, AppState>) {
    state.usb.refresh();
}

/// "Open on headset": the trust page (or `/app/`) in the headset's browser; the result is also
/// noted on its row.
#[tauri::command]
pub async fn usb_open<R: Runtime>(app: AppHandle<R>, serial: String) -> Result<String, String> {
    let st = app.state::<AppState>();
    let page = adb::Page::from_status(&st.status.borrow());
    let r = adb::open::open(&st.usb.server(), &serial, &page).await.map(|o| o.message()).map_err(|e| e.to_string());
    note(&st, &serial, r)
}

/// "Accept the certificate on the headset": its browser's warning for this gate's address, passed
/// through DevTools (core's `adb::devtools`); the forward is removed afterwards.
#[tauri::command]
pub async fn usb_accept<R: Runtime>(app: AppHandle<R>, serial: String) -> Result<String, String> {
    let st = app.state::<AppState>();
    let page = adb::Page::from_status(&st.status.borrow());
    let server = st.usb.server();
    let r = match adb::open::origin_for(&server, &serial, &page).await {
        Ok(origin) => adb::devtools::accept_on_headset(&server, &serial, &origin)
            .await
            .map(|o| o.message(&origin))
            .map_err(|e| format!("Not accepted: {e}.")),
        Err(e) => Err(e.to_string()),
    };
    note(&st, &serial, r)
}

fn note(st: &AppState, serial: &str, r: Result<String, String>) -> Result<String, String> {
    match &r {
        Ok(m) => st.usb.note(serial, true, m.clone()),
        Err(m) => st.usb.note(serial, false, m.clone()),
    }
    r
}

/// Browse… next to "adb folder": checked as the setting is (a folder holding adb), not saved.
#[tauri::command]
pub async fn choose_adb_dir<R: Runtime>(app: AppHandle<R>) -> Result<Option<WebRootPick>, String> {
    let Some(dir) = pick_folder(&app, "Choose the folder holding adb (Google's platform-tools)").await else {
        return Ok(None);
    };
    let cfg = cxr_gate_core::Config { adb_dir: Some(dir.clone()), ..Default::default() };
    let problem = Setting::AdbDir.spec().check.and_then(|c| c(&cfg, Setting::AdbDir.via(Via::Name)).err());
    Ok(Some(WebRootPick { path: dir.display().to_string(), problem: problem.map(|e| e.to_string()) }))
}

/// "Network settings": Windows' own page, where a network's Public/Private category is the user's choice.
#[tauri::command]
pub fn open_network_settings() -> Result<(), String> {
    firewall::open_network_settings()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qr_urls() {
        assert_eq!(qr_url("192.168.1.20", 48322, false, None).unwrap(), "https://192.168.1.20:48322/");
        assert_eq!(
            qr_url("192.168.1.20", 48322, true, None).unwrap(),
            "https://www.oculus.com/open_url/?url=https%3A%2F%2F192.168.1.20%3A48322%2F"
        );
        assert!(qr_url("not-an-ip", 48322, false, None).unwrap_err().contains("not an IP"));
        assert_eq!(qr_url(" 127.0.0.1 ", 9, false, None).unwrap(), "https://127.0.0.1:9/");
        // With a web app folder the code opens the app itself.
        let q = Some("?serverIP={ip}&port={port}");
        assert_eq!(
            qr_url("192.168.1.20", 48322, false, q).unwrap(),
            "https://192.168.1.20:48322/app/?serverIP=192.168.1.20&port=48322"
        );
        assert_eq!(
            qr_url("192.168.1.20", 48322, true, q).unwrap(),
            "https://www.oculus.com/open_url/?url=https%3A%2F%2F192.168.1.20%3A48322%2Fapp%2F%3FserverIP%3D192.168.1.20%26port%3D48322"
        );
    }

    #[test]
    fn combined_pem_needs_no_key_file() {
        let chain = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        assert!(!pem_has_private_key(chain));
        assert!(pem_has_private_key(&format!("{chain}-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n")));
        assert!(pem_has_private_key("-----BEGIN EC PRIVATE KEY-----\n"));
        assert!(pem_has_private_key("-----BEGIN RSA PRIVATE KEY-----\n"));
    }

    #[test]
    fn pem_without_a_certificate_is_caught_early() {
        assert!(pem_has_certificate("junk\n-----BEGIN CERTIFICATE-----\nMIIB\n"));
        assert!(!pem_has_certificate("not a certificate\n"));
        assert!(!pem_has_certificate("-----BEGIN PRIVATE KEY-----\n"));
    }

    #[test]
    fn uncovered_lan_addresses() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            uncovered(&s(&["192.168.1.20", "10.0.0.5"]), &s(&["10.0.0.5", "gate.lan"]), &[]),
            s(&["192.168.1.20"])
        );
        assert_eq!(uncovered(&s(&["192.168.1.20"]), &s(&[]), &s(&["192.168.1.20"])), s(&["192.168.1.20"]));
        assert!(uncovered(&[], &s(&["x"]), &[]).is_empty());
    }

    #[test]
    fn fingerprints_are_shortened() {
        assert_eq!(short_fp("AA:BB:CC:DD:EE:FF"), "AA:BB:CC:DD…");
    }

    #[test]
    fn save_error_from_message() {
        let e = SaveError::from("disk full".to_string());
        assert!(e.fields.is_empty());
        assert_eq!(e.message.as_deref(), Some("disk full"));
    }
}
