#!/usr/bin/env python3
"""Cold token checks per second: an instance reading a streaming replica vs
an instance on the primary alone, in one run (docs/scaling.md).

Makes the same replica as scripts/replica-check.py (pg_basebackup -R into a
second cluster on port 5439; root), seeds 5,000 tokens, and runs two
instances with the verification cache off (every check is a lookup): P on
the primary alone, R with --database-replica-url. wrk walks the tokens on
the gateway check, P and R alternating in 4 s rounds; medians reported.
On one machine the replica shares the CPU with the primary, so the figure
is the cost of routing, not the capacity a replica on its own machine adds.
Needs wrk, nginx not required. `make build` first (or BENCH_SKIP_BUILD=1).
"""

import importlib.util
import json
import os
import re
import secrets
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
spec = importlib.util.spec_from_file_location("replica_check", os.path.join(ROOT, "scripts", "replica-check.py"))
rc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(rc)
import tessera_http  # noqa: E402

P_PORT, R_PORT, R_METRICS = 3451, 3452, 3462
ROUNDS, SECS, TOKENS = 5, 4, 5000


def fail(why):
    sys.exit(f"bench failed: {why}")


def wrk(port, script):
    out = subprocess.run(["wrk", "-t2", "-c32", f"-d{SECS}s", "-s", script,
                          f"http://127.0.0.1:{port}/gateway/check?scope=profile:read"],
                         capture_output=True, text=True, check=True).stdout
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if bad:
        fail(f"{bad.group(1)} non-2xx answers from {port}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


def main():
    if os.geteuid() != 0:
        fail("the replica runs as postgres: run as root")
    db = f"tessera_replica_bench_{secrets.token_hex(4)}"
    rc.psql(f"CREATE DATABASE {db}")
    primary = rc.ADMIN_URL.rsplit("/", 1)[0] + "/" + db
    replica = rc.Replica()
    work = tempfile.mkdtemp()
    servers = []
    try:
        replica.make()
        log = open(os.path.join(work, "servers.log"), "w")
        common = dict(TESSERA_VERIFY_CACHE_SECS="0", TESSERA_SIGNUP_MAX_PER_IP="1000")
        servers.append(tessera_http.Server(P_PORT, primary, log, fail, **common).start())
        servers.append(tessera_http.Server(R_PORT, primary, log, fail, **common,
                                           TESSERA_DATABASE_REPLICA_URL=f"{replica.url}/{db}",
                                           TESSERA_METRICS_ADDR=f"127.0.0.1:{R_METRICS}").start())
        rc.request = lambda *a, **k: tessera_http.request(P_PORT, *a, **k)
        manager = rc.sign_up_and_mint(f"bench{secrets.token_hex(3)}")
        t0 = time.time()
        tokens = [rc.create(manager, f"t{i}")[1] for i in range(TOKENS)]
        print(f"seeded {TOKENS:,} tokens in {time.time() - t0:.1f} s")
        path = os.path.join(work, "tokens.txt")
        with open(path, "w") as f:
            f.write("\n".join(tokens) + "\n")
        script = os.path.join(work, "walk.lua")
        with open(script, "w") as f:
            f.write(f"""
local tokens = {{}}
for line in io.lines("{path}") do tokens[#tokens + 1] = line end
local i = math.random(#tokens)
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", nil, {{["Authorization"] = "Bearer " .. tokens[i]}})
end
""")
        time.sleep(2)  # the replica replays the seeding
        rounds = []
        for _ in range(ROUNDS):
            p = wrk(P_PORT, script)
            r = wrk(R_PORT, script)
            rounds.append((r / p, p, r))
        def mid(xs):
            xs = sorted(xs)
            return xs[len(xs) // 2]
        body = tessera_http.request(R_METRICS, "GET", "/metrics")[2]
        reads = {m.group(1): float(m.group(2)) for m in
                 re.finditer(r'tessera_token_lookups_total\{store="(\w+)"\} ([\d.e+]+)', body)}
        lag = re.search(r'tessera_replica_lag_seconds_sum\{[^}]*\} ([\d.e+-]+)', body)
        count = re.search(r'tessera_replica_lag_seconds_count\{[^}]*\} ([\d.e+-]+)', body)
        print(f"cold checks (cache off, {TOKENS:,} tokens): primary alone {mid(x[1] for x in rounds):,.0f} req/s, "
              f"with one replica {mid(x[2] for x in rounds):,.0f} req/s: ratio {mid(x[0] for x in rounds):.2f} "
              f"(per round: {', '.join(f'{x[0]:.2f}' for x in rounds)})")
        print(f"instance R read {reads.get('replica', 0):,.0f} lookups from the replica, "
              f"{reads.get('primary', 0):,.0f} from the primary; mean replica lag "
              f"{1000 * float(lag.group(1)) / max(1.0, float(count.group(1))):.1f} ms over {float(count.group(1)):,.0f} readings")
    finally:
        for s in servers:
            s.stop()
        replica.remove()
        subprocess.run(["psql", rc.ADMIN_URL, "-qc", f"DROP DATABASE IF EXISTS {db} WITH (FORCE)"],
                       capture_output=True)


if __name__ == "__main__":
    main()
