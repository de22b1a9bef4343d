"""POST /api/v1/calls/{call_id}/transfer: who may transfer which call, bad input named by field, the AMI action
Asterisk gets (BlindTransfer / Atxfer on the talking agent's channel into cc-agents), the audit row, and the live
model seeing the transfer once Asterisk carries it out.

The call is the real capture blind_transfer_redirect (1002 answers, the customer then goes to 1003), streamed by the
AMI test peer: up to the moment it was moved, then - after the API's BlindTransfer - the rest, as Asterisk moves the
customer the same way (the capture did it with Redirect: bridge left, 1002 hung up, the customer dials 1003)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from callcenter.app_keys import AMI, BUS, LIVE
from callcenter.events import CallAnswered, CallEnded, CallTransferred
from crm_core.models import AuditEntry
from tests.ami_conn.ami_peer import AmiPeer, frame
from tests.api.conftest import World, make_world  # noqa: F401  (the fixture)
from tests.calls.replaying import event_frames

CALL = "1795390710.26"
CHANNEL = "PJSIP/1002-00000019"
MOVED_S = 1795390717.0  # the capture moved the customer at +7.43 s (1795390717.06)


class TransferPeer(AmiPeer):
    """The test peer answering transfers as Asterisk 20's manager.c does when they are accepted."""

    def _answer(self, action: dict[str, str]) -> bytes:
        name, action_id = action.get("Action", ""), action.get("ActionID", "")
        if name not in self.errors and name == "BlindTransfer":
            return frame(Response="Success", ActionID=action_id, Message="Transfer succeeded")
        if name not in self.errors and name == "Atxfer":
            return frame(Response="Success", ActionID=action_id, Message="Atxfer successfully queued")
        return super()._answer(action)


def _frames(traces_dir: Path) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    # The capture's own login events (FullyBooted with its Uptime) would tell the service Asterisk had restarted.
    frames = [h for h in event_frames(traces_dir / "blind_transfer_redirect.ami")
              if h["Event"] not in ("FullyBooted", "SuccessfulAuth")]
    before = [h for h in frames if float(h.get("Timestamp", 0)) <= MOVED_S]
    return before, frames[len(before):]


def _bytes(frames: list[dict[str, str]]) -> bytes:
    return b"".join(b"".join(f"{k}: {v}".encode() + b"\r\n" for k, v in h.items()) + b"\r\n" for h in frames)


async def _until(world: World, event_type: type, predicate: Any = lambda e: True) -> Any:
    seen: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

    def on_event(event: Any) -> None:
        if predicate(event) and not seen.done():
            seen.set_result(event)

    unsubscribe = world.client.app[BUS].subscribe(on_event, event_type=event_type)
    return seen, unsubscribe


@pytest.fixture
async def peer() -> AsyncIterator[TransferPeer]:
    server = TransferPeer(secret="s3cret")
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def floor(make_world: Any, peer: TransferPeer, traces_dir: Path) -> World:  # noqa: F811
    """1002 (Alice, team A) talking with the customer of the capture."""
    world = await make_world(
        CALLCENTER_AMI__HOST="127.0.0.1", CALLCENTER_AMI__PORT=str(peer.port), CALLCENTER_AMI__SECRET="s3cret"
    )
    answered, unsubscribe = await _until(world, CallAnswered, lambda e: e.call_id == CALL)
    await world.client.app[AMI].wait_live(10)
    before, _ = _frames(traces_dir)
    await peer.send(_bytes(before))
    await asyncio.wait_for(answered, 10)
    unsubscribe()
    return world


async def _audit(world: World) -> list[AuditEntry]:
    async with world.db.session() as s:
        return list(await s.scalars(select(AuditEntry).where(AuditEntry.entity == "call_transfer")))


