// CXR Gate window logic. Renders what Rust sends (get_status / the "status" event, get_settings,
// firewall_status) and forwards button presses to commands. No state of its own beyond form controls,
// the last view it drew (for relative times) and what each part of the window was drawn from.
// Each part is redrawn only when the view fields it reads changed, and nothing runs on a timer while
// the window is hidden: an idle window should cost no CPU (docs/BENCHMARKS.md, "Desktop window").
"use strict";

const { invoke } = window.__TAURI__.core;
const { listen } = window.__TAURI__.event;

const $ = (id) => document.getElementById(id);
let last = null;         // the last status view drawn
const drawn = {};        // section name -> the key it was last drawn from (see SECTIONS)
let qrKey = "";          // what the QR code currently shows
let firewall = null;     // the last firewall view
let firewallAt = 0;      // when the firewall was last checked (Date.now())
let caTrustFor = "";     // the CA fingerprint the trust line was last checked for
let timesTimer = 0;      // the next redraw of relative times
let firewallTimer = 0;   // the next periodic firewall check

// ------------------------------------------------------------------ formatting

function setText(el, text) {
  if (typeof el === "string") el = $(el);
  text = text == null ? "" : String(text);
  if (el && el.textContent !== text) el.textContent = text;
}

function clock(ms) {
  return ms ? new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }) : "";
}

function dateTime(ms) {
  return new Date(ms).toLocaleString([], { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} days`;
}

function ago(ms) {
  return ms ? `${duration(Date.now() - ms)} ago` : "";
}

// "5 min ago" where ago() says "5 min 3 s ago": for the runtime tile, whose clock time beside it has
// the seconds. A text that changes every second costs a repaint every second, which is most of what
// an idle window costs (about 4 % of a core under Xvfb); this one then changes once a minute.
function agoMinutes(ms) {
  const d = Date.now() - ms;
  return ms && d >= 60000 && d < 3600000 ? `${Math.floor(d / 60000)} min ago` : ago(ms);
}

// Milliseconds until duration(elapsed) shows another text (agoMinutes' when `minutes`).
function untilChange(elapsed, minutes) {
  const step = elapsed < 60000 || (elapsed < 3600000 && !minutes) ? 1000 : 60000;
  return elapsed < 0 ? 1000 : step - (elapsed % step);
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

// Rebuilds a container only when its content key changed (keeps scroll, selection and focus).
function rebuild(container, key, build) {
  if (container.dataset.key === key) return false;
  container.dataset.key = key;
  container.replaceChildren(...build());
  return true;
}

function flash(id, text, kind) {
  const m = $(id);
  m.className = "msg" + (kind ? " " + kind : "");
  m.textContent = text;
}

function errText(e) {
  if (e == null) return "Something went wrong.";
  if (typeof e === "string") return e;
  if (e.message) return e.message;
  return JSON.stringify(e);
}

// A button that shows "Copied" for a moment (fixed min-width in CSS, so nothing moves).
async function copy(button, text) {
  try {
    await invoke("copy_text", { text });
    const old = button.dataset.label || button.textContent;
    button.dataset.label = old;
    button.textContent = "Copied ✓";
    button.classList.add("done");
    setTimeout(() => { button.textContent = old; button.classList.remove("done"); }, 1400);
  } catch (e) {
    button.title = errText(e);
    button.textContent = "Failed";
  }
}

// Disables a button while its command runs.
async function busy(button, fn) {
  button.disabled = true;
  try { return await fn(); } finally { button.disabled = false; }
}

// ------------------------------------------------------------------ status

// The parts of the window, each with the view fields it reads: a part is redrawn only when its key
// changed, so a status that changes one thing touches only that part of the DOM.
const SECTIONS = [
  ["app", (v) => [v.app, !!(v.cert && v.cert.changed_since_last_run)], renderApp],
  ["runtime", (v) => [v.runtime, v.backend.addr, v.backend.last_error], renderRuntime],
  ["proxy", (v) => v.listener, renderProxy],
  ["headsets", (v) => [v.headsets, v.sessions.map((s) => s.client)], renderHeadsets],
  ["addresses", (v) => [v.addresses, v.web_app, v.listener.port], renderAddresses],
  ["cert", (v) => [v.cert, v.cert_error, v.lan.map((i) => i.ip)], renderCert],
  ["ports", (v) => [v.ports, v.media_total, v.listener.port, v.listener.error], renderPorts],
  ["sessions", (v) => [v.sessions, v.recent_sessions], renderSessions],
  ["network", (v) => [v.netchecks, (selectedAddress(v) || {}).trust_url], renderNetwork],
  ["log", (v) => v.log, renderLog],
];

function render(v) {
  last = v;
  for (const [name, key, draw] of SECTIONS) {
    const k = JSON.stringify(key(v));
    if (drawn[name] === k) continue;
    drawn[name] = k;
    draw(v);
  }
  renderTimes();
}

function renderApp(v) {
  const app = v.app;
  setText("app-version", "v" + app.version);
  $("demo-badge").hidden = !app.demo;
  const ov = app.overrides.length ? "This run: " + app.overrides.join(" · ") : "";
  setText("overrides", ov);
  $("overrides").title = ov ? ov + "\n(from the command line, environment or demo mode; not saved)" : "";
  $("notice").hidden = !app.notice;
  setText("notice-text", app.notice || "");
  $("cert-changed").hidden = !(v.cert && v.cert.changed_since_last_run);
  setText("data-dir", app.data_dir);
  setText("log-path", app.log_path ? "also in " + app.log_path : "");
}

function renderRuntime(v) {
  const st = $("runtime-state");
  const word = { up: "UP", down: "DOWN", checking: "CHECKING" }[v.runtime];
  st.dataset.state = v.runtime;
  setText(st, word);
  setText("runtime-backend", v.backend.addr);
  setText("runtime-error", v.runtime === "down" && v.backend.last_error ? v.backend.last_error : "");
}

function renderProxy(v) {
  const l = v.listener;
  const st = $("proxy-state");
  const word = { listening: "LISTENING", failed: "NOT LISTENING", starting: "STARTING", stopped: "STOPPED" }[l.state] || l.state;
  st.dataset.state = l.state;
  setText(st, word);
  setText("proxy-port", ":" + l.port);
  const d = $("proxy-detail");
  if (l.state === "listening") {
    d.className = "tile-detail";
    setText(d, `Accepting wss:// on ${l.addr}`);
  } else {
    d.className = "tile-detail error-text";
    // The engine retries a failed bind every 2 s: say so, so nobody thinks a restart is needed.
    const retry = l.state === "failed" && l.error && !l.error.startsWith("no usable certificate")
      ? " — retrying every 2 s; close the other program or pick another port in Settings."
      : "";
    setText(d, (l.error || (l.state === "starting" ? "Starting…" : "Not accepting connections.")) + retry);
  }
}

