#!/usr/bin/env bash
# Builds every plugin under plugins/ and every test guest under tests/guests/ as a component in
# target/components/<name>.wasm: Rust crates for wasm32-wasip2, Python projects (pyproject.toml)
# with componentize-py, JavaScript projects (package.json) with componentize-js.
#
# The toolchain recipe (rustup's wasm32-wasip2 target, or Debian's Rust with -Zbuild-std) is in
# plugins/wasm-cargo.sh, shared with `batch-host plugin build`.
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

crates=()
for dir in plugins/*/ tests/guests/*/; do
    [ -f "$dir/Cargo.toml" ] && crates+=("$(sed -n 's/^name = "\(.*\)"/\1/p' "$dir/Cargo.toml" | head -1)")
done

build() { "$ROOT/plugins/wasm-cargo.sh" --quiet -p "$1"; }

for crate in "${crates[@]}"; do
    build "$crate"
    file=${crate//-/_}
    src=$CARGO_TARGET_DIR/wasm32-wasip2/release/$file.wasm
    [ -f "$src" ] || src=$CARGO_TARGET_DIR/wasm32-wasip2/release/$crate.wasm
    cp -p "$src" "$OUT/$crate.wasm"
done
# Python and JavaScript projects: the role and entry point come from their manifests; the tools
# are installed into target/plugin-build/tools on first use (where `batch-host plugin build --target-dir target/plugin-build` finds them too) (plugins/componentize.sh).
polyglot=0
for dir in plugins/*/ tests/guests/*/; do
    dir=${dir%/}
    [ -f "$dir/pyproject.toml" ] || [ -f "$dir/package.json" ] || continue
    read -r _ name _ < <("$ROOT/plugins/componentize.sh" manifest "$dir")
    "$ROOT/plugins/componentize.sh" build "$dir" "$OUT/$name.wasm" wit sdk "$ROOT/target/plugin-build/tools"
    polyglot=$((polyglot + 1))
done
echo "plugins/build.sh: ${#crates[@]} Rust components and $polyglot Python/JavaScript components in target/components/"
