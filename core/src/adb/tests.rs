//! The parsers against real outputs (`fixtures/README.md` says where each came from), the advice per
//! state, the address and URL choice, the device pick of `--open-on-headset`, and adb's search paths.

use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::devices::{parse_devices, AdbState};
use super::locate::candidates;
use super::model::{advice, UsbHeadset};
use super::oneshot::{pick, OneShotError};
use super::open::{am_start_argv, Choice, Page};
use super::props::{browser_socket, devtools_sockets, parse_getprop, parse_inet, pick_browser, DeviceInfo, IfAddr};
use crate::status::LanInterface;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!("fixtures/", $name))
    };
}

#[test]
fn device_listings_of_quests_and_a_pico() {
    let q2 = parse_devices(fixture!("devices-quest2.txt"));
    assert_eq!(q2.len(), 1);
    let q2 = &q2[0];
    assert_eq!((q2.serial.as_str(), q2.state), ("1WMHH810H12203", AdbState::Device));
    assert_eq!(q2.usb.as_deref(), Some("2-3.2"));
    assert_eq!(
        (q2.product.as_deref(), q2.model.as_deref(), q2.device.as_deref()),
        (Some("hollywood"), Some("Quest_2"), Some("hollywood"))
    );
    assert_eq!(q2.transport_id, Some(5));
    assert!(!q2.is_network());

    let q3 = &parse_devices(fixture!("devices-quest3.txt"))[0];
    assert_eq!(
        (q3.serial.as_str(), q3.state, q3.model.as_deref()),
        ("2G0YC5ZGB5000J", AdbState::Device, Some("Quest_3"))
    );
    let q3u = &parse_devices(fixture!("devices-quest3-unauthorized.txt"))[0];
    assert_eq!((q3u.state, q3u.model.as_deref(), q3u.usb.as_deref()), (AdbState::Unauthorized, None, Some("0-1")));
    assert_eq!(q3u.transport_id, Some(1));

    let q3s = &parse_devices(fixture!("devices-quest3s.txt"))[0];
    assert_eq!(
        (q3s.serial.as_str(), q3s.model.as_deref(), q3s.usb.as_deref()),
        ("340YC10G7P0CNR", Some("Quest_3S"), None)
    );

    let p4 = &parse_devices(fixture!("devices-pico4.txt"))[0];
    assert_eq!((p4.serial.as_str(), p4.state), ("PA8150MGGB230744G", AdbState::Device));
    assert_eq!(
        (p4.usb.as_deref(), p4.product.as_deref(), p4.model.as_deref()),
        (Some("34603008X"), Some("Phoenix_ovs"), Some("A8110"))
    );
    assert_eq!(UsbHeadset::listed(p4).model.as_deref(), Some("A8110"));
    assert_eq!(UsbHeadset::listed(q3).model.as_deref(), Some("Quest 3"), "adb's underscores read as spaces");
}

#[test]
fn no_permissions_keeps_its_whole_text_and_the_fields_after_it() {
    let d = parse_devices(fixture!("devices-no-permissions.txt"));
    assert_eq!(d.len(), 1, "the daemon's notes are no devices: {d:?}");
    assert_eq!(d[0].state, AdbState::NoPermissions);
    assert_eq!(
        d[0].state_text,
        "no permissions (missing udev rules? user is in the plugdev group); see [http://developer.android.com/tools/device.html]"
    );
    assert_eq!((d[0].usb.as_deref(), d[0].transport_id), (Some("3-2"), Some(5)));
    let short = parse_devices(fixture!("devices-short-forms.txt"));
    assert_eq!(
        short.iter().map(|d| (d.serial.as_str(), d.state)).collect::<Vec<_>>(),
        [("1WMHH8325K1147", AdbState::NoPermissions), ("1WMHH835B11072", AdbState::Unauthorized)]
    );
    assert_eq!(short[0].state_text, "no permissions; see [http://developer.android.com/tools/device.html]");
}

#[test]
fn odd_lines_and_network_devices() {
    let d = parse_devices("192.168.1.42:5555\tdevice product:hollywood model:Quest_2 device:hollywood transport_id:3\nemulator-5556          offline transport_id:2\n\nweird\n");
    assert_eq!(d.len(), 2, "{d:?}");
    assert!(d[0].is_network());
    assert_eq!(d[1].state, AdbState::Offline);
    assert_eq!(AdbState::parse("sideload"), AdbState::Sideload);
    assert_eq!(AdbState::parse("host"), AdbState::Other);
}

