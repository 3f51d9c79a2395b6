#!/usr/bin/env bash
# The Postgres integration tests once more, through Debian's PgBouncer in
# transaction pooling mode (part of `make test`): each test's database is
# reached through PgBouncer, with a direct URL for the change feed and the
# migrations (--database-listen-url). Needs pgbouncer and a local Postgres at
# $TESSERA_TEST_POSTGRES_URL; without them it says why and exits 0, unless
# CI=true or TESSERA_REQUIRE_POSTGRES=1, where it fails.
set -euo pipefail
cd "$(dirname "$0")/.."
PG=${TESSERA_TEST_POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
PORT=${PGBOUNCER_PORT:-6439}
required() { [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ] || [ "${TESSERA_REQUIRE_POSTGRES:-}" = 1 ]; }
skip() {
  if required; then echo "pgbouncer tests: $1 (required here)" >&2; exit 1; fi
  echo "pgbouncer tests skipped: $1"; exit 0
}
command -v pgbouncer >/dev/null || skip "pgbouncer is missing (apt-get install pgbouncer)"
pg_isready -q -d "$PG" || skip "no Postgres at $PG"

# user, password, host and port of the server, from the URL
read -r user password host pgport < <(python3 -c '
import sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
print(u.username or "postgres", u.password or "", u.hostname or "127.0.0.1", u.port or 5432)' "$PG")

work=$(mktemp -d)
chmod 755 "$work"
cat >"$work/pgbouncer.ini" <<EOF
[databases]
* = host=$host port=$pgport

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PORT
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $work/userlist.txt
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 8
logfile = $work/pgbouncer.log
pidfile = $work/pgbouncer.pid
EOF
printf '"%s" "%s"\n' "$user" "$password" >"$work/userlist.txt"
chmod 644 "$work"/*
as_runner=()
# PgBouncer will not run as root
if [ "$(id -u)" = 0 ]; then
  as_runner=(runuser -u postgres --)
  chown -R postgres "$work"
fi
"${as_runner[@]}" pgbouncer -d "$work/pgbouncer.ini"
stop() {
  [ -f "$work/pgbouncer.pid" ] && kill "$(cat "$work/pgbouncer.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap stop EXIT
for _ in $(seq 1 50); do pg_isready -q -h 127.0.0.1 -p "$PORT" && break; sleep 0.1; done
echo "==> the Postgres integration tests through PgBouncer $(pgbouncer --version | head -1 | awk '{print $2}') (transaction pooling) on port $PORT"
TESSERA_TEST_PGBOUNCER_URL="postgres://$user:$password@127.0.0.1:$PORT" \
TESSERA_REQUIRE_POSTGRES=1 \
  cargo test --release -p app -p tessera --features app/ssr --test it -- "${@:-::postgres::}"
# PgBouncer's own complaints are shown, not judged: dropping each test's
# database (WITH (FORCE)) while pools still hold or reopen connections logs
# "server conn crashed?" and "database ... does not exist" at teardown
grep -E "ERROR|WARNING" "$work/pgbouncer.log" | sort -u -k5 | head -5 || true
