//! The plain Kubernetes manifests (`deploy/k8s/`, rendered from the Helm chart) configure the gate
//! through the HAProxy container's variables: every value they set must be one the engine accepts,
//! so a chart example can never start a gate that exits with a settings error.

use std::collections::BTreeMap;
use std::path::Path;

use cxr_gate_core::Config;

/// `- name: X` followed by `value: "Y"` pairs, in file order.
fn env_vars(yaml: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = yaml.lines().map(str::trim).peekable();
    while let Some(line) = lines.next() {
        let Some(name) = line.strip_prefix("- name: ") else { continue };
        if let Some(value) = lines.peek().and_then(|l| l.strip_prefix("value: ")) {
            out.insert(name.trim_matches('"').to_string(), value.trim_matches('"').to_string());
        }
    }
    out
}

#[test]
fn every_manifest_sets_values_the_engine_accepts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/k8s");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let vars = env_vars(&std::fs::read_to_string(&path).unwrap());
        assert!(vars.contains_key("BACKEND_HOST"), "{}: no BACKEND_HOST found", path.display());
        let mut cfg = Config::default();
        cfg.apply_env(|k| vars.get(k).cloned())
            .and_then(|()| cfg.validate())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        checked += 1;
    }
    assert!(checked >= 2, "only {checked} manifests in {}", dir.display());
}
