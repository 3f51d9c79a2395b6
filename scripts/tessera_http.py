"""What the fault and restore checks share: the release binary as a
server on loopback, one request to it, and a token's headers."""

import http.client
import os
import signal
import subprocess
import time


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
