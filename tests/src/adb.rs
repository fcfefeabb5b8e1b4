//! A fake adb server: the host protocol on a loopback port, with headsets that answer the commands
//! CXR Gate sends (getprop, ip, pm, am start, /proc/net/unix) and record them. A command line is split
//! into its arguments by a real shell, as adbd's `sh -c` does: mksh (Android's /system/bin/sh) when
//! installed, else /bin/sh. Devices can be authorized, unauthorized, gone mid-call; a forward to
//! `localabstract:…_devtools_remote` reaches a real port (a desktop Chromium's DevTools in tests).
//! Checked against Debian's own adb client (tests/tests/adb.rs). Only loopback is used.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// One device the fake server lists.
#[derive(Debug, Clone, Default)]
pub struct FakeDevice {
    pub serial: String,
    /// As adb prints it: `device`, `unauthorized`, `offline`, `no permissions (…); see […]`.
    pub state: String,
    pub usb: Option<String>,
    pub product: Option<String>,
    pub model: Option<String>,
    pub device: Option<String>,
    /// The whole `getprop` listing.
    pub getprop: String,
    /// `ip -4 addr show wlan0`'s output.
    pub wlan: String,
    /// `pm list packages`'s output.
    pub packages: String,
    /// Where its browser's DevTools socket (`@chrome_devtools_remote`) leads, when it has one.
    pub devtools: Option<SocketAddr>,
    /// Unplugged at its first shell command: listed until then, gone in the middle of that call.
    pub vanish_on_shell: bool,
}

impl FakeDevice {
    /// A Quest 3 with developer mode on and this computer allowed, on Wi-Fi at `wifi` (`a.b.c.d/len`).
    pub fn quest3(serial: &str, wifi: &str) -> FakeDevice {
        FakeDevice {
            serial: serial.into(),
            state: "device".into(),
            usb: Some("1-4.3".into()),
            product: Some("eureka".into()),
            model: Some("Quest_3".into()),
            device: Some("eureka".into()),
            getprop: "[ro.build.version.release]: [14]\n[ro.product.manufacturer]: [Oculus]\n\
                      [ro.product.model]: [Quest 3]\n[ro.vros.build.version]: [205]\n"
                .into(),
            wlan: format!(
                "30: wlan0: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc mq state UP group default qlen 3000\n    \
                 inet {wifi} brd 255.255.255.255 scope global wlan0\n       valid_lft forever preferred_lft forever\n"
            ),
            packages: "package:com.android.settings\npackage:com.oculus.browser\npackage:com.oculus.vrshell\n".into(),
            devtools: None,
            vanish_on_shell: false,
        }
    }

    /// A headset whose "Allow USB debugging?" was not answered yet: adb lists no model.
    pub fn unauthorized(serial: &str) -> FakeDevice {
        FakeDevice {
            serial: serial.into(),
            state: "unauthorized".into(),
            usb: Some("1-2".into()),
            ..Default::default()
        }
    }

    fn line(&self, id: usize, long: bool) -> String {
        if !long {
            return format!("{}\t{}\n", self.serial, self.state);
        }
        let mut l = format!("{:<22} {}", self.serial, self.state);
        if let Some(u) = &self.usb {
            l.push_str(&format!(" usb:{u}"));
        }
        for (k, v) in [("product", &self.product), ("model", &self.model), ("device", &self.device)] {
            if let Some(v) = v {
                l.push_str(&format!(" {k}:{v}"));
            }
        }
        l.push_str(&format!(" transport_id:{id}\n"));
        l
    }
}

#[derive(Default)]
struct Inner {
    devices: Mutex<Vec<FakeDevice>>,
    requests: Mutex<Vec<String>>,
    shells: Mutex<Vec<(String, Vec<String>)>>,
    forwards: Mutex<HashMap<u16, JoinHandle<()>>>,
    killed: Mutex<Vec<u16>>,
}

