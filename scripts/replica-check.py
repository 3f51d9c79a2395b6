#!/usr/bin/env python3
"""Token checks from a real streaming replica (part of `make test`).

Makes a second Postgres cluster on this machine with `pg_basebackup -R`
(its own postgresql.conf and port), and runs two Tessera instances behind
nginx, both with `--database-replica-url` naming it (one with the
verification cache, one without, so every check of the second is a
lookup). Then:

1. tokens are checked on the replica (`tessera_token_lookups_total`);
2. replay paused (`pg_wal_replay_pause()`), a token revoked on the primary
   is refused on every instance within a second, with 0 acceptances after
   that; a token made while replay is paused works at once; the paused
   replica's lag shows in `tessera_replica_lag_seconds` and checks move to
   the primary;
3. replay resumed: the replica is used again, the revoked token still
   refused;
4. replica stopped: every check still answers (from the primary), none an
   error, `tessera_replica_up` 0; replica started: used again.

Needs root (the clusters run as `postgres`), target/release/tessera,
nginx, psql and the Postgres server binaries. Without them it says why and
exits 0, unless CI=true or TESSERA_REQUIRE_POSTGRES=1, where it fails.
"""

import functools
import glob
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

import tessera_http
from tessera_http import ADMIN_URL, BINARY, ROOT, bearer, fail, psql

skip = tessera_http.skipper("replica tests")

BASE = int(os.environ.get("REPLICA_PORT", "3400"))
NGINX_PORT, A_PORT, B_PORT = BASE, BASE + 1, BASE + 2
METRICS = {A_PORT: BASE + 11, B_PORT: BASE + 12}
REPLICA_PG_PORT = int(os.environ.get("REPLICA_PG_PORT", "5439"))
NGINX = "/usr/sbin/nginx"


def as_postgres(*args):
    return subprocess.run(["runuser", "-u", "postgres", "--", *args], capture_output=True, text=True)


def pg_bin(name):
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else None


