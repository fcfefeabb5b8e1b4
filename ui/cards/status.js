// The status strip: the CloudXR Runtime and the wss:// proxy (the headsets tile is headsets.js').
import { $, setText, invoke, busy, clock, agoMinutes, untilChange } from "../render.js";

function drawRuntime(v) {
  const st = $("runtime-state");
  const word = { up: "UP", down: "DOWN", checking: "CHECKING" }[v.runtime];
  st.dataset.state = v.runtime;
  setText(st, word);
  setText("runtime-backend", v.backend.addr);
  setText("runtime-error", v.runtime === "down" && v.backend.last_error ? v.backend.last_error : "");
}

function drawProxy(v) {
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

export default {
  parts: [
    ["runtime", (v) => [v.runtime, v.backend.addr, v.backend.last_error], drawRuntime],
    ["proxy", (v) => v.listener, drawProxy],
  ],
  wire() {
    $("restart-proxy").addEventListener("click", (e) => busy(e.currentTarget, () => invoke("restart_proxy")));
  },
  times(v, now) {
    const since = v.backend.since_ms;
    setText("runtime-since", since ? `since ${clock(since)} · ${agoMinutes(since)}` : "");
    return since ? untilChange(now - since, true) : Infinity;
  },
};
