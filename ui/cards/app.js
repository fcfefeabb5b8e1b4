// The top bar (version, demo badge, this run's overrides), the banners and the footer's data folder.
import { $, setText, invoke } from "../render.js";

function draw(v) {
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

export default {
  parts: [["app", (v) => [v.app, !!(v.cert && v.cert.changed_since_last_run)], draw]],
  wire() {
    $("notice-dismiss").addEventListener("click", () => invoke("dismiss_notice"));
  },
};
