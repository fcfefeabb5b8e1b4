// "Certificate": the serving certificate (names, LAN coverage, extra host names) and the local CA
// (its trust on this PC, a new CA).
import { $, setText, el, rebuild, invoke, busy, flash, errText, dateTime } from "../render.js";

let caTrustFor = ""; // the CA fingerprint the trust line was last checked for

function draw(v) {
  const c = v.cert;
  const errP = $("cert-error");
  errP.hidden = !v.cert_error;
  setText(errP, v.cert_error || "");
  // The CA cannot be loaded and nothing kept matches: making a new one is the user's call.
  $("ca-lost").hidden = !v.ca_lost;
  setText("cert-origin", c ? (c.origin === "custom" ? "Your certificate" : "Generated") : "");
  // Two buttons at a time: Regenerate for a generated certificate, the way back for a custom one.
  const custom = !!(c && c.origin === "custom");
  $("cert-generated").hidden = !custom;
  $("cert-regenerate").hidden = custom;
  if (!c) {
    drawCa(null);
    setText("cert-fingerprint", "—");
    setText("cert-expiry", "—");
    setText("cert-path", "");
    rebuild($("cert-sans"), "none", () => []);
    rebuild($("cert-coverage"), "none", () => []);
    return;
  }
  setText("cert-fingerprint", c.fingerprint_sha256);
  setText("cert-path", c.cert_path);
  setText("cert-reason", c.regenerated_reason ? `New this run (${c.regenerated_reason}).` : "");
  $("cert-notice").hidden = !c.notice;
  setText("cert-notice", c.notice || "");
  const outside = c.outside_ca || [];
  $("cert-outside").hidden = !outside.length;
  setText("cert-outside", outside.length
    ? `The CA may not sign for ${outside.join(", ")}: press “New CA…” to make one that includes them (every device then installs it again).`
    : "");
  drawCa(c.ca);
  rebuild($("cert-sans"), JSON.stringify(c.sans), () =>
    c.sans.map((s) => el("li", { "data-testid": "cert-san", "data-san": s, text: s })));
  const lan = v.lan;
  rebuild($("cert-coverage"), JSON.stringify([lan, c.sans, c.missing]), () => {
    if (!lan.length) return [el("li", { class: "muted", text: "no LAN address" })];
    return lan.map((i) => coverageItem(i, c));
  });
}

function coverageItem(i, c) {
  const ip = i.ip;
  const ok = c.sans.includes(ip) && !c.missing.includes(ip);
  if (ok) return el("li", { class: "covered", "data-ip": ip, title: "covered", text: "✓ " + ip });
  // Virtual adapters (Hyper-V, WSL, Docker, VMs, VPNs) change address at each boot: left out of
  // the generated certificate on purpose; one click adds one as an extra name.
  if (i.virtual_adapter && !i.primary) {
    const li = el("li", { class: "optional", "data-ip": ip, title: `${i.name}: a virtual adapter, not in the certificate so it need not change when its address does`, text: `○ ${ip} (${i.name}) ` });
    const add = el("button", { type: "button", class: "link", "data-testid": "cert-add-virtual", text: "add" });
    add.addEventListener("click", () => {
      const box = $("cert-hostnames");
      const names = box.value.split(",").map((n) => n.trim()).filter((n) => n);
      if (!names.includes(ip)) names.push(ip);
      box.value = names.join(", ");
      $("hostnames-form").requestSubmit();
    });
    li.append(add);
    return li;
  }
  return el("li", { class: "missing", "data-ip": ip, title: "missing from the certificate", text: "✗ " + ip });
}

function drawCa(ca) {
  $("ca").hidden = !ca;
  if (!ca) { caTrustFor = ""; return; }
  setText("ca-name", ca.common_name);
  setText("ca-fingerprint", ca.fingerprint_sha256);
  setText("ca-path", ca.cert_path);
  setText("ca-expiry", dateTime(ca.not_after_ms));
  // Its files on disk are not this CA (rewritten from memory at the next check, or cannot be).
  $("ca-damaged").hidden = !ca.damaged;
  setText("ca-damaged", ca.damaged ? `Its files: ${ca.damaged}` : "");
  // A long list of networks and names: folded, its size in the summary.
  setText("ca-permitted-summary", caScope(ca.permitted));
  setText("ca-permitted", ca.permitted.join(", "));
  // Asking the browsers' stores runs a tool: only when the CA is new to this window.
  if (caTrustFor !== ca.fingerprint_sha256) {
    caTrustFor = ca.fingerprint_sha256;
    checkCaTrust();
  }
}

