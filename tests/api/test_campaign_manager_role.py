"""The campaign manager role (issue 15) across the API: created like any user, its team's CRM records as its
supervisor reads and writes them, its team's users, wallboard and agents; no user administration, agent control,
listening in, routing decisions, recordings or transcripts; and its way into the reports page (a login link)."""

from __future__ import annotations

import time
from typing import Any

from callcenter.app_keys import LIVE
from crm_core.access import Principal
from crm_core.models import Activity, ActivityKind, CallConsent, Contact, Phone, Role
from crm_core.schemas import TokenIn, UserIn
from crm_core.users import create_token, create_user
from tests.api.conftest import Actor, World
from tests.api.test_disposition_routes import logged


async def add_user(
    world: World, role: Role, team_id: int | None, name: str, extension: str | None = None
) -> Actor:
    """A user with an API token, made the way the user API makes them."""
    async with world.db.session() as s:
        user = await create_user(s, Principal.system(), UserIn(name=name, role=role, team_id=team_id,
                                                               extension=extension))
        _, secret = await create_token(s, Principal.system(), TokenIn(user_id=user.id, name="test"))
    return Actor(id=user.id, team_id=team_id, headers={"Authorization": f"Bearer {secret}"})


async def contacts(world: World) -> dict[str, int]:
    """Team A's contacts (owned by agent a1 or in the pool), one of team B's; numbers +44 20 7946 0xxx."""
    made: dict[str, int] = {}
    rows = [
        ("ok", world.agent_a1.id, "+442079460101", CallConsent.GRANTED, False),
        ("unknown", world.agent_a1.id, "+442079460102", CallConsent.UNKNOWN, False),
        ("refused", world.agent_a2.id, "+442079460103", CallConsent.REFUSED, False),
        ("flagged", None, "+442079460104", CallConsent.GRANTED, True),
        ("bad", world.agent_a1.id, "+4420", CallConsent.GRANTED, False),  # stored before numbers were checked
        ("none", world.agent_a1.id, None, CallConsent.GRANTED, False),
        ("b", world.agent_b1.id, "+442079460199", CallConsent.GRANTED, False),
    ]
    async with world.db.session() as s:
        for key, owner, number, consent, flagged in rows:
            contact = Contact(last_name=f"C-{key}", responsible_id=owner, call_consent=consent, do_not_call=flagged)
            s.add(contact)
            await s.flush()
            if number:
                s.add(Phone(e164=number, raw=number, contact_id=contact.id))
            made[key] = contact.id
    return made


def log_in(world: World, extension: str) -> None:
    """The live model as when the agent's phone is up and idle (available)."""
    world.client.app[LIVE].tracker.agents.device(extension, "NOT_INUSE", time.time())



async def test_the_campaign_manager_role_elsewhere(world: World) -> None:
    c = await contacts(world)
    # Created through the user API, like any user.
    status, user = await world.call(world.admin, "POST", "/api/v1/users",
                                    {"name": "Cam Manager", "role": "campaign_manager", "team_id": world.sup_a.team_id})
    assert status == 201 and user["role"] == "campaign_manager"
    cm_a = await add_user(world, Role.CAMPAIGN_MANAGER, world.sup_a.team_id, "Cora Campaigns")
    # CRM records: its team's and the pool, like the team's supervisor; not team B's.
    status, page = await world.call(cm_a, "GET", "/api/v1/contacts", params={"limit": 100})
    assert status == 200
    assert {r["id"] for r in page["items"]} == {v for k, v in c.items() if k != "b"}
    status, _ = await world.call(cm_a, "GET", f"/api/v1/contacts/{c['b']}")
    assert status == 404
    # Users: its team's, and it administers none.
    status, users = await world.call(cm_a, "GET", "/api/v1/users")
    assert status == 200 and {u["team_id"] for u in users} == {cm_a.team_id}
    status, _ = await world.call(cm_a, "POST", "/api/v1/users", {"name": "X", "role": "admin"})
    assert status == 403
    # The wallboard / reports page: its own team only.
    status, me = await world.call(cm_a, "GET", "/api/v1/wallboard/me")
    assert status == 200 and (me["role"], me["teams"]) == ("campaign_manager", ["Team A"])
    status, err = await world.call(cm_a, "POST", "/api/v1/wallboard/tokens",
                                   {"name": "tv", "team_ids": [world.agent_b1.team_id]})
    assert status == 403 and err["error"]["field"] == "team_ids"
    # Agents: sees its team's (who takes its calls), controls none; no routing decisions, no listening in.
    log_in(world, "1002")
    log_in(world, "1004")
    status, agents = await world.call(cm_a, "GET", "/api/v1/agents")
    assert status == 200 and {a["agent"] for a in agents} <= {"1001", "1002", "1003"}
    assert any(a["agent"] == "1002" and a["state"] == "available" for a in agents)
    status, _ = await world.call(cm_a, "POST", "/api/v1/agents/1002/pause", {"reason": "lunch"})
    assert status == 403
    status, _ = await world.call(cm_a, "GET", "/api/v1/routing/decisions")
    assert status == 403
    status, _ = await world.call(cm_a, "POST", "/api/v1/calls/1.1/spy", {"mode": "listen"})
    assert status == 403
    # A call of its team: in its CRM scope as an activity, but the call's record (recordings, transcripts) is not its.
    async with world.db.session() as s:
        s.add(Activity(kind=ActivityKind.CALL, user_id=world.agent_a1.id, call_id="1795390009.1", contact_id=c["ok"]))
    status, _ = await world.call(world.sup_a, "GET", "/api/v1/calls/1795390009.1")
    assert status == 200
    status, err = await world.call(cm_a, "GET", "/api/v1/calls/1795390009.1")
    assert status == 404 and err["error"]["field"] == "call_id"
    status, found = await world.call(cm_a, "GET", "/api/v1/transcripts/search", params={"q": "invoice"})
    assert status == 200 and found["items"] == []
    # ... nor is its wrap-up (the agent's and their supervisor's).
    await logged(world, "1795390010.1")
    status, err = await world.call(cm_a, "POST", "/api/v1/calls/1795390010.1/disposition", {"disposition": "sale"})
    assert status == 403 and err["error"]["field"] == "call_id"
    status, _ = await world.call(world.sup_a, "POST", "/api/v1/calls/1795390010.1/disposition", {"disposition": "sale"})
    assert status == 200
    # A login link (the reports page's way in) works for it like for anyone with a token.
    resp = await world.client.post("/api/v1/auth/login-link", headers=cm_a.headers)
    assert resp.status == 201
    status, session = await world.call(None, "POST", "/api/v1/auth/login", {"code": (await resp.json())["code"]})
    assert status == 201 and session["role"] == "campaign_manager"


def test_the_cli_makes_a_campaign_manager(tmp_path: Any, monkeypatch: Any, capsys: Any) -> None:
    """``callcenter add-user NAME --role campaign_manager`` (the parser lists every role)."""
    import json

    from callcenter.cli import main

    monkeypatch.setenv("CALLCENTER_DATABASE__URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    assert main(["add-user", "Cora Campaigns", "--role", "campaign_manager"]) == 0
    made = json.loads(capsys.readouterr().out)
    assert made["role"] == "campaign_manager" and made["token"].startswith("cc_")
