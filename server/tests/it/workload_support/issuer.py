"""A real OIDC issuer for the workload identity tests, over PyJWT and
cryptography (Debian's python3-jwt, python3-cryptography): serves OIDC
discovery and a JWKS per issuer and signs ID tokens shaped like GitHub
Actions' and Kubernetes' (the test sends the claims).

Every issuer lives under its own path: http://127.0.0.1:PORT/NAME.
  GET  /NAME/.well-known/openid-configuration, GET /NAME/jwks
  POST /NAME/mint    {"claims": {...}, "alg": "RS256"|"ES256"|"none"|"HS256-public", "count": N (N tokens, a line each),
                      "kid": "..." (the header's), "key": "..." (sign with that kid's key)}: a signed JWT (iss, iat, exp, nbf, jti filled
                      in unless given; a claim given as null is left out)
  POST /NAME/rotate  a new key (new kid) joins the JWKS; the old ones stay
  POST /NAME/drop    every key but the newest leaves the JWKS
  POST /NAME/mode    {"mode": "normal"|"hang"|"huge"|"other_issuer"|"redirect_away"}
  GET  /NAME/fetches how many discovery and JWKS requests it answered
It is also a hostile OpenID Provider for the single sign-on tests:
  GET  /NAME/authorize  remembers nonce and PKCE challenge, sends the browser back with a code
  POST /NAME/token      (form) the code and its PKCE verifier (S256, checked) for an ID token
                        shaped by the last POST /NAME/sso
  POST /NAME/sso        {"claims": {...} (over sub/aud/nonce/preferred_username), "alg", "kid",
                         "forge": true (signed by a key the JWKS never had, under a published kid),
                         "rotate": true (a new key joins the JWKS and signs)}
Exits when the test process ends."""
import base64, hashlib, hmac, json, os, sys, threading, time, uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

port = int(sys.argv[1])
base = f"http://127.0.0.1:{port}"
lock = threading.Lock()
issuers = {}


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Issuer:
    def __init__(self, name):
        self.name = name
        self.keys = []  # (kid, alg, private key)
        self.mode = "normal"
        self.fetches = 0
        self.codes = {}  # code -> (client_id, nonce, challenge)
        self.sso = {}
        self.add_key("RS256")
        self.add_key("ES256")

    def add_key(self, alg):
        if alg == "RS256":
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            key = ec.generate_private_key(ec.SECP256R1())
        self.keys.append((f"{alg.lower()}-{uuid.uuid4().hex[:12]}", alg, key))

    def newest(self, alg):
        return [k for k in self.keys if k[1] == alg][-1]

    def jwks(self):
        out = []
        for kid, alg, key in self.keys:
            if alg == "ES256":
                # RFC 7518 6.2.1.2: x and y are the full 32 bytes, leading
                # zeros kept (some PyJWT versions drop them: 1 key in ~128
                # then fails to load, a flaky test)
                n = key.public_key().public_numbers()
                jwk = {"kty": "EC", "crv": "P-256",
                       "x": b64(n.x.to_bytes(32, "big")), "y": b64(n.y.to_bytes(32, "big"))}
            else:
                jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
            jwk.update({"kid": kid, "alg": alg, "use": "sig"})
            out.append(jwk)
        return {"keys": out}


def issuer(name):
    with lock:
        if name not in issuers:
            issuers[name] = Issuer(name)
        return issuers[name]


