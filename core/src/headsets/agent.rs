//! The User-Agent parser: which device and browser a headset is, from the header it sends, with the
//! browser's version and the Chromium version underneath. Bounded: only the first [`MAX_UA`] bytes
//! are read and every piece it returns is short.
//!
//! What a User-Agent can and cannot tell (sources cited beside the tests):
//! - Quest Browser names the model in the platform part (`Quest 2`, `Quest 3`, `Quest Pro`), but a
//!   Quest 3S sends `Quest 3` too (Meta's "Browser Specs" page), so it is shown as "Quest 3 / 3S".
//! - Pico Browser says `PICO 4 … like Quest` and may even add an `OculusBrowser/` token: it is
//!   checked before Quest Browser.
//! - Safari on Apple Vision Pro sends the desktop macOS Safari User-Agent (as iPadOS does), and an
//!   iPad one in "Request Mobile Website" mode: nothing in it tells a Vision Pro from a Mac or an iPad,
//!   so those are shown as "Mac or Apple Vision Pro" / "iPad or Apple Vision Pro".

/// Longer User-Agents are cut here before parsing (real ones are under 300 bytes).
pub const MAX_UA: usize = 512;
/// A version token longer than this is cut (real ones are under 40 characters).
const MAX_VERSION: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// "Quest 3 / 3S", "Pico 4 Ultra", "Android phone", "Windows PC", "Unknown device"…
    pub device: String,
    /// "Quest Browser 39.2", "Chrome 131", "Unknown browser"…
    pub browser: String,
    /// The Chromium version underneath, when the browser is Chromium-based: "136.0.7103.177".
    pub chromium: Option<String>,
    /// An XR headset (Quest, Pico, Wolvic, or possibly a Vision Pro).
    pub headset: bool,
}

/// `s` cut to at most `max` bytes on a character boundary.
pub fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// The version after `token` (e.g. `Chrome/`): digits and dots, at most [`MAX_VERSION`] long.
fn version_after(ua: &str, token: &str) -> Option<String> {
    let at = ua.find(token)? + token.len();
    let v: String = ua[at..].chars().take_while(|c| c.is_ascii_digit() || *c == '.').take(MAX_VERSION).collect();
    let v = v.trim_end_matches('.').to_string();
    (!v.is_empty()).then_some(v)
}

/// The first `n` dot-separated parts of a version: ("39.2.0.0.56", 2) → "39.2".
fn short(v: &str, n: usize) -> String {
    v.split('.').take(n).collect::<Vec<_>>().join(".")
}

/// The platform part: what is between the first `(` and the next `)`.
fn platform(ua: &str) -> &str {
    match (ua.find('('), ua.find(')')) {
        (Some(a), Some(b)) if b > a => &ua[a + 1..b],
        _ => "",
    }
}

fn named(browser: &str, version: Option<String>, parts: usize) -> String {
    match version {
        Some(v) => format!("{browser} {}", short(&v, parts)),
        None => browser.to_string(),
    }
}

/// The Quest model from the platform tokens (`X11; Linux x86_64; Quest 3`).
fn quest_model(platform: &str) -> Option<String> {
    let token = platform.split(';').map(str::trim).find(|t| t.starts_with("Quest"))?;
    Some(match token {
        // Meta: "Meta Quest 3S … Quest 3" (the 3S sends the 3's token).
        "Quest 3" => "Quest 3 / 3S".into(),
        "Quest 2" | "Quest Pro" | "Quest" => token.into(),
        other => cut(other, 24).to_string(),
    })
}

/// The Pico model from `PICO 4 Ultra OS5.8.2 like Quest` → "Pico 4 Ultra".
fn pico_model(platform: &str) -> String {
    let token =
        platform.split(';').map(str::trim).find(|t| t.to_ascii_lowercase().starts_with("pico")).unwrap_or("Pico");
    let words: Vec<&str> = token
        .split_whitespace()
        .skip(1)
        .take_while(|w| !w.starts_with("OS") && *w != "like" && w.len() <= 12)
        .take(3)
        .collect();
    if words.is_empty() {
        "Pico headset".into()
    } else {
        format!("Pico {}", words.join(" "))
    }
}

/// The device of a non-headset browser from its platform part.
fn desktop_or_phone(ua: &str, platform: &str) -> String {
    if platform.contains("iPhone") {
        "iPhone".into()
    } else if platform.contains("iPad") {
        // Vision Pro's "Request Mobile Website" mode sends an iPad User-Agent.
        "iPad or Apple Vision Pro".into()
    } else if platform.contains("Android") {
        if ua.contains("Mobile") {
            "Android phone".into()
        } else {
            "Android tablet".into()
        }
    } else if platform.contains("Windows") {
        "Windows PC".into()
    } else if platform.contains("Macintosh") {
        "Mac".into()
    } else if platform.contains("CrOS") {
        "Chromebook".into()
    } else if platform.contains("Linux") || platform.contains("X11") {
        "Linux PC".into()
    } else {
        "Unknown device".into()
    }
}