#[test]
fn every_state_has_a_sentence_to_act_on() {
    assert_eq!(
        advice(AdbState::Unauthorized, "unauthorized").1,
        "Put on the headset and allow USB debugging for this computer."
    );
    assert!(advice(AdbState::NoPermissions, "no permissions").1.contains("udev"));
    assert!(advice(AdbState::Offline, "offline").1.contains("unplug the cable"));
    assert!(advice(AdbState::Recovery, "recovery").1.contains("in its recovery mode"));
    assert!(advice(AdbState::Other, "host").1.contains("\"host\""));
    assert!(advice(AdbState::Device, "device").1.contains("Open on headset"));
    for s in [AdbState::Unauthorized, AdbState::Offline, AdbState::NoPermissions, AdbState::Authorizing] {
        let row = UsbHeadset::listed(
            &parse_devices(&format!(
                "S\t{}\n",
                if s == AdbState::NoPermissions {
                    "no permissions"
                } else {
                    match s {
                        AdbState::Unauthorized => "unauthorized",
                        AdbState::Offline => "offline",
                        _ => "authorizing",
                    }
                }
            ))[0],
        );
        assert!(!row.can_open, "{s:?} cannot open");
    }
}

#[test]
fn getprop_listings_give_model_and_os() {
    let q3 = DeviceInfo::from_props(&parse_getprop(fixture!("getprop-quest3.txt")));
    assert_eq!(
        (q3.model.as_deref(), q3.os.as_deref(), q3.android.as_deref()),
        (Some("Quest 3"), Some("Horizon OS v205"), Some("14"))
    );
    assert_eq!(q3.manufacturer.as_deref(), Some("Oculus"));
    let q2 = DeviceInfo::from_props(&parse_getprop(fixture!("getprop-quest2.txt")));
    assert_eq!(
        (q2.model.as_deref(), q2.os.as_deref()),
        (Some("Quest 2"), None),
        "no OS property: none shown, nothing guessed"
    );
    let q3s = DeviceInfo::from_props(&parse_getprop(fixture!("getprop-quest3s.txt")));
    assert_eq!((q3s.model.as_deref(), q3s.manufacturer.as_deref()), (Some("Quest 3S"), Some("Meta")));
    let p4 = DeviceInfo::from_props(&parse_getprop(fixture!("getprop-pico4.txt")));
    assert_eq!((p4.model.as_deref(), p4.os.as_deref()), (Some("PICO 4"), Some("PICO OS 5.13.7")));
    // An empty value is no value.
    let p = parse_getprop("[ro.product.model]: []\n[x]: [a]: [b]\njunk\n");
    assert_eq!(p["x"], "a]: [b");
    assert_eq!(DeviceInfo::from_props(&p).model, None);
}

#[test]
fn wifi_address_and_subnet() {
    let w = parse_inet(fixture!("ip-wlan0.txt")).unwrap();
    assert_eq!(w, IfAddr { ip: Ipv4Addr::new(192, 168, 1, 50), prefix: 24 });
    assert_eq!(w.to_string(), "192.168.1.50/24");
    assert!(w.same_subnet(Ipv4Addr::new(192, 168, 1, 20)) && !w.same_subnet(Ipv4Addr::new(192, 168, 2, 20)));
    assert!(IfAddr { ip: Ipv4Addr::new(10, 1, 2, 3), prefix: 8 }.same_subnet(Ipv4Addr::new(10, 200, 0, 1)));
    assert_eq!(parse_inet(""), None, "Wi-Fi off: no address");
    assert_eq!(parse_inet("Device \"wlan0\" does not exist.\n"), None);
    assert_eq!(parse_inet("    inet 169.254.3.4/16 scope link wlan0\n"), None, "link-local is no Wi-Fi address");
}

#[test]
fn browsers_and_devtools_sockets() {
    assert_eq!(
        pick_browser("package:com.android.settings\npackage:com.oculus.browser\n").map(|b| b.0),
        Some("com.oculus.browser")
    );
    assert_eq!(
        pick_browser("package:com.pico.browser.overseas\r\npackage:com.pico.browser\n").map(|b| b.0),
        Some("com.pico.browser.overseas")
    );
    assert_eq!(pick_browser("package:com.android.chrome\n"), None);
    let sockets = devtools_sockets(fixture!("proc-net-unix.txt"));
    assert_eq!(sockets, ["chrome_devtools_remote", "webview_devtools_remote_4312"]);
    assert_eq!(browser_socket(&sockets).as_deref(), Some("chrome_devtools_remote"));
    assert_eq!(browser_socket(&["webview_devtools_remote_1".to_string()]), None, "a WebView is no browser");
    assert_eq!(
        browser_socket(&["com.pico.browser_devtools_remote".to_string()]).as_deref(),
        Some("com.pico.browser_devtools_remote")
    );
}

fn lan(list: &[(&str, &str, bool)]) -> Vec<LanInterface> {
    list.iter()
        .map(|(n, ip, primary)| LanInterface {
            name: n.to_string(),
            ip: ip.to_string(),
            primary: *primary,
            ..Default::default()
        })
        .collect()
}

