#!/usr/bin/env bash
# Quick warm-path check of one release binary: alternates GET /healthz and an
# authenticated GET /api/v1/me with wrk (2 threads, 32 connections, SECS s each,
# default 1) for ROUNDS rounds (default 40: past the cache's 30 s lifetime) on a
# fresh SQLite file and prints the median round:
#   median: <me ÷ healthz> <healthz req/s> <me req/s>
# Short rounds cancel the machine's own drift: on the 2-core VM, 1 s x 30
# repeated within ±0.02 where 2 s x 8 spread ±0.04 (docs/performance.md, session 21).
# Usage: [SECS=1] bench/warm_ratio.sh BINARY PORT [ROUNDS]   (binaries back to back = an A/B)
set -euo pipefail
BIN=$1; PORT=$2; ROUNDS=${3:-40}; SECS=${SECS:-1}
dir=$(mktemp -d)
TESSERA_ADDR=127.0.0.1:$PORT DATABASE_URL=sqlite://$dir/b.db TESSERA_SITE_ROOT=target/site RUST_LOG=warn $BIN >$dir/log 2>&1 &
pid=$!; trap 'kill $pid; wait $pid 2>/dev/null; rm -rf $dir' EXIT
for _ in $(seq 1 50); do curl -fs http://127.0.0.1:$PORT/readyz >/dev/null && break; sleep 0.1; done
pw="correct horse battery staple"
curl -fs -o /dev/null -c $dir/jar --data-urlencode username=mb --data-urlencode "password=$pw" --data-urlencode "confirm=$pw" http://127.0.0.1:$PORT/signup
tok=$(curl -fs -b $dir/jar -H 'content-type: application/json' -d '{"form":{"name":"mb","expiry":"30","scope_mode":"full"}}' http://127.0.0.1:$PORT/rpc/tokens/create | python3 -c 'import json,sys;print(json.load(sys.stdin)["Done"]["secret"])')
rps() { wrk -t2 -c32 -d${SECS}s "$@" | awk '/Requests\/sec/ {print $2}'; }
rps -H "Authorization: Bearer $tok" http://127.0.0.1:$PORT/api/v1/me >/dev/null
for i in $(seq 1 $ROUNDS); do
  b=$(rps http://127.0.0.1:$PORT/healthz); p=$(rps -H "Authorization: Bearer $tok" http://127.0.0.1:$PORT/api/v1/me)
  python3 -c "print(f'{$p/$b:.3f} {$b:.0f} {$p:.0f}')"
done | sort -n | awk '{a[NR]=$0} END {print "median:", a[int((NR+1)/2)]}'
