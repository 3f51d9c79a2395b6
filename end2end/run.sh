#!/usr/bin/env bash
# Runs the Playwright suite against the release build with Debian's Chromium.
# Never downloads a browser: installs Debian's chromium when missing (as root).
set -euo pipefail
cd "$(dirname "$0")"

if [ ! -x "${CHROMIUM_PATH:-/usr/bin/chromium}" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "==> installing Debian's chromium"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "Chromium is missing: install Debian's 'chromium' package (or set CHROMIUM_PATH)." >&2
    exit 1
  fi
fi

export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
# the identity provider sso.spec.ts signs in through
../scripts/setup-tools.sh idp
if [ ! -d node_modules/@playwright/test ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

E2E_DATA_DIR=$(mktemp -d /tmp/tessera-e2e.XXXXXX)
export E2E_DATA_DIR
PG=${TESSERA_TEST_POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
pair_db=""
cleanup() {
  [ -z "$pair_db" ] || psql "$PG" -qc "DROP DATABASE IF EXISTS $pair_db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$E2E_DATA_DIR"
}
trap cleanup EXIT
# pair.spec.ts: two instances on one Postgres database behind nginx. Needs a
# Postgres and nginx; required in CI (as the Rust tests require Postgres).
if command -v nginx >/dev/null && command -v psql >/dev/null && psql "$PG" -qtAc 'SELECT 1' >/dev/null 2>&1; then
  pair_db=tessera_e2e_pair_$$
  psql "$PG" -qc "CREATE DATABASE $pair_db"
  export E2E_PG_URL="${PG%/*}/$pair_db"
elif [ "${TESSERA_REQUIRE_POSTGRES:-0}" = 1 ] || [ -n "${CI:-}" ]; then
  echo "pair.spec.ts needs nginx and a Postgres at $PG (CI requires both)" >&2
  exit 1
else
  echo "==> no Postgres or nginx: pair.spec.ts (two instances behind nginx) is skipped"
fi
npx playwright test "$@"
