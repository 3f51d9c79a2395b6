#!/usr/bin/env bash
# Measures the tokens page: server render time with 1,000 tokens (median of
# N requests, SQLite and — when reachable — Postgres), and the size of the
# shipped WASM + JS bundle. Run after `make build`. Traffic stays on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-3217}
N=${N:-101}
BIN=./target/release/tessera
[ -x "$BIN" ] || { echo "build first: make build" >&2; exit 1; }

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
p90() { sort -n | awk '{a[NR]=$1} END {print a[int(NR*0.9)]}'; }

measure() {
  local url=$1 label=$2
  local dir; dir=$(mktemp -d)
  TESSERA_ADDR=127.0.0.1:$PORT DATABASE_URL=$url TESSERA_SITE_ROOT=target/site RUST_LOG=warn \
    "$BIN" >"$dir/server.log" 2>&1 &
  local pid=$!
  trap 'kill $pid 2>/dev/null || true' RETURN
  for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null && break; sleep 0.2; done
  local jar=$dir/jar base=http://127.0.0.1:$PORT
  curl -fs -o /dev/null -c "$jar" -d "username=bench$RANDOM&password=bench+horse+battery+staple&confirm=bench+horse+battery+staple" "$base/signup"
  for i in $(seq 1 1000); do
    curl -fs -o /dev/null -b "$jar" -H 'content-type: application/json' \
      -d "{\"form\":{\"name\":\"bench token $i\",\"expiry\":\"90\",\"scope_mode\":\"custom\",\"levels\":{\"code\":\"read\",\"build\":\"write\"}}}" \
      "$base/rpc/tokens/create"
  done
  curl -fs -o /dev/null -b "$jar" "$base/profile/security/tokens"   # warm-up
  local times=$dir/times
  for _ in $(seq 1 "$N"); do
    curl -fs -o /dev/null -b "$jar" -w '%{time_total}\n' "$base/profile/security/tokens"
  done > "$times"
  local bytes; bytes=$(curl -fs -b "$jar" "$base/profile/security/tokens" | wc -c)
  printf '%-9s 1,000 tokens, first page (50 rows): median %.1f ms, p90 %.1f ms over %d requests; HTML %d bytes\n' \
    "$label" "$(median < "$times" | awk '{print $1*1000}')" "$(p90 < "$times" | awk '{print $1*1000}')" "$N" "$bytes"
  for _ in $(seq 1 "$N"); do
    curl -fs -o /dev/null -b "$jar" -w '%{time_total}\n' "$base/profile/security/tokens?q=token+99&sort=name"
  done > "$times"
  printf '%-9s search "token 99" sorted by name: median %.1f ms\n' "$label" "$(median < "$times" | awk '{print $1*1000}')"
  kill $pid; wait $pid 2>/dev/null || true
  rm -rf "$dir"
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r)"
tmp=$(mktemp -d)
measure "sqlite://$tmp/bench.db" "SQLite"
rm -rf "$tmp"
PG=${TESSERA_TEST_POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
if command -v psql >/dev/null && psql "$PG" -qc 'select 1' >/dev/null 2>&1; then
  db=tessera_bench_$$
  psql "$PG" -qc "CREATE DATABASE $db"
  measure "${PG%/*}/$db" "Postgres"
  psql "$PG" -qc "DROP DATABASE $db WITH (FORCE)"
fi

echo "shipped bundle (target/site/pkg):"
for f in target/site/pkg/*.wasm target/site/pkg/*.js; do
  [ -f "$f" ] || continue
  printf '  %-50s raw %7d B   brotli %7d B   gzip %7d B\n' "$(basename "$f")" \
    "$(stat -c %s "$f")" "$(stat -c %s "$f.br" 2>/dev/null || echo 0)" "$(stat -c %s "$f.gz" 2>/dev/null || echo 0)"
done
