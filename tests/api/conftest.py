"""An app on a real database (SQLite and PostgreSQL) with two teams of users, each holding an API token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from callcenter.app import build_app
from callcenter.config import load_settings
from crm_core.access import Principal
from crm_core.db import Database
from crm_core.models import Role
from crm_core.schemas import TeamIn, TokenIn, UserIn
from crm_core.users import create_team, create_token, create_user


# Routing for the seeded world's two CRM teams (team A's agents answer on "support", team B's on "sales").
TWO_TEAMS = """
[routing]
default_team = "Team A"
[routing.teams."Team A"]
queue = "support"
[routing.teams."Team B"]
queue = "sales"
"""


@dataclass
class Actor:
    id: int
    team_id: int | None
    headers: dict[str, str]


@dataclass
class World:
    client: TestClient
    db: Database
    admin: Actor
    sup_a: Actor
    agent_a1: Actor
    agent_a2: Actor
    agent_b1: Actor

    async def ws_params(self, token: str) -> dict[str, str]:
        """What a browser puts in a WebSocket URL: a one-time ticket got with the token, never the token."""
        resp = await self.client.post("/api/v1/auth/ws-ticket", headers={"Authorization": f"Bearer {token}"})
        assert resp.status == 201, await resp.text()
        return {"ticket": (await resp.json())["ticket"]}

    async def call(self, actor: Actor | None, method: str, path: str, body: Any = None, **kw: Any) -> tuple[int, Any]:
        headers = dict(actor.headers) if actor else {}
        resp = await self.client.request(method, path, json=body, headers=headers, **kw)
        data = await resp.json() if resp.content_type == "application/json" else await resp.text()
        return resp.status, data


async def _seed(db: Database) -> dict[str, Actor]:
    actors = {}
    async with db.session() as s:
        system = Principal.system()
        team_a = await create_team(s, system, TeamIn(name="Team A", timezone="Europe/Berlin"))
        team_b = await create_team(s, system, TeamIn(name="Team B"))
        for key, name, role, team, ext in [
            ("admin", "Ada Admin", Role.ADMIN, None, None),
            ("sup_a", "Sam Supervisor", Role.SUPERVISOR, team_a.id, "1001"),
            ("agent_a1", "Alice Agent", Role.AGENT, team_a.id, "1002"),
            ("agent_a2", "Arno Agent", Role.AGENT, team_a.id, "1003"),
            ("agent_b1", "Bea Agent", Role.AGENT, team_b.id, "1004"),
        ]:
            user = await create_user(s, system, UserIn(name=name, role=role, team_id=team, extension=ext))
            _, secret = await create_token(s, system, TokenIn(user_id=user.id, name="test"))
            actors[key] = Actor(id=user.id, team_id=team, headers={"Authorization": f"Bearer {secret}"})
    return actors


@pytest.fixture
def make_world(db_url: str, aiohttp_client: Any) -> Any:
    async def make(config: Any = None, *, prepare: Any = None, **env: str) -> World:
        """``prepare(app)``: called before the app starts (keys set later would change a started app)."""
        settings = load_settings(
            config,
            environ={
                "CALLCENTER_DATABASE__URL": db_url,
                "CALLCENTER_DATABASE__MIGRATE_ON_START": "false",
                "CALLCENTER_AGI__PORT": "0",
                "CALLCENTER_CRM__COMPANY_NUMBERS": "+1 212 555 0100,8050",
                **env,
            }
        )
        db = Database.from_url(db_url)
        actors = await _seed(db)
        app = build_app(settings, database=db)
        if prepare is not None:
            prepare(app)
        client = await aiohttp_client(app)
        return World(client=client, db=db, **actors)

    return make


@pytest.fixture
async def world(make_world: Any) -> World:
    return await make_world()
