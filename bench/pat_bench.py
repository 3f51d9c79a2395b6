"""Driver for bench/pat.sh: seeds through the real API, runs wrk/pgbench, prints figures."""
import argparse, http.client, json, os, random, re, subprocess, time, urllib.parse

p = argparse.ArgumentParser()
p.add_argument("--a"); p.add_argument("--b"); p.add_argument("--c"); p.add_argument("--pg"); p.add_argument("--pgbench"); p.add_argument("--work")
args = p.parse_args()
THREADS, CONNS, SECS = 2, 32, 10
ROUNDS, ROUND_SECS = 60, 1
# PAT_BENCH_ONLY=warm: stop after figure 1 (the warm ratios)
ONLY = os.environ.get("PAT_BENCH_ONLY", "")
COLD_ROUNDS, COLD_SECS = 5, 4

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
                      json.dumps({"form": {"name": "bench admin", "expiry": "365", "scope_mode": "full"}, "sudo_password": ""}),
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
# a token with an allowlist and resource patterns (issue 13's figure)
st, _, body = request(c, "POST", "/api/v1/tokens", json.dumps({
    "name": "bench limited", "scopes": "code:read", "expires_in_days": 30,
    "allowed_networks": ["127.0.0.0/8", "10.0.0.0/8", "2001:db8::/48"],
    "resources": {"code": ["acme/api", "acme/web-*"]}}), auth)
assert st == 201, body
limited = json.loads(body)["token"]
tok_file = os.path.join(args.work, "tokens.txt")
open(tok_file, "w").write("\n".join(tokens) + "\n")

def lua(name, text):
    path = os.path.join(args.work, name)
    open(path, "w").write(text)
    return path

def walker(name, path):
    # walks the tokens in `path`, one per request (figures 3 and 5; the same
    # script for one token and for many, so wrk's own cost is the same)
    return lua(name, f"""
local tokens = {{}}
for line in io.lines("{path}") do tokens[#tokens + 1] = line end
local i = math.random(#tokens)
request = function()
  i = i % #tokens + 1
  return wrk.format("GET", "/gateway/check?scope=code:read", {{["Authorization"] = "Bearer " .. tokens[i]}})
end
""")
cycle = walker("cycle.lua", tok_file)
signin = lua("signin.lua", """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.body = "username=bench&password=not+the+right+password"
""")

def wrk(url, *extra, threads=THREADS, conns=CONNS, secs=SECS, latency=False, allow_errors=False):
    cmd = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{secs}s", *(["--latency"] if latency else []), *extra, url]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    # a throughput made of error answers measures nothing: stop the run
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors and not allow_errors:
        raise SystemExit(f"bench invalid: {errors.group(1)} non-2xx answers from {url}")
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

# wrk and the server share the machine's two cores, and this virtual machine's
# speed drifts by up to 40 % within seconds, so one long run per route mostly
# measures the drift. Instead the routes take 1 s turns (same wrk threads and
# connections): each round runs the three token routes in a shuffled order
# between two runs of the bare route, each route's ratio is taken against the
# mean of the two bare runs around it, and the median of the per-round
# ratios is reported. (Session 21: 2 s rounds with the bare route shuffled in
# among the others spread per-round ratios over 0.69–1.24 in one run.)
gateway = args.a + "/gateway/check?scope=profile:read"
limited_gw = args.a + "/gateway/check?scope=code:read&resource=acme/web-shop"
lim = ["-H", f"Authorization: Bearer {limited}"]
warm_routes = {"pat": [*me, args.a + "/api/v1/me"], "gw": [*me, gateway], "lim": [*lim, limited_gw]}
bare_url = args.a + "/healthz"
rounds = []
before, _, _ = wrk(bare_url, secs=ROUND_SECS)
for _ in range(ROUNDS):
    got = {}
    for name in random.sample(list(warm_routes), len(warm_routes)):
        got[name] = wrk(warm_routes[name][-1], *warm_routes[name][:-1], secs=ROUND_SECS)
    after, _, _ = wrk(bare_url, secs=ROUND_SECS)
    bare = (before + after) / 2
    before = after
    (pat, _, bad), (gw, _, bad_gw), (lgw, _, bad_l) = got["pat"], got["gw"], got["lim"]
    rounds.append((pat / bare, gw / bare, pat, gw, bare, bad + bad_gw + bad_l, lgw / bare, lgw))
def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]
ratio, ratio_gw = median(r[0] for r in rounds), median(r[1] for r in rounds)
pat, gw, bare = median(r[2] for r in rounds), median(r[3] for r in rounds), median(r[4] for r in rounds)
bad = sum(r[5] for r in rounds)
quartiles = sorted(r[0] for r in rounds)
print(f"1. warm PAT /api/v1/me {pat:,.0f} req/s vs bare /healthz {bare:,.0f} req/s (medians): ratio {ratio:.2f} (goal >= 0.9)"
      f"{'' if not bad else f'  [{bad} non-2xx]'}")
print(f"   per-round ratios: {', '.join(f'{r[0]:.2f}' for r in rounds)} ({ROUNDS} rounds of {ROUND_SECS} s per route;"
      f" quartiles {quartiles[len(quartiles) // 4]:.2f}–{quartiles[3 * len(quartiles) // 4]:.2f})")