// "Private and loopback networks, local names (14)": what the name constraints allow, in short.
function caScope(permitted) {
  const names = permitted.filter((p) => !/^[0-9a-f.:]+\/\d+$/i.test(p)).length;
  const nets = permitted.length - names;
  return `${nets} private and loopback network${nets === 1 ? "" : "s"}, ${names} local name${names === 1 ? "" : "s"}`;
}

// Trusting the CA on this PC is optional (headsets never need it): neutral, never an error colour.
function drawCaTrust(t) {
  const p = $("ca-trust");
  p.className = "small " + (t.trusted === true ? "ok-text" : "muted");
  p.dataset.trusted = t.trusted === true ? "yes" : t.trusted === false ? "no" : "unknown";
  setText(p, t.detail);
  $("ca-trust-button").disabled = !t.can_install || t.trusted === true;
}

async function checkCaTrust() {
  try { drawCaTrust(await invoke("ca_trust_status")); }
  catch (e) { drawCaTrust({ trusted: null, detail: errText(e), can_install: false }); }
}

// A button whose command answers with a message for the line `msg` (none: `none` is shown).
function command(id, msg, before, call, none = "") {
  $(id).addEventListener("click", (e) => busy(e.currentTarget, async () => {
    if (before) flash(msg, before);
    try {
      const m = await call();
      flash(msg, m || none, m ? "ok" : "");
    } catch (err) {
      flash(msg, errText(err), "err");
    }
  }));
}

function wire() {
  command("cert-regenerate", "cert-msg", "Making a new certificate…", () => invoke("regenerate_cert"));
  command("cert-custom", "cert-msg", "Choose the certificate file…", () => invoke("choose_custom_cert"), "No file chosen; nothing changed.");
  command("cert-generated", "cert-msg", "", () => invoke("use_generated_cert"));
  command("ca-rotate", "ca-msg", "", () => invoke("rotate_ca"), "Kept the current CA.");
  command("ca-lost-rotate", "cert-msg", "", () => invoke("rotate_ca"), "No new CA made; put back ca.pem and ca-key.pem to keep the old one.");
  $("ca-trust-button").addEventListener("click", (e) => busy(e.currentTarget, async () => {
    flash("ca-msg", "Adding the CA to this PC's trusted roots…");
    try {
      const t = await invoke("trust_ca");
      drawCaTrust(t);
      flash("ca-msg", t.trusted ? "Done: this PC trusts the CA." : t.detail, t.trusted ? "ok" : "err");
    } catch (err) {
      flash("ca-msg", errText(err), "err");
    }
  }));
  $("hostnames-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const s = await invoke("set_cert_hostnames", { value: $("cert-hostnames").value });
      // Only this field is refreshed in the settings form: other edits there stay.
      $("cert_hostnames").value = s.form.cert_hostnames;
      $("cert-hostnames").value = s.form.cert_hostnames;
      flash("hostnames-msg", "Saved. The certificate now includes these names.", "ok");
    } catch (e) {
      const m = e && e.fields && (e.fields.cert_hostnames || Object.values(e.fields)[0]);
      flash("hostnames-msg", m || errText(e && e.message ? e.message : e), "err");
    }
  });
}

export default {
  parts: [["cert", (v) => [v.cert, v.cert_error, v.ca_lost, v.lan.map((i) => i.ip)], draw]],
  wire,
  times(v, now) {
    if (v.cert) {
      const left = v.cert.not_after_ms - now;
      const days = Math.floor(left / 86400000);
      setText("cert-expiry", left <= 0 ? `${dateTime(v.cert.not_after_ms)} — EXPIRED` : `${dateTime(v.cert.not_after_ms)} (in ${days} days)`);
    }
    return Infinity;
  },
};
