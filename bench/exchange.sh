#!/usr/bin/env bash
# Workload identity exchange benchmark (issue 27): one release binary on a
# fresh store, the tests' real OIDC issuer (server/tests/it/workload_support/
# issuer.py, PyJWT + cryptography) on loopback, one trust rule. With wrk at
# the same threads and connections, alternating ROUNDS rounds of SECS s:
#   - POST /oauth/token, each request a fresh RS256 ID token (warm JWKS: the
#     keys are fetched once before the rounds), every one minting a token
#   - POST /api/v1/tokens with a full-access token, each a new name
# and prints each round and the medians: exchanges/s, creates/s, their ratio.
# Usage: bench/exchange.sh [ROUNDS] [SECS]; DATABASE_URL picks the store
# (default: a fresh SQLite file; a postgres:// URL names an empty database).
# Needs wrk (apt-get install wrk) and python3-jwt, python3-cryptography.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}; SECS=${2:-4}; THREADS=2; CONNS=16
command -v wrk >/dev/null || { echo "install wrk (apt-get install wrk)" >&2; exit 1; }
[ "${BENCH_SKIP_BUILD:-0}" = 1 ] || make build >/dev/null
work=$(mktemp -d)
PORT=${PORT:-3471}; IPORT=${IPORT:-3472}
DB=${DATABASE_URL:-sqlite://$work/bench.db}
BASE=http://127.0.0.1:$PORT
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

/usr/bin/python3 server/tests/it/workload_support/issuer.py "$IPORT" >"$work/issuer.out" &
for _ in $(seq 1 50); do grep -q ready "$work/issuer.out" 2>/dev/null && break; sleep 0.1; done
pids+=($!)
TESSERA_ADDR=127.0.0.1:$PORT DATABASE_URL=$DB TESSERA_SITE_ROOT=target/site RUST_LOG=warn \
  TESSERA_PUBLIC_URL=$BASE TESSERA_WORKLOAD_ALLOW_INSECURE_ISSUERS=true \
  ./target/release/tessera >"$work/server.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fs "$BASE/readyz" >/dev/null && break; sleep 0.1; done
ISS=http://127.0.0.1:$IPORT/bench
pw="correct horse battery staple"
curl -fs -o /dev/null -c "$work/jar" --data-urlencode username=bench --data-urlencode "password=$pw" \
  --data-urlencode "confirm=$pw" "$BASE/signup"
full=$(curl -fs -b "$work/jar" -H 'content-type: application/json' \
  -d '{"form":{"name":"bench","expiry":"90","scope_mode":"full"},"sudo_password":""}' "$BASE/rpc/tokens/create" |
  python3 -c 'import json,sys;print(json.load(sys.stdin)["Done"]["secret"])')
DATABASE_URL=$DB TESSERA_WORKLOAD_ALLOW_INSECURE_ISSUERS=true ./target/release/tessera admin workload-trust add --user bench --issuer "$ISS" \
  --audience "$BASE" --claim repository=acme/api --claim ref=refs/heads/main --scopes "code:read" --max-minutes 60 >/dev/null

# ID tokens as GitHub Actions shapes them, each with its own jti
mint() { # count file
  curl -fs "$ISS/mint" -d "{\"count\": $1, \"claims\": {\"aud\": \"$BASE\", \"repository\": \"acme/api\",
    \"ref\": \"refs/heads/main\", \"sub\": \"repo:acme/api:ref:refs/heads/main\"}}" >"$2"
  echo >>"$2"
}
mint 1 "$work/warm"
exchange_body() { echo "grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token_type=urn:ietf:params:oauth:token-type:jwt&subject_token=$1"; }
curl -fsS -o "$work/warm.out" "$BASE/oauth/token" -d "$(exchange_body "$(head -1 "$work/warm")")" || { cat "$work/warm.out" >&2;
  echo "the warm-up exchange failed" >&2; exit 1; }

code=$(curl -s -o "$work/create.out" -w '%{http_code}' "$BASE/api/v1/tokens" -H "Authorization: Bearer $full" \
  -H 'Content-Type: application/json' -d '{"name": "warm", "scopes": "code:read", "expires_in_days": 30}')
[ "$code" = 201 ] || { echo "the warm-up create answered $code: $(cat "$work/create.out")" >&2; exit 1; }

cat >"$work/exchange.lua" <<LUA
local n = 0
function setup(thread) n = n + 1; thread:set("id", n) end
function init(args)
  tokens = {}
  for line in io.lines(args[1]) do if #line > 0 then tokens[#tokens + 1] = line end end
  i = id
end
function request()
  local t = tokens[i] or "spent"
  i = i + $THREADS
  return wrk.format("POST", "/oauth/token", {["Content-Type"] = "application/x-www-form-urlencoded"},
    "grant_type=urn:ietf:params:oauth:grant-type:token-exchange&subject_token_type=urn:ietf:params:oauth:token-type:jwt&subject_token=" .. t)
end
LUA
cat >"$work/create.lua" <<LUA
local n = 0
function setup(thread) n = n + 1; thread:set("id", n) end
function init(args) i = 0; run = args[1] end
function request()
  i = i + 1
  return wrk.format("POST", "/api/v1/tokens", {["Content-Type"] = "application/json", ["Authorization"] = "Bearer $full"},
    '{"name": "bench ' .. run .. '-' .. id .. '-' .. i .. '", "scopes": "code:read", "expires_in_days": 30}')
end
LUA
# how wrk reports: requests/s and the count of answers that were not 2xx
run_wrk() { # script arg
  wrk -t$THREADS -c$CONNS -d${SECS}s -s "$1" "$BASE" -- "$2" >"$work/wrk.out"
  awk '/Requests\/sec/ {r=$2} /Non-2xx/ {e=$NF} END {printf "%s %d\n", r, e}' "$work/wrk.out"
}
# enough ID tokens for a round at 2,500 exchanges/s (a spent list shows as non-2xx)
need=$((2500 * SECS))
echo "round  exchanges/s (non-2xx)  creates/s (non-2xx)  ratio"
for r in $(seq 1 "$ROUNDS"); do
  mint "$need" "$work/ids-$r"
  read -r ex exerr < <(run_wrk "$work/exchange.lua" "$work/ids-$r")
  read -r cr crerr < <(run_wrk "$work/create.lua" "$r")
  echo "$r $ex $exerr $cr $crerr" | awk '{printf "%-6s %-11s (%s)            %-9s (%s)          %.2f\n", $1, $2, $3, $4, $5, $2/$4}'
  echo "$ex $cr" >>"$work/rounds"
done | tee "$work/table"
python3 - "$work/rounds" <<'PY'
import statistics, sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
ex = statistics.median(r[0] for r in rows); cr = statistics.median(r[1] for r in rows)
print(f"median: {ex:.0f} exchanges/s, {cr:.0f} creates/s, exchange ÷ create {ex / cr:.2f}")
PY
# what the server said of the answers that were not 200 (warnings and errors)
problems=$(grep -cE " (WARN|ERROR) " "$work/server.log" || true)
echo "server warnings and errors: $problems"
grep -E " (WARN|ERROR) " "$work/server.log" | sed -E 's/^[^ ]+ //' | sort | uniq -c | sort -rn | head -5
