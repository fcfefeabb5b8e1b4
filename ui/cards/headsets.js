// "Headsets": one row per headset the gate has seen (the engine's headset book): model, address,
// state chip, last seen, the sentence and its action (show the QR / trust link, open Ports & firewall).
// After a minute with nobody seen, a short checklist instead.
import { $, setText, el, rebuild, agoMinutes, untilChange } from "../render.js";
import { usbBlock } from "./usb.js";

const CHIP = {
  refused: ["bad", "refused the certificate"],
  failed: ["bad", "TLS failed"],
  plain_http: ["bad", "typed http://"],
  short_sessions: ["bad", "sessions end early"],
  connected: ["good", "connected"],
  trusted: ["unknown", "trusted"],
  ended: ["unknown", "session ended"],
  seen: ["unknown", "seen"],
};
const QUIET = 60000; // nobody seen for this long after start: the checklist

// Shows the Connect card with the QR code for the address this headset reached.
function showQr(reached) {
  const ip = (reached || "").replace(/:\d+$/, "").replace(/^\[|\]$/g, "");
  const sel = $("ip-select");
  if ([...sel.options].some((o) => o.value === ip) && sel.value !== ip) {
    sel.value = ip;
    sel.dispatchEvent(new Event("change"));
  }
  $("connect").scrollIntoView({ behavior: "smooth", block: "start" });
}

function openPorts() {
  $("ports").scrollIntoView({ behavior: "smooth", block: "start" });
  $("recheck-firewall").focus();
}

function actionButton(h) {
  const a = h.advice.action || { kind: "none" };
  if (a.kind === "accept_certificate" || a.kind === "use_https" || a.kind === "open_app") {
    const b = el("button", { type: "button", class: "btn small", "data-k": "qr", text: "Show the QR code" });
    b.addEventListener("click", () => showQr(h.reached));
    return [b, el("code", { class: "mono headset-link", text: a.url })];
  }
  if (a.kind === "check_ports") {
    const b = el("button", { type: "button", class: "btn small", "data-k": "ports", text: "Open Ports & firewall" });
    b.addEventListener("click", openPorts);
    return [b];
  }
  return [];
}

function row(h, v) {
  const [kind, word] = CHIP[h.advice.state] || ["unknown", h.advice.state];
  const model = h.device ? `${h.device}` : "Not known yet";
  const browser = h.browser ? `${h.browser}${h.chromium && !h.browser.startsWith("Chrome") ? ` (Chromium ${h.chromium.split(".")[0]})` : ""}` : "";
  return el("li", { class: "headset", "data-ip": h.ip, "data-state": h.advice.state, "data-testid": "headset-row" },
    el("div", { class: "headset-head" },
      el("strong", { text: model }),
      el("span", { class: "mono muted", text: h.ip }),
      el("span", { class: "pill " + kind, "data-k": "chip", text: word }),
      el("span", { class: "muted", "data-k": "seen" })),
    el("div", { class: "muted headset-browser", text: browser }),
    el("p", { class: "headset-sentence", "data-k": "sentence", text: h.advice.sentence }),
    el("div", { class: "actions" }, ...actionButton(h)),
    ...usbBlock(v, h.ip));
}

function checklist(v) {
  const fw = $("firewall-summary").textContent || "not checked yet";
  const ips = v.addresses.map((a) => a.ip).join(", ");
  const items = [
    `The headset is on the same network and subnet as this computer (${ips}).`,
    "Not a guest Wi-Fi, and the access point does not isolate clients (\"client isolation\" / \"AP isolation\").",
    `Firewall: ${fw}`,
  ];
  if (v.app.platform === "windows") {
    items.push("Windows: the network profile is Private (Settings → Network & internet → the network → Private); rules for Private networks skip Public ones.");
  }
  return items.map((t) => el("li", { text: t }));
}

function draw(v) {
  const list = v.headsets || [];
  const box = $("headsets-list");
  const usb = ((v.usb && v.usb.devices) || []).filter((d) => d.book_ip);
  const key = JSON.stringify([list.map((h) => [h.ip, h.device, h.browser, h.advice, h.reached]), usb]);
  rebuild(box, key, () => list.map((h) => row(h, v)));
  const c = v.headset_counts || { seen: 0, refused: 0, connected: 0 };
  setText("headsets-summary", list.length
    ? `${c.seen} seen · ${c.connected} connected${c.refused ? ` · ${c.refused} refusing the certificate` : ""}`
    : "No headset has reached the gate yet.");
  drawQuiet(v, Date.now());
}

function drawQuiet(v, now) {
  const quiet = !(v.headsets || []).length && now - v.started_ms >= QUIET;
  const box = $("headsets-checklist");
  box.hidden = !quiet;
  if (quiet) rebuild($("headsets-checklist-items"), JSON.stringify([v.addresses, $("firewall-summary").textContent, v.app.platform]), () => checklist(v));
}

// The status strip's tile: connected now, and how many refuse the certificate.
function drawTile(v) {
  const c = v.headset_counts || { seen: 0, refused: 0, connected: 0 };
  setText("headset-count", c.connected);
  const d = $("headset-detail");
  d.className = "tile-detail" + (c.refused ? " error-text" : " muted");
  setText(d, c.refused
    ? `${c.refused} refusing the certificate — see Headsets`
    : c.seen ? `${c.seen} seen — see Headsets` : "No headset seen yet");
}

export default {
  parts: [
    ["headsets", (v) => [v.headsets, v.headset_counts, v.addresses, v.app.platform, v.usb], draw],
    ["headsets-tile", (v) => v.headset_counts, drawTile],
  ],
  // "last seen 12 s ago", then "3 min ago": after its first minute a row's text changes once a
  // minute, and so does the window (a repaint a second cost 13 % of a core: docs/BENCHMARKS.md).
  times(v, now) {
    let next = Infinity;
    for (const h of v.headsets || []) {
      const li = $("headsets-list").querySelector(`[data-ip="${CSS.escape(h.ip)}"] [data-k="seen"]`);
      if (li) setText(li, "last seen " + agoMinutes(h.last_seen_ms));
      next = Math.min(next, untilChange(now - h.last_seen_ms, true));
    }
    drawQuiet(v, now);
    if (!(v.headsets || []).length && now - v.started_ms < QUIET) next = Math.min(next, QUIET - (now - v.started_ms));
    return next;
  },
};
