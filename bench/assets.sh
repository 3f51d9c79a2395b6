#!/usr/bin/env bash
# Static assets from memory against the SSR sign-in page and /healthz, in
# one run with the same wrk settings (-t2 -c32, 3 rounds of 5 s per route,
# shuffled; medians). The release binary on a fresh SQLite file.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)" >&2; exit 1; }
[ "${BENCH_SKIP_BUILD:-0}" = 1 ] || make build >/dev/null
work=$(mktemp -d)
port=3190
TESSERA_ADDR=127.0.0.1:$port DATABASE_URL="sqlite://$work/bench.db" RUST_LOG=warn \
  ./target/release/tessera >"$work/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
css=$(ls target/site/pkg/*.css | head -1 | xargs basename)
wasm=$(ls target/site/pkg/*.wasm | head -1 | xargs basename)
rate() { wrk -t2 -c32 -d5s -H "Accept-Encoding: br, gzip" "http://127.0.0.1:$port$1" | awk '/Requests\/sec/ {print int($2)}'; }
declare -A runs
routes=("/healthz" "/signin" "/pkg/$css" "/pkg/$wasm" "/favicon.svg")
for round in 1 2 3; do
  for r in $(printf '%s\n' "${routes[@]}" | shuf); do
    runs[$r]+="$(rate "$r") "
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
signin=$(echo "${runs[/signin]}" | median)
for r in "${routes[@]}"; do
  m=$(echo "${runs[$r]}" | median)
  printf '%-48s %8s req/s (rounds: %s) = %s x the SSR sign-in page\n' "$r" "$m" "${runs[$r]% }" "$(awk -v a="$m" -v b="$signin" 'BEGIN {printf "%.2f", a/b}')"
done
curl -sI -H 'Accept-Encoding: br' "http://127.0.0.1:$port/pkg/$wasm" | grep -iE '^(content-encoding|content-length|etag|vary|cache-control):'
