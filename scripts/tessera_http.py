"""HTTP helpers the fault and restore checks share: one request to a
Tessera on loopback, and a token's headers."""

import http.client


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
