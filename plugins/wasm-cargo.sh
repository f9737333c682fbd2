#!/usr/bin/env bash
# Runs `cargo build --release --target wasm32-wasip2 ARGS…` with a toolchain that can build
# wasm32-wasip2 components on this machine, for plugins/build.sh and `batch-host plugin build`
# (which embeds this file).
#
# Where rustup has the wasm32-wasip2 target, this is plain cargo. Where it does not (rustup
# cannot download targets on our build machines), it uses Debian's Rust (rustc-web, with its std
# sources) to build std for wasm32-wasip2 (-Zbuild-std) and rustup's bundled wasm-component-ld
# as the linker, installing the Debian packages first if they are missing (and saying so).
set -euo pipefail
unset CARGO_ENCODED_RUSTFLAGS RUSTFLAGS

if rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    exec cargo build --release --target wasm32-wasip2 "$@"
fi
if ! [ -x /usr/bin/cargo ] || ! [ -d /usr/lib/wasm32-wasi ] || ! ls /usr/lib/rustlib/src/rust/library >/dev/null 2>&1; then
    echo "wasm-cargo: rustup has no wasm32-wasip2 target; installing Debian's rustc-web, cargo-web, rust-web-src and wasi-libc (apt-get)" >&2
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq rustc-web cargo-web rust-web-src wasi-libc >/dev/null
fi
command -v rustc >/dev/null || { echo "wasm-cargo: no rustc on PATH; install Rust with rustup (https://rustup.rs)" >&2; exit 1; }
TC=$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin
[ -x "$TC/wasm-component-ld" ] || { echo "wasm-cargo: $TC/wasm-component-ld not found; install Rust with rustup, or run: rustup target add wasm32-wasip2" >&2; exit 1; }
RUSTC_BOOTSTRAP=1 PATH=/usr/bin:$PATH:$TC/gcc-ld \
CARGO_TARGET_WASM32_WASIP2_LINKER=$TC/wasm-component-ld \
RUSTFLAGS="-C link-self-contained=no -L /usr/lib/wasm32-wasi" \
RUSTC=/usr/bin/rustc \
    exec /usr/bin/cargo build --release --target wasm32-wasip2 -Zbuild-std=std,panic_abort "$@"