async def test_the_agent_on_the_call_transfers_it_blind(floor: World, peer: TransferPeer, traces_dir: Path) -> None:
    status, body = await floor.call(floor.agent_a1, "POST", f"/api/v1/calls/{CALL}/transfer",
                                    {"to": "1003", "mode": "blind"})
    assert status == 202, body
    assert body == {"call_id": CALL, "mode": "blind", "from_agent": "1002", "to": "1003", "channel": CHANNEL,
                    "action_id": body["action_id"]}
    sent = await peer.wait_action("BlindTransfer")
    assert sent == {"Action": "BlindTransfer", "ActionID": body["action_id"], "Channel": CHANNEL, "Exten": "1003",
                    "Context": "cc-agents"}
    (entry,) = await _audit(floor)
    assert (entry.actor_id, entry.entity_id, entry.action) == (floor.agent_a1.id, floor.agent_a1.id, "blind")
    assert entry.changes == {"call_id": CALL, "from": "1002", "to": "1003", "channel": CHANNEL,
                             "action_id": body["action_id"]}
    # Asterisk carries it out: the customer leaves 1002 and rings 1003, who answers.
    transferred, _ = await _until(floor, CallTransferred, lambda e: e.call_id == CALL)
    ended, _ = await _until(floor, CallEnded, lambda e: e.call_id == CALL)
    _, after = _frames(traces_dir)
    await peer.send(_bytes(after))
    moved = await asyncio.wait_for(transferred, 10)
    assert (moved.from_agent, moved.to_agent) == ("1002", "1003")
    assert (await asyncio.wait_for(ended, 10)).agents_talked == ("1002", "1003")


async def test_a_supervisor_transfers_attended_and_an_admin_may_too(floor: World, peer: TransferPeer) -> None:
    status, body = await floor.call(floor.sup_a, "POST", f"/api/v1/calls/{CALL}/transfer",
                                    {"to": "1003", "mode": "attended"})
    assert status == 202, body
    sent = await peer.wait_action("Atxfer")
    assert {k: v for k, v in sent.items() if k != "ActionID"} == {
        "Action": "Atxfer", "Channel": CHANNEL, "Exten": "1003", "Context": "cc-agents"}
    assert not [e for e in floor.client.app[LIVE].tracker.open_calls() if len(e.agents_talked) > 1]  # not yet
    status, body = await floor.call(floor.admin, "POST", f"/api/v1/calls/{CALL}/transfer",
                                    {"to": "1004", "mode": "blind"})
    assert status == 202, body
    assert [(e.actor_id, e.action) for e in await _audit(floor)] == [(floor.sup_a.id, "attended"), (floor.admin.id, "blind")]


async def test_who_may_transfer_and_bad_requests(floor: World, peer: TransferPeer) -> None:
    url = f"/api/v1/calls/{CALL}/transfer"
    for actor in (floor.agent_a2, floor.agent_b1):  # not on the call; another team
        status, body = await floor.call(actor, "POST", url, {"to": "1003", "mode": "blind"})
        assert status == 403, body
    status, _ = await floor.call(None, "POST", url, {"to": "1003", "mode": "blind"})
    assert status == 401
    for payload, field in [
        ({"to": "1003", "mode": "warm"}, "mode"),
        ({"to": "1003"}, "mode"),
        ({"mode": "blind"}, "to"),
        ({"to": "1003\r\nAction: Hangup", "mode": "blind"}, "to"),
        ({"to": "9999", "mode": "blind"}, "to"),  # nobody's extension
        ({"to": "1002", "mode": "attended"}, "to"),  # the agent on the call
    ]:
        status, body = await floor.call(floor.agent_a1, "POST", url, payload)
        assert status == 422 and body["error"]["field"] == field, (payload, body)
    status, body = await floor.call(floor.agent_a1, "POST", "/api/v1/calls/1795390000.9/transfer",
                                    {"to": "1003", "mode": "blind"})
    assert status == 404 and body["error"]["field"] == "call_id"
    # Asterisk refuses (no transfer rights on the leg, no atxfer code): a conflict naming the call, nothing audited.
    peer.errors["Atxfer"] = "No attended transfer feature code found"
    status, body = await floor.call(floor.agent_a1, "POST", url, {"to": "1003", "mode": "attended"})
    assert status == 409 and "No attended transfer feature code found" in body["error"]["message"], body
    assert not [a for a in peer.actions if a.get("Action") == "BlindTransfer"]
    assert await _audit(floor) == []