#[test]
fn the_address_on_the_headsets_subnet_else_the_primary() {
    let page = Page {
        port: 48322,
        lan: lan(&[("eth0", "10.0.0.5", true), ("wlan0", "192.168.1.20", false)]),
        bound: None,
        app_query: None,
    };
    let wifi = IfAddr { ip: Ipv4Addr::new(192, 168, 1, 50), prefix: 24 };
    assert_eq!(
        page.address(Some(wifi)).unwrap(),
        ("192.168.1.20".into(), Choice::SameSubnet { iface: "wlan0".into() })
    );
    let elsewhere = IfAddr { ip: Ipv4Addr::new(172, 16, 0, 9), prefix: 24 };
    assert_eq!(page.address(Some(elsewhere)).unwrap(), ("10.0.0.5".into(), Choice::Primary));
    assert_eq!(page.address(None).unwrap(), ("10.0.0.5".into(), Choice::Primary));
    assert_eq!(page.url("10.0.0.5"), "https://10.0.0.5:48322/");
    let app = Page { app_query: Some("?serverIP={ip}&port={port}".into()), ..page.clone() };
    assert_eq!(app.url("10.0.0.5"), "https://10.0.0.5:48322/app/?serverIP=10.0.0.5&port=48322");
    let bound = Page { bound: Some("10.0.0.5".parse().unwrap()), ..page.clone() };
    assert_eq!(bound.address(Some(wifi)).unwrap(), ("10.0.0.5".into(), Choice::Bound));
    let lo = Page { bound: Some("127.0.0.1".parse().unwrap()), ..page.clone() };
    assert!(lo.address(None).unwrap_err().contains("cannot reach"));
    let none = Page { lan: vec![], ..page };
    assert!(none.address(None).is_err());
}

#[test]
fn am_start_names_the_browser() {
    assert_eq!(
        am_start_argv("https://h:1/?a=1&b=2", Some("com.oculus.browser")),
        ["am", "start", "-a", "android.intent.action.VIEW", "-d", "https://h:1/?a=1&b=2", "-p", "com.oculus.browser"]
    );
    assert_eq!(am_start_argv("https://h:1/", None).len(), 6, "no package: the default browser");
}

#[test]
fn the_device_to_open_on() {
    let list = parse_devices("A\tdevice\nB\tunauthorized\nC\toffline\n");
    assert_eq!(pick(&list, Some("A")).unwrap().serial, "A");
    assert!(matches!(pick(&list, None), Err(OneShotError::Several(..))));
    assert!(matches!(pick(&list, Some("B")), Err(OneShotError::Unauthorized(s)) if s == "B"));
    assert!(matches!(pick(&list, Some("C")), Err(OneShotError::NotReady { .. })));
    assert!(matches!(pick(&list, Some("Z")), Err(OneShotError::NotFound(..))));
    assert!(matches!(pick(&[], None), Err(OneShotError::NoDevice)));
    let one = parse_devices("B\tunauthorized\n");
    assert!(matches!(pick(&one, None), Err(OneShotError::Unauthorized(_))));
    let codes: Vec<u8> = [
        OneShotError::NoAdb(String::new()),
        OneShotError::NoDevice,
        OneShotError::Several(String::new(), String::new()),
        OneShotError::Unauthorized(String::new()),
        OneShotError::NotReady { serial: String::new(), state: String::new(), sentence: String::new() },
        OneShotError::Failed(String::new()),
    ]
    .iter()
    .map(OneShotError::exit_code)
    .collect();
    assert_eq!(codes, [3, 4, 5, 6, 7, 1]);
}

#[test]
fn where_adb_is_looked_for() {
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| OsString::from(v))
    };
    let win = candidates(
        None,
        true,
        &env(&[
            ("PATH", r"C:\Windows;C:\tools\pt"),
            ("LOCALAPPDATA", r"C:\Users\u\AppData\Local"),
            ("APPDATA", r"C:\Users\u\AppData\Roaming"),
            ("ProgramFiles", r"C:\Program Files"),
        ]),
    );
    let win: Vec<String> = win.iter().map(|p| p.to_string_lossy().replace('/', "\\")).collect();
    for want in [
        r"C:\tools\pt\adb.exe",
        r"C:\Users\u\AppData\Local\Android\Sdk\platform-tools\adb.exe",
        r"C:\Program Files\Meta Quest Developer Hub\resources\bin\adb.exe",
        r"C:\Users\u\AppData\Roaming\SideQuest\platform-tools\adb.exe",
    ] {
        assert!(win.iter().any(|c| c == want), "{want} not in {win:#?}");
    }
    assert!(win[0].ends_with(r"C:\Windows\adb.exe"), "PATH first: {win:?}");
    let linux =
        candidates(None, false, &env(&[("PATH", "/usr/bin:/opt/x"), ("ANDROID_HOME", "/sdk"), ("HOME", "/home/u")]));
    assert_eq!(
        linux[..3],
        [PathBuf::from("/usr/bin/adb"), PathBuf::from("/opt/x/adb"), PathBuf::from("/sdk/platform-tools/adb")]
    );
    assert!(linux.contains(&PathBuf::from("/home/u/Android/Sdk/platform-tools/adb")));
    // A folder the user picked is the only place looked at.
    let picked = candidates(Some(Path::new("/opt/pt")), false, &env(&[("PATH", "/usr/bin")]));
    assert_eq!(picked, [PathBuf::from("/opt/pt/adb"), PathBuf::from("/opt/pt/platform-tools/adb")]);
}
