//! QR codes and the links they carry: the headset trust page (`https://<ip>:<port>/`), the web app
//! (`/app/` with its query), the `wss://` address, and Meta Web Launch links; rendered as scalable
//! SVG for the UI and trust page, and as Unicode half blocks for the terminal.

use qrcode::render::{svg as qsvg, unicode::Dense1x2};
use qrcode::{EcLevel, QrCode};

/// Pixels per module in the SVG's own size; the viewBox lets CSS scale it to anything.
const SVG_MODULE_PX: u32 = 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QrError {
    #[error("text is too long for a QR code ({0} bytes)")]
    TooLong(usize),
    #[error("cannot make a QR code: {0}")]
    Other(String),
}

fn encode(text: &str) -> Result<QrCode, QrError> {
    QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).map_err(|e| match e {
        qrcode::types::QrError::DataTooLong => QrError::TooLong(text.len()),
        other => QrError::Other(other.to_string()),
    })
}

/// SVG of a QR code for `text`: medium error correction, quiet zone, dark `#000` on light `#fff`,
/// with a viewBox so CSS can scale it.
pub fn svg(text: &str) -> Result<String, QrError> {
    let code = encode(text)?;
    Ok(code
        .render::<qsvg::Color>()
        .quiet_zone(true)
        .module_dimensions(SVG_MODULE_PX, SVG_MODULE_PX)
        .dark_color(qsvg::Color("#000"))
        .light_color(qsvg::Color("#fff"))
        .build())
}

/// Terminal rendering with Unicode half blocks. Colours are swapped because terminals draw glyphs
/// in the (light) foreground on a dark background: dark modules become blanks, light ones blocks,
/// so the code appears dark-on-light and scans.
pub fn terminal(text: &str) -> Result<String, QrError> {
    let code = encode(text)?;
    Ok(code.render::<Dense1x2>().quiet_zone(true).dark_color(Dense1x2::Light).light_color(Dense1x2::Dark).build())
}

/// `host:port` with an IPv6 host in brackets (a zone id's `%` escaped as `%25`, RFC 6874).
fn authority(ip: &str, port: u16) -> String {
    let ip = ip.trim();
    if ip.contains(':') && !ip.starts_with('[') {
        format!("[{}]:{port}", ip.replace('%', "%25"))
    } else {
        format!("{ip}:{port}")
    }
}

/// `https://<ip>:<port>/`: the trust page a headset opens to accept the certificate.
pub fn trust_url(ip: &str, port: u16) -> String {
    format!("https://{}/", authority(ip, port))
}

/// `https://<ip>:<port>/ca.crt`: the local CA, to install once on a device.
pub fn ca_url(ip: &str, port: u16) -> String {
    format!("https://{}/ca.crt", authority(ip, port))
}

/// `https://<ip>:<port>/app/<query>`: the web app served from the gateway's own origin, with the
/// query template (`config::webapp`) filled in for this address.
pub fn app_url(ip: &str, port: u16, query_template: &str) -> String {
    let host = authority(ip, port);
    let host = host.rsplit_once(':').map_or(host.as_str(), |(h, _)| h);
    format!(
        "https://{}/app/{}",
        authority(ip, port),
        crate::config::webapp::render_app_query(query_template, host, port)
    )
}

/// `wss://<ip>:<port>`: what the WebXR client connects to.
pub fn wss_url(ip: &str, port: u16) -> String {
    format!("wss://{}", authority(ip, port))
}

