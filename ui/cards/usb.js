// Headsets on USB, inside the Headsets card: each device adb lists (model, serial, OS, its adb state
// as a chip and one sentence to act on), "Open on headset" and "Accept the certificate", and the
// result of the last of them. A device whose Wi-Fi address the book has is drawn inside that
// network headset's row (headsets.js asks for it with usbBlock) rather than twice. No adb: one line
// saying where to get it.
import { $, setText, el, rebuild, invoke, busy, errText } from "../render.js";

const KIND = { device: "good", unauthorized: "bad", authorizing: "unknown", offline: "bad", no_permissions: "bad" };

function act(button, command, serial, out) {
  return busy(button, async () => {
    try {
      setText(out, await invoke(command, { serial }));
      out.className = "msg ok";
    } catch (e) {
      setText(out, errText(e));
      out.className = "msg err";
    }
  });
}

// The lines of one USB device: title, chip, details, sentence, buttons, the last result.
function parts(d) {
  const note = el("p", { class: "msg" + (d.last_action ? (d.last_action.ok ? " ok" : " err") : ""), "data-k": "usb-note",
    text: d.last_action ? d.last_action.message : "" });
  const buttons = [];
  if (d.can_open) {
    const open = el("button", { type: "button", class: "btn small primary", "data-k": "usb-open", text: "Open on headset" });
    open.addEventListener("click", () => act(open, "usb_open", d.serial, note));
    const accept = el("button", { type: "button", class: "btn small", "data-k": "usb-accept", text: "Accept the certificate on the headset",
      title: "Passes its browser's certificate warning for this computer's address only, through USB (DevTools)" });
    accept.addEventListener("click", () => act(accept, "usb_accept", d.serial, note));
    buttons.push(open, accept);
  }
  const details = [d.serial, d.os, d.browser, d.wifi ? `Wi-Fi ${d.wifi}` : "", d.network ? "over the network" : "USB"]
    .filter(Boolean).join(" · ");
  return [
    el("div", { class: "headset-head" },
      el("strong", { text: d.model || "Headset on USB" }),
      el("span", { class: "pill " + (KIND[d.state] || "unknown"), "data-k": "usb-chip", text: d.chip })),
    el("div", { class: "muted headset-browser", "data-k": "usb-details", text: details }),
    el("p", { class: "headset-sentence", "data-k": "usb-sentence", text: d.sentence }),
    el("div", { class: "actions" }, ...buttons),
    note,
  ];
}

// The USB device joined to the network headset at `ip`, drawn inside that headset's row.
export function usbBlock(v, ip) {
  const d = ((v.usb && v.usb.devices) || []).find((x) => x.book_ip === ip);
  return d ? [el("div", { class: "usb-joined", "data-testid": "usb-row", "data-serial": d.serial, "data-state": d.state }, ...parts(d))] : [];
}

function draw(v) {
  const u = v.usb || { adb: "unknown", devices: [] };
  // A device with a book_ip (set only when the book has that headset) is in that headset's row.
  const own = u.devices.filter((d) => !d.book_ip);
  rebuild($("usb-list"), JSON.stringify(own), () => own.map((d) =>
    el("li", { class: "headset", "data-testid": "usb-row", "data-serial": d.serial, "data-state": d.state }, ...parts(d))));
  const hint = $("usb-hint");
  hint.hidden = !u.message;
  setText(hint, u.message || "");
  $("usb-box").dataset.adb = u.adb;
}

export default {
  parts: [["usb", (v) => [v.usb], draw]],
  wire() {
    $("usb-refresh").addEventListener("click", (e) => busy(e.currentTarget, () => invoke("usb_refresh")));
  },
};
