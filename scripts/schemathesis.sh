#!/usr/bin/env bash
# API fuzzing from the OpenAPI document (part of `make test`): schemathesis
# (PyPI, in a venv under target/) against the release binary on a fresh
# SQLite file, authenticated with a full-access token, SCHEMATHESIS_EXAMPLES
# (default 50) examples per operation. Fails on any 5xx and on any answer
# that does not match its documented schema.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=4.32.5
VENV=target/schemathesis-venv
PORT=${SCHEMATHESIS_PORT:-3350}
EXAMPLES=${SCHEMATHESIS_EXAMPLES:-50}

if [ ! -x "$VENV/bin/schemathesis" ] || ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$VERSION"; then
  echo "==> installing schemathesis $VERSION (PyPI) into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "schemathesis==$VERSION"
fi

work=$(mktemp -d /tmp/tessera-schemathesis.XXXXXX)
TESSERA_ADDR=127.0.0.1:$PORT DATABASE_URL="sqlite://$work/st.db" TESSERA_SITE_ROOT=target/site \
  TESSERA_SIGNUP_MAX_PER_IP=1000 RUST_LOG=info ./target/release/tessera >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; cp "$work/server.log" target/schemathesis-server.log 2>/dev/null; rm -rf "$work"' EXIT
base=http://127.0.0.1:$PORT
for _ in $(seq 1 100); do curl -fs "$base/readyz" >/dev/null && break; sleep 0.1; done

# a user, 100 decoy tokens (so ids the fuzzer guesses rarely hit the one it
# authenticates with), then a full-access token to authenticate with
pw="correct horse battery staple"
curl -fs -o /dev/null -c "$work/jar" --data-urlencode "username=fuzzer" \
  --data-urlencode "password=$pw" --data-urlencode "confirm=$pw" "$base/signup"
mint() {
  curl -fs -b "$work/jar" -H 'content-type: application/json' \
    -d "{\"form\":{\"name\":\"$1\",\"expiry\":\"365\",\"scope_mode\":\"full\"},\"sudo_password\":\"\"}" \
    "$base/rpc/tokens/create" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Done"]["secret"])'
}
for i in $(seq 1 100); do mint "decoy $i" >/dev/null; done
token=$(mint "schemathesis")

# Two passes: everything but the operations that end a token first (the
# fuzzer learns ids from the list and would revoke or regenerate the very
# token it authenticates with), then those, with a fresh token.
destructive='^(delete_tokens__id|post_tokens__id__revoke|post_tokens__id__regenerate|post_tokens__id__rotate)$'
fuzz() { # token, filter flag
  "$VENV/bin/schemathesis" run "$base/api/v1/openapi.json" \
    -H "Authorization: Bearer $1" "$2" "$destructive" \
    --checks not_a_server_error,response_schema_conformance \
    --max-examples "$EXAMPLES" --seed 20261201 --no-color
}
set +e
fuzz "$token" --exclude-operation-id-regex 2>&1 | tee "$work/out.txt"
status=${PIPESTATUS[0]}
echo "the token it authenticated with now answers: $(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$base/api/v1/me")"
second=$(mint "schemathesis 2")
fuzz "$second" --include-operation-id-regex 2>&1 | tee -a "$work/out.txt"
status2=${PIPESTATUS[0]}
set -e
if grep -q "panicked" "$work/server.log"; then
  echo "the server logged a panic:" >&2
  grep -A3 "panicked" "$work/server.log" | head -20 >&2
  exit 1
fi
[ "$status" = 0 ] && [ "$status2" = 0 ]
