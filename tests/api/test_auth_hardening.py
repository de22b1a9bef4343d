"""Outside probe findings on sign-in: no tokens in URLs (tickets, login links), redacted access log, revocation
closes open sockets, throttled failures, and a 4xx naming the field for every kind of bad input."""

from __future__ import annotations

import asyncio
import logging
import warnings
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from sqlalchemy import update

from callcenter.app_keys import HUB
from callcenter.api.auth import AUTH_THROTTLE
from callcenter.api.sockets import OPEN_SOCKETS
from callcenter.api.throttle import FailureThrottle
from crm_core.models import AuthTicket
from crm_core.types import utcnow
from tests.api.conftest import World

WAIT_S = 10


def _token(actor: Any) -> str:
    return actor.headers["Authorization"].split()[1]


async def test_a_token_in_a_websocket_url_is_refused_and_a_ticket_works_once(world: World) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await world.client.ws_connect("/api/v1/wallboard/ws", params={"access_token": _token(world.sup_a)})
    assert info.value.status == 401
    params = await world.ws_params(_token(world.sup_a))
    async with world.client.ws_connect("/api/v1/wallboard/ws", params=params) as ws:
        assert (await asyncio.wait_for(ws.receive_json(), WAIT_S))["type"] == "snapshot"
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await world.client.ws_connect("/api/v1/wallboard/ws", params=params)  # used up
    assert info.value.status == 401
    params = await world.ws_params(_token(world.sup_a))
    async with world.db.session() as s:
        await s.execute(update(AuthTicket).values(expires_at=utcnow() - timedelta(seconds=1)))
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await world.client.ws_connect("/api/v1/wallboard/ws", params=params)  # expired
    assert info.value.status == 401


async def test_a_login_link_is_spent_on_first_use_and_its_session_dies_with_the_token(world: World) -> None:
    status, link = await world.call(world.agent_a1, "POST", "/api/v1/auth/login-link")
    assert status == 201 and link["agent_url"] == f"/agent?login={link['code']}"
    assert link["reports_url"] == f"/reports?login={link['code']}"
    assert link["campaigns_url"] == f"/campaigns?login={link['code']}"
    assert _token(world.agent_a1) not in str(link)
    status, session = await world.call(None, "POST", "/api/v1/auth/login", {"code": link["code"]})
    assert status == 201 and session["user_id"] == world.agent_a1.id and session["token"] != _token(world.agent_a1)
    browser = {"Authorization": f"Bearer {session['token']}"}
    assert (await world.client.get("/api/v1/me/counters", headers=browser)).status == 200
    status, err = await world.call(None, "POST", "/api/v1/auth/login", {"code": link["code"]})
    assert status == 401 and "used or expired" in err["error"]["message"]
    # Revoking the token the link was made for ends the browser's session too.
    async with world.db.session() as s:
        from crm_core.models import ApiToken
        from crm_core.users import hash_token
        await s.execute(update(ApiToken).where(ApiToken.token_hash == hash_token(_token(world.agent_a1))).values(revoked_at=utcnow()))
    assert (await world.client.get("/api/v1/me/counters", headers=browser)).status == 401


