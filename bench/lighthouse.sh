#!/usr/bin/env bash
# Shipped bundle sizes and Lighthouse (phone) for the sign-in page and a
# tokens page with 50 tokens, reproducibly: the release build on a fresh
# SQLite file, Lighthouse from npm (LIGHTHOUSE_VERSION, installed under
# target/lighthouse, where the JSON reports are kept), Debian's Chromium
# (CHROME_PATH). Run after `make build`. Lighthouse simulates a slow phone
# network (lantern): a request that starts before the first paint (the WASM
# preload) can count towards the simulated LCP even when the page painted at
# once, so the observed LCP is printed too.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${BENCH_SKIP_BUILD:-0}" = 1 ] || make build >/dev/null
export CHROME_PATH=${CHROME_PATH:-/usr/bin/chromium}
[ -x "$CHROME_PATH" ] || { echo "Chromium is missing: apt-get install chromium" >&2; exit 1; }
LH_VERSION=${LIGHTHOUSE_VERSION:-13.5.0}
LH_DIR=target/lighthouse
if [ ! -x "$LH_DIR/node_modules/.bin/lighthouse" ] || ! grep -q "\"version\": \"$LH_VERSION\"" "$LH_DIR/node_modules/lighthouse/package.json"; then
  npm install --silent --no-audit --no-fund --prefix "$LH_DIR" "lighthouse@$LH_VERSION" >/dev/null
fi

echo "== shipped bundle (target/site/pkg)"
python3 - <<'EOF'
import glob, os
total = {"raw": 0, "br": 0, "gz": 0}
for kind in ("wasm", "js", "css"):
    for f in sorted(glob.glob(f"target/site/pkg/*.{kind}")):
        raw, br, gz = (os.path.getsize(f + s) if os.path.exists(f + s) else 0 for s in ("", ".br", ".gz"))
        print(f"  {os.path.basename(f):44} {raw:>10,} B raw {br:>9,} B br {gz:>9,} B gzip")
        if kind != "css":
            total["raw"] += raw; total["br"] += br; total["gz"] += gz
print(f"  WASM + JS: {total['raw']:,} B raw, {total['br']:,} B brotli ({total['br'] / 1000:.0f} KB; goal <= 150 KB), {total['gz']:,} B gzip")
EOF

work=$(mktemp -d)
port=${PORT:-3191}
base=http://127.0.0.1:$port
TESSERA_ADDR=127.0.0.1:$port DATABASE_URL="sqlite://$work/lh.db" TESSERA_SITE_ROOT=target/site RUST_LOG=warn \
  ./target/release/tessera >"$work/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 100); do curl -fs "$base/readyz" >/dev/null && break; sleep 0.1; done

# a user with 50 tokens, made through the page's own endpoints
cookie=$(python3 - "$base" <<'EOF'
import http.client, json, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
c = http.client.HTTPConnection(u.hostname, u.port)
pw = "correct horse battery staple"
c.request("POST", "/signup", urllib.parse.urlencode({"username": "lighthouse", "password": pw, "confirm": pw}),
          {"Content-Type": "application/x-www-form-urlencoded"})
r = c.getresponse(); r.read()
cookie = [v.split(";")[0] for k, v in r.getheaders() if k.lower() == "set-cookie"][0]
for i in range(50):
    body = {"form": {"name": f"token {i:02}", "expiry": "30", "scope_mode": "custom",
                     "levels": {"code": "read", "build": "write"}}, "sudo_password": ""}
    c.request("POST", "/rpc/tokens/create", json.dumps(body), {"Content-Type": "application/json", "Cookie": cookie})
    r = c.getresponse(); out = r.read()
    assert r.status == 200 and b"Done" in out, out[:300]
print(cookie)
EOF
)

audit() { # name url [extra headers JSON]
  local name=$1 url=$2 headers=${3:-}
  local args=(--quiet --output=json --output-path="$work/$name.json" --form-factor=mobile --screenEmulation.mobile
              --chrome-flags="--headless=new --no-sandbox --disable-gpu")
  [ -z "$headers" ] || args+=(--extra-headers="$headers")
  # Lighthouse itself says to run again after a trace hiccup (NO_NAVSTART): up to 3 tries
  local try
  for try in 1 2 3; do
    if "$LH_DIR/node_modules/.bin/lighthouse" "$url" "${args[@]}" >/dev/null 2>"$work/$name.err" \
        && python3 -c "import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r.get('runtimeError') is None and r['categories']['performance']['score'] is not None else 1)" "$work/$name.json"; then
      break
    fi
    [ "$try" = 3 ] && { cat "$work/$name.err" >&2; return 1; }
  done
  cp "$work/$name.json" "$LH_DIR/$name.json"   # the full report, for a closer look
  python3 - "$work/$name.json" "$name" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
cats = r["categories"]; a = r["audits"]
scores = " ".join(f"{k} {round(cats[k]['score'] * 100)}" for k in ("performance", "accessibility", "best-practices", "seo"))
m = a["metrics"]["details"]["items"][0]
print(f"  {sys.argv[2]:12} {scores} | LCP {a['largest-contentful-paint']['displayValue']} "
      f"(observed unthrottled {m.get('observedLargestContentfulPaint')} ms), "
      f"TBT {a['total-blocking-time']['displayValue']}, CLS {a['cumulative-layout-shift']['displayValue']}")
for k in ("performance", "accessibility", "best-practices", "seo"):
    for ref in cats[k]["auditRefs"]:
        au = a[ref["id"]]
        if ref.get("weight", 0) > 0 and au.get("score") is not None and au["score"] < 1:
            print(f"      {k}: {au['title']} ({au.get('displayValue', au['score'])})")
EOF
}
echo "== Lighthouse $LH_VERSION, mobile (Debian's Chromium $("$CHROME_PATH" --version 2>/dev/null | awk '{print $2}'))"
audit signin "$base/signin"
audit tokens "$base/profile/security/tokens" "{\"Cookie\": \"$cookie\"}"