/// Parses a User-Agent (cut to [`MAX_UA`] bytes first).
pub fn parse(ua: &str) -> Agent {
    let ua = cut(ua, MAX_UA);
    let plat = platform(ua);
    let chromium = version_after(ua, "Chrome/");
    let agent =
        |device: String, browser: String, headset: bool| Agent { device, browser, chromium: chromium.clone(), headset };
    if ua.contains("PicoBrowser/") {
        return agent(pico_model(plat), named("Pico Browser", version_after(ua, "PicoBrowser/"), 2), true);
    }
    if ua.contains("Wolvic/") {
        let device = quest_model(plat).or_else(|| plat.contains("Pico").then(|| pico_model(plat)));
        return agent(
            device.unwrap_or_else(|| "VR headset".into()),
            named("Wolvic", version_after(ua, "Wolvic/"), 2),
            true,
        );
    }
    if ua.contains("OculusBrowser/") {
        let device = quest_model(plat).unwrap_or_else(|| "Quest".into());
        return agent(device, named("Quest Browser", version_after(ua, "OculusBrowser/"), 2), true);
    }
    let device = desktop_or_phone(ua, plat);
    if ua.contains("Edg/") {
        return agent(device, named("Edge", version_after(ua, "Edg/"), 1), false);
    }
    if ua.contains("Firefox/") {
        return Agent { chromium: None, ..agent(device, named("Firefox", version_after(ua, "Firefox/"), 1), false) };
    }
    if chromium.is_some() {
        return agent(device, named("Chrome", chromium.clone(), 1), false);
    }
    if ua.contains("Safari/") && ua.contains("Version/") {
        let vision_maybe = device == "Mac" || device.starts_with("iPad");
        let device = if device == "Mac" { "Mac or Apple Vision Pro".to_string() } else { device };
        return agent(device, named("Safari", version_after(ua, "Version/"), 2), vision_maybe);
    }
    Agent { device: "Unknown device".into(), browser: "Unknown browser".into(), chromium: None, headset: false }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(ua: &str, device: &str, browser: &str, chromium: Option<&str>, headset: bool) {
        let a = parse(ua);
        assert_eq!(
            (a.device.as_str(), a.browser.as_str(), a.chromium.as_deref(), a.headset),
            (device, browser, chromium, headset),
            "{ua}"
        );
    }

    // Meta, "Browser Specs" (developers.meta.com/horizon/documentation/web/browser-specs/): the
    // example agent, and the device tokens: Quest 3 and Quest 3S both send "Quest 3".
    #[test]
    fn quest_3_and_3s_from_metas_example() {
        check(
            "Mozilla/5.0 (X11; Linux x86_64; Quest 3) AppleWebKit/537.36 (KHTML, like Gecko) \
             OculusBrowser/39.2.0.0.56.754450099 Chrome/136.0.7103.177 VR Safari/537.36",
            "Quest 3 / 3S",
            "Quest Browser 39.2",
            Some("136.0.7103.177"),
            true,
        );
    }

    // faisalman/ua-parser-js, test/data/ua/device/facebook.json (agents collected from devices).
    #[test]
    fn quest_1_2_pro() {
        check(
            "Mozilla/5.0 (Linux; Android 10; Quest) AppleWebKit/537.36 (KHTML, like Gecko) \
             OculusBrowser/15.0.0.0.22.280317669 SamsungBrowser/4.0 Chrome/89.0.4389.90 VR Safari/537.36",
            "Quest",
            "Quest Browser 15.0",
            Some("89.0.4389.90"),
            true,
        );
        check(
            "Mozilla/5.0 (Linux; Android 10; Quest 2) AppleWebKit/537.36 (KHTML, like Gecko) \
             OculusBrowser/15.0.0.0.22.280317669 SamsungBrowser/4.0 Chrome/89.0.4389.90 VR Safari/537.36",
            "Quest 2",
            "Quest Browser 15.0",
            Some("89.0.4389.90"),
            true,
        );
        check(
            "Mozilla/5.0 (X11; Linux x86_64; Quest Pro) AppleWebKit/537.36 (KHTML, like Gecko) \
             OculusBrowser/24.4.0.22.60.426469926 SamsungBrowser/4.0 Chrome/106.0.5249.181 VR Safari/537.36",
            "Quest Pro",
            "Quest Browser 24.4",
            Some("106.0.5249.181"),
            true,
        );
        check(
            "Mozilla/5.0 (X11; Linux x86_64; Quest 3) AppleWebKit/537.36 (KHTML, like Gecko) \
             OculusBrowser/31.4.0.6.51.566757996 Chrome/120.0.6099.283 VR Safari/537.36",
            "Quest 3 / 3S",
            "Quest Browser 31.4",
            Some("120.0.6099.283"),
            true,
        );
    }

    // faisalman/ua-parser-js, test/data/ua/device/pico.json: Pico says "like Quest" and may carry an
    // OculusBrowser token; it must still read as a Pico.
    #[test]
    fn pico_4_before_quest() {
        check(
            "Mozilla/5.0 (X11; Linux x86_64; PICO 4 OS5.8.2 like Quest) AppleWebKit/537.36 (KHTML, like Gecko) \
             PicoBrowser/3.3.38 Chrome/105.0.5195.68 VR Safari/537.36",
            "Pico 4",
            "Pico Browser 3.3",
            Some("105.0.5195.68"),
            true,
        );
        check(
            "Mozilla/5.0 (X11; Linux x86_64; PICO 4 OS5.4.0 like Quest) AppleWebKit/537.36 (KHTML, like Gecko) \
             PicoBrowser/3.3.22 Chrome/105.0.5195.68 VR Safari/537.36 OculusBrowser/7.0",
            "Pico 4",
            "Pico Browser 3.3",
            Some("105.0.5195.68"),
            true,
        );
    }

    // The Pico 4 Ultra sends the same shape with its model name (PICO's platform token "PICO 4 Ultra";
    // same form as ua-parser-js's pico.json entries).
    #[test]
    fn pico_4_ultra() {
        check(
            "Mozilla/5.0 (X11; Linux x86_64; PICO 4 Ultra OS5.12.0 like Quest) AppleWebKit/537.36 (KHTML, like Gecko) \
             PicoBrowser/5.12.4 Chrome/105.0.5195.68 VR Safari/537.36",
            "Pico 4 Ultra",
            "Pico Browser 5.12",
            Some("105.0.5195.68"),
            true,
        );
    }

    // Igalia/wolvic, WDefaultUserAgent.java / SessionSettings: the Chromium agent + " Mobile VR" +
    // " Wolvic/<version>".
    #[test]
    fn wolvic() {
        check(
            "Mozilla/5.0 (Linux; Android 12; Quest 3) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/125.0.6422.165 Mobile VR Safari/537.36 Wolvic/1.8",
            "Quest 3 / 3S",
            "Wolvic 1.8",
            Some("125.0.6422.165"),
            true,
        );
        check(
            "Mozilla/5.0 (Linux; Android 10) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/125.0.6422.165 Mobile VR Safari/537.36 Wolvic/1.8",
            "VR headset",
            "Wolvic 1.8",
            Some("125.0.6422.165"),
            true,
        );
    }

    // Safari on Apple Vision Pro sends the macOS Safari agent (desktop-class browsing, as iPadOS;
    // e.g. the agents in matomo-org/device-detector#5978, WebKit/WebKit#50344 for its iPad form).
    #[test]
    fn vision_pro_reads_as_mac_or_vision_pro() {
        check(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) \
             Version/17.5 Safari/605.1.15",
            "Mac or Apple Vision Pro",
            "Safari 17.5",
            None,
            true,
        );
        check(
            "Mozilla/5.0 (iPad; CPU OS 16_3_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) \
             Version/17.0 Mobile/15E148 Safari/604.1",
            "iPad or Apple Vision Pro",
            "Safari 17.0",
            None,
            true,
        );
    }

    // Chrome's documented agents (developer.chrome.com "User-Agent Strings"), Edge and Firefox as
    // collected in ua-parser-js's browser tests.
    #[test]
    fn phones_and_desktops() {
        check(
            "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/131.0.0.0 Mobile Safari/537.36",
            "Android phone",
            "Chrome 131",
            Some("131.0.0.0"),
            false,
        );
        check(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/124.0.0.0 Safari/537.36",
            "Windows PC",
            "Chrome 124",
            Some("124.0.0.0"),
            false,
        );
        check(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51",
            "Windows PC",
            "Edge 124",
            Some("124.0.0.0"),
            false,
        );
        check(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0",
            "Windows PC",
            "Firefox 126",
            None,
            false,
        );
        check(
            "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:57.0) Gecko/20100101 Firefox/57.0",
            "Linux PC",
            "Firefox 57",
            None,
            false,
        );
        check(
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/128.0.0.0 Safari/537.36",
            "Mac",
            "Chrome 128",
            Some("128.0.0.0"),
            false,
        );
        check(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) \
             Version/17.5 Mobile/15E148 Safari/604.1",
            "iPhone",
            "Safari 17.5",
            None,
            false,
        );
    }

    #[test]
    fn anything_else_is_unknown_and_bounded() {
        check("curl/8.5.0", "Unknown device", "Unknown browser", None, false);
        check("", "Unknown device", "Unknown browser", None, false);
        let hostile =
            format!("Mozilla/5.0 (X11; {}) OculusBrowser/{} Chrome/1", "Quest 3".repeat(5000), "9".repeat(5000));
        let a = parse(&hostile);
        assert!(a.device.len() <= 40 && a.browser.len() <= 80, "{a:?}");
        let multibyte = "é".repeat(600);
        assert_eq!(parse(&multibyte).browser, "Unknown browser");
        assert!(cut(&multibyte, MAX_UA).len() <= MAX_UA);
    }
}
