"""What the fault and restore checks share: the release binary as a
server on loopback, one request to it, and a token's headers."""

import http.client
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse


def request(port, method, path, body=None, headers=None, timeout=5):
    """(status, headers, body), or (None, {}, error) when the connection failed."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        res = conn.getresponse()
        return res.status, dict(res.getheaders()), res.read().decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as e:
        return None, {}, str(e)
    finally:
        conn.close()


def bearer(token):
    """The headers of an API call with `token`."""
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def skipper(label):
    """`skip(why)` for a check named `label`: exits 0 saying why, or fails
    where the check is required (CI)."""

    def skip(why):
        if REQUIRED:
            sys.exit(f"{label}: {why} (required here)")
        print(f"{label} skipped: {why}")
        sys.exit(0)

    return skip


def fail(why):
    sys.exit(f"FAILED: {why}")


def psql(sql, db_url=None):
    """One statement through psql (default: the admin database); its output."""
    return subprocess.run(
        ["psql", db_url or ADMIN_URL, "-Atqc", sql], check=True, capture_output=True, text=True
    ).stdout.strip()


def sign_up_and_mint(request, name, token_name="manager"):
    """Signs up `name` through `request` (a partial of [`request`]) and makes
    its first token (Full access) through the dialog's server function."""
    form = urllib.parse.urlencode({"username": name, "password": PASSWORD, "confirm": PASSWORD})
    status, headers, body = request(
        "POST", "/signup", form, {"Content-Type": "application/x-www-form-urlencoded"}
    )
    if status != 303:
        fail(f"sign-up: {status} {body[:200]}")
    cookie = headers["set-cookie"].split(";")[0]
    payload = {"form": {"name": token_name, "expiry": "30", "scope_mode": "full"}, "sudo_password": ""}
    status, _, body = request(
        "POST", "/rpc/tokens/create", json.dumps(payload),
        {"Content-Type": "application/json", "Cookie": cookie},
    )
    if status != 200 or '"Done"' not in body:
        fail(f"first token: {status} {body[:200]}")
    return json.loads(body)["Done"]["secret"]


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "tessera")


class Server:
    """The release binary on 127.0.0.1:`port` over `db_url`, logging to
    `log`; `start()` waits until /readyz answers 200 (else `fail(why)`)."""

    def __init__(self, port, db_url, log, fail, **env):
        self.port, self.db_url, self.log, self.fail, self.env = port, db_url, log, fail, env
        self.proc = None

    def start(self):
        env = dict(os.environ)
        env.update(
            TESSERA_ADDR=f"127.0.0.1:{self.port}",
            DATABASE_URL=self.db_url,
            TESSERA_SITE_ROOT=os.path.join(ROOT, "target", "site"),
            RUST_LOG="warn",
            **self.env,
        )
        self.proc = subprocess.Popen([BINARY], env=env, stdout=self.log, stderr=self.log)
        deadline = time.time() + 30
        while time.time() < deadline:
            if request(self.port, "GET", "/readyz", timeout=1)[0] == 200:
                return self
            time.sleep(0.1)
        self.fail("Tessera did not become ready")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill9()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

# the Postgres the checks make their databases in, and whether a missing
# one fails the check (CI) or skips it
ADMIN_URL = os.environ.get(
    "TESSERA_TEST_POSTGRES_URL", "postgres://postgres:postgres@127.0.0.1:5432/postgres"
)
REQUIRED = os.environ.get("CI") in ("true", "1") or os.environ.get("TESSERA_REQUIRE_POSTGRES") == "1"
PASSWORD = "correct horse battery staple"
