# shellcheck shell=bash
# Sourced by the Windows scripts (setup-windows.sh, build-windows.sh, test-windows.sh): the environment
# for `cargo --target x86_64-pc-windows-gnu` on Debian 12 without rustup targets. Debian's rustc-web
# (installed by setup-windows.sh) with its std sources builds std for Windows itself (-Zbuild-std,
# allowed on a stable compiler by RUSTC_BOOTSTRAP); mingw-w64 links; wine runs the .exe files.
# Only this shell's environment changes: the Linux build keeps the rustup toolchain.

export WIN_TARGET=x86_64-pc-windows-gnu
# Debian's toolchain first: rustup's has no Windows std and no std sources.
export PATH=/usr/bin:/bin:/usr/sbin:/sbin:$PATH
export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc CARGO=/usr/bin/cargo
unset RUSTUP_TOOLCHAIN RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER
export RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_BUILD_STD=std,panic_abort
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER=wine
# ring's build script compiles C and assembly for the target.
export CC_x86_64_pc_windows_gnu=x86_64-w64-mingw32-gcc CXX_x86_64_pc_windows_gnu=x86_64-w64-mingw32-g++
export AR_x86_64_pc_windows_gnu=x86_64-w64-mingw32-ar
# Its own target dir: another compiler's artifacts must not evict the Linux build's.
export CARGO_TARGET_DIR="${CXR_WINDOWS_TARGET_DIR:-$PWD/target/windows}"
# Test binaries without debug info link much faster with mingw's ld and nothing here reads it.
export CARGO_PROFILE_DEV_DEBUG=0 CARGO_PROFILE_TEST_DEBUG=0
export WINEPREFIX="${WINEPREFIX:-$HOME/.cache/cxr-gate/wineprefix}" WINEDEBUG=-all
# No "wine is configuring" dialogs, no Mono/Gecko installers (nothing here needs them; no internet anyway).
export WINEDLLOVERRIDES="mscoree,mshtml="
