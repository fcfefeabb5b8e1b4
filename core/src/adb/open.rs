//! "Open on headset": which of this computer's addresses the headset should use (the one on its
//! Wi-Fi subnet, else the primary one), the page (the trust page, or `/app/` when a web app is
//! served), and `am start` for the headset's browser with the URL as one argument.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};

use super::client::Server;
use super::props::{self, IfAddr};
use super::wire::AdbError;
use crate::qr;
use crate::status::{primary_of, LanInterface, Status};

/// What the gate serves and where: enough to build the URL for one headset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub port: u16,
    pub lan: Vec<LanInterface>,
    /// The one address the listener is bound to, when it is not bound to all of them.
    pub bound: Option<IpAddr>,
    /// `Some(query template)` when a web app is served at `/app/`.
    pub app_query: Option<String>,
}

/// Why that address was chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Choice {
    /// The listener is bound to this address alone.
    Bound,
    /// On the headset's Wi-Fi subnet (this interface).
    SameSubnet { iface: String },
    /// The primary address (the headset's subnet unknown, or none of ours on it).
    Primary,
}

impl Page {
    pub fn from_status(s: &Status) -> Page {
        let bound = s.listener.addr.parse::<SocketAddr>().ok().map(|a| a.ip()).filter(|ip| !ip.is_unspecified());
        Page {
            port: s.listener.port,
            lan: s.lan.clone(),
            bound,
            app_query: s.web_app.root.as_ref().map(|_| s.web_app.query.clone()),
        }
    }

    pub fn from_config(cfg: &crate::Config, lan: Vec<LanInterface>) -> Page {
        let ip = cfg.listen.ip();
        Page {
            port: cfg.listen.port(),
            lan,
            bound: (!ip.is_unspecified()).then_some(ip),
            app_query: cfg.web_root.as_ref().map(|_| cfg.app_query.clone()),
        }
    }

    /// The address for a headset whose Wi-Fi is `wifi` (when known).
    pub fn address(&self, wifi: Option<IfAddr>) -> Result<(String, Choice), String> {
        if let Some(ip) = self.bound {
            if ip.is_loopback() {
                return Err(format!(
                    "The gate listens on {ip} only, which a headset cannot reach: listen on all interfaces \
                     (0.0.0.0) to open it there."
                ));
            }
            return Ok((ip.to_string(), Choice::Bound));
        }
        if let Some(w) = wifi {
            let same = self
                .lan
                .iter()
                .filter(|i| !i.link_local)
                .find(|i| i.ip.parse::<Ipv4Addr>().is_ok_and(|ip| w.same_subnet(ip)));
            if let Some(i) = same {
                return Ok((i.ip.clone(), Choice::SameSubnet { iface: i.name.clone() }));
            }
        }
        primary_of(&self.lan)
            .map(|ip| (ip.to_string(), Choice::Primary))
            .ok_or_else(|| "This computer has no network address a headset could use.".to_string())
    }

    /// The page to open at `ip`.
    pub fn url(&self, ip: &str) -> String {
        match &self.app_query {
            Some(q) => qr::app_url(ip, self.port, q),
            None => qr::trust_url(ip, self.port),
        }
    }
}

/// `am start` for `url` in `browser` (a package), or in the default handler of web links.
pub fn am_start_argv(url: &str, browser: Option<&str>) -> Vec<String> {
    let mut argv: Vec<String> =
        ["am", "start", "-a", "android.intent.action.VIEW", "-d", url].iter().map(|s| s.to_string()).collect();
    if let Some(pkg) = browser {
        argv.extend(["-p".to_string(), pkg.to_string()]);
    }
    argv
}

/// What "Open on headset" did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opened {
    pub url: String,
    /// The browser's name, or `None` for the default one.
    pub browser: Option<String>,
    pub choice: Choice,
    pub wifi: Option<String>,
}

impl Opened {
    /// For the card and the headless binary's output.
    pub fn message(&self) -> String {
        let browser = self.browser.as_deref().unwrap_or("its default browser");
        let why = match (&self.choice, &self.wifi) {
            (Choice::Bound, _) => "the address the gate listens on".to_string(),
            (Choice::SameSubnet { iface }, Some(w)) => format!("on the headset's Wi-Fi subnet ({w}), via {iface}"),
            (Choice::SameSubnet { iface }, None) => format!("via {iface}"),
            (Choice::Primary, Some(w)) => {
                format!("this computer's primary address; none is on the headset's subnet ({w})")
            }
            (Choice::Primary, None) => {
                "this computer's primary address; the headset's Wi-Fi address is not known".into()
            }
        };
        format!("Opened {} in {browser} ({why}).", self.url)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{0}")]
    Adb(#[from] AdbError),
    #[error("{0}")]
    NoAddress(String),
    /// `am start` ran and refused (its words).
    #[error("the headset did not open the page: {0}")]
    Refused(String),
}

/// The headset's Wi-Fi address, asked over `shell`.
pub async fn ask_wifi(server: &Server, serial: &str) -> Result<Option<IfAddr>, AdbError> {
    let ip = server.shell(serial, &["ip", "-4", "addr", "show", "wlan0"]).await?;
    Ok(props::parse_inet(&ip.stdout))
}

/// The headset's Wi-Fi address and its best browser (package, name), asked over `shell`.
pub async fn ask_wifi_and_browser(
    server: &Server,
    serial: &str,
) -> Result<(Option<IfAddr>, Option<(&'static str, &'static str)>), AdbError> {
    let wifi = ask_wifi(server, serial).await?;
    let pm = server.shell(serial, &["pm", "list", "packages"]).await?;
    Ok((wifi, props::pick_browser(&pm.stdout)))
}

/// Opens the page on the headset `serial` (which must be authorized).
pub async fn open(server: &Server, serial: &str, page: &Page) -> Result<Opened, OpenError> {
    let (wifi, browser) = ask_wifi_and_browser(server, serial).await?;
    let (ip, choice) = page.address(wifi).map_err(OpenError::NoAddress)?;
    let url = page.url(&ip);
    let argv = am_start_argv(&url, browser.map(|b| b.0));
    let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
    let out = server.shell(serial, &argv).await?;
    let said = out.text();
    if out.exit.is_some_and(|c| c != 0) || said.lines().any(|l| l.starts_with("Error")) {
        return Err(OpenError::Refused(if said.is_empty() { format!("exit status {:?}", out.exit) } else { said }));
    }
    Ok(Opened { url, browser: browser.map(|b| b.1.to_string()), choice, wifi: wifi.map(|w| w.to_string()) })
}

/// The origin (`https://ip:port`) "Open on headset" uses for `serial`: what the certificate step
/// accepts, and nothing else.
pub async fn origin_for(server: &Server, serial: &str, page: &Page) -> Result<String, OpenError> {
    let wifi = ask_wifi(server, serial).await?;
    let (ip, _) = page.address(wifi).map_err(OpenError::NoAddress)?;
    Ok(qr::trust_url(&ip, page.port).trim_end_matches('/').to_string())
}