print(f"   warm gateway check (204 + identity headers) {gw:,.0f} req/s: ratio {ratio_gw:.2f}")
print(f"   warm gateway check, token with an allowlist and resource patterns {median(r[7] for r in rounds):,.0f} req/s: "
      f"ratio {median(r[6] for r in rounds):.2f} (goal >= 0.9)")
if ONLY == "warm":
    raise SystemExit(0)

def updates():
    # backends report table statistics when idle, at most every 10 s
    time.sleep(12)
    return int(psql("SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'tokens'"))

before = updates()
rps, _, _ = wrk(args.a + "/api/v1/me", *me, secs=60)
time.sleep(7)  # let the coalesced last-use flush run
after = updates()
print(f"2. 60 s of load on one token ({rps * 60:,.0f} requests): {after - before} database write(s) to the token")

def scope_writes():
    time.sleep(12)
    return int(psql("SELECT COALESCE(SUM(n_tup_ins + n_tup_upd), 0) FROM pg_stat_user_tables WHERE relname IN ('tokens', 'token_scope_uses')"))
before = scope_writes()
rps, _, _ = wrk(limited_gw, *lim, secs=30)
time.sleep(7)
after = scope_writes()
print(f"   30 s of gateway checks with the limited token ({rps * 30:,.0f} requests): {after - before} write(s) to tokens and token_scope_uses (last use + used scope)")

def pgbench(secs):
    out = subprocess.run(["pgbench", "-S", "-n", f"-c{CONNS}", f"-j{THREADS}", f"-T{secs}", args.pgbench],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r"tps = ([\d.]+)", out).group(1))

# the same alternation as for 1: Tessera (cache off, each request a database
# lookup of a different token) and pgbench -S in turns, median of the ratios
cold_rounds = []
for _ in range(COLD_ROUNDS):
    cold, _, bad = wrk(args.b + "/gateway/check", "-s", cycle, secs=COLD_SECS)
    tps = pgbench(COLD_SECS)
    cold_rounds.append((cold / tps, cold, tps, bad))
ratio = median(r[0] for r in cold_rounds)
cold, tps = median(r[1] for r in cold_rounds), median(r[2] for r in cold_rounds)
bad = sum(r[3] for r in cold_rounds)
print(f"3. cold verification over 10,000 tokens (cache off) {cold:,.0f} req/s vs pgbench -S {tps:,.0f} TPS (medians): ratio {ratio:.2f} (goal >= 0.5){'' if not bad else f'  [{bad} non-2xx]'}")
print(f"   per-round ratios: {', '.join(f'{r[0]:.2f}' for r in cold_rounds)} ({COLD_ROUNDS} rounds of {COLD_SECS} s each)")

flood = subprocess.Popen(["wrk", "-t1", "-c100", "-d15s", "-s", signin, args.a + "/signin"], stdout=subprocess.DEVNULL)
time.sleep(2)
_, p99, _ = wrk(args.a + "/api/v1/me", *me, threads=1, conns=8, secs=10, latency=True)
flood.wait()
print(f"4. p99 of PAT requests during 100 concurrent wrong-password sign-ins: {p99:.2f} ms (goal <= 5 ms)")


# 5. p99 of cached checks with the cache nearly full: 99,000 distinct tokens
# (written straight into the table: sha256 and hint, as Tessera stores them)
import hashlib, secrets, zlib
B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
def make_token():
    body = "tsr_" + "".join(secrets.choice(B62) for _ in range(32))
    n, tail = zlib.crc32(body.encode()), ""
    for _ in range(6):
        tail, n = B62[n % 62] + tail, n // 62
    return body + tail
MANY = 99_000
uid = int(psql("SELECT id FROM users WHERE username = 'bench'"))
stamp = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime())
ends = time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(time.time() + 30 * 86400))
many, rows = [], []
for i in range(MANY):
    t = make_token()
    many.append(t)
    rows.append(f"{uid}\tmany {i}\t\t\\\\x{hashlib.sha256(t.encode()).hexdigest()}\t{t[:8]}\tcode:read\t{stamp}\t{stamp}\t{ends}")
subprocess.run(["psql", args.pg, "-qc", "\\copy tokens (user_id, name, description, token_hash, hint, scopes, "
                "created_at, updated_at, expires_at) FROM STDIN"], input="\n".join(rows) + "\n", text=True, check=True)
many_file = os.path.join(args.work, "many.txt")
open(many_file, "w").write("\n".join(many) + "\n")
one_file = os.path.join(args.work, "one.txt")
open(one_file, "w").write(many[0] + "\n")
walk, one = walker("walk.lua", many_file), walker("one.lua", one_file)
wrk(args.c + "/gateway/check?scope=code:read", "-s", walk, secs=40)  # every token looked up once (cold)
p99s = []
for _ in range(3):
    _, p_one, _ = wrk(args.c + "/gateway/check?scope=code:read", "-s", one, secs=5, latency=True)
    _, p_many, _ = wrk(args.c + "/gateway/check?scope=code:read", "-s", walk, secs=5, latency=True)
    p99s.append((p_one, p_many))
p_one, p_many = median(p[0] for p in p99s), median(p[1] for p in p99s)
print(f"5. p99 of cached gateway checks: one token {p_one:.2f} ms, {MANY:,} distinct tokens {p_many:.2f} ms "
      f"(ratio {p_many / p_one:.2f}; medians of 3 alternating 5 s rounds)")
