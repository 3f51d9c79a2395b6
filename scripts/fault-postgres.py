#!/usr/bin/env python3
"""Fault tests on Postgres, against the release binary (part of `make test`).

1. Postgres stopped and started under load: no revoked or forged token is
   ever accepted, a valid one works again within 5 s of Postgres being back,
   and /readyz reports the outage.
2. `kill -9` of Tessera during 1,000 concurrent API creates: after a restart
   every token that was answered 201 works, no row is half-written, and
   repeating any create with its request id never makes a second token.

Needs: target/release/tessera, a local Postgres cluster this user may stop
and start (pg_ctlcluster, as root in CI), psql. Without them it says why and
exits 0, unless CI=true or TESSERA_REQUIRE_POSTGRES=1, where it fails.
Stdlib only; every loop is bounded in count and time; loopback only.
"""

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import zlib

import functools

import tessera_http  # scripts/tessera_http.py
from tessera_http import ADMIN_URL, BINARY, ROOT, bearer, fail, psql

skip = tessera_http.skipper("fault tests")

PORT = int(os.environ.get("FAULT_PORT", "3300"))
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def forged_token():
    """A token of the right shape and checksum that Tessera never issued."""
    body = "tsr_" + "".join(secrets.choice(BASE62) for _ in range(32))
    n, out = zlib.crc32(body.encode()), ""
    for _ in range(6):
        out = BASE62[n % 62] + out
        n //= 62
    return body + out


def cluster():
    out = subprocess.run(["pg_lsclusters", "--no-header"], capture_output=True, text=True)
    first = out.stdout.split()
    return (first[0], first[1]) if len(first) >= 2 else None


def pg_ctl(action, ver, name):
    subprocess.run(["pg_ctlcluster", ver, name, action], check=True, capture_output=True)


def pg_ready():
    return subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"]).returncode == 0


# (status, headers, body) of one request to the Tessera under test
request = functools.partial(tessera_http.request, PORT, timeout=5)


def Server(db_url, log):
    return tessera_http.Server(PORT, db_url, log, fail, TESSERA_SIGNUP_MAX_PER_IP="1000",
                               TESSERA_LOG_FORMAT="text")


def sign_up_and_mint(name):
    return tessera_http.sign_up_and_mint(request, name, "fault-manager")


def api_create(manager, name, request_id, scopes="profile:read"):
    body = json.dumps({"name": name, "scopes": scopes, "expires_in_days": 7, "request_id": request_id})
    return request("POST", "/api/v1/tokens", body, bearer(manager), timeout=20)


def postgres_restart_under_load(manager, ver, name):
    status, _, body = api_create(manager, "valid", "valid-1")
    valid = json.loads(body)["token"]
    status, _, body = api_create(manager, "to-revoke", "revoked-1")
    revoked_id, revoked = json.loads(body)["id"], json.loads(body)["token"]
    if request("DELETE", f"/api/v1/tokens/{revoked_id}", headers=bearer(manager))[0] != 200:
        fail("revoke")
    forged = forged_token()
    for token, want in ((valid, 200), (revoked, 401), (forged, 401)):
        got = request("GET", "/api/v1/me", headers=bearer(token))[0]
        if got != want:
            fail(f"before the outage: {got} instead of {want}")

    results, readyz, stop = [], [], threading.Event()

    # each result is (sent at, kind, status, answered at)
    def load(kind, token):
        while not stop.is_set():
            sent = time.time()
            status = request("GET", "/api/v1/me", headers=bearer(token), timeout=10)[0]
            results.append((sent, kind, status, time.time()))
            time.sleep(0.005)

    def probe():
        while not stop.is_set():
            sent = time.time()
            readyz.append((sent, request("GET", "/readyz", timeout=3)[0]))
            time.sleep(0.1)

    threads = [threading.Thread(target=load, args=a) for a in
               (("valid", valid), ("valid", valid), ("revoked", revoked), ("forged", forged))]
    threads.append(threading.Thread(target=probe))
    for t in threads:
        t.start()
    time.sleep(1.0)
    pg_ctl("stop", ver, name)
    # the outage starts when the stop has returned: a fresh cluster goes on
    # answering for up to a second after the stop is issued
    down_at = time.time()
    time.sleep(3.0)
    # pg_ctlcluster start returns a while after Postgres accepts
    # connections: "back" is the first moment pg_isready says so
    starting = subprocess.Popen(["pg_ctlcluster", ver, name, "start"])
    deadline = time.time() + 30
    while not pg_ready():
        if time.time() > deadline:
            stop.set()
            fail("Postgres did not come back")
        time.sleep(0.05)
    back_at = time.time()
    starting.wait(timeout=30)
    time.sleep(7.0)
    stop.set()
    for t in threads:
        t.join(timeout=10)

    accepted_bad = [r for r in results if r[1] != "valid" and r[2] == 200]
    if accepted_bad:
        fail(f"{len(accepted_bad)} revoked/forged requests were accepted")
    first_ok_after = next((r[0] for r in results if r[1] == "valid" and r[0] >= back_at and r[2] == 200), None)
    if first_ok_after is None or first_ok_after - back_at > 5.0:
        fail(f"the valid token did not work within 5 s of Postgres being back ({first_ok_after})")
    late_failures = [r for r in results if r[1] == "valid" and r[0] > back_at + 5.0 and r[2] != 200]
    if late_failures:
        fail(f"{len(late_failures)} valid requests failed more than 5 s after Postgres was back")
    outage = [s for (t, s) in readyz if down_at + 0.5 < t < back_at - 0.5]
    if not outage or any(s == 200 for s in outage):
        timeline = [(round(t - down_at, 2), s) for (t, s) in readyz]
        fail(f"/readyz during the outage ({back_at - down_at:.1f} s): {timeline}")
    if readyz[-1][1] != 200:
        fail("/readyz after the outage")
    during = [r for r in results if down_at < r[0] < back_at]
    valid_during = sorted({r[2] for r in during if r[1] == "valid"}, key=str)
    slowest = max((r[3] - r[0] for r in during), default=0.0)
    print(
        f"ok: Postgres down {back_at - down_at:.1f} s under load; {len(results)} requests "
        f"({len(during)} sent during the outage: valid ones answered {valid_during}, the slowest "
        f"after {slowest:.1f} s); 0 revoked/forged accepted; "
        f"valid again {first_ok_after - back_at:.2f} s after Postgres was back; /readyz said "
        f"{sorted(set(outage), key=str)} during it"
    )


