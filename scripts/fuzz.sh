#!/usr/bin/env bash
# `make fuzz`: runs every cargo-fuzz target (fuzz/fuzz_targets) for
# FUZZ_SECONDS each (default 60) with libFuzzer and AddressSanitizer.
# Installs what it needs from the registries when missing: a nightly
# toolchain and cargo-fuzz. Crashes land in fuzz/artifacts/<target>/ and
# fail the run; the corpus grows in fuzz/corpus/<target>/ (not committed).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
seconds=${FUZZ_SECONDS:-60}

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "==> installing the nightly toolchain (cargo-fuzz needs it)"
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  (cd /tmp && cargo install cargo-fuzz --locked)
fi

cd fuzz
targets=$(cargo +nightly fuzz list)
cargo +nightly fuzz build --release 2>&1 | tail -n 3
for t in $targets; do
  mkdir -p "corpus/$t"
  echo "==> fuzzing $t for ${seconds}s"
  cargo +nightly fuzz run --release "$t" "corpus/$t" -- \
    -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 2>&1 |
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE|==[0-9]+==ERROR|SUMMARY)' || true
  if [ -n "$(ls -A "artifacts/$t" 2>/dev/null)" ]; then
    echo "!! $t found a crash: fuzz/artifacts/$t" >&2
    exit 1
  fi
done
echo "==> no crash in any target (${seconds}s each)"
