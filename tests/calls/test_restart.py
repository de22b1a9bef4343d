"""Asterisk shutdown/restart closes every open call exactly once; a normal reconnect's FullyBooted does not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from callcenter.ami import events as ami
from callcenter.calls.tracker import CallTracker
from callcenter.events import CallEnded

from .replaying import ended_by_id, event_frames, feed_all, typed


def first_half(traces_dir: Path, scenario: str, until_event: str) -> tuple[CallTracker, list[Any], list[ami.AmiEvent]]:
    events = typed(event_frames(traces_dir / f"{scenario}.ami"))
    cut = next(n for n, e in enumerate(events) if type(e).__name__ == until_event)
    tracker = CallTracker()
    domain = feed_all(tracker, events[: cut + 1])
    assert len(tracker.open_calls()) == 1
    return tracker, domain, events[cut + 1 :]


def test_shutdown_closes_open_calls_once(traces_dir: Path) -> None:
    tracker, domain, rest = first_half(traces_dir, "inbound_agi_dial_answer", "BridgeEnter")
    (shutdown,) = [e for e in typed(event_frames(traces_dir / "asterisk_restart.ami")) if isinstance(e, ami.Shutdown)]
    domain += tracker.feed(shutdown)
    (ended,) = [e for e in domain if isinstance(e, CallEnded)]
    assert (ended.outcome, ended.answered_by, ended.hung_up_by) == ("answered", "1002", "system")
    assert ended.ended_s == shutdown.timestamp_s and ended.end_estimated is False
    assert tracker.open_calls() == []
    # After the restart: login FullyBooted (Uptime 0), then stale events of the old call must change nothing.
    domain += feed_all(tracker, typed(event_frames(traces_dir / "asterisk_restart_reconnect.ami")))
    domain += feed_all(tracker, rest)
    ended_by_id(domain)  # exactly once
    assert tracker.open_calls() == []
    assert tracker.agent_states()["1002"] == ("available", None)


def test_fully_booted_after_restart_closes_calls_older_than_the_boot(traces_dir: Path) -> None:
    tracker, domain, rest = first_half(traces_dir, "queue_answered", "AgentConnect")
    # We never saw the Shutdown (connection dropped); after reconnecting, Asterisk says it is 0 s old.
    domain += tracker.feed(ami.FullyBooted(timestamp_s=None, status="Fully Booted", uptime_s=0, last_reload_s=0))
    (ended,) = [e for e in domain if isinstance(e, CallEnded)]
    assert (ended.outcome, ended.answered_by, ended.end_estimated, ended.hangup_cause) == ("answered", "1002", True, None)
    domain += feed_all(tracker, rest)
    ended_by_id(domain)
    assert tracker.stats.late_events > 0


def test_fully_booted_of_a_plain_reconnect_keeps_calls(traces_dir: Path) -> None:
    tracker, domain, rest = first_half(traces_dir, "queue_answered", "AgentConnect")
    domain += tracker.feed(ami.FullyBooted(timestamp_s=None, status="Fully Booted", uptime_s=5000, last_reload_s=5000))
    assert not [e for e in domain if isinstance(e, CallEnded)]
    domain += feed_all(tracker, rest)
    (ended,) = ended_by_id(domain).values()
    assert (ended.outcome, ended.end_estimated, ended.hangup_cause) == ("answered", False, 16)


def test_restart_capture_alone_has_no_calls(traces_dir: Path) -> None:
    tracker = CallTracker()
    domain = feed_all(tracker, typed(event_frames(traces_dir / "asterisk_restart.ami")))
    domain += feed_all(tracker, typed(event_frames(traces_dir / "asterisk_restart_reconnect.ami")))
    assert domain == [] and tracker.open_calls() == []
