// "Network": results of "Test my connection" on a headset (newest first), judged against CloudXR's table.
import { $, setText, el, rebuild, dateTime } from "../render.js";
import { selectedAddress } from "./connect.js";

const VERDICT = { pass: ["good", "pass"], marginal: ["unknown", "marginal"], fail: ["bad", "fail"], info: ["unknown", "—"] };

function draw(v) {
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

export default {
  parts: [["network", (v) => [v.netchecks, (selectedAddress(v) || {}).trust_url], draw]],
};
