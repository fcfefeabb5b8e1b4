// "Connect a headset": this computer's addresses, the QR code, the trust page, web app and wss:// URLs.
import { $, setText, el, invoke, copy, errText, view } from "../render.js";

let qrKey = ""; // what the QR code currently shows

// The address picked in the list (network.js reads it too), else the best (primary) one.
export function selectedAddress(v) {
  const sel = $("ip-select");
  return v.addresses.find((a) => a.ip === sel.value) || v.addresses[0];
}

function draw(v) {
  const sel = $("ip-select");
  const keep = sel.value;
  const key = JSON.stringify(v.addresses.map((a) => [a.ip, a.label]));
  if (sel.dataset.key !== key) {
    sel.dataset.key = key;
    sel.replaceChildren(...v.addresses.map((a) => el("option", { value: a.ip, text: a.label, "data-ip": a.ip })));
    // Keep the user's pick while it exists; otherwise the best (primary) address.
    sel.value = v.addresses.some((a) => a.ip === keep) ? keep : (v.addresses[0] ? v.addresses[0].ip : "");
  }
  const a = selectedAddress(v);
  if (!a) return;
  setText("trust-url", a.trust_url);
  setText("wss-url", a.wss_url);
  setText("step-wss", a.wss_url);
  // With a web app folder: its link (what the QR code carries) and, if it cannot be served, why.
  $("app-block").hidden = !a.app_url;
  setText("app-url", a.app_url || "");
  const appErr = (v.web_app && v.web_app.error) || "";
  $("app-error").hidden = !appErr;
  setText("app-error", appErr ? "The web app cannot be served: " + appErr : "");
  refreshQr(v);
}

async function refreshQr(v) {
  const a = selectedAddress(v);
  if (!a) return;
  const meta = $("meta-switch").checked;
  const page = a.app_url || a.trust_url;
  const key = `${a.ip}|${v.listener.port}|${meta}|${page}`;
  if (key === qrKey) return;
  qrKey = key;
  try {
    const q = await invoke("qr", { ip: a.ip, metaLaunch: meta });
    if (qrKey !== key) return; // a newer request won
    $("qr").innerHTML = q.svg; // SVG made by Rust from a URL it built; no user text in it
    $("qr").setAttribute("aria-label", "QR code for " + q.url);
    setText("qr-carries", meta
      ? `The code opens Meta's “send to headset” page for ${page}. Scan it with a phone signed in to the headset's Meta account.`
      : `The code opens ${page} in the headset browser.` +
        (a.app_url ? " Accept the certificate warning there once: it covers the web app and its connection." : ""));
  } catch (e) {
    qrKey = "";
    setText("qr-carries", "QR code unavailable: " + errText(e));
  }
}

export default {
  parts: [["addresses", (v) => [v.addresses, v.web_app, v.listener.port], draw]],
  wire() {
    $("ip-select").addEventListener("change", () => view() && draw(view()));
    $("meta-switch").addEventListener("change", () => view() && refreshQr(view()));
    $("copy-trust").addEventListener("click", (e) => copy(e.currentTarget, $("trust-url").textContent));
    $("copy-wss").addEventListener("click", (e) => copy(e.currentTarget, $("wss-url").textContent));
    $("copy-app").addEventListener("click", (e) => copy(e.currentTarget, $("app-url").textContent));
  },
};
