//! The network check page (`GET /netcheck`): same origin as the trust page, so it works in the Quest
//! and Pico browsers once the certificate is accepted. Large type; plain JS, no external resources.

pub fn netcheck_page(version: &str) -> String {
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>Network check · CXR Gate</title><style>{STYLE}</style></head>
<body><main><div class="card">
<h1>Test my connection</h1>
<p class="muted">Measures this headset's link to the streaming PC against CloudXR's network requirements. Takes about 12 seconds.</p>
<p><button id="start" type="button">Start the test</button> <a class="button ghost" href="/">Back</a></p>
<div class="phases" aria-hidden="true"><span id="ph-ping">Round trip</span><span id="ph-down">Download</span><span id="ph-up">Upload</span></div>
<p id="state" role="status" aria-live="polite">Ready.</p>
<table id="results" hidden><thead><tr><th>Metric</th><th>Measured</th><th>Recommended</th><th>Minimum</th><th>Result</th></tr></thead><tbody></tbody></table>
<p id="overall" class="overall" hidden></p>
<p class="muted small">CXR Gate {version}. Packet loss cannot be measured over a WebSocket (TCP retransmits lost packets); the Wi-Fi band is not visible from a web page.</p>
</div></main>
<script>{SCRIPT}</script></body></html>"#
    )
}