class _Lines(logging.Handler):
    """Access-log lines as written (after the logger's filters), with an event per line: a line is logged after
    its response went out, so the test waits for it rather than racing it."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []
        self.grew = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage() + " " + str(record.__dict__.get("first_request_line")))
        self.grew.set()


async def test_the_access_log_shows_no_secret(world: World) -> None:
    secret = _token(world.admin)
    logger = logging.getLogger("aiohttp.access")
    lines, level = _Lines(), logger.level
    logger.addHandler(lines)
    logger.setLevel(logging.INFO)
    try:
        await world.client.get("/wallboard", params={"token": secret})
        await world.client.get("/api/v1/contacts", params={"access_token": secret, "x": "1"})
        await world.client.get("/agent", params={"login": "login_abcdefghijklmnopqrstuvwx"})
        while len(lines.lines) < 3:
            lines.grew.clear()
            await asyncio.wait_for(lines.grew.wait(), WAIT_S)
    finally:
        logger.removeHandler(lines)
        logger.setLevel(level)
    assert not any(secret in line or "login_abcdefghijklmnop" in line for line in lines.lines), lines.lines
    assert any("token=[redacted]" in line for line in lines.lines)


async def _socket_closes(ws: aiohttp.ClientWebSocketResponse) -> int | None:
    while True:
        message = await asyncio.wait_for(ws.receive(), WAIT_S)
        if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
            return ws.close_code


async def test_revoking_a_token_closes_its_open_websocket_at_once(world: World) -> None:
    status, made = await world.call(world.sup_a, "POST", "/api/v1/tokens", {"user_id": world.sup_a.id, "name": "tab"})
    assert status == 201
    async with world.client.ws_connect("/api/v1/wallboard/ws", params=await world.ws_params(made["token"])) as ws:
        await asyncio.wait_for(ws.receive_json(), WAIT_S)
        status, _ = await world.call(world.sup_a, "DELETE", f"/api/v1/tokens/{made['id']}")
        assert status == 200
        assert await _socket_closes(ws) == 4001
    # And it cannot come back.
    resp = await world.client.post("/api/v1/auth/ws-ticket", headers={"Authorization": f"Bearer {made['token']}"})
    assert resp.status == 401


@pytest.mark.parametrize("change", [{"team_id": "B"}, {"role": "agent"}, {"active": False}])
async def test_a_role_or_team_change_closes_the_users_sockets(world: World, change: dict[str, Any]) -> None:
    body = {k: (world.agent_b1.team_id if v == "B" else v) for k, v in change.items()}
    async with world.client.ws_connect("/api/v1/wallboard/ws", params=await world.ws_params(_token(world.sup_a))) as ws:
        await asyncio.wait_for(ws.receive_json(), WAIT_S)
        status, _ = await world.call(world.admin, "PATCH", f"/api/v1/users/{world.sup_a.id}", body)
        assert status == 200
        assert await _socket_closes(ws) == 4001
    assert not world.client.app[HUB].clients


async def test_failed_sign_ins_are_throttled_per_address(world: World) -> None:
    world.client.app[AUTH_THROTTLE].max_failures = 3
    bad = {"Authorization": "Bearer cc_wrong"}
    for _ in range(3):
        assert (await world.client.get("/api/v1/contacts", headers=bad)).status == 401
    resp = await world.client.get("/api/v1/contacts", headers=bad)
    assert resp.status == 429 and 1 <= int(resp.headers["Retry-After"]) <= 60
    assert (await resp.json())["error"]["code"] == "too_many_requests"
    # Guessing login codes counts too (the address is already blocked).
    status, _ = await world.call(None, "POST", "/api/v1/auth/login", {"code": "login_guess"})
    assert status == 429


def test_the_throttle_forgets_old_failures() -> None:
    throttle = FailureThrottle(max_failures=2, window_s=10)
    throttle.failed("a", 0.0)
    throttle.failed("a", 1.0)
    assert throttle.retry_after_s("a", 2.0) == 8 and throttle.retry_after_s("b", 2.0) is None
    assert throttle.retry_after_s("a", 10.5) is None  # the first failure aged out


async def test_no_notappkey_warning(world: World) -> None:
    from aiohttp.web import NotAppKeyWarning

    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        status, _ = await world.call(world.admin, "GET", "/api/v1/contacts")
    assert status == 200
    assert not [w for w in seen if issubclass(w.category, NotAppKeyWarning)]


async def test_a_revocation_made_elsewhere_closes_the_socket_within_seconds(world: World) -> None:
    """Another instance or the CLI revoked it: no push reaches this process, the periodic re-check does."""
    from crm_core.models import ApiToken
    from crm_core.users import hash_token

    sockets = world.client.app[OPEN_SOCKETS]
    sockets.interval_s = 0.2  # the watcher reads it every round
    async with world.client.ws_connect("/api/v1/wallboard/ws", params=await world.ws_params(_token(world.sup_a))) as ws:
        await asyncio.wait_for(ws.receive_json(), WAIT_S)
        async with world.db.session() as s:
            await s.execute(update(ApiToken).where(ApiToken.token_hash == hash_token(_token(world.sup_a))).values(revoked_at=utcnow()))
        assert await _socket_closes(ws) == 4001