/// The running fake server on 127.0.0.1.
pub struct FakeAdb {
    port: u16,
    inner: Arc<Inner>,
    changed: watch::Sender<u64>,
    task: JoinHandle<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl FakeAdb {
    pub async fn start(devices: Vec<FakeDevice>) -> std::io::Result<FakeAdb> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let port = listener.local_addr()?.port();
        let inner = Arc::new(Inner { devices: Mutex::new(devices), ..Default::default() });
        let (changed, _) = watch::channel(0u64);
        let (i, c) = (inner.clone(), changed.clone());
        let task = tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                tokio::spawn(serve(s, i.clone(), c.clone()));
            }
        });
        Ok(FakeAdb { port, inner, changed, task })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn server(&self) -> cxr_gate_core::adb::Server {
        cxr_gate_core::adb::Server::on_port(self.port)
    }

    /// Replaces the devices (a cable plugged or pulled); trackers are told.
    pub fn set_devices(&self, devices: Vec<FakeDevice>) {
        *lock(&self.inner.devices) = devices;
        self.changed.send_modify(|n| *n += 1);
    }

    pub fn devices(&self) -> Vec<FakeDevice> {
        lock(&self.inner.devices).clone()
    }

    /// Every request received, in order.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.inner.requests).clone()
    }

    /// Every shell command as (serial, the arguments the device's shell made of it).
    pub fn shells(&self) -> Vec<(String, Vec<String>)> {
        lock(&self.inner.shells).clone()
    }

    /// The arguments of each `am start`.
    pub fn am_starts(&self) -> Vec<Vec<String>> {
        self.shells().into_iter().map(|(_, a)| a).filter(|a| a.first().map(String::as_str) == Some("am")).collect()
    }

    /// Local ports forwarded now.
    pub fn forwards(&self) -> Vec<u16> {
        lock(&self.inner.forwards).keys().copied().collect()
    }

    pub fn killed_forwards(&self) -> Vec<u16> {
        lock(&self.inner.killed).clone()
    }

    pub fn stop(self) {
        self.task.abort();
        for (_, t) in lock(&self.inner.forwards).drain() {
            t.abort();
        }
    }
}

async fn read_request(s: &mut TcpStream) -> Option<String> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).await.ok()?;
    let len = usize::from_str_radix(std::str::from_utf8(&len).ok()?, 16).ok()?;
    let mut buf = vec![0u8; len];
    s.read_exact(&mut buf).await.ok()?;
    String::from_utf8(buf).ok()
}

fn string(text: &str) -> Vec<u8> {
    let mut v = format!("{:04x}", text.len()).into_bytes();
    v.extend_from_slice(text.as_bytes());
    v
}

async fn okay(s: &mut TcpStream, payload: Option<&str>) {
    let mut v = b"OKAY".to_vec();
    if let Some(p) = payload {
        v.extend(string(p));
    }
    let _ = s.write_all(&v).await;
}

async fn fail(s: &mut TcpStream, msg: &str) {
    let mut v = b"FAIL".to_vec();
    v.extend(string(msg));
    let _ = s.write_all(&v).await;
}

fn listing(inner: &Inner, long: bool) -> String {
    lock(&inner.devices).iter().enumerate().map(|(i, d)| d.line(i + 1, long)).collect()
}

/// The device a transport request names, or the FAIL message adb gives.
fn resolve(inner: &Inner, serial: Option<&str>) -> Result<FakeDevice, String> {
    let devices = lock(&inner.devices);
    let d = match serial {
        Some(s) => devices.iter().find(|d| d.serial == s).ok_or_else(|| format!("device '{s}' not found"))?,
        None => match devices.as_slice() {
            [] => return Err("no devices/emulators found".into()),
            [one] => one,
            _ => return Err("more than one device/emulator".into()),
        },
    };
    match d.state.as_str() {
        "device" => Ok(d.clone()),
        "unauthorized" => {
            Err("device unauthorized.\nThis adb server's $ADB_VENDOR_KEYS is not set\nTry 'adb kill-server' if \
                               that seems wrong.\nOtherwise check for a confirmation dialog on your device."
                .into())
        }
        "offline" => Err("device offline".into()),
        other => Err(format!("device still {other}")),
    }
}

