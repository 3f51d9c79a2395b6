#!/usr/bin/env python3
"""Backup and restore, checked (part of `make test`; docs/deploy.md).

Postgres: a running Tessera gets a user, a live token, a revoked token and
audit events; `pg_dump --format=custom` of its database while it runs;
`pg_restore` into a fresh database; a Tessera started on the copy accepts
the live token, refuses the revoked one as revoked, signs the user in with
the old password and lists the audit log.

SQLite: the same through SQLite's online backup API (Python's
sqlite3.Connection.backup) while Tessera runs on the original file.

Needs target/release/tessera; for Postgres psql, pg_dump and pg_restore and
a server at TESSERA_TEST_POSTGRES_URL. Without them it says why and exits 0,
unless CI=true or TESSERA_REQUIRE_POSTGRES=1. Stdlib only; loopback only.
"""

import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse

import functools

import tessera_http  # scripts/tessera_http.py
from tessera_http import ADMIN_URL, BINARY, PASSWORD, REQUIRED, ROOT, bearer

PORT = int(os.environ.get("RESTORE_PORT", "3320"))


def fail(why):
    print(f"restore-check: FAIL: {why}", file=sys.stderr)
    sys.exit(1)


# (status, headers, body) of one request to the Tessera under test
request = functools.partial(tessera_http.request, PORT, timeout=10)


def Server(db_url, log):
    return tessera_http.Server(PORT, db_url, log, fail)


def seed():
    """A user with a live and a revoked token; returns (user, live, revoked)."""
    user = "restore-" + secrets.token_hex(4)
    form = urllib.parse.urlencode({"username": user, "password": PASSWORD, "confirm": PASSWORD})
    status, headers, body = request("POST", "/signup", form,
                                    {"Content-Type": "application/x-www-form-urlencoded"})
    if status != 303:
        fail(f"sign-up: {status} {body[:200]}")
    cookie = headers["set-cookie"].split(";")[0]
    payload = {"form": {"name": "manager", "expiry": "30", "scope_mode": "full"}, "sudo_password": ""}
    status, _, body = request("POST", "/rpc/tokens/create", json.dumps(payload),
                              {"Content-Type": "application/json", "Cookie": cookie})
    if status != 200 or '"Done"' not in body:
        fail(f"first token: {status} {body[:200]}")
    live = json.loads(body)["Done"]["secret"]
    status, _, body = request("POST", "/api/v1/tokens",
                              json.dumps({"name": "to-revoke", "scopes": "profile:read", "expires_in_days": 7}),
                              bearer(live))
    if status != 201:
        fail(f"second token: {status} {body[:200]}")
    created = json.loads(body)
    status, _, body = request("DELETE", f"/api/v1/tokens/{created['id']}", headers=bearer(live))
    if status != 200:
        fail(f"revoke: {status} {body[:200]}")
    return user, live, created["token"]


def check(what, user, live, revoked):
    status, _, body = request("GET", "/api/v1/me", headers=bearer(live))
    if status != 200 or json.loads(body).get("username") != user:
        fail(f"{what}: the live token after restore: {status} {body[:200]}")
    status, _, body = request("GET", "/api/v1/me", headers=bearer(revoked))
    if status != 401 or json.loads(body).get("error") != "token_revoked":
        fail(f"{what}: the revoked token after restore: {status} {body[:200]}")
    form = urllib.parse.urlencode({"username": user, "password": PASSWORD})
    status, _, body = request("POST", "/signin", form, {"Content-Type": "application/x-www-form-urlencoded"})
    if status != 303:
        fail(f"{what}: sign-in with the old password after restore: {status}")
    status, _, body = request("GET", "/api/v1/audit", headers=bearer(live))
    events = [e["event"] for e in json.loads(body).get("events", [])] if status == 200 else []
    if "token.revoked" not in events or "token.created" not in events:
        fail(f"{what}: the audit log after restore: {status} {body[:300]}")
    print(f"restore-check: {what}: live token accepted, revoked token refused as revoked, "
          f"sign-in works, {len(events)} audit events")


def postgres(log):
    tools = [shutil.which(t) for t in ("psql", "pg_dump", "pg_restore")]
    probe = subprocess.run(["psql", ADMIN_URL, "-qAtc", "SELECT 1"], capture_output=True) if all(tools) else None
    if not all(tools) or probe.returncode != 0:
        if REQUIRED:
            fail("Postgres (psql, pg_dump, pg_restore and a server) is required")
        print("restore-check: skipping Postgres (no server or client tools)")
        return
    base = ADMIN_URL.rsplit("/", 1)[0]
    src, dst = f"tessera_backup_{os.getpid()}", f"tessera_restored_{os.getpid()}"
    dump = os.path.join(tempfile.mkdtemp(), "tessera.dump")
    try:
        for db in (src, dst):
            subprocess.run(["psql", ADMIN_URL, "-qc", f"CREATE DATABASE {db}"], check=True)
        with Server(f"{base}/{src}", log):
            user, live, revoked = seed()
            # a backup taken while Tessera runs
            subprocess.run(["pg_dump", "--format=custom", f"--file={dump}", f"{base}/{src}"], check=True)
        subprocess.run(["pg_restore", "--no-owner", f"--dbname={base}/{dst}", dump], check=True)
        with Server(f"{base}/{dst}", log):
            check("Postgres (pg_dump → pg_restore into a fresh database)", user, live, revoked)
    finally:
        for db in (src, dst):
            subprocess.run(["psql", ADMIN_URL, "-qc", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"])


def sqlite(log):
    work = tempfile.mkdtemp()
    original, copy = os.path.join(work, "tessera.db"), os.path.join(work, "restored.db")
    with Server(f"sqlite://{original}", log):
        user, live, revoked = seed()
        time.sleep(1.5)  # let the usage flush write
        # the online backup API, while Tessera writes to the file
        src, dst = sqlite3.connect(original), sqlite3.connect(copy)
        with dst:
            src.backup(dst)
        src.close()
        dst.close()
    os.remove(original)
    for suffix in ("-wal", "-shm"):
        if os.path.exists(original + suffix):
            os.remove(original + suffix)
    with Server(f"sqlite://{copy}", log):
        check("SQLite (online backup API, original deleted)", user, live, revoked)
    shutil.rmtree(work)


def main():
    if not os.path.exists(BINARY):
        fail(f"{BINARY} is missing: run `make build` first")
    log = open(os.path.join(tempfile.gettempdir(), "tessera-restore-check.log"), "w")
    sqlite(log)
    postgres(log)


if __name__ == "__main__":
    main()