function renderHeadsets(v) {
  setText("headset-count", v.headsets);
  const ips = v.sessions.map((s) => s.client.replace(/:\d+$/, ""));
  setText("headset-detail", v.headsets ? [...new Set(ips)].join(", ") : "No headset connected");
}

function selectedAddress(v) {
  const sel = $("ip-select");
  return v.addresses.find((a) => a.ip === sel.value) || v.addresses[0];
}

function renderAddresses(v) {
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

function renderCert(v) {
  const c = v.cert;
  const errP = $("cert-error");
  errP.hidden = !v.cert_error;
  setText(errP, v.cert_error || "");
  setText("cert-origin", c ? (c.origin === "custom" ? "Your certificate" : "Generated") : "");
  // Two buttons at a time: Regenerate for a generated certificate, the way back for a custom one.
  const custom = !!(c && c.origin === "custom");
  $("cert-generated").hidden = !custom;
  $("cert-regenerate").hidden = custom;
  if (!c) {
    renderCa(null);
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
  renderCa(c.ca);
  rebuild($("cert-sans"), JSON.stringify(c.sans), () =>
    c.sans.map((s) => el("li", { "data-testid": "cert-san", "data-san": s, text: s })));
  const lan = v.lan;
  const covKey = JSON.stringify([lan, c.sans, c.missing]);
  rebuild($("cert-coverage"), covKey, () => {
    if (!lan.length) return [el("li", { class: "muted", text: "no LAN address" })];
    return lan.map((i) => {
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
    });
  });
}

function renderCa(ca) {
  $("ca").hidden = !ca;
  if (!ca) { caTrustFor = ""; return; }
  setText("ca-name", ca.common_name);
  setText("ca-fingerprint", ca.fingerprint_sha256);
  setText("ca-path", ca.cert_path);
  setText("ca-expiry", dateTime(ca.not_after_ms));
  setText("ca-permitted", ca.permitted.join(", "));
  // Asking the browsers' stores runs a tool: only when the CA is new to this window.
  if (caTrustFor !== ca.fingerprint_sha256) {
    caTrustFor = ca.fingerprint_sha256;
    checkCaTrust();
  }
}

function renderCaTrust(t) {
  const p = $("ca-trust");
  p.className = "small " + (t.trusted === true ? "ok-text" : t.trusted === false ? "warn-text" : "muted");
  p.dataset.trusted = t.trusted === true ? "yes" : t.trusted === false ? "no" : "unknown";
  setText(p, t.detail);
  $("ca-trust-button").disabled = !t.can_install || t.trusted === true;
}

async function checkCaTrust() {
  try { renderCaTrust(await invoke("ca_trust_status")); }
  catch (e) { renderCaTrust({ trusted: null, detail: errText(e), can_install: false }); }
}

function stateCell(td, kind, text, note) {
  const key = `${kind}|${text}|${note || ""}`;
  rebuild(td, key, () => {
    const out = [el("span", { class: "pill " + kind, text })];
    if (note) out.push(el("span", { class: "cell-note", text: note }));
    return out;
  });
}

function renderPorts(v) {
  const p = v.ports;
  const rows = { signaling: $("port-signaling"), media: $("port-media"), proxy: $("port-proxy") };
  const cell = (row, k) => row.querySelector(`[data-k="${k}"]`);
  setText(cell(rows.signaling, "port"), `TCP ${p.signaling_port}`);
  setText(cell(rows.media, "port"), `UDP ${p.media_first}–${p.media_last}`);
  setText(cell(rows.proxy, "port"), `TCP ${p.proxy_port || v.listener.port}`);

  const portState = (s, open, closed) =>
    s === "open" ? ["good", open] : s === "closed" ? ["bad", closed] : ["unknown", "unknown"];
  const [sk, st] = portState(p.signaling, "accepting", "not accepting");
  stateCell(cell(rows.signaling, "state"), sk, st);
  const total = v.media_total;
  const mk = p.media_bound === total ? "good" : p.media_bound > 0 ? "unknown" : "bad";
  stateCell(cell(rows.media, "state"), mk, `${p.media_bound} of ${total} bound`,
    p.media_bound ? "" : "the runtime binds these while it runs");
  const [pk, pt] = portState(p.proxy, "listening", "not listening");
  stateCell(cell(rows.proxy, "state"), pk, pt, p.proxy === "open" ? "" : (p.proxy_error || v.listener.error || ""));
  renderFirewallCells();
}

function renderFirewallCells() {
  const ids = ["port-signaling", "port-media", "port-proxy"];
  ids.forEach((id, i) => {
    const td = $(id).querySelector('[data-k="fw"]');
    const r = firewall && firewall.rules[i];
    if (!r) return stateCell(td, "unknown", "checking…");
    if (r.present === true) stateCell(td, "good", "allowed", r.note);
    else if (r.present === false) stateCell(td, "bad", "no rule", r.note);
    else stateCell(td, "unknown", firewall.system === "none" ? "not checked" : "unknown", r.note);
  });
}

function renderFirewall(f) {
  firewall = f;
  setText("firewall-summary", f.summary);
  $("add-firewall").hidden = !f.can_add;
  const cmds = $("firewall-commands");
  cmds.hidden = !f.commands.length;
  setText("firewall-commands-text", f.commands.join("\n"));
  renderFirewallCells();
}

async function checkFirewall() {
  firewallAt = Date.now();
  try {
    renderFirewall(await invoke("firewall_status"));
  } catch (e) {
    setText("firewall-summary", "Could not check the firewall: " + errText(e));
  }
}

function renderSessions(v) {
  const body = $("sessions-body");
  if (!v.sessions.length) {
    rebuild(body, "empty", () => [el("tr", {}, el("td", { class: "empty", colspan: "5", text: "No headset connected. Scan the QR code with a headset to start." }))]);
  } else {
    // Rows are keyed by session id; byte counters are updated in place.
    rebuild(body, v.sessions.map((s) => s.id).join(","), () => v.sessions.map((s) =>
      el("tr", { "data-session": String(s.id) },
        el("td", { class: "mono", text: s.client }),
        el("td", { "data-k": "since" }),
        el("td", { class: "num", "data-k": "up" }),
        el("td", { class: "num", "data-k": "down" }),
        el("td", { class: "mono", text: s.backend + (s.path && s.path !== "/" ? " " + s.path : "") }))));
    for (const s of v.sessions) {
      const tr = body.querySelector(`[data-session="${s.id}"]`);
      if (!tr) continue;
      setText(tr.querySelector('[data-k="up"]'), bytes(s.bytes_up));
      setText(tr.querySelector('[data-k="down"]'), bytes(s.bytes_down));
    }
  }
  const recent = v.recent_sessions || [];
  setText("recent-count", recent.length ? `(${recent.length})` : "(none yet)");
  rebuild($("recent-body"), JSON.stringify(recent.map((r) => [r.id, r.ended_ms])), () => recent.slice(0, 20).map((r) =>
    el("tr", {},
      el("td", { class: "mono", text: r.client }),
      el("td", { text: clock(r.ended_ms) }),
      el("td", { text: duration(r.ended_ms - r.started_ms) }),
      el("td", { class: "num", text: `↑ ${bytes(r.bytes_up)} · ↓ ${bytes(r.bytes_down)}` }),
      el("td", { text: r.reason }))));
}

// Results of "Test my connection" on a headset (newest first), judged against CloudXR's table.
const VERDICT = { pass: ["good", "pass"], marginal: ["unknown", "marginal"], fail: ["bad", "fail"], info: ["unknown", "—"] };
function renderNetwork(v) {
  const checks = v.netchecks || [];
  const latest = checks[0];
  const addr = selectedAddress(v);
  if (!latest) {
    setText("net-overall", "");
    setText("net-summary", "No headset has tested its connection yet. On the headset, open the trust page and press “Test my connection”" +
      (addr ? ` (${addr.trust_url}netcheck).` : "."));
  } else {
    const [, word] = VERDICT[latest.overall] || VERDICT.info;
    setText("net-overall", word);
    $("net-overall").dataset.verdict = latest.overall || "";
    setText("net-summary", `Latest: ${latest.client.replace(/:\d+$/, "")} at ${dateTime(latest.at_ms)} · ${latest.pings_answered}/${latest.pings_sent} pings answered`);
  }
  rebuild($("net-body"), latest ? `${latest.client}|${latest.at_ms}` : "empty", () => latest
    ? latest.rows.map((r) => {
        const [kind, word] = VERDICT[r.verdict] || VERDICT.info;
        return el("tr", { "data-metric": r.metric },
          el("td", { text: r.metric }), el("td", { class: "num-text", text: r.value }),
          el("td", { text: r.recommended }), el("td", { text: r.minimum }),
          el("td", {}, el("span", { class: "pill " + kind, text: word })));
      })
    : [el("tr", {}, el("td", { class: "empty", colspan: "5", text: "No results yet." }))]);
  setText("net-count", checks.length > 1 ? `(${checks.length - 1})` : "(none)");
  rebuild($("net-history-body"), JSON.stringify(checks.map((c) => c.at_ms)), () => checks.slice(1).map((c) => {
    const [kind, word] = VERDICT[c.overall] || VERDICT.info;
    return el("tr", {},
      el("td", { class: "mono", text: c.client.replace(/:\d+$/, "") }),
      el("td", { text: dateTime(c.at_ms) }),
      el("td", { class: "num", text: `${c.down_mbps.toFixed(0)} Mbps` }),
      el("td", { class: "num", text: `${c.up_mbps.toFixed(0)} Mbps` }),
      el("td", { class: "num", text: `${c.rtt_p50_ms.toFixed(1)} / ${c.rtt_p95_ms.toFixed(1)} ms` }),
      el("td", { class: "num", text: `${c.jitter_ms.toFixed(2)} ms` }),
      el("td", {}, el("span", { class: "pill " + kind, text: word })));
  }));
}

function renderLog(v) {
  const box = $("log");
  const lines = v.log || [];
  const key = lines.length ? `${lines.length}|${lines[lines.length - 1].ts_ms}|${lines[0].ts_ms}` : "empty";
  if (box.dataset.key === key) return; // reading the scroll position below would force a layout
  const atBottom = box.scrollHeight - box.scrollTop - box.clientHeight < 24;
  const changed = rebuild(box, key, () => lines.length
    ? lines.map((l) => el("div", { class: "log-line " + l.level },
        el("span", { class: "muted", text: clock(l.ts_ms) }),
        el("span", { class: "lvl", text: l.level }),
        el("span", { class: "msg-text", text: l.msg })))
    : [el("div", { class: "empty", text: "Nothing logged yet." })]);
  if (changed && atBottom) box.scrollTop = box.scrollHeight;
}

// Relative times ("3 min ago") move without a new status: redrawn when their text next changes
// (at least once a minute, for the certificate's days), and not at all while the window is hidden.
function renderTimes() {
  clearTimeout(timesTimer);
  timesTimer = 0;
  const v = last;
  if (!v || document.hidden) return;
  const now = Date.now();
  let next = 60000;
  const since = v.backend.since_ms;
  setText("runtime-since", since ? `since ${clock(since)} · ${agoMinutes(since)}` : "");
  if (since) next = Math.min(next, untilChange(now - since, true));
  if (v.cert) {
    const left = v.cert.not_after_ms - now;
    const days = Math.floor(left / 86400000);
    setText("cert-expiry", left <= 0 ? `${dateTime(v.cert.not_after_ms)} — EXPIRED` : `${dateTime(v.cert.not_after_ms)} (in ${days} days)`);
  }
  for (const s of v.sessions) {
    const tr = document.querySelector(`[data-session="${s.id}"]`);
    if (tr) setText(tr.querySelector('[data-k="since"]'), `${clock(s.started_ms)} · ${duration(now - s.started_ms)}`);
    next = Math.min(next, untilChange(now - s.started_ms, false));
  }
  timesTimer = setTimeout(renderTimes, next + 20);
}

// Ports follow the settings, and rules change outside the app: re-checked every minute while the
// window is shown, and on showing it when the last check is older than that.
function firewallTick() {
  clearTimeout(firewallTimer);
  firewallTimer = 0;
  if (document.hidden) return;
  const due = firewallAt + 60000 - Date.now();
  if (due <= 0) checkFirewall();
  firewallTimer = setTimeout(firewallTick, due > 0 ? due : 60000);
}

// ------------------------------------------------------------------ settings

// The form's text fields come with the settings (get_settings), from the settings table in Rust.
let FIELDS = [];
const CHECKS = ["start_at_login", "start_minimized"];
let overrides = {};

function fieldMsg(name, text, kind) {
  const p = $("msg-" + name);
  if (!p) return;
  p.className = "field-msg" + (kind ? " " + kind : "");
  p.textContent = text || p.dataset.hint || "";
  const input = $(name);
  if (input) input.setAttribute("aria-invalid", kind === "err" ? "true" : "false");
}

function resetFieldMsgs() {
  for (const f of [...FIELDS, ...CHECKS]) {
    if (overrides[f]) fieldMsg(f, overrides[f], "override");
    else fieldMsg(f, "");
  }
}

function fillSettings(s) {
  FIELDS = s.fields;
  overrides = s.overrides || {};
  for (const f of FIELDS) {
    $(f).value = s.form[f];
    // Empty means "none" for the web app fields, not "the default".
    $(f).placeholder = f === "web_root" ? "none" : f === "app_query" ? "empty: no query" : (s.defaults[f] || "");
  }
  for (const c of CHECKS) $(c).checked = !!s.form[c];
  $("cert-hostnames").value = s.form.cert_hostnames;
  setText("settings-path", "Saved in " + s.path);
  resetFieldMsgs();
}

function readForm() {
  const form = {};
  for (const f of FIELDS) form[f] = $(f).value;
  for (const c of CHECKS) form[c] = $(c).checked;
  return form;
}

function showSaveError(e) {
  resetFieldMsgs();
  if (e && e.fields && Object.keys(e.fields).length) {
    let first = null;
    for (const [f, m] of Object.entries(e.fields)) {
      if ($("msg-" + f)) { fieldMsg(f, m, "err"); first = first || f; }
    }
    const n = Object.keys(e.fields).length;
    flash("settings-msg", `Not saved: ${n === 1 ? "one field needs" : n + " fields need"} a fix.`, "err");
    if (first && $(first)) $(first).focus();
  } else {
    flash("settings-msg", "Not saved: " + errText(e && e.message ? e.message : e), "err");
  }
}

async function saveSettings(ev) {
  ev.preventDefault();
  flash("settings-msg", "Saving…");
  await busy($("save-settings"), async () => {
    try {
      fillSettings(await invoke("save_settings", { form: readForm() }));
      flash("settings-msg", "Saved and applied.", "ok");
      checkFirewall();
    } catch (e) {
      showSaveError(e);
    }
  });
}

async function loadSettings() {
  fillSettings(await invoke("get_settings"));
}

// ------------------------------------------------------------------ wiring

function wire() {
  $("ip-select").addEventListener("change", () => last && renderAddresses(last));
  $("meta-switch").addEventListener("change", () => last && refreshQr(last));
  $("copy-trust").addEventListener("click", (e) => copy(e.currentTarget, $("trust-url").textContent));
  $("copy-wss").addEventListener("click", (e) => copy(e.currentTarget, $("wss-url").textContent));
  $("copy-app").addEventListener("click", (e) => copy(e.currentTarget, $("app-url").textContent));
  // Browse… fills the field (Rust shows the dialog and checks the folder); Save applies it.
  $("web_root-browse").addEventListener("click", (e) => busy(e.currentTarget, async () => {
    try {
      const pick = await invoke("choose_web_root");
      if (!pick) return;
      $("web_root").value = pick.path;
      fieldMsg("web_root", pick.problem || "Press Save & apply to serve it.", pick.problem ? "err" : "");
    } catch (err) {
      fieldMsg("web_root", errText(err), "err");
    }
  }));
  $("copy-firewall").addEventListener("click", (e) => copy(e.currentTarget, $("firewall-commands-text").textContent));
  $("copy-log").addEventListener("click", (e) => {
    const lines = (last && last.log) || [];
    const text = lines.map((l) => `${new Date(l.ts_ms).toISOString()} ${l.level.toUpperCase().padEnd(5)} ${l.msg}`).join("\n");
    copy(e.currentTarget, text);
  });
  $("notice-dismiss").addEventListener("click", () => invoke("dismiss_notice"));
  $("restart-proxy").addEventListener("click", (e) => busy(e.currentTarget, () => invoke("restart_proxy")));

  $("cert-regenerate").addEventListener("click", (e) => busy(e.currentTarget, async () => {
    flash("cert-msg", "Making a new certificate…");
    try { flash("cert-msg", await invoke("regenerate_cert"), "ok"); } catch (err) { flash("cert-msg", errText(err), "err"); }
  }));
  $("cert-custom").addEventListener("click", (e) => busy(e.currentTarget, async () => {
    flash("cert-msg", "Choose the certificate file…");
    try {
      const m = await invoke("choose_custom_cert");
      flash("cert-msg", m || "No file chosen; nothing changed.", m ? "ok" : "");
    } catch (err) {
      flash("cert-msg", errText(err), "err");
    }
  }));
  $("ca-trust-button").addEventListener("click", (e) => busy(e.currentTarget, async () => {
    flash("ca-msg", "Adding the CA to this PC's trusted roots…");
    try {
      const t = await invoke("trust_ca");
      renderCaTrust(t);
      flash("ca-msg", t.trusted ? "Done: this PC trusts the CA." : t.detail, t.trusted ? "ok" : "err");
    } catch (err) {
      flash("ca-msg", errText(err), "err");
    }
  }));
  $("ca-rotate").addEventListener("click", (e) => busy(e.currentTarget, async () => {
    try {
      const m = await invoke("rotate_ca");
      flash("ca-msg", m || "Kept the current CA.", m ? "ok" : "");
    } catch (err) {
      flash("ca-msg", errText(err), "err");
    }
  }));
  $("cert-generated").addEventListener("click", (e) => busy(e.currentTarget, async () => {
    try { flash("cert-msg", await invoke("use_generated_cert"), "ok"); } catch (err) { flash("cert-msg", errText(err), "err"); }
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

  $("add-firewall").addEventListener("click", (e) => busy(e.currentTarget, async () => {
    flash("firewall-msg", "Waiting for the administrator prompt…");
    try {
      renderFirewall(await invoke("add_firewall_rules"));
      flash("firewall-msg", "Done.", "ok");
    } catch (err) {
      flash("firewall-msg", errText(err), "err");
    }
  }));
  $("recheck-firewall").addEventListener("click", (e) => busy(e.currentTarget, async () => {
    await checkFirewall();
    flash("firewall-msg", "Checked at " + clock(Date.now()) + ".");
  }));

  $("settings-form").addEventListener("submit", saveSettings);
  $("revert-settings").addEventListener("click", async () => {
    await loadSettings();
    flash("settings-msg", "Reverted to the saved settings.");
  });
}

async function main() {
  wire();
  await listen("status", (e) => render(e.payload));
  render(await invoke("get_status"));
  await loadSettings();
  checkFirewall();
  firewallTick();
  // Hidden to the tray: timers stop (Rust stops the status events too); shown: catch up at once.
  document.addEventListener("visibilitychange", () => {
    renderTimes();
    firewallTick();
  });
}

main().catch((e) => {
  document.body.prepend(el("div", { class: "banner warn", role: "alert", text: "The window failed to start: " + errText(e) }));
});
