// "Ports & firewall": the three ports, whether each is in use and open to headsets (on Windows:
// the rule that decides on the headsets' network, every network's state, what "Fix the firewall"
// changes and what it did, what the user must change where no fix helps, and Windows' network
// settings when the headsets' network is Public), the commands to allow them elsewhere, and the
// periodic re-check while the window is shown.
import { $, setText, invoke, busy, copy, flash, errText, clock, stateCell, el, rebuild } from "../render.js";

let firewall = null;   // the last firewall view
let firewallAt = 0;    // when the firewall was last checked (Date.now())
let firewallTimer = 0; // the next periodic firewall check

function draw(v) {
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
  // The runtime binds its media ports for a session: unbound is only wrong while one is open.
  const open = v.sessions.length > 0;
  const mk = p.media_bound === total ? "good" : open && p.media_bound === 0 ? "bad" : "unknown";
  stateCell(cell(rows.media, "state"), mk, `${p.media_bound} of ${total} bound`,
    p.media_bound ? "" : open ? "a session is open but the runtime's media ports are not bound" : "the runtime binds these while a session runs");
  const [pk, pt] = portState(p.proxy, "listening", "not listening");
  stateCell(cell(rows.proxy, "state"), pk, pt, p.proxy === "open" ? "" : (p.proxy_error || v.listener.error || ""));
  drawFirewallCells();
}

// The rows by role; the signaling port is not needed from the LAN (headsets reach the Runtime
// through the gate): "not needed", and a warning if something opens it all the same.
const ROWS = { signaling: "port-signaling", media: "port-media", proxy: "port-proxy" };

function drawFirewallCells() {
  for (const [role, id] of Object.entries(ROWS)) {
    const td = $(id).querySelector('[data-k="fw"]');
    const r = firewall && firewall.rules.find((x) => x.role === role);
    if (!r) {
      stateCell(td, "unknown", "checking…");
      continue;
    }
    const windows = firewall.system === "windows";
    if (!r.needed) {
      if (r.present === true) stateCell(td, "unknown", "open, not needed", (r.note ? r.note + "; " : "") + "headsets reach the Runtime through the gate");
      else stateCell(td, "good", "not needed", "headsets reach the Runtime through the gate");
    } else if (r.present === true) stateCell(td, "good", "allowed", r.note);
    else if (r.present === false) stateCell(td, "bad", windows ? "blocked" : "no rule", r.note);
    else if (windows && r.note) stateCell(td, "unknown", "partly", r.note);
    else stateCell(td, "unknown", firewall.system === "none" ? "not checked" : "unknown", r.note);
  }
}

function drawFirewall(f) {
  firewall = f;
  setText("firewall-summary", f.summary);
  $("add-firewall").hidden = !f.can_add;
  const cmds = $("firewall-commands");
  cmds.hidden = !f.commands.length;
  setText("firewall-commands-text", f.commands.join("\n"));
  // Windows: the headsets' network and every network's state; what the fix changes; what the
  // user must change where no fix helps; the network settings when the headsets' network is Public.
  const lines = (id, items) => {
    $(id).hidden = !items.length;
    rebuild($(id), items.join("\n"), () => items.map((t) => el("li", { text: t })));
  };
  lines("firewall-networks", f.networks || []);
  lines("firewall-changes-list", f.changes || []);
  $("firewall-changes").hidden = !(f.changes || []).length;
  lines("firewall-must-list", f.must_change || []);
  $("firewall-must").hidden = !(f.must_change || []).length;
  $("network-settings").hidden = $("network-settings-why").hidden = !f.network_settings;
  drawFirewallCells();
}

// Also after settings are saved (settings.js): the ports follow them.
export async function checkFirewall() {
  firewallAt = Date.now();
  try {
    drawFirewall(await invoke("firewall_status"));
  } catch (e) {
    setText("firewall-summary", "Could not check the firewall: " + errText(e));
  }
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

function wire() {
  $("copy-firewall").addEventListener("click", (e) => copy(e.currentTarget, $("firewall-commands-text").textContent));
  $("add-firewall").addEventListener("click", (e) => busy(e.currentTarget, async () => {
    flash("firewall-msg", "Waiting for the administrator prompt…");
    try {
      const f = await invoke("add_firewall_rules");
      drawFirewall(f);
      // What the elevated step did, rule by rule (its exact error comes back as the failure).
      flash("firewall-msg", f.result && f.result.length ? "Done: " + f.result.join("; ") : "Nothing needed changing.", "ok");
    } catch (err) {
      flash("firewall-msg", errText(err), "err");
    }
  }));
  $("network-settings").addEventListener("click", async () => {
    try {
      await invoke("open_network_settings");
    } catch (err) {
      flash("firewall-msg", errText(err), "err");
    }
  });
  $("recheck-firewall").addEventListener("click", (e) => busy(e.currentTarget, async () => {
    await checkFirewall();
    flash("firewall-msg", "Checked at " + clock(Date.now()) + ".");
  }));
}

export default {
  parts: [["ports", (v) => [v.ports, v.media_total, v.listener.port, v.listener.error, v.sessions.length > 0], draw]],
  wire,
  start() {
    checkFirewall();
    firewallTick();
  },
  shown: firewallTick,
};
