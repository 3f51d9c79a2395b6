"""Driver for bench/pat.sh: seeds through the real API, runs wrk/pgbench, prints figures."""
import argparse, http.client, json, os, re, subprocess, time, urllib.parse

p = argparse.ArgumentParser()
p.add_argument("--a"); p.add_argument("--b"); p.add_argument("--pg"); p.add_argument("--pgbench"); p.add_argument("--work")
args = p.parse_args()
THREADS, CONNS, SECS = 2, 32, 10

def conn(base):
    u = urllib.parse.urlparse(base)
    return http.client.HTTPConnection(u.hostname, u.port)

def request(c, method, path, body=None, headers=None):
    c.request(method, path, body=body, headers=headers or {})
    r = c.getresponse()
    return r.status, r.getheaders(), r.read()

# a user and a full-access token, made through the page's own endpoints
c = conn(args.a)
pw = "correct horse battery staple"
form = urllib.parse.urlencode({"username": "bench", "password": pw, "confirm": pw})
st, hdrs, _ = request(c, "POST", "/signup", form, {"Content-Type": "application/x-www-form-urlencoded"})
cookie = [v.split(";")[0] for k, v in hdrs if k.lower() == "set-cookie"][0]
st, _, body = request(c, "POST", "/rpc/tokens/create",
                      json.dumps({"form": {"name": "bench admin", "expiry": "365", "scope_mode": "full"}}),
                      {"Content-Type": "application/json", "Cookie": cookie})
admin = json.loads(body)["Done"]["secret"]
auth = {"Authorization": "Bearer " + admin, "Content-Type": "application/json"}

t0 = time.time()
tokens = []
for i in range(10_000):
    st, _, body = request(c, "POST", "/api/v1/tokens", json.dumps({"name": f"cold {i}", "scopes": "code:read", "expires_in_days": 30}), auth)
    assert st == 201, body
    tokens.append(json.loads(body)["token"])
seed_s = time.time() - t0
tok_file = os.path.join(args.work, "tokens.txt")
open(tok_file, "w").write("\n".join(tokens) + "\n")

def lua(name, text):
    path = os.path.join(args.work, name)
    open(path, "w").write(text)
    return path

cycle = lua("cycle.lua", f"""
local tokens = {{}}
for line in io.lines("{tok_file}") do tokens[#tokens + 1] = line end
local i = math.random(#tokens)
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", "/gateway/check?scope=code:read", {{["Authorization"] = "Bearer " .. tokens[i]}})
end
""")
signin = lua("signin.lua", """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "username=bench&password=not+the+right+password"
""")

def wrk(url, *extra, threads=THREADS, conns=CONNS, secs=SECS, latency=False):
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{secs}s", *(["--latency"] if latency else []), *extra, url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = None
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    if m:
        p99 = float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p99, int(non2xx.group(1)) if non2xx else 0

def psql(q):
    return subprocess.run(["psql", args.pg, "-tAc", q], capture_output=True, text=True, check=True).stdout.strip()

print(f"seeded 10,000 tokens through POST /api/v1/tokens in {seed_s:.1f} s")
me = ["-H", f"Authorization: Bearer {admin}"]
wrk(args.a + "/api/v1/me", *me, secs=2)  # warm up (fills the cache)

bare, _, _ = wrk(args.a + "/healthz")
pat, _, bad = wrk(args.a + "/api/v1/me", *me)
print(f"1. warm PAT /api/v1/me {pat:,.0f} req/s vs bare /healthz {bare:,.0f} req/s: ratio {pat / bare:.2f} (goal >= 0.9){'' if not bad else f'  [{bad} non-2xx]'}")

def updates():
    # backends report table statistics when idle, at most every 10 s
    time.sleep(12)
    return int(psql("SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'tokens'"))

before = updates()
rps, _, _ = wrk(args.a + "/api/v1/me", *me, secs=60)
time.sleep(7)  # let the coalesced last-use flush run
after = updates()
print(f"2. 60 s of load on one token ({rps * 60:,.0f} requests): {after - before} database write(s) to the token")

cold, _, bad = wrk(args.b + "/gateway/check", "-s", cycle)
pgb = subprocess.run(["pgbench", "-S", "-n", f"-c{CONNS}", f"-j{THREADS}", f"-T{SECS}", args.pgbench], capture_output=True, text=True, check=True).stdout
tps = float(re.search(r"tps = ([\d.]+)", pgb).group(1))
print(f"3. cold verification over 10,000 tokens (cache off) {cold:,.0f} req/s vs pgbench -S {tps:,.0f} TPS: ratio {cold / tps:.2f} (goal >= 0.5){'' if not bad else f'  [{bad} non-2xx]'}")

flood = subprocess.Popen(["wrk", "-t1", "-c100", "-d15s", "-s", signin, args.a + "/signin"], stdout=subprocess.DEVNULL)
time.sleep(2)
_, p99, _ = wrk(args.a + "/api/v1/me", *me, threads=1, conns=8, secs=10, latency=True)
flood.wait()
print(f"4. p99 of PAT requests during 100 concurrent wrong-password sign-ins: {p99:.2f} ms (goal <= 5 ms)")