def kill_during_creates(server, manager, db_url):
    total, workers = 1000, 32
    outcomes = {}
    lock = threading.Lock()
    started = threading.Event()
    counter = iter(range(total))

    def worker():
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            started.set()
            status, _, body = api_create(manager, f"bulk-{i}", f"bulk-{i}")
            with lock:
                outcomes[i] = (status, body)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for t in threads:
        t.start()
    started.wait(10)
    deadline = time.time() + 30
    while len(outcomes) < total // 3 and time.time() < deadline:
        time.sleep(0.01)
    at_kill = len(outcomes)
    server.kill9()
    for t in threads:
        t.join(timeout=60)
    answered = {i: json.loads(b) for i, (s, b) in outcomes.items() if s == 201}
    lost = [i for i in range(total) if i not in answered]
    server.start()

    for i, created in answered.items():
        if request("GET", "/api/v1/me", headers=bearer(created["token"]))[0] != 200:
            fail(f"token bulk-{i} was answered 201 but does not work after the restart")
    dupes = psql("SELECT COUNT(*) FROM (SELECT form_id FROM tokens WHERE form_id IS NOT NULL "
                 "GROUP BY user_id, form_id HAVING COUNT(*) > 1) d", db_url)
    half = psql("SELECT COUNT(*) FROM tokens WHERE token_hash IS NULL OR hint = '' OR scopes = '' "
                "OR name = '' OR expires_at IS NULL", db_url)
    if dupes != "0" or half != "0":
        fail(f"{dupes} duplicated request ids, {half} half-written rows")
    # every create whose answer was lost, repeated with its request id:
    # 409 already_submitted when it had been written, 201 when it had not
    resent = {"already": 0, "new": 0}
    for i in lost:
        status, _, body = api_create(manager, f"bulk-{i}", f"bulk-{i}")
        if status == 409 and "already_submitted" in body:
            resent["already"] += 1
        elif status == 201:
            resent["new"] += 1
        else:
            fail(f"repeating bulk-{i}: {status} {body[:200]}")
    rows = int(psql("SELECT COUNT(*) FROM tokens WHERE name LIKE 'bulk-%'", db_url))
    if rows != total:
        fail(f"{rows} bulk tokens stored for {total} distinct request ids")
    print(
        f"ok: kill -9 when {at_kill} of {total} concurrent creates ({workers} at a time) had answers; "
        f"{len(answered)} answered 201 all work after the restart; {len(lost)} lost answers "
        f"repeated: {resent['already']} already written (409), {resent['new']} written now (201); "
        f"{rows} rows, none duplicated or half-written"
    )


def main():
    if not os.path.exists(BINARY):
        skip(f"{BINARY} is not built")
    for tool in ("psql", "pg_ctlcluster", "pg_isready", "pg_lsclusters"):
        if not shutil.which(tool):
            skip(f"{tool} is missing")
    found = cluster()
    if not found or not pg_ready():
        skip("no local Postgres cluster is running")
    if os.geteuid() != 0:
        skip("stopping the Postgres cluster needs root")
    ver, name = found
    db = f"tessera_fault_{secrets.token_hex(4)}"
    psql(f"CREATE DATABASE {db}")
    db_url = ADMIN_URL.rsplit("/", 1)[0] + "/" + db
    log_path = os.path.join(ROOT, "target", "fault-postgres.log")
    server = None
    try:
        with open(log_path, "w") as log:
            server = Server(db_url, log)
            server.start()
            manager = sign_up_and_mint(f"fault{secrets.token_hex(3)}")
            postgres_restart_under_load(manager, ver, name)
            kill_during_creates(server, manager, db_url)
    finally:
        if server:
            server.stop()
        if not pg_ready():
            pg_ctl("start", ver, name)
        for _ in range(100):
            if pg_ready():
                break
            time.sleep(0.1)
        subprocess.run(["psql", ADMIN_URL, "-qc", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"],
                       capture_output=True)
    print("faults: 2 passed, 0 failed")


if __name__ == "__main__":
    main()
