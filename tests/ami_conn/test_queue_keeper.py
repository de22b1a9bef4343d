"""Queue logins and pauses across an Asterisk restart: Asterisk forgets dynamic members (queues.conf
persistentmembers = no), the service puts them back, and the live model never shows a paused agent as available."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from callcenter.ami.connection import AmiConnection, Resync
from callcenter.calls.live import LiveCalls
from callcenter.calls.tracker import CallTracker
from callcenter.events import AgentState, InProcessBus
from callcenter.config import Settings
from callcenter.pbxsim.simulator import DIALPLANS
from callcenter.queues.fallback import FallbackQueueCheck
from callcenter.queues.keeper import MembershipKeeper
from callcenter.routing.settings import build_rules
from callcenter.queues.reconcile import AddBack, Member, SetPause, reconcile
from tests.ami_conn.ami_peer import AmiPeer

WAIT_S = 10


@asynccontextmanager
async def keeping(peer: AmiPeer, inner: Any, **conn_kw: Any) -> AsyncIterator[tuple[AmiConnection, MembershipKeeper]]:
    """An AMI session on ``peer`` whose consumer is a membership keeper in front of ``inner``."""
    conn = AmiConnection(host="127.0.0.1", port=peer.port, username="callcenter", secret="s3cret", **conn_kw)
    keeper = MembershipKeeper(inner=inner, send=conn.send)
    conn.start()
    consumer = asyncio.create_task(conn.run(keeper))
    try:
        yield conn, keeper
    finally:
        consumer.cancel()
        await asyncio.gather(consumer, return_exceptions=True)
        await keeper.stop()
        await conn.stop()


def member(interface: str, *, paused: bool = False, reason: str = "", queue: str = "support") -> dict[str, str]:
    """A QueueMember list item as app_queue sends it (agent_pause_cycle.ami)."""
    return {"Queue": queue, "Name": f"Agent {interface[-4:]}", "Location": interface, "StateInterface": interface,
            "Membership": "dynamic", "Penalty": "0", "CallsTaken": "3", "LastCall": "0", "LastPause": "0",
            "LoginTime": "1795390634", "InCall": "0", "Status": "1", "Paused": "1" if paused else "0",
            "PausedReason": reason, "Wrapuptime": "0"}


def test_reconcile_puts_back_what_asterisk_lost_and_adopts_what_only_it_has() -> None:
    lunch = Member("support", "PJSIP/1001", "Agent 1001", "PJSIP/1001", 0, True, "lunch")
    ready = Member("support", "PJSIP/1002", "Agent 1002", "PJSIP/1002", 0, False, "")
    static = Member("support", "PJSIP/1009", "static", "PJSIP/1009", 0, False, "", dynamic=False)
    record = {m.key: m for m in (lunch, ready, static)}
    assert reconcile(record, []) == [AddBack(lunch), AddBack(ready)]
    unpaused = Member("support", "PJSIP/1001", "Agent 1001", "PJSIP/1001", 0, False, "")
    other_reason = Member("support", "PJSIP/1001", "Agent 1001", "PJSIP/1001", 0, True, "training")
    assert reconcile(record, [unpaused, ready]) == [SetPause(lunch)]
    assert reconcile(record, [other_reason, ready]) == [SetPause(lunch)]
    extra = Member("sales", "PJSIP/1003", "Agent 1003", "PJSIP/1003", 0, False, "")
    assert reconcile(record, [lunch, ready, extra]) == []


async def test_after_an_asterisk_restart_logins_and_pauses_are_put_back(peer: AmiPeer) -> None:
    peer.queue_members = [member("PJSIP/1001", paused=True, reason="lunch"), member("PJSIP/1002")]
    live = LiveCalls(tracker=CallTracker(), bus=InProcessBus())
    resyncs: list[Resync] = []
    resynced = asyncio.Condition()

    async def inner(item: object) -> None:
        live(item)  # type: ignore[arg-type]
        if isinstance(item, Resync):
            async with resynced:
                resyncs.append(item)
                resynced.notify_all()

    async with keeping(peer, inner, reconnect_min_s=0.01, reconnect_max_s=0.05) as (_conn, keeper):
        async with resynced:
            await asyncio.wait_for(resynced.wait_for(lambda: len(resyncs) == 1), WAIT_S)
        assert live.agent_state("1001") == (AgentState.PAUSED, "lunch")
        assert keeper.reapplied == 0  # first connect: Asterisk's members are adopted, nothing is sent
        peer.queue_members = []  # `core restart now`: dynamic members are gone
        await peer.restart()
        async with resynced:
            await asyncio.wait_for(resynced.wait_for(lambda: len(resyncs) == 2), WAIT_S)
        # The live model never saw the agent on lunch as available, not even for the moment of the resync.
        assert live.agent_state("1001") == (AgentState.PAUSED, "lunch")
        assert live.agent_state("1002")[0] is AgentState.AVAILABLE
        await asyncio.wait_for(keeper.wait_resyncs(2), WAIT_S)
    adds = [a for a in peer.actions if a.get("Action") == "QueueAdd"]
    assert [(a["Queue"], a["Interface"], a["Paused"], a.get("Reason")) for a in adds] == [
        ("support", "PJSIP/1001", "true", "lunch"),
        ("support", "PJSIP/1002", "false", None),
    ]
    assert adds[0]["MemberName"] == "Agent 1001" and adds[0]["StateInterface"] == "PJSIP/1001"
    assert keeper.reapplied == 2 and keeper.failed == 0


async def _checked(peer: AmiPeer, expected_queue: str) -> list[str]:
    async with keeping(peer, lambda item: None) as (conn, keeper):
        check = keeper.after_resync = FallbackQueueCheck(send=conn.send, expected_queue=expected_queue)
        await asyncio.wait_for(check.done.wait(), WAIT_S)
    return check.problems


async def test_the_fallback_queue_is_checked_after_every_connect(peer: AmiPeer) -> None:
    """The dialplan fell back to `sales` while agents logged into `support`: with the service down, callers waited
    in a queue with nobody in it. Each mismatch is named."""
    peer.queues = ["sales", "support"]
    peer.globals = {"CC_FALLBACK_QUEUE": "sales"}
    peer.queue_members = [member("PJSIP/1001", queue="support")]
    mismatch, empty = await _checked(peer, "support")
    assert "'sales'" in mismatch and "agi.default_queue is 'support'" in mismatch
    assert "queue 'sales' has no members" in empty  # the queue callers really reach
    peer.globals = {"CC_FALLBACK_QUEUE": "support"}
    assert await _checked(peer, "support") == []
    peer.queue_members = []
    [problem] = await _checked(peer, "support")
    assert "queue 'support' has no members" in problem
    peer.queues = ["sales"]
    [problem] = await _checked(peer, "support")
    assert "queue 'support' does not exist" in problem


def test_the_shipped_dialplan_falls_back_to_the_queue_agents_log_into() -> None:
    settings = Settings()
    globals_text = re.split(r"^\[globals\]$", (DIALPLANS / "extensions.conf").read_text(), flags=re.MULTILINE)[1]
    fallback = re.search(r"^CC_FALLBACK_QUEUE=(\S+)$", globals_text, flags=re.MULTILINE)
    assert fallback is not None
    rules = build_rules(settings.routing, default_queue=settings.agi.default_queue)
    assert fallback.group(1) == settings.agi.default_queue == rules.teams[settings.routing.default_team].queue


async def test_no_members_in_the_fallback_queue_is_judged_now_not_at_the_last_connect(peer: AmiPeer) -> None:
    """Agents log in after the service starts: the warning goes once one is in the queue."""
    peer.queues = ["support"]
    peer.globals = {"CC_FALLBACK_QUEUE": "support"}
    seen = asyncio.Event()
    async with keeping(peer, lambda item: seen.set()) as (conn, keeper):
        check = keeper.after_resync = FallbackQueueCheck(send=conn.send, expected_queue="support",
                                                         members_of=keeper.members_of)
        await asyncio.wait_for(check.done.wait(), WAIT_S)
        assert ["queue 'support' has no members" in p for p in check.problems] == [True]
        added = {"Event": "QueueMemberAdded", "Privilege": "agent,all", "Timestamp": "1795390634.1",
                 **member("PJSIP/1001")}
        added["Interface"], added["MemberName"] = added.pop("Location"), added.pop("Name")
        await peer.send(b"".join(f"{k}: {v}\r\n".encode() for k, v in added.items()) + b"\r\n")
        await asyncio.wait_for(_until(seen, lambda: check.problems == []), WAIT_S)


async def _until(seen: asyncio.Event, predicate: Any) -> None:
    """Re-check after every item the keeper passes on (it has already applied it to its record)."""
    while not predicate():
        seen.clear()
        await seen.wait()