const STYLE: &str = r#"
:root{color-scheme:light dark;--fg:#10151c;--bg:#f5f7fa;--card:#fff;--muted:#5b6673;--accent:#2a62d9;--pass:#14853b;--marginal:#b26b00;--fail:#c62828;--line:#8883}
@media (prefers-color-scheme:dark){:root{--fg:#eef2f6;--bg:#0f1318;--card:#1a2027;--muted:#9aa6b2;--accent:#7aa7ff;--pass:#3ccf6e;--marginal:#f0a500;--fail:#ff6b6b}}
*{box-sizing:border-box}body{margin:0;font:clamp(18px,2.3vw,28px)/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;background:var(--bg);color:var(--fg)}
main{max-width:1200px;margin:0 auto;padding:5vh 4vw}.card{background:var(--card);border-radius:28px;padding:1.2em 1.5em;box-shadow:0 8px 40px #0002}
h1{font-size:2em;margin:.1em 0 .3em}.muted{color:var(--muted)}.small{font-size:.75em}
button,a.button{font:inherit;padding:.5em 1.1em;border-radius:14px;border:0;background:var(--accent);color:#fff;cursor:pointer;text-decoration:none;display:inline-block}
a.ghost{background:transparent;color:var(--accent);border:2px solid var(--accent)}
button:disabled{opacity:.5;cursor:default}button:focus-visible,a.button:focus-visible{outline:4px solid var(--fg);outline-offset:3px}
.phases{display:flex;gap:.5em;margin:.8em 0}.phases span{flex:1;text-align:center;padding:.3em;border-radius:10px;background:var(--line);color:var(--muted);font-size:.8em}
.phases span.on{background:var(--accent);color:#fff}.phases span.done{background:var(--pass);color:#fff}
#state{min-height:1.5em;font-variant-numeric:tabular-nums}
table{width:100%;border-collapse:collapse;font-size:.8em;font-variant-numeric:tabular-nums}th,td{text-align:left;padding:.45em .4em;border-bottom:1px solid var(--line)}
.v{font-weight:700;text-transform:uppercase}.pass{color:var(--pass)}.marginal{color:var(--marginal)}.fail{color:var(--fail)}.info{color:var(--muted)}
.overall{font-size:1.3em;font-weight:700;min-height:1.5em}
"#;

const SCRIPT: &str = r#"
const $ = (id) => document.getElementById(id);
const CHUNK = 64 * 1024;
function setPhase(p) {
  for (const id of ['ping', 'down', 'up']) {
    const el = $('ph-' + id);
    const order = ['ping', 'down', 'up'];
    el.className = order.indexOf(id) < order.indexOf(p) ? 'done' : (id === p ? 'on' : '');
  }
}
function render(r) {
  const tb = document.querySelector('#results tbody');
  tb.textContent = '';
  for (const row of r.rows) {
    const tr = document.createElement('tr');
    for (const v of [row.metric, row.value, row.recommended, row.minimum]) {
      const td = document.createElement('td'); td.textContent = v; tr.appendChild(td);
    }
    const td = document.createElement('td'); td.className = 'v ' + row.verdict;
    td.textContent = row.verdict === 'info' ? '—' : row.verdict; tr.appendChild(td);
    tb.appendChild(tr);
  }
  $('results').hidden = false;
  const o = $('overall'); o.hidden = false; o.className = 'overall ' + r.overall;
  o.textContent = r.overall === 'pass' ? 'Good for CloudXR streaming.' :
    r.overall === 'marginal' ? 'Usable, but below the recommended values.' : 'Not good enough for smooth streaming.';
  document.body.dataset.result = JSON.stringify(r);
}
function run(force) {
  $('start').disabled = true; $('results').hidden = true; $('overall').hidden = true;
  $('state').textContent = 'Connecting…';
  const ws = new WebSocket('wss://' + location.host + '/netcheck/ws' + (force ? '?force=1' : ''));
  ws.binaryType = 'arraybuffer';
  let first = 0, last = 0, got = 0, firstLen = 0, finished = false;
  ws.onmessage = (ev) => {
    if (typeof ev.data !== 'string') {
      const now = performance.now();
      if (!first) { first = now; firstLen = ev.data.byteLength; } else { got += ev.data.byteLength; }
      last = now;
      return;
    }
    if (ev.data.startsWith('p:')) { ws.send(ev.data); return; }
    const m = JSON.parse(ev.data);
    if (m.type === 'busy') {
      finished = true; ws.close();
      if (!force && m.sessions > 0 && confirm(m.message + '\n\nTest anyway?')) { run(true); return; }
      $('state').textContent = m.message; $('start').disabled = false;
    } else if (m.type === 'phase') {
      setPhase(m.phase);
      if (m.phase === 'ping') $('state').textContent = 'Measuring round trip and jitter…';
      if (m.phase === 'down') $('state').textContent = 'Measuring download…';
      if (m.phase === 'up') { $('state').textContent = 'Measuring upload…'; upload(ws, m.seconds * 1000); }
    } else if (m.type === 'down_end') {
      ws.send(JSON.stringify({type: 'down_result', bytes: got, ms: last - first}));
    } else if (m.type === 'result') {
      finished = true; setPhase('end'); render(m.result);
      $('state').textContent = 'Done. The result is also shown in CXR Gate on the PC.';
      $('start').disabled = false; $('start').textContent = 'Test again';
    } else if (m.type === 'error') {
      finished = true; $('state').textContent = 'The test stopped: ' + m.message; $('start').disabled = false;
    }
  };
  ws.onerror = () => { if (!finished) $('state').textContent = 'Could not reach CXR Gate: is it still running?'; };
  ws.onclose = () => { if (!finished) { $('state').textContent = 'The connection closed before the test finished.'; } $('start').disabled = false; };
}
function upload(ws, ms) {
  const chunk = new Uint8Array(CHUNK).fill(0x5a);
  const end = performance.now() + ms;
  const pump = () => {
    while (ws.bufferedAmount < 4 * 1024 * 1024 && performance.now() < end) ws.send(chunk);
    if (performance.now() < end) { setTimeout(pump, 1); return; }
    const done = () => { if (ws.bufferedAmount > 0) { setTimeout(done, 5); return; } ws.send(JSON.stringify({type: 'up_end'})); };
    done();
  };
  pump();
}
$('start').addEventListener('click', () => run(false));
"#;

#[cfg(test)]
mod tests {
    #[test]
    fn page_has_the_controls_and_the_ws_path() {
        let p = super::netcheck_page("1.2.3");
        assert!(p.contains(r#"id="start""#));
        assert!(p.contains("/netcheck/ws"));
        assert!(p.contains("CXR Gate 1.2.3"));
    }
}
