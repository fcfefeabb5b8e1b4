// CXR Gate window: the entry module. Renders what Rust sends (get_status / the "status" event) through
// the cards in ui/cards/, one module per card, and holds no state of its own beyond form controls,
// the last view it drew (render.js) and what each part of the window was drawn from.
// Each part is redrawn only when the view fields it reads changed, and nothing runs on a timer while
// the window is hidden: an idle window should cost no CPU (docs/BENCHMARKS.md, "Desktop window").
//
// A card module (ui/cards/*.js) default-exports an object with any of:
//   parts: [[name, (view) => key, draw(view)], …]  drawn from each status when JSON(key) changed
//   wire()                                         once at start: its buttons and inputs
//   start()                                        once after the first status (may be async)
//   times(view, now) → ms                          redraws relative times ("3 min ago"); returns when
//                                                  its text next changes (Infinity if never)
//   shown()                                        the window was shown or hidden (document.hidden)
// To add a card: its markup in index.html, its styles in cards.css, a module in ui/cards/ (cards/network.js
// is the smallest example), and one entry in CARDS below.

import { invoke, listen, el, errText, setView, view } from "./render.js";
import app from "./cards/app.js";
import status from "./cards/status.js";
import connect from "./cards/connect.js";
import cert from "./cards/cert.js";
import ports from "./cards/ports.js";
import sessions from "./cards/sessions.js";
import headsets from "./cards/headsets.js";
import usb from "./cards/usb.js";
import network from "./cards/network.js";
import settings from "./cards/settings.js";

// In drawing order (network reads the address connect selected); started in this order too, so the
// settings are loaded before the first firewall check.
const CARDS = [app, status, connect, cert, settings, ports, headsets, usb, sessions, network];
const PARTS = CARDS.flatMap((c) => c.parts || []);
const drawn = {}; // part name -> the key it was last drawn from
let timesTimer = 0; // the next redraw of relative times

function render(v) {
  setView(v);
  for (const [name, key, draw] of PARTS) {
    const k = JSON.stringify(key(v));
    if (drawn[name] === k) continue;
    drawn[name] = k;
    draw(v);
  }
  renderTimes();
}

// Relative times ("3 min ago") move without a new status: redrawn when their text next changes
// (at least once a minute, for the certificate's days), and not at all while the window is hidden.
function renderTimes() {
  clearTimeout(timesTimer);
  timesTimer = 0;
  const v = view();
  if (!v || document.hidden) return;
  const now = Date.now();
  let next = 60000;
  for (const c of CARDS) if (c.times) next = Math.min(next, c.times(v, now));
  timesTimer = setTimeout(renderTimes, next + 20);
}

async function main() {
  for (const c of CARDS) if (c.wire) c.wire();
  await listen("status", (e) => render(e.payload));
  render(await invoke("get_status"));
  for (const c of CARDS) if (c.start) await c.start();
  // Hidden to the tray: timers stop (Rust stops the status events too); shown: catch up at once.
  document.addEventListener("visibilitychange", () => {
    renderTimes();
    for (const c of CARDS) if (c.shown) c.shown();
  });
}

main().catch((e) => {
  document.body.prepend(el("div", { class: "banner warn", role: "alert", text: "The window failed to start: " + errText(e) }));
});
