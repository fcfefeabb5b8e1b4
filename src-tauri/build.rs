//! Tauri codegen, plus the app-command permissions (`allow-<command>`) that
//! capabilities/default.json grants to the window; a command missing here can't be invoked.

const COMMANDS: &[&str] = &[
    "get_status",
    "get_settings",
    "save_settings",
    "set_cert_hostnames",
    "dismiss_notice",
    "qr",
    "copy_text",
    "regenerate_cert",
    "choose_custom_cert",
    "choose_web_root",
    "use_generated_cert",
    "restart_proxy",
    "firewall_status",
    "add_firewall_rules",
    "open_network_settings",
    "ca_trust_status",
    "trust_ca",
    "rotate_ca",
    "usb_refresh",
    "usb_open",
    "usb_accept",
    "choose_adb_dir",
];

fn main() {
    // The UI is embedded at compile time: a change in ui/ must rebuild the app.
    println!("cargo:rerun-if-changed=../ui");
    tauri_build::try_build(
        tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri build step (tauri.conf.json, icons, capabilities)");
}
