"""A real HTTP receiver for webhook deliveries. Verifies each signature on
its own (Python's hmac, per the Standard Webhooks scheme) with the secret
the test wrote to STATE/<path>.secret, answers 500 to the first call of a
path ending in "flaky" (204 otherwise) and appends what it saw to
STATE/<path>.log as JSON lines. Exits when the test process ends."""
import base64, hashlib, hmac, json, os, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, state = int(sys.argv[1]), sys.argv[2]
counts, lock = {}, threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        path = self.path.strip("/")
        try:
            with open(os.path.join(state, path + ".secret")) as f:
                secret = f.read().strip()
        except FileNotFoundError:
            secret = ""
        msg_id = self.headers.get("webhook-id", "")
        stamp = self.headers.get("webhook-timestamp", "")
        signatures = self.headers.get("webhook-signature", "")
        ok = False
        if secret.startswith("whsec_"):
            key = base64.b64decode(secret[len("whsec_"):])
            want = base64.b64encode(
                hmac.new(key, f"{msg_id}.{stamp}.".encode() + body, hashlib.sha256).digest()
            ).decode()
            ok = any(
                hmac.compare_digest(s.split(",", 1)[1], want)
                for s in signatures.split(" ")
                if s.startswith("v1,")
            )
        with lock:
            n = counts.get(path, 0) + 1
            counts[path] = n
        status = 500 if path.endswith("flaky") and n == 1 else 204
        record = {"path": path, "attempt": n, "id": msg_id, "timestamp": stamp,
                  "signature_ok": ok, "answered": status, "body": json.loads(body or b"null")}
        with lock, open(os.path.join(state, path + ".log"), "a") as f:
            f.write(json.dumps(record) + "\n")
        self.send_response(status)
        self.end_headers()


server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
print("ready", flush=True)
parent = os.getppid()
while os.getppid() == parent:
    time.sleep(0.3)
server.shutdown()
