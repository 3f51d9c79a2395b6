"""Groups pushed by a real SCIM client: scim2-client (PyPI), the way an
identity provider does — one phase per call, so the Rust test can look at
the teams that follow the groups between phases.

  groups.py BASE_URL SCIM_TOKEN PHASE ARGS_JSON
    create {"bob": ID, "carol": ID}  -> {"eng": ID, "sec": ID}
    move   {"eng": ID, "bob": ID, "carol": ID}
    delete {"sec": ID}
Prints one line of JSON with what it saw; exits non-zero on any surprise."""
import json
import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_models import (Error, Group, GroupMember, PatchOp, PatchOperation,
                          ResponseParameters, SearchRequest)

base, token, phase, args = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
http = Client(base_url=f"{base}/scim/v2", headers={"Authorization": f"Bearer {token}"})
scim = SyncSCIMClient(http)
scim.discover()
seen = {}


def members(group):
    return sorted(m.value for m in (group.members or []))


if phase == "create":
    eng = scim.create(Group(display_name="eng-platform", external_id="00g-eng",
                            members=[GroupMember(value=args["bob"], type="User")]))
    assert eng.id and eng.display_name == "eng-platform", eng
    assert members(eng) == [args["bob"]], eng
    sec = scim.create(Group(display_name="Security IR", external_id="00g-sec",
                            members=[GroupMember(value=args["carol"], type="User")]))
    # displayName is not case-exact: the provider finds it whatever its case
    found = scim.query(Group, query_parameters=SearchRequest(filter='displayName eq "ENG-platform"'))
    assert found.total_results == 1 and found.resources[0].id == eng.id, found
    clash = scim.create(Group(display_name="Eng-Platform"), raise_scim_errors=False)
    assert isinstance(clash, Error) and clash.status == 409 and clash.scim_type == "uniqueness", clash
    seen.update(eng=eng.id, sec=sec.id)
elif phase == "move":
    eng = args["eng"]
    ops = PatchOp[Group](operations=[
        PatchOperation[Group](op=PatchOperation.Op.add, path="members",
                              value=[{"value": args["carol"]}]),
        PatchOperation[Group](op=PatchOperation.Op.remove,
                              path=f'members[value eq "{args["bob"]}"]'),
    ])
    scim.modify(Group, eng, ops)
    now = scim.query(Group, eng)
    assert members(now) == [args["carol"]], now
    # a provider reads big groups without their members
    light = scim.query(Group, eng, query_parameters=ResponseParameters(excluded_attributes=["members"]))
    assert light.members is None and light.display_name == "eng-platform", light
    seen["members"] = members(now)
elif phase == "delete":
    scim.delete(Group, args["sec"])
    gone = scim.query(Group, args["sec"], raise_scim_errors=False)
    assert isinstance(gone, Error) and gone.status == 404, gone
    seen["deleted"] = True
else:
    raise SystemExit(f"unknown phase {phase}")
print(json.dumps(seen))