async fn serve(mut s: TcpStream, inner: Arc<Inner>, changed: watch::Sender<u64>) {
    let Some(req) = read_request(&mut s).await else { return };
    lock(&inner.requests).push(req.clone());
    match req.as_str() {
        // Debian's adb 1.0.41 checks the server's version first, and restarts a server of another.
        "host:version" => okay(&mut s, Some("0029")).await,
        "host:devices" | "host:devices-l" => okay(&mut s, Some(&listing(&inner, req.ends_with("-l")))).await,
        "host:track-devices" | "host:track-devices-l" => {
            let long = req.ends_with("-l");
            let mut rx = changed.subscribe();
            okay(&mut s, None).await;
            loop {
                if s.write_all(&string(&listing(&inner, long))).await.is_err() {
                    return;
                }
                let mut probe = [0u8; 1];
                tokio::select! {
                    r = rx.changed() => if r.is_err() { return },
                    // The client closed the connection.
                    _ = s.read(&mut probe) => return,
                }
            }
        }
        "host:kill" => okay(&mut s, None).await,
        _ => {
            if let Some(rest) = req.strip_prefix("host-serial:") {
                host_serial(&mut s, &inner, rest).await;
            } else if let Some(target) = transport_target(&req) {
                match resolve(&inner, target.as_deref()) {
                    Err(msg) => fail(&mut s, &msg).await,
                    Ok(d) => {
                        if req.starts_with("host:tport:") {
                            let mut v = b"OKAY".to_vec();
                            v.extend_from_slice(&1u64.to_le_bytes());
                            let _ = s.write_all(&v).await;
                        } else {
                            okay(&mut s, None).await;
                        }
                        device_service(&mut s, &inner, &changed, d).await;
                    }
                }
            } else {
                fail(&mut s, &format!("unknown host service '{req}'")).await;
            }
        }
    }
}

/// `host:transport:S`, `host:tport:serial:S`, `host:transport-any`, `host:tport:any`.
fn transport_target(req: &str) -> Option<Option<String>> {
    if let Some(s) = req.strip_prefix("host:transport:").or_else(|| req.strip_prefix("host:tport:serial:")) {
        return Some(Some(s.to_string()));
    }
    matches!(req, "host:transport-any" | "host:tport:any" | "host:transport-usb" | "host:tport:usb").then_some(None)
}

/// `host-serial:SERIAL:features`, `…:forward:tcp:0;localabstract:NAME`, `…:killforward:tcp:PORT`.
async fn host_serial(s: &mut TcpStream, inner: &Arc<Inner>, rest: &str) {
    let Some((serial, cmd)) = ["features", "forward:", "killforward:", "get-state"]
        .iter()
        .find_map(|c| rest.find(&format!(":{c}")).map(|i| (&rest[..i], &rest[i + 1..])))
    else {
        return fail(s, &format!("unknown service {rest}")).await;
    };
    if cmd == "get-state" {
        let state = lock(&inner.devices).iter().find(|d| d.serial == serial).map(|d| d.state.clone());
        return match state {
            Some(st) => okay(s, Some(&st)).await,
            None => fail(s, &format!("device '{serial}' not found")).await,
        };
    }
    let d = match resolve(inner, Some(serial)) {
        Ok(d) => d,
        Err(m) => return fail(s, &m).await,
    };
    if cmd == "features" {
        return okay(s, Some("shell_v2,cmd,stat_v2,ls_v2,fixed_push_mkdir,apex,abb,abb_exec")).await;
    }
    forward(s, inner, &d, cmd).await;
}

/// `forward:tcp:0;localabstract:NAME` and `killforward:tcp:PORT` for the device `d`: the server's
/// OKAY, the forward's OKAY, and the port bound.
async fn forward(s: &mut TcpStream, inner: &Arc<Inner>, d: &FakeDevice, cmd: &str) {
    if let Some(port) = cmd.strip_prefix("killforward:tcp:").and_then(|p| p.parse::<u16>().ok()) {
        let gone = lock(&inner.forwards).remove(&port);
        return match gone {
            Some(t) => {
                t.abort();
                lock(&inner.killed).push(port);
                let _ = s.write_all(b"OKAYOKAY").await;
            }
            None => fail(s, &format!("listener 'tcp:{port}' not found")).await,
        };
    }
    let Some(spec) = cmd.strip_prefix("forward:tcp:0;localabstract:") else {
        return fail(s, &format!("cannot bind listener: unsupported {cmd}")).await;
    };
    let Some(target) = d.devtools.filter(|_| spec.ends_with("devtools_remote")) else {
        return fail(s, &format!("cannot connect to localabstract:{spec}")).await;
    };
    let Ok(listener) = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await else {
        return fail(s, "cannot bind listener").await;
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
    let task = tokio::spawn(async move {
        while let Ok((mut a, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut b) = TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut a, &mut b).await;
                }
            });
        }
    });
    lock(&inner.forwards).insert(port, task);
    let mut v = b"OKAYOKAY".to_vec();
    v.extend(string(&port.to_string()));
    let _ = s.write_all(&v).await;
}

