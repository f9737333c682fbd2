#!/usr/bin/env bash
# `make fuzz`: runs every cargo-fuzz target for FUZZ_SECONDS (default 60) each, starting from the
# committed seeds in fuzz/seeds/<target>. New corpus entries go to fuzz/corpus/<target> and
# crashes to fuzz/artifacts/<target> (both ignored by git). A crash fails the run and prints the
# command that replays it.
set -euo pipefail
cd "$(dirname "$0")"
seconds="${FUZZ_SECONDS:-60}"
targets="${FUZZ_TARGETS:-job_yaml param context}"
targets="${targets//,/ }"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: installing cargo-fuzz from crates.io (cargo install cargo-fuzz --locked)"
    cargo install cargo-fuzz --locked
fi
# libFuzzer's instrumentation needs nightly flags: use a nightly toolchain when rustup has one,
# otherwise let the stable compiler accept them.
if rustup run nightly rustc --version >/dev/null 2>&1; then
    toolchain=(+nightly)
else
    echo "fuzz/run.sh: no nightly toolchain; building with RUSTC_BOOTSTRAP=1 on stable"
    export RUSTC_BOOTSTRAP=1
    toolchain=()
fi
for t in $targets; do
    mkdir -p "corpus/$t"
    echo "== fuzz $t for ${seconds}s"
    # -timeout: an input that takes over 10 s is a hang; -rss_limit_mb bounds memory blow-ups.
    cargo "${toolchain[@]}" fuzz run "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        || { echo "fuzz/run.sh: $t found a failing input; replay it with: cd fuzz && cargo ${toolchain[*]} fuzz run $t artifacts/$t/<file>"; exit 1; }
done
echo "fuzz/run.sh: no target panicked or hung (${seconds}s each)"
