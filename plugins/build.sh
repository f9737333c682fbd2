#!/usr/bin/env bash
# Builds every plugin under plugins/ and every test guest under tests/guests/ as a wasm32-wasip2
# component and copies them to target/components/<crate>.wasm.
#
# Where rustup has the wasm32-wasip2 target, this is a plain `cargo build --target wasm32-wasip2`.
# Where it does not (rustup cannot download targets on our build machines), it uses Debian's
# Rust (rustc-web, with its std sources) to build std for wasm32-wasip2 (-Zbuild-std) and
# rustup's bundled wasm-component-ld as the linker, installing the Debian packages if missing.
#
# Each crate is built in its own cargo invocation so the SDK's role features are never unified
# across plugins (a component must carry exactly one world). Guests share one target dir
# (target/guests) so std is compiled once. Idempotent; fast when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/target/components
mkdir -p "$OUT"
export CARGO_TARGET_DIR=$ROOT/target/guests
unset CARGO_ENCODED_RUSTFLAGS RUSTFLAGS

crates=()
for dir in plugins/*/ tests/guests/*/; do
    [ -f "$dir/Cargo.toml" ] && crates+=("$(sed -n 's/^name = "\(.*\)"/\1/p' "$dir/Cargo.toml" | head -1)")
done

if rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip2; then
    build() { cargo build --quiet --release --target wasm32-wasip2 -p "$1"; }
else
    if ! [ -x /usr/bin/cargo ] || ! [ -d /usr/lib/wasm32-wasi ] || ! ls /usr/lib/rustlib/src/rust/library >/dev/null 2>&1; then
        echo "plugins/build.sh: installing Debian's rustc-web, cargo-web, rust-web-src and wasi-libc" >&2
        if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO=sudo; fi
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq rustc-web cargo-web rust-web-src wasi-libc >/dev/null
    fi
    TC=$(rustc --print sysroot)/lib/rustlib/x86_64-unknown-linux-gnu/bin
    [ -x "$TC/wasm-component-ld" ] || { echo "plugins/build.sh: $TC/wasm-component-ld not found (rustup toolchain required)" >&2; exit 1; }
    build() {
        RUSTC_BOOTSTRAP=1 PATH=/usr/bin:$PATH:$TC/gcc-ld \
        CARGO_TARGET_WASM32_WASIP2_LINKER=$TC/wasm-component-ld \
        RUSTFLAGS="-C link-self-contained=no -L /usr/lib/wasm32-wasi" \
        RUSTC=/usr/bin/rustc \
            /usr/bin/cargo build --quiet --release --target wasm32-wasip2 \
            -Zbuild-std=std,panic_abort -p "$1"
    }
fi

for crate in "${crates[@]}"; do
    build "$crate"
    file=${crate//-/_}
    src=$CARGO_TARGET_DIR/wasm32-wasip2/release/$file.wasm
    [ -f "$src" ] || src=$CARGO_TARGET_DIR/wasm32-wasip2/release/$crate.wasm
    cp -p "$src" "$OUT/$crate.wasm"
done
echo "plugins/build.sh: ${#crates[@]} components in target/components/"
