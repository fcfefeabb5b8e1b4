// The window's small toolkit: the Tauri calls, DOM helpers that touch the page only when something
// changed, text formats, and the last status view drawn. Every card module builds on these.

export const { invoke } = window.__TAURI__.core;
export const { listen } = window.__TAURI__.event;

export const $ = (id) => document.getElementById(id);

// The last status view drawn: for handlers that redraw without a new status (a changed <select>).
let lastView = null;
export const view = () => lastView;
export function setView(v) { lastView = v; }

// ------------------------------------------------------------------ DOM

export function setText(el, text) {
  if (typeof el === "string") el = $(el);
  text = text == null ? "" : String(text);
  if (el && el.textContent !== text) el.textContent = text;
}

export function el(tag, attrs = {}, ...children) {
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
export function rebuild(container, key, build) {
  if (container.dataset.key === key) return false;
  container.dataset.key = key;
  container.replaceChildren(...build());
  return true;
}

// A table cell holding one state pill and an optional note, rebuilt only when they change.
export function stateCell(td, kind, text, note) {
  const key = `${kind}|${text}|${note || ""}`;
  rebuild(td, key, () => {
    const out = [el("span", { class: "pill " + kind, text })];
    if (note) out.push(el("span", { class: "cell-note", text: note }));
    return out;
  });
}

export function flash(id, text, kind) {
  const m = $(id);
  m.className = "msg" + (kind ? " " + kind : "");
  m.textContent = text;
}

export function errText(e) {
  if (e == null) return "Something went wrong.";
  if (typeof e === "string") return e;
  if (e.message) return e.message;
  return JSON.stringify(e);
}

// A button that shows "Copied" for a moment (fixed min-width in CSS, so nothing moves).
export async function copy(button, text) {
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
export async function busy(button, fn) {
  button.disabled = true;
  try { return await fn(); } finally { button.disabled = false; }
}

// ------------------------------------------------------------------ text

export function clock(ms) {
  return ms ? new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" }) : "";
}

export function dateTime(ms) {
  return new Date(ms).toLocaleString([], { year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

export function duration(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${m % 60} min`;
  return `${Math.floor(h / 24)} days`;
}

export function ago(ms) {
  return ms ? `${duration(Date.now() - ms)} ago` : "";
}

// "5 min ago" where ago() says "5 min 3 s ago": for the runtime tile (its clock time beside it has
// the seconds) and the headsets' "last seen". A text that changes every second costs a repaint every
// second, which is most of what an idle window costs (about 4 % of a core under Xvfb); this one then
// changes once a minute.
export function agoMinutes(ms) {
  const d = Date.now() - ms;
  return ms && d >= 60000 && d < 3600000 ? `${Math.floor(d / 60000)} min ago` : ago(ms);
}

// Milliseconds until duration(elapsed) shows another text (agoMinutes' when `minutes`).
export function untilChange(elapsed, minutes) {
  const step = elapsed < 60000 || (elapsed < 3600000 && !minutes) ? 1000 : 60000;
  return elapsed < 0 ? 1000 : step - (elapsed % step);
}

export function bytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let v = n / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}
