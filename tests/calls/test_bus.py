"""InProcessBus ordering and isolation; domain-event wire format."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest

from callcenter.events import (
    AgentState,
    AgentStateChanged,
    CallEnded,
    CallStarted,
    EventBus,
    InProcessBus,
    event_from_dict,
    event_to_dict,
)

from .replaying import run


def started(n: int) -> CallStarted:
    return CallStarted(call_id=str(n), at_s=float(n), direction="inbound", caller=None, caller_name=None, did=None,  # type: ignore[arg-type]
                       customer=None)


def test_handlers_by_type_and_wildcard_in_subscription_order() -> None:
    bus = InProcessBus()
    assert isinstance(bus, EventBus)
    seen: list[str] = []
    bus.subscribe(lambda e: seen.append(f"all:{e.call_id}"))
    bus.subscribe(lambda e: seen.append(f"started:{e.call_id}"), event_type=CallStarted)
    bus.subscribe(lambda e: seen.append("agent"), event_type=AgentStateChanged)
    bus.publish(started(1))
    assert seen == ["started:1", "all:1"]


def test_publish_from_a_handler_is_queued_not_recursive() -> None:
    bus = InProcessBus()
    order: list[tuple[str, str]] = []

    def first(event: Any) -> None:
        order.append(("first", event.call_id))
        if event.call_id == "1":
            bus.publish(started(2))

    bus.subscribe(first)
    bus.subscribe(lambda e: order.append(("second", e.call_id)))
    bus.publish(started(1))
    # Every handler sees event 1 before any handler sees event 2: one global order.
    assert order == [("first", "1"), ("second", "1"), ("first", "2"), ("second", "2")]


def test_failing_handler_is_isolated(caplog: pytest.LogCaptureFixture) -> None:
    bus = InProcessBus()
    got: list[Any] = []

    def broken(event: Any) -> None:
        raise RuntimeError("consumer bug")

    bus.subscribe(broken)
    bus.subscribe(got.append)
    with caplog.at_level(logging.ERROR):
        bus.publish(started(1))
        bus.publish(started(2))
    assert [e.call_id for e in got] == ["1", "2"]
    assert bus.handler_errors == 2 and "consumer bug" in caplog.text


def test_unsubscribe() -> None:
    bus = InProcessBus()
    got: list[Any] = []
    unsubscribe = bus.subscribe(got.append, event_type=CallStarted)
    bus.publish(started(1))
    unsubscribe()
    unsubscribe()  # idempotent
    bus.publish(started(2))
    assert [e.call_id for e in got] == ["1"]


def test_wire_format_round_trip(traces_dir: Path) -> None:
    _, domain = run(traces_dir / "inbound_target_unavailable.ami")
    domain.append(AgentStateChanged(agent="1005", at_s=1.0, state=AgentState.PAUSED, previous=None, reason="lunch"))
    for event in domain:
        wire = event_to_dict(event)
        assert wire["type"] == type(event).__name__
        assert event_from_dict(wire) == event
    ended = next(e for e in domain if isinstance(e, CallEnded))
    wire = event_to_dict(ended)
    assert wire["outcome"] == "answered" and wire["attempts"][0]["result"] == "CHANUNAVAIL"
    with pytest.raises(TypeError):
        event_to_dict(object())
