"""Provisioning driven by a real SCIM client: scim2-client (PyPI), the way
an identity provider would — discover the service, create a user, find an
existing one by filter, deactivate her (her token must answer 401 on the API
within a second), reactivate her, replace and delete the new one.

  provision.py BASE_URL SCIM_TOKEN CAROL_TOKEN
Prints one line of JSON with what it saw; exits non-zero on any surprise."""
import json
import sys
import time

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import Email, Error, PatchOp, PatchOperation, SearchRequest, User

base, token, carol_token = sys.argv[1:4]
http = Client(base_url=f"{base}/scim/v2", headers={"Authorization": f"Bearer {token}"})
api = Client(base_url=base)
scim = SyncSCIMClient(http)
scim.discover()
seen = {}


def me(tok):
    return api.get("/api/v1/me", headers={"Authorization": f"Bearer {tok}"}).status_code


def until(status, tok):
    """Seconds until the API answers `status` to `tok` (fails after 1 s)."""
    start = time.monotonic()
    while me(tok) != status:
        assert time.monotonic() - start < 1.0, f"not {status} within a second"
        time.sleep(0.02)
    return round(time.monotonic() - start, 3)


created = scim.create(User(user_name="bjensen", external_id="00u-bjensen",
                           emails=[Email(value="bjensen@example.com", primary=True)]))
assert created.id and created.user_name == "bjensen" and created.active is True, created
assert created.emails[0].value == "bjensen@example.com"
seen["created"] = created.id

clash = scim.create(User(user_name="BJensen"), raise_scim_errors=False)
assert isinstance(clash, Error) and clash.status == 409 and clash.scim_type == "uniqueness", clash
seen["uniqueness"] = clash.status

found = scim.query(User, query_parameters=SearchRequest(filter='userName eq "carol"'))
assert found.total_results == 1 and found.resources[0].user_name == "carol", found
carol = found.resources[0]
assert me(carol_token) == 200

off = PatchOp[User](operations=[PatchOperation[User](op=PatchOperation.Op.replace_, path="active", value=False)])
changed = scim.modify(User, carol.id, off)
assert changed is None or changed.active is False, changed
seen["refused_after_s"] = until(401, carol_token)

on = PatchOp[User](operations=[PatchOperation[User](op=PatchOperation.Op.replace_, path="active", value=True)])
scim.modify(User, carol.id, on)
seen["back_after_s"] = until(200, carol_token)

# (the client reads resources with the models discovery built from our Schemas)
created.emails = [type(created.emails[0])(value="barbara@example.com", primary=True)]
replaced = scim.replace(created)
assert replaced.emails[0].value == "barbara@example.com", replaced

scim.delete(User, created.id)
gone = scim.query(User, created.id, raise_scim_errors=False)
assert isinstance(gone, Error) and gone.status == 404, gone
none = scim.query(User, query_parameters=SearchRequest(filter='userName eq "bjensen"'))
assert none.total_results == 0, none
seen["deleted"] = True
print(json.dumps(seen))
