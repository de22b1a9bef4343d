"""The AMI session against a real TCP peer speaking the traces' bytes: order, login, resync, reconnect, back-pressure."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from callcenter.ami import actions
from callcenter.ami.actions import AmiActionFailed, AmiNotConnected
from callcenter.ami.permissions import REQUIRED_ACTIONS
from callcenter.ami.connection import AmiConnection, AmiState, Connected, Disconnected, Received, Resync
from tests.ami_conn.ami_peer import AmiPeer, trace_frames

WAIT_S = 10


class Collector:
    def __init__(self) -> None:
        self.items: list[object] = []
        self.changed = asyncio.Condition()
        self.gate: asyncio.Event | None = None

    async def __call__(self, item: object) -> None:
        if self.gate is not None:
            await self.gate.wait()
        async with self.changed:
            self.items.append(item)
            self.changed.notify_all()

    async def until(self, predicate: Callable[[list[object]], bool]) -> None:
        async with self.changed:
            await asyncio.wait_for(self.changed.wait_for(lambda: predicate(self.items)), WAIT_S)

    def events(self, generation: int | None = None) -> list[str]:
        return [
            i.message["Event"]
            for i in self.items
            if isinstance(i, Received) and "Event" in i.message and (generation is None or i.generation == generation)
        ]


async def _connect(peer: AmiPeer, collector: Collector, **kw: object) -> tuple[AmiConnection, asyncio.Task[None]]:
    conn = AmiConnection(host="127.0.0.1", port=peer.port, username="callcenter", secret=kw.pop("secret", "s3cret"), reconnect_min_s=0.05, reconnect_max_s=0.2, **kw)  # type: ignore[arg-type]
    conn.start()
    return conn, asyncio.create_task(conn.run(collector))


async def _shutdown(conn: AmiConnection, consumer: asyncio.Task[None]) -> None:
    consumer.cancel()
    await asyncio.gather(consumer, return_exceptions=True)
    await conn.stop()


async def test_events_arrive_in_wire_order_after_login_and_resync(peer: AmiPeer, traces_dir: Path) -> None:
    collector = Collector()
    conn, consumer = await _connect(peer, collector)
    try:
        await conn.wait_live(WAIT_S)
        assert conn.state is AmiState.LIVE
        frames = trace_frames(traces_dir / "concurrent_calls_5.ami")
        await peer.send(b"".join(frames))
        await collector.until(lambda items: len([i for i in items if isinstance(i, Received)]) >= len(frames) + 1)
    finally:
        await _shutdown(conn, consumer)
    kinds = [type(i).__name__ for i in collector.items[:2]]
    assert kinds == ["Connected", "Resync"] or kinds == ["Connected", "Received"]
    resync = next(i for i in collector.items if isinstance(i, Resync))
    assert set(resync.lists) == {"CoreShowChannels", "QueueStatus", "DeviceStateList"}
    expected = [f.split(b"\r\n", 1)[0].decode().split(": ", 1)[1] for f in frames]
    got = collector.events()
    assert got[-len(expected):] == expected
    uniqueids = [i.message.get("Uniqueid") for i in collector.items if isinstance(i, Received)][-len(frames):]
    assert uniqueids == [dict(l.partition(": ")[::2] for l in f.decode().split("\r\n")).get("Uniqueid") for f in frames]
    # The resync lists were taken before the trace was streamed, so the Resync item precedes every trace event.
    first_trace_event = len(collector.items) - len(frames)
    assert collector.items.index(resync) < first_trace_event


async def test_refused_login_is_reported_and_retried(peer: AmiPeer) -> None:
    collector = Collector()
    conn, consumer = await _connect(peer, collector, secret="wrong")
    try:
        async with peer.action_seen:
            await asyncio.wait_for(peer.action_seen.wait_for(lambda: sum(a.get("Action") == "Login" for a in peer.actions) >= 2), WAIT_S)
        assert conn.stats.auth_failures >= 1
        assert "Authentication failed" in conn.stats.last_error
        assert conn.state in (AmiState.AUTH_FAILED, AmiState.CONNECTING)
        assert not any(isinstance(i, Connected) for i in collector.items)
    finally:
        await _shutdown(conn, consumer)


async def test_reconnect_after_drop_and_restart_resyncs_each_time(peer: AmiPeer, traces_dir: Path) -> None:
    collector = Collector()
    conn, consumer = await _connect(peer, collector)
    try:
        await conn.wait_live(WAIT_S)
        peer.drop()
        await collector.until(lambda items: sum(isinstance(i, Resync) for i in items) >= 2)
        await conn.wait_live(WAIT_S)
        await peer.restart()
        await collector.until(lambda items: sum(isinstance(i, Resync) for i in items) >= 3)
        await conn.wait_live(WAIT_S)
        frames = trace_frames(traces_dir / "agent_pause_cycle.ami")
        await peer.send(b"".join(frames))
        await collector.until(lambda items: "QueueMemberRemoved" in [e for e in collector.events(3)])
    finally:
        await _shutdown(conn, consumer)
    sequence = [(type(i).__name__, i.generation) for i in collector.items if not isinstance(i, Received)]
    assert sequence == [
        ("Connected", 1), ("Resync", 1), ("Disconnected", 1),
        ("Connected", 2), ("Resync", 2), ("Disconnected", 2),
        ("Connected", 3), ("Resync", 3),
    ]
    # The restart's Shutdown event is delivered before the disconnect it causes.
    shutdown_at = next(n for n, i in enumerate(collector.items) if isinstance(i, Received) and i.message.get("Event") == "Shutdown")
    second_drop = [n for n, i in enumerate(collector.items) if isinstance(i, Disconnected)][1]
    assert shutdown_at < second_drop
    assert peer.logins == 3 and conn.stats.sessions == 3


async def test_slow_consumer_pauses_reading_and_loses_nothing(peer: AmiPeer, traces_dir: Path) -> None:
    collector = Collector()
    conn, consumer = await _connect(peer, collector, queue_high_water=100, queue_low_water=20)
    frames = trace_frames(traces_dir / "concurrent_calls_5.ami") * 20
    try:
        await conn.wait_live(WAIT_S)
        await collector.until(lambda items: any(isinstance(i, Resync) for i in items))
        collector.gate = asyncio.Event()  # the consumer stalls
        sender = asyncio.create_task(peer.send(b"".join(frames)))
        await conn.wait_until(lambda c: c.stats.reading_paused >= 1, WAIT_S)
        collector.gate.set()
        await sender
        await collector.until(lambda items: sum(isinstance(i, Received) for i in items) >= len(frames) + 1)
    finally:
        await _shutdown(conn, consumer)
    total_frames_bytes = sum(map(len, frames))
    assert total_frames_bytes > 4 * 1024 * 1024
    # Bounded: the queue never held more than the high-water mark plus one socket read of frames.
    assert conn.stats.max_queue_depth < 100 + 1500 < len(frames)
    assert len(collector.events()) >= len(frames)


async def test_malformed_frames_are_counted_and_skipped(peer: AmiPeer) -> None:
    collector = Collector()
    conn, consumer = await _connect(peer, collector)
    try:
        await conn.wait_live(WAIT_S)
        await peer.send(b"garbage without colon\r\n\r\nEvent: Reload\r\nPrivilege: system,all\r\nModule: All\r\n\r\n")
        await collector.until(lambda items: "Reload" in collector.events())
    finally:
        await _shutdown(conn, consumer)
    assert conn.stats.malformed_frames == 1
    assert "garbage" in conn.stats.recent_malformed[0]


async def test_actions_and_their_failures(peer: AmiPeer) -> None:
    collector = Collector()
    conn, consumer = await _connect(peer, collector)
    try:
        await conn.wait_live(WAIT_S)
        # panoramisk alone would wait forever on QueueAdd's reply ("Added interface to queue").
        reply = await conn.send(actions.queue_add(queue="sales", interface="PJSIP/1005", member_name="Agent 1005"))
        assert reply["Message"] == "Added interface to queue"
        sent = await peer.wait_action("QueueAdd")
        assert (sent["Queue"], sent["Interface"], sent["Paused"]) == ("sales", "PJSIP/1005", "false")
        with pytest.raises(AmiActionFailed, match="No such channel"):
            await conn.send(actions.hangup(channel="PJSIP/9999-00000001"))
    finally:
        await _shutdown(conn, consumer)
    with pytest.raises(AmiNotConnected):
        await conn.send(actions.ping())


async def test_unreachable_asterisk_backs_off_without_items() -> None:
    collector = Collector()
    conn = AmiConnection(host="127.0.0.1", port=1, username="u", secret="s", reconnect_min_s=0.01, reconnect_max_s=0.05)
    conn.start()
    consumer = asyncio.create_task(conn.run(collector))
    try:
        await conn.wait_until(lambda c: bool(c.stats.last_error), WAIT_S)
        assert "ConnectionRefusedError" in conn.stats.last_error or "OSError" in conn.stats.last_error
        assert conn.state in (AmiState.CONNECTING, AmiState.DISCONNECTED)
    finally:
        await _shutdown(conn, consumer)
    assert collector.items == []


async def test_a_refused_or_empty_resync_source_is_its_answer_not_a_dropped_session(peer: AmiPeer) -> None:
    """Asterisk answers a list action it refuses (no `reporting`/`call` class) or finds empty with one
    `Response: Error` and no Complete event (manager.c; res_pjsip: "No Contacts found"): that ends the action at
    once, the session goes live without that source, and nothing reconnects."""
    peer.errors = {"DeviceStateList": "Permission denied", "PJSIPShowContacts": "No Contacts found"}
    collector = Collector()
    conn, consumer = await _connect(peer, collector, action_timeout_s=30)
    try:
        await conn.wait_live(WAIT_S)
        await collector.until(lambda items: any(isinstance(i, Resync) for i in items))
        # A list action answered with an error ends at once, list or not.
        with pytest.raises(AmiActionFailed, match="No Contacts found"):
            await conn.send(actions.pjsip_show_contacts())
        assert conn.state is AmiState.LIVE
    finally:
        await _shutdown(conn, consumer)
    resync = next(i for i in collector.items if isinstance(i, Resync))
    assert set(resync.lists) == {"CoreShowChannels", "QueueStatus"}
    assert conn.stats.resync_errors == {"DeviceStateList": "Permission denied"}
    assert peer.logins == 1 and conn.stats.sessions == 1
    assert not any(isinstance(i, Disconnected) for i in collector.items)


async def test_login_names_the_actions_manager_conf_does_not_permit(peer: AmiPeer, caplog: pytest.LogCaptureFixture) -> None:
    # Every action the service sends except those only the `agent` class allows.
    peer.permitted = {name for name, (classes, _) in REQUIRED_ACTIONS.items() if "agent" not in classes}
    collector = Collector()
    conn, consumer = await _connect(peer, collector)
    try:
        with caplog.at_level("INFO", logger="callcenter.ami"):
            await conn.wait_live(WAIT_S)
    finally:
        await _shutdown(conn, consumer)
    assert conn.stats.missing_permissions == ["QueueAdd", "QueueRemove", "QueuePause"]
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert any("lacks agent" in m and "QueuePause" in m for m in errors), errors
    # The resync found no channel, and says so in plain words.
    assert any(r.getMessage() == "AMI live (0 channels at resync)" for r in caplog.records)


async def test_a_session_that_went_live_resets_the_reconnect_backoff(peer: AmiPeer) -> None:
    """After an Asterisk restart the service is back within the shortest delay, however long it once waited."""
    peer.secret = "not-yet"  # refused logins grow the delay: 0.01, 0.02, 0.04, 0.08 ...
    collector = Collector()
    conn = AmiConnection(host="127.0.0.1", port=peer.port, username="callcenter", secret="s3cret",
                         reconnect_min_s=0.01, reconnect_max_s=600)
    conn.start()
    consumer = asyncio.create_task(conn.run(collector))
    try:
        await conn.wait_until(lambda c: c.stats.auth_failures >= 4, WAIT_S)
        grown = conn.stats.retry_in_s
        assert grown >= 0.08 * 0.8
        peer.secret = "s3cret"
        await conn.wait_live(WAIT_S)
        await peer.restart()
        await conn.wait_until(lambda c: c.state is AmiState.DISCONNECTED, WAIT_S)
        assert conn.stats.retry_in_s <= 0.01 * 1.2 < grown
        await conn.wait_live(WAIT_S)
    finally:
        await _shutdown(conn, consumer)


def test_an_action_missing_for_want_of_its_module_is_told_apart_from_a_refused_one() -> None:
    """QueueStatus needs no class: when ListCommands lacks it, app_queue is not loaded (seen on a real Asterisk
    still booting), which once crashed the check."""
    from callcenter.ami.permissions import check_permissions

    report = check_permissions(name for name in REQUIRED_ACTIONS if name not in ("QueueStatus", "QueuePause"))
    assert set(report.missing) == {"QueuePause", "QueueStatus"}
    assert report.unavailable == ("QueueStatus",) and report.classes == ("agent",)
    text = report.describe()
    assert "lacks agent" in text and "Asterisk has no QueueStatus (is its module loaded?)" in text
