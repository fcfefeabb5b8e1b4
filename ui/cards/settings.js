// "Settings": the form, built here from FORM (labels and hints); which fields it sends, their saved
// values and defaults come with get_settings, from the settings table in Rust.
import { $, setText, el, invoke, busy, flash, errText } from "../render.js";
import { checkFirewall } from "./ports.js";

const NUMBER = "number", FOLDER = "folder", SWITCH = "switch";
// Fieldsets of rows; a row is [id, label, hint, kind?] or a pair of them side by side.
const FORM = [
  ["CloudXR Runtime", "", [
    ["backend_host", "Backend host", "Where the runtime runs; localhost when it is on this PC."],
    ["backend_port", "Backend port", "The runtime's signaling port.", NUMBER],
    ["allowed_backends", "Allowed backends", "Other runtimes that /ip:port/ path routing may reach: IP:PORT or IP:FIRST-LAST, comma-separated (a bare IP means the backend port). Nothing else, loopback included, is reachable."],
  ]],
  ["Proxy & certificate", "", [
    ["proxy_port", "Proxy port", "Headsets connect to wss://this-pc:port.", NUMBER],
    ["cert_hostnames", "Extra certificate names", "Added to the generated certificate besides the LAN IPs."],
  ]],
  ["Health checks", "", [
    ["health_interval", "Interval", "Time between checks, e.g. 2s or 500ms."],
    [["health_rise", "Rise", "Passes before UP.", NUMBER], ["health_fall", "Fall", "Failures before DOWN.", NUMBER]],
  ]],
  ["Web app", "span-all", [
    [["web_root", "Web app folder", "Your built CloudXR.js client (the folder with its index.html), served at https://this-pc:port/app/ — the same address as the proxy, so one certificate acceptance covers the page and its connection. Empty for none.", FOLDER],
      ["app_query", "Web app query", "Added to /app/ in the QR code and on the trust page. Placeholders: {ip}, {port}, {wss}. Empty for none."]],
  ]],
  ["Headsets on USB", "", [
    ["adb_dir", "adb folder", "Where adb is (Google's platform-tools), when it is not on PATH, in the Android SDK, Meta Quest Developer Hub or SideQuest. Empty: look there.", FOLDER],
  ]],
  ["Startup", "", [
    ["start_at_login", "Start at login", "Starts hidden in the tray.", SWITCH],
    ["start_minimized", "Start minimized to tray", "Also when started by hand.", SWITCH],
  ]],
];

function field([id, label, hint, kind]) {
  const msg = el("p", { class: "field-msg", id: "msg-" + id, "data-hint": hint });
  if (kind === SWITCH) {
    return el("div", { class: "field check" },
      el("label", { class: "switch" },
        el("input", { type: "checkbox", role: "switch", id, name: id }),
        el("span", { class: "switch-track", "aria-hidden": "true" }),
        el("span", { text: label })),
      msg);
  }
  const attrs = { id, name: id, type: "text" };
  if (kind === NUMBER) attrs.inputmode = "numeric";
  else attrs.spellcheck = "false";
  attrs.autocomplete = "off";
  let input = el("input", attrs);
  if (kind === FOLDER) {
    input = el("div", { class: "url-row" }, input,
      el("button", { type: "button", class: "btn", id: id + "-browse", "data-testid": id + "-browse", text: "Browse…" }));
  }
  return el("div", { class: "field" }, el("label", { for: id, text: label }), input, msg);
}

function buildForm() {
  $("form-grid").replaceChildren(...FORM.map(([legend, cls, rows]) =>
    el("fieldset", cls ? { class: cls } : {}, el("legend", { text: legend }),
      ...rows.map((r) => Array.isArray(r[0]) ? el("div", { class: "field-pair" }, ...r.map(field)) : field(r)))));
}

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
    $(f).placeholder = f === "web_root" ? "none" : f === "app_query" ? "empty: no query" : f === "adb_dir" ? "searched for" : (s.defaults[f] || "");
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

function wire() {
  buildForm();
  // Browse… fills the field (Rust shows the dialog and checks the folder); Save applies it.
  const browse = (field, command, done) => $(field + "-browse").addEventListener("click", (e) => busy(e.currentTarget, async () => {
    try {
      const pick = await invoke(command);
      if (!pick) return;
      $(field).value = pick.path;
      fieldMsg(field, pick.problem || done, pick.problem ? "err" : "");
    } catch (err) {
      fieldMsg(field, errText(err), "err");
    }
  }));
  browse("web_root", "choose_web_root", "Press Save & apply to serve it.");
  browse("adb_dir", "choose_adb_dir", "Press Save & apply to use it.");
  $("settings-form").addEventListener("submit", saveSettings);
  $("revert-settings").addEventListener("click", async () => {
    await loadSettings();
    flash("settings-msg", "Reverted to the saved settings.");
  });
}

export default { wire, start: loadSettings };
