//! The desktop binary: everything is in the library (lib.rs); this only hands over the exit code.
// No console window behind the app on Windows release builds (console.rs attaches to the
// terminal's console for --help, --version and flag errors).
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    std::process::exit(cxr_gate_app::run());
}