class Replica:
    """A streaming replica of the local cluster in a temporary directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="tessera-replica-")
        os.chmod(self.dir, 0o700)
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = os.path.join(self.dir, "data")
        self.url = f"postgres://postgres:postgres@127.0.0.1:{REPLICA_PG_PORT}"

    def make(self):
        host = urllib.parse.urlparse(ADMIN_URL)
        out = as_postgres(
            "env", f"PGPASSWORD={host.password or ''}", "pg_basebackup",
            "-h", host.hostname or "127.0.0.1", "-p", str(host.port or 5432),
            "-U", host.username or "postgres", "-D", self.data, "-R", "-X", "stream", "-c", "fast",
        )
        if out.returncode != 0:
            fail(f"pg_basebackup: {out.stderr.strip()}")
        hba = glob.glob("/etc/postgresql/*/main/pg_hba.conf")
        conf = os.path.join(self.data, "postgresql.conf")
        with open(conf, "w") as f:
            f.write(
                f"port = {REPLICA_PG_PORT}\n"
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.dir}'\n"
                f"hba_file = '{hba[0]}'\n"
                "hot_standby = on\n"
                "shared_buffers = 32MB\n"
            )
        shutil.chown(conf, "postgres", "postgres")
        self.start()

    def start(self):
        out = as_postgres(pg_bin("pg_ctl"), "-D", self.data, "-l", os.path.join(self.dir, "log"), "-w", "start")
        if out.returncode != 0:
            fail(f"the replica did not start: {out.stderr.strip()} {self.log_tail()}")

    def stop(self, mode="fast"):
        as_postgres(pg_bin("pg_ctl"), "-D", self.data, "-m", mode, "-w", "stop")

    def log_tail(self):
        try:
            with open(os.path.join(self.dir, "log")) as f:
                return f.read()[-2000:]
        except OSError:
            return ""

    def sql(self, sql, db="postgres"):
        return psql(sql, f"{self.url}/{db}")

    def remove(self):
        self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


def start_nginx(work):
    conf = os.path.join(work, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{}}
http {{
    access_log off;
    client_body_temp_path {work}/body;
    proxy_temp_path {work}/proxy;
    fastcgi_temp_path {work}/fastcgi;
    uwsgi_temp_path {work}/uwsgi;
    scgi_temp_path {work}/scgi;
    upstream tessera {{ server 127.0.0.1:{A_PORT}; server 127.0.0.1:{B_PORT}; keepalive 8; }}
    server {{
        listen 127.0.0.1:{NGINX_PORT};
        location / {{
            proxy_pass http://tessera;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
        }}
    }}
}}
""")
    proc = subprocess.Popen([NGINX, "-c", conf, "-g", "daemon off; user root;"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(50):
        if tessera_http.request(NGINX_PORT, "GET", "/healthz", timeout=1)[0] == 200:
            return proc
        time.sleep(0.1)
    proc.kill()
    fail("nginx did not start")


# one request through nginx (round robin over the two instances)
request = functools.partial(tessera_http.request, NGINX_PORT, timeout=5)


def metric(port, name, labels=""):
    """The sum of `name`'s samples whose labels contain `labels` on one instance."""
    status, _, body = tessera_http.request(METRICS[port], "GET", "/metrics", timeout=5)
    if status != 200:
        fail(f"/metrics on {port}: {status}")
    total = 0.0
    for line in body.splitlines():
        m = re.match(r"^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$", line)
        if m and m.group(1) == name and labels in (m.group(2) or ""):
            total += float(m.group(3))
    return total


def lookups(store):
    return sum(metric(p, "tessera_token_lookups_total", f'store="{store}"') for p in METRICS)


def sign_up_and_mint(name):
    return tessera_http.sign_up_and_mint(request, name, "replica-manager")


def create(manager, name):
    body = json.dumps({"name": name, "scopes": "profile:read", "expires_in_days": 7})
    status, _, answer = request("POST", "/api/v1/tokens", body, bearer(manager))
    if status != 201:
        fail(f"create {name}: {status} {answer[:200]}")
    answer = json.loads(answer)
    return answer["id"], answer["token"]


def me(token):
    return request("GET", "/api/v1/me", headers=bearer(token))[0]


def wait_for(what, check, seconds=15):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.1)
    fail(f"timed out waiting for {what}")


def replica_used(manager, token):
    """Checks `token` until instances read lookups from the replica."""
    before = lookups("replica")
    for _ in range(100):
        if me(token) != 200:
            fail("a valid token was refused")
        if lookups("replica") > before + 4:
            return
        time.sleep(0.05)
    fail(f"no lookup was read from the replica (replica: {lookups('replica')}, primary: {lookups('primary')})")


def paused_revoke(replica, manager, valid):
    doomed_id, doomed = create(manager, "doomed")
    wait_for("the replica to have the new token", lambda: me(doomed) == 200 and lookups("replica") > 0)
    for _ in range(10):
        if me(doomed) != 200:
            fail("the token to revoke was refused before its revocation")
    replica.sql("SELECT pg_wal_replay_pause()")
    wait_for("replay to pause", lambda: replica.sql("SELECT pg_get_wal_replay_pause_state()") == "paused")
    status, _, body = request("DELETE", f"/api/v1/tokens/{doomed_id}", headers=bearer(manager))
    if status != 200:
        fail(f"revoke: {status} {body[:200]}")
    revoked_at = time.time()
    accepted, after_a_second, checks = [], 0, 0
    while time.time() - revoked_at < 4:
        started = time.time()
        status = me(doomed)
        checks += 1
        if status == 200:
            accepted.append(round(started - revoked_at, 3))
        if started - revoked_at > 1.0:
            after_a_second += 1
            if status != 401:
                fail(f"the revoked token answered {status} {started - revoked_at:.2f} s after its revocation")
    if accepted:
        fail(f"the revoked token was accepted {len(accepted)} times (at {accepted} s)")
    if replica.sql("SELECT pg_get_wal_replay_pause_state()") != "paused":
        fail("replay did not stay paused")
    # the replica does not have the revocation: the checks above were the primary's
    behind = replica.sql(f"SELECT revoked_at IS NULL FROM tokens WHERE id = {doomed_id}", DB)
    if behind != "t":
        fail("the paused replica already had the revocation: the test proves nothing")
    # a token made while replay is paused works at once (the replica does not know it)
    _, fresh = create(manager, "made-while-paused")
    if me(fresh) != 200:
        fail("a token made while the replica was paused was refused")
    # the valid token keeps working; the paused replica falls behind and is skipped
    primary_before = lookups("primary")
    for _ in range(20):
        if me(valid) != 200:
            fail("a valid token was refused while the replica was paused")
        time.sleep(0.05)
    lag = max(metric(p, "tessera_replica_lag_seconds_sum") for p in METRICS)
    if lookups("primary") <= primary_before:
        fail("a replica paused past the lag bound was still read")
    print(f"  replay paused: revoked token refused on both instances, {checks} checks in 4 s, "
          f"0 accepted; a token made meanwhile worked; lag sum {lag:.1f} s, checks on the primary")
    replica.sql("SELECT pg_wal_replay_resume()")
    wait_for("the replica to replay the revocation",
             lambda: replica.sql(f"SELECT revoked_at IS NOT NULL FROM tokens WHERE id = {doomed_id}", DB) == "t")
    replica_used(manager, valid)
    for _ in range(20):
        if me(doomed) != 401:
            fail("the revoked token was accepted after replay resumed")
    print("  replay resumed: the replica is read again; the revoked token still refused")


def replica_stopped(replica, manager, valid):
    replica.stop("fast")
    statuses = {}
    t0 = time.time()
    while time.time() - t0 < 3:
        s = me(valid)
        statuses[s] = statuses.get(s, 0) + 1
    if set(statuses) != {200}:
        fail(f"with the replica stopped, checks answered {statuses}")
    wait_for("tessera_replica_up 0",
             lambda: all(metric(p, "tessera_replica_up") == 0 for p in METRICS))
    print(f"  replica stopped: {statuses[200]} checks in 3 s, all 200 (from the primary); replica_up 0")
    replica.start()
    wait_for("tessera_replica_up 1", lambda: all(metric(p, "tessera_replica_up") == 1 for p in METRICS))
    replica_used(manager, valid)
    print("  replica started: up again and read again")


DB = None


def main():
    global DB
    if not os.path.exists(BINARY):
        skip(f"{BINARY} is not built")
    for tool in ("psql", "pg_basebackup", "runuser"):
        if not shutil.which(tool):
            skip(f"{tool} is missing")
    if not pg_bin("pg_ctl") or not os.path.exists(NGINX):
        skip("the Postgres server binaries or nginx are missing")
    if os.geteuid() != 0:
        skip("running a second cluster as postgres needs root")
    if subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"]).returncode != 0:
        skip("no local Postgres cluster is running")
    DB = f"tessera_replica_{secrets.token_hex(4)}"
    psql(f"CREATE DATABASE {DB}")
    primary_url = ADMIN_URL.rsplit("/", 1)[0] + "/" + DB
    work = tempfile.mkdtemp(prefix="tessera-replica-nginx-")
    replica = Replica()
    servers, nginx = [], None
    try:
        replica.make()
        replica_url = f"{replica.url}/{DB}"
        with open(os.path.join(ROOT, "target", "replica-check.log"), "w") as log:
            for port, cache in ((A_PORT, "30"), (B_PORT, "0")):
                servers.append(tessera_http.Server(
                    port, primary_url, log, fail,
                    TESSERA_DATABASE_REPLICA_URL=replica_url,
                    TESSERA_METRICS_ADDR=f"127.0.0.1:{METRICS[port]}",
                    TESSERA_VERIFY_CACHE_SECS=cache,
                    TESSERA_SIGNUP_MAX_PER_IP="1000",
                    TESSERA_LOG_FORMAT="text",
                ).start())
            nginx = start_nginx(work)
            manager = sign_up_and_mint(f"replica{secrets.token_hex(3)}")
            _, valid = create(manager, "valid")
            wait_for("the replica to be up", lambda: all(metric(p, "tessera_replica_up") == 1 for p in METRICS))
            replica_used(manager, valid)
            print(f"  checks read the replica: {lookups('replica'):.0f} lookups there, "
                  f"{lookups('primary'):.0f} on the primary")
            paused_revoke(replica, manager, valid)
            replica_stopped(replica, manager, valid)
    finally:
        if nginx:
            nginx.kill()
        for s in servers:
            s.stop()
        replica.remove()
        shutil.rmtree(work, ignore_errors=True)
        subprocess.run(["psql", ADMIN_URL, "-qc", f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)"],
                       capture_output=True)
    print("replicas: 4 passed, 0 failed")


if __name__ == "__main__":
    main()
