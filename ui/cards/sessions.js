// "Sessions": the open tunnels with their traffic, the recent ones, and the log.
import { $, setText, el, rebuild, copy, clock, duration, bytes, untilChange, view } from "../render.js";

function drawSessions(v) {
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

function drawLog(v) {
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

export default {
  parts: [
    ["sessions", (v) => [v.sessions, v.recent_sessions], drawSessions],
    ["log", (v) => v.log, drawLog],
  ],
  wire() {
    $("copy-log").addEventListener("click", (e) => {
      const lines = (view() && view().log) || [];
      const text = lines.map((l) => `${new Date(l.ts_ms).toISOString()} ${l.level.toUpperCase().padEnd(5)} ${l.msg}`).join("\n");
      copy(e.currentTarget, text);
    });
  },
  times(v, now) {
    let next = Infinity;
    for (const s of v.sessions) {
      const tr = document.querySelector(`[data-session="${s.id}"]`);
      if (tr) setText(tr.querySelector('[data-k="since"]'), `${clock(s.started_ms)} · ${duration(now - s.started_ms)}`);
      next = Math.min(next, untilChange(now - s.started_ms, false));
    }
    return next;
  },
};