/// The arguments `sh -c LINE` would run, made by a real shell.
pub fn split_like_device_shell(line: &str) -> Vec<String> {
    let sh = ["/bin/mksh", "/usr/bin/mksh"].into_iter().find(|p| Path::new(p).is_file()).unwrap_or("/bin/sh");
    let dir = std::env::temp_dir();
    let out = std::process::Command::new(sh)
        .arg("-c")
        .arg(format!("printf '%s\\0' {line}"))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .current_dir(&dir)
        .output();
    let Ok(out) = out else { return vec![format!("<{sh} failed>")] };
    let mut args: Vec<String> =
        out.stdout.split(|b| *b == 0).map(|a| String::from_utf8_lossy(a).into_owned()).collect();
    args.pop();
    args
}

/// What the device prints for a command: (stdout, stderr, exit status).
fn run(d: &FakeDevice, argv: &[String]) -> (String, String, u8) {
    let a: Vec<&str> = argv.iter().map(String::as_str).collect();
    match a.as_slice() {
        ["getprop"] => (d.getprop.clone(), String::new(), 0),
        ["getprop", key] => {
            let props = cxr_gate_core::adb::props::parse_getprop(&d.getprop);
            (format!("{}\n", props.get(*key).cloned().unwrap_or_default()), String::new(), 0)
        }
        ["ip", .., "wlan0"] => (d.wlan.clone(), String::new(), 0),
        ["pm", "list", "packages"] => (d.packages.clone(), String::new(), 0),
        ["am", "start", rest @ ..] => {
            let url = rest.iter().position(|x| *x == "-d").and_then(|i| rest.get(i + 1)).unwrap_or(&"");
            (format!("Starting: Intent {{ act=android.intent.action.VIEW dat={url} }}\n"), String::new(), 0)
        }
        ["cat", "/proc/net/unix"] => {
            let mut t = "Num       RefCount Protocol Flags    Type St Inode Path\n".to_string();
            if d.devtools.is_some() {
                t.push_str("0000000000000000: 00000002 00000000 00010000 0001 01 41231 @chrome_devtools_remote\n");
            }
            (t, String::new(), 0)
        }
        [cmd, ..] => (String::new(), format!("/system/bin/sh: {cmd}: inaccessible or not found\n"), 127),
        [] => (String::new(), String::new(), 0),
    }
}

/// The service after a transport: `shell,v2,…:LINE` (packets), `shell:LINE` or `exec:LINE` (raw).
async fn device_service(s: &mut TcpStream, inner: &Arc<Inner>, changed: &watch::Sender<u64>, d: FakeDevice) {
    let Some(req) = read_request(s).await else { return };
    lock(&inner.requests).push(req.clone());
    // Debian's client switches to the transport first, then asks `host:forward:…` on it.
    if let Some(cmd) = req.strip_prefix("host:") {
        return forward(s, inner, &d, cmd).await;
    }
    let Some((service, line)) = req.split_once(':') else {
        return fail(s, &format!("unknown service {req}")).await;
    };
    let v2 = service.starts_with("shell,") && service.split(',').any(|o| o == "v2");
    if !(v2 || service == "shell" || service == "exec") {
        return fail(s, &format!("unknown service {service}")).await;
    }
    let argv = split_like_device_shell(line);
    lock(&inner.shells).push((d.serial.clone(), argv.clone()));
    okay(s, None).await;
    if d.vanish_on_shell {
        lock(&inner.devices).retain(|x| x.serial != d.serial);
        changed.send_modify(|n| *n += 1);
        return; // the connection drops, as when the cable is pulled
    }
    let (out, err, code) = run(&d, &argv);
    if v2 {
        let packet = |id: u8, data: &[u8]| {
            let mut p = vec![id];
            p.extend_from_slice(&(data.len() as u32).to_le_bytes());
            p.extend_from_slice(data);
            p
        };
        let mut v = Vec::new();
        if !out.is_empty() {
            v.extend(packet(1, out.as_bytes()));
        }
        if !err.is_empty() {
            v.extend(packet(2, err.as_bytes()));
        }
        v.extend(packet(3, &[code]));
        let _ = s.write_all(&v).await;
        // Debian's client sends its stdin's end; wait for the client to close first.
        let mut sink = [0u8; 64];
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
            while let Ok(n) = s.read(&mut sink).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
    } else {
        let _ = s.write_all(format!("{out}{err}").as_bytes()).await;
    }
}