def mint(iss, body):
    now = int(time.time())
    claims = {"iss": f"{base}/{iss.name}", "iat": now, "nbf": now, "exp": now + 300,
              "jti": uuid.uuid4().hex}
    claims.update(body.get("claims", {}))
    claims = {k: v for k, v in claims.items() if v is not None}
    alg = body.get("alg", "RS256")
    if alg == "none":
        head = {"alg": "none", "typ": "JWT"}
        return f"{b64(json.dumps(head).encode())}.{b64(json.dumps(claims).encode())}."
    if alg == "HS256-public":
        # the classic confusion: HMAC keyed with the issuer's public key
        kid, _, key = iss.newest("RS256")
        public = key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        head = {"alg": "HS256", "typ": "JWT", "kid": kid}
        signing = f"{b64(json.dumps(head).encode())}.{b64(json.dumps(claims).encode())}"
        sig = hmac.new(public, signing.encode(), hashlib.sha256).digest()
        return f"{signing}.{b64(sig)}"
    kid, _, key = iss.newest(alg)
    if body.get("forge"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if body.get("key"):
        kid, _, key = [k for k in iss.keys if k[0] == body["key"]][0]
    headers = {"kid": body.get("kid", kid)}
    if body.get("no_kid"):
        headers = {}
    return jwt.encode(claims, key, algorithm=alg, headers=headers)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body, content_type="application/json", extra=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        path, _, query = self.path.partition("?")
        name, _, rest = path.strip("/").partition("/")
        iss = issuer(name)
        if rest == "authorize":
            return self.authorize(iss, query)
        if rest == "fetches":
            return self.answer(200, {"fetches": iss.fetches})
        if rest == "kids":
            return self.answer(200, {"kids": [k[0] for k in iss.keys]})
        if rest not in (".well-known/openid-configuration", "jwks"):
            return self.answer(404, {"error": "not found"})
        with lock:
            iss.fetches += 1
        if iss.mode == "hang":
            time.sleep(30)
            return self.answer(200, {})
        if iss.mode == "huge" and rest == "jwks":
            # 50 MB with no content-length: the client must stop reading
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("connection", "close")
            self.end_headers()
            try:
                self.wfile.write(b'{"keys": [], "pad": "')
                chunk = b"x" * (1024 * 1024)
                for _ in range(50):
                    self.wfile.write(chunk)
                self.wfile.write(b'"}')
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True
            return
        if rest == "jwks":
            return self.answer(200, iss.jwks())
        if iss.mode == "redirect_away":
            return self.answer(302, b"", "text/plain",
                               {"location": f"http://localhost:{port}/{name}/{rest}"})
        named = f"{base}/{name}" + ("-other" if iss.mode == "other_issuer" else "")
        return self.answer(200, {"issuer": named, "jwks_uri": f"{base}/{name}/jwks",
                                 "authorization_endpoint": f"{base}/{name}/authorize",
                                 "token_endpoint": f"{base}/{name}/token",
                                 "response_types_supported": ["code"],
                                 "subject_types_supported": ["public"],
                                 "id_token_signing_alg_values_supported": ["RS256", "ES256"]})

    def authorize(self, iss, query):
        q = {k: v[0] for k, v in parse_qs(query).items()}
        code = uuid.uuid4().hex
        with lock:
            iss.codes[code] = (q.get("client_id"), q.get("nonce"), q.get("code_challenge"))
        sep = "&" if "?" in q["redirect_uri"] else "?"
        to = f"{q['redirect_uri']}{sep}{urlencode({'code': code, 'state': q.get('state', '')})}"
        return self.answer(302, b"", "text/plain", {"location": to})

    def token(self, iss, form):
        f = {k: v[0] for k, v in parse_qs(form).items()}
        with lock:
            grant = iss.codes.pop(f.get("code", ""), None)
        if grant is None:
            return self.answer(400, {"error": "invalid_grant", "error_description": "unknown or used code"})
        client_id, nonce, challenge = grant
        verifier = f.get("code_verifier", "")
        if b64(hashlib.sha256(verifier.encode()).digest()) != challenge:
            return self.answer(400, {"error": "invalid_grant", "error_description": "PKCE verification failed"})
        shape = dict(iss.sso)
        if shape.get("rotate"):
            with lock:
                iss.add_key("RS256")
        claims = {"sub": "forged-user", "aud": client_id, "nonce": nonce,
                  "preferred_username": "forged"}
        claims.update(shape.get("claims", {}))
        body = {"claims": claims, "alg": shape.get("alg", "RS256")}
        for k in ("kid", "forge", "no_kid"):
            if k in shape:
                body[k] = shape[k]
        return self.answer(200, {"access_token": uuid.uuid4().hex, "token_type": "Bearer",
                                 "expires_in": 300, "id_token": mint(iss, body)})

    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("content-length", "0")) or 0)
        name, _, rest = self.path.strip("/").partition("/")
        iss = issuer(name)
        if rest == "token":
            return self.token(iss, raw.decode())
        body = json.loads(raw or b"{}")
        if rest == "sso":
            iss.sso = body
            return self.answer(200, {"sso": body})
        if rest == "mint":
            # "count": N (bench/exchange.sh) gives N tokens, one a line
            tokens = [mint(iss, body) for _ in range(int(body.get("count", 1)))]
            return self.answer(200, "\n".join(tokens).encode(), "application/jwt")
        if rest == "rotate":
            with lock:
                iss.add_key(body.get("alg", "RS256"))
            return self.answer(200, {"kid": iss.newest(body.get("alg", "RS256"))[0]})
        if rest == "drop":
            with lock:
                iss.keys = [iss.newest("RS256"), iss.newest("ES256")]
            return self.answer(200, {"keys": [k[0] for k in iss.keys]})
        if rest == "mode":
            iss.mode = body.get("mode", "normal")
            return self.answer(200, {"mode": iss.mode})
        return self.answer(404, {"error": "not found"})


server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
server.daemon_threads = True
threading.Thread(target=server.serve_forever, daemon=True).start()
print("ready", flush=True)
parent = os.getppid()
while os.getppid() == parent:
    time.sleep(0.3)
