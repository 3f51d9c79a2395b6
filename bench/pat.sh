#!/usr/bin/env bash
# PAT benchmark: builds release, seeds a fresh Postgres database, runs two
# Tessera instances on loopback (A with the verification cache, B without),
# and prints in one run, with wrk at the same thread/connection count:
#   1. warm PAT-authenticated request / bare route throughput   (goal >= 0.9;
#      median of 60 rounds of 1 s turns, each token route against the bare
#      runs on either side of it; the gateway check too. PAT_BENCH_ONLY=warm
#      stops after this figure)
#   2. database writes caused by 60 s of load on one token
#   3. cold verification over 10,000 distinct tokens / pgbench -S (goal >= 0.5)
#   4. p99 of PAT requests while 100 wrong-password sign-ins run (goal <= 5 ms)
#   5. p99 of cached gateway checks: one token vs 99,000 distinct tokens in use
#      (instance C, cache kept 10 minutes; the cache holds 100,000)
# Needs wrk, pgbench (postgresql-contrib ships it with Debian's postgresql) and
# a Postgres at $TESSERA_TEST_POSTGRES_URL (default postgres:postgres@127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)" >&2; exit 1; }
command -v pgbench >/dev/null || { echo "pgbench is missing (Debian's postgresql package)" >&2; exit 1; }
[ "${BENCH_SKIP_BUILD:-0}" = 1 ] || make build >/dev/null

PG=${TESSERA_TEST_POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
DB=tessera_bench_$$
PGB=tessera_pgbench_$$
psql "$PG" -qc "CREATE DATABASE $DB" && psql "$PG" -qc "CREATE DATABASE $PGB"
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$PG" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" || true
  psql "$PG" -qc "DROP DATABASE IF EXISTS $PGB WITH (FORCE)" || true
  rm -rf "$work"
}
trap cleanup EXIT

start() { # port cache_secs
  TESSERA_ADDR=127.0.0.1:$1 DATABASE_URL="${PG%/*}/$DB" TESSERA_SITE_ROOT=target/site \
  TESSERA_VERIFY_CACHE_SECS=$2 TESSERA_MAX_TOKEN_DAYS=365 RUST_LOG=warn \
  TESSERA_LOGIN_MAX_FAILURES_PER_IP=100000000 TESSERA_LOGIN_MAX_FAILURES_PER_ACCOUNT=100000000 \
    ./target/release/tessera >"$work/server-$1.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$1/readyz" >/dev/null && return; sleep 0.1; done
  echo "server on $1 did not start" >&2; exit 1
}
start 3401 30   # A: verification cache on (default)
start 3402 0    # B: every verification goes to the database
start 3403 600  # C: cache entries kept 10 minutes (figure 5)
pgbench -i -q -s 10 "${PG%/*}/$PGB" >/dev/null 2>&1

python3 bench/pat_bench.py --a http://127.0.0.1:3401 --b http://127.0.0.1:3402 --c http://127.0.0.1:3403 \
  --pg "${PG%/*}/$DB" --pgbench "${PG%/*}/$PGB" --work "$work"
