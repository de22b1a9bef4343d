"""The wallboard's pure picture: routing reasons reach the live call whichever socket spoke first."""

from __future__ import annotations

from callcenter.events import CallDirection, CallRouted, CallStarted
from callcenter.wallboard.state import MAX_EARLY_ROUTES, WallboardState


def started(call_id: str) -> CallStarted:
    return CallStarted(call_id=call_id, at_s=10.0, direction=CallDirection.INBOUND, caller="+12125550101",
                       caller_name=None, did="8001", customer="+12125550101")


def routed(call_id: str, reason: str) -> CallRouted:
    return CallRouted(call_id=call_id, at_s=10.1, attempt=1, action="dial", reason=reason, targets=("1002",))


def test_a_decision_after_the_call_started_updates_its_row() -> None:
    state = WallboardState()
    state.apply(started("c1"))
    [delta] = state.apply(routed("c1", "owner"))
    assert delta["kind"] == "call" and delta["row"]["routing_reason"] == "owner"
    assert state.snapshot()["calls"][0]["routing_reason"] == "owner"


def test_a_decision_before_the_first_ami_event_is_kept_for_the_call() -> None:
    state = WallboardState()
    assert state.apply(routed("c1", "least-loaded")) == []  # FastAGI answered before AMI told us of the call
    [delta] = state.apply(started("c1"))
    assert delta["row"]["routing_reason"] == "least-loaded" and state.early_routes == {}


def test_early_decisions_of_calls_that_never_start_are_bounded() -> None:
    state = WallboardState()
    for n in range(MAX_EARLY_ROUTES + 10):
        state.apply(routed(f"c{n}", "owner"))
    assert len(state.early_routes) == MAX_EARLY_ROUTES and "c0" not in state.early_routes