/// Meta Web Launch link opening `url` in the headset browser: everything but unreserved chars percent-encoded.
pub fn meta_web_launch(url: &str) -> String {
    let mut out = String::from("https://www.oculus.com/open_url/?url=");
    for b in url.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://192.168.1.20:48322/";

    /// Reads the dark modules back out of the SVG path (`M{x} {y}h..v..H..V..` per module).
    fn dark_modules(svg: &str) -> Vec<(u32, u32)> {
        let d = svg.split(" d=\"").nth(1).unwrap().split('"').next().unwrap();
        d.split('M')
            .filter(|s| !s.is_empty())
            .map(|cmd| {
                let (xy, _) = cmd.split_once('h').unwrap();
                let (x, y) = xy.split_once(' ').unwrap();
                (x.parse::<u32>().unwrap() / SVG_MODULE_PX, y.parse::<u32>().unwrap() / SVG_MODULE_PX)
            })
            .collect()
    }

    #[test]
    fn svg_decodes_to_the_code() {
        let s = svg(URL).unwrap();
        assert!(s.contains("<svg"));
        let code = encode(URL).unwrap();
        assert_eq!(code.error_correction_level(), EcLevel::M);
        // 27 bytes at level M need version 3: 29 modules, plus a 4-module quiet zone each side.
        assert_eq!(code.version(), qrcode::Version::Normal(3));
        assert_eq!(code.width(), 29);
        let px = (29 + 8) * SVG_MODULE_PX;
        assert!(s.contains(&format!("viewBox=\"0 0 {px} {px}\"")), "{s}");
        assert!(s.contains("fill=\"#000\"") && s.contains("fill=\"#fff\""));

        let dark = dark_modules(&s);
        assert!(!dark.is_empty());
        let w = code.width() as u32;
        let mut grid = vec![false; (w * w) as usize];
        for (x, y) in dark {
            assert!((4..4 + w).contains(&x) && (4..4 + w).contains(&y), "module in quiet zone");
            grid[((y - 4) * w + (x - 4)) as usize] = true;
        }
        let want: Vec<bool> = code.to_colors().iter().map(|c| *c == qrcode::Color::Dark).collect();
        assert_eq!(grid, want);
    }

    #[test]
    fn too_long_is_an_error() {
        let long = "x".repeat(5000);
        assert_eq!(svg(&long), Err(QrError::TooLong(5000)));
        assert!(terminal(&long).is_err());
    }

    #[test]
    fn terminal_has_half_blocks_and_quiet_zone() {
        let t = terminal(URL).unwrap();
        let lines: Vec<&str> = t.lines().collect();
        // 29 modules + 2×4 quiet zone = 37 columns, 37 pixel rows → 19 text lines.
        assert_eq!(lines.len(), 19);
        assert!(lines.iter().all(|l| l.chars().count() == 37));
        // The quiet zone is light, drawn as full blocks.
        assert!(lines[0].chars().all(|c| c == '\u{2588}'));
        assert!(t.contains(' '));
    }

    #[test]
    fn urls_v4_and_v6() {
        assert_eq!(trust_url("192.168.1.20", 48322), URL);
        assert_eq!(wss_url("192.168.1.20", 48322), "wss://192.168.1.20:48322");
        assert_eq!(trust_url("fd00::1", 48322), "https://[fd00::1]:48322/");
        assert_eq!(wss_url("fe80::1%eth0", 443), "wss://[fe80::1%25eth0]:443");
        assert_eq!(wss_url("[::1]", 48322), "wss://[::1]:48322");
    }

    #[test]
    fn app_urls_fill_the_template() {
        let q = crate::config::DEFAULT_APP_QUERY;
        assert_eq!(
            app_url("192.168.1.20", 48322, q),
            "https://192.168.1.20:48322/app/?serverIP=192.168.1.20&port=48322"
        );
        assert_eq!(app_url("10.0.0.5", 9, ""), "https://10.0.0.5:9/app/");
        assert_eq!(app_url("fd00::1", 48322, "?ip={ip}"), "https://[fd00::1]:48322/app/?ip=%5Bfd00%3A%3A1%5D");
        assert_eq!(
            app_url("10.0.0.5", 48322, "?server={wss}"),
            "https://10.0.0.5:48322/app/?server=wss%3A%2F%2F10.0.0.5%3A48322"
        );
    }

    #[test]
    fn meta_link_encoding() {
        assert_eq!(meta_web_launch(URL), "https://www.oculus.com/open_url/?url=https%3A%2F%2F192.168.1.20%3A48322%2F");
        assert_eq!(meta_web_launch("a b~é"), "https://www.oculus.com/open_url/?url=a%20b~%C3%A9");
    }
}
