"""Cut a capture, drop a window of events, resync from Asterisk's live view at the resume point, resume.

The snapshot is what CoreShowChannels would answer at the resume point, derived from the raw frames by
``AsteriskView`` (independently of the parser and the tracker). For every cut the set of CallEnded must equal the
uninterrupted run's, each exactly once, except for what cannot be known. What may legitimately differ, and why:

1. A call whose every event lies inside the dropped window is invisible: it began and ended while we were away and
   Asterisk keeps no list of finished calls (only CDR/CEL backfill could recover it). It is absent, never doubled.
2. A call that ended inside the window is closed at the resync with ``end_estimated=True``: its end time is the
   resync time, its hangup cause is None unless the customer side's Hangup came before the window; who hung up is
   only known if the HangupRequest was seen.
3. If the answer happened inside the window and the answering agent leg is gone by the resume point, nothing says
   the call was answered: the outcome may differ (never the other way round: no invented answers).
4. Agents whose leg rang and ended inside the window are missing from ``agents_rung`` (a subset, same order).
5. Times are exact only for moments we saw; a call found by the resync starts at ``resync - Duration`` and
   Duration has whole seconds, so its start may be late by less than 1 s; an answer inside the window is dated at
   the last event before the window.
6. Direction/caller/DID/customer come from the first channel and the trunk leg's DialBegin; if those were neither
   seen nor alive at the resume point they may be None (direction: a best guess from the channels that are left).

Everything else must be equal, and a call none of whose events fell in the window must be *identical*.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from callcenter.ami.events import parse_event
from callcenter.calls.tracker import CallTracker
from callcenter.events import CallAnswered, CallEnded, CallStarted

from .replaying import CALL_SCENARIOS, AsteriskView, ended_by_id, event_frames, linkedids_of


@dataclass
class CallFacts:
    """Where each call's events sit in the frame list (from the uninterrupted run)."""

    indices: list[int] = field(default_factory=list)
    first_newchannel: int | None = None
    answer_idx: int | None = None
    hangup_requests: list[int] = field(default_factory=list)
    trunk_dialbegin: list[int] = field(default_factory=list)
    customer_hangup: int | None = None  # Hangup of the channel whose cause describes the call
    caller_idx: int | None = None  # first event of the first channel that carried a real CallerIDNum


def full_run(frames: list[dict[str, str]]) -> tuple[dict[str, CallEnded], dict[str, CallFacts]]:
    tracker = CallTracker()
    facts: dict[str, CallFacts] = {}
    domain: list[Any] = []
    for idx, h in enumerate(frames):
        linked = linkedids_of(h)
        if h["Event"] == "OriginateResponse":
            # No Linkedid: it names the originated channel (or only the dial string when it failed).
            linked = {h["Uniqueid"]} if h["Uniqueid"] in facts else set(facts)
        for linkedid in linked:
            f = facts.setdefault(linkedid, CallFacts())
            if not f.indices or f.indices[-1] != idx:
                f.indices.append(idx)
            if h["Event"] == "Newchannel" and h["Uniqueid"] == linkedid:
                f.first_newchannel = idx
            if (f.caller_idx is None and h.get("Uniqueid") == linkedid and h["Event"] in ("Newchannel", "NewCallerid")
                    and h["CallerIDNum"] != "<unknown>"):
                f.caller_idx = idx
            if h["Event"] == "HangupRequest":
                f.hangup_requests.append(idx)
            if h["Event"] == "DialBegin" and "trunk" in h.get("DestChannel", ""):
                f.trunk_dialbegin.append(idx)
            if h["Event"] == "Hangup" and "/trunk-" in h["Channel"]:
                f.customer_hangup = idx
        event = parse_event(h)
        if event is None:
            continue
        for d in tracker.feed(event):
            domain.append(d)
            if isinstance(d, CallAnswered):
                facts[d.call_id].answer_idx = idx
    return ended_by_id(domain), facts


def cut_run(frames: list[dict[str, str]], i: int, k: int) -> tuple[list[Any], AsteriskView]:
    tracker = CallTracker()
    domain: list[Any] = []
    for h in frames[:i]:
        event = parse_event(h)
        if event is not None:
            domain.extend(tracker.feed(event))
    view = AsteriskView()
    for h in frames[:k]:
        view.apply(h)
    tracker.begin_resync()
    for item in view.core_show_channels():
        domain.extend(tracker.feed(parse_event(item)))  # type: ignore[arg-type]
    domain.extend(tracker.end_resync(at_s=view.now_s))
    for h in frames[k:]:
        event = parse_event(h)
        if event is not None:
            domain.extend(tracker.feed(event))
    assert tracker.open_calls() == []
    return domain, view


def is_subsequence(small: tuple[str, ...], big: tuple[str, ...]) -> bool:
    it = iter(big)
    return all(x in it for x in small)


def check_cut(frames: list[dict[str, str]], i: int, k: int, full: dict[str, CallEnded], facts: dict[str, CallFacts]) -> None:
    domain, view = cut_run(frames, i, k)
    cut = ended_by_id(domain)  # also asserts: never two CallEnded for one call
    started = [e.call_id for e in domain if isinstance(e, CallStarted)]
    assert len(started) == len(set(started)), "CallStarted doubled"

    def in_gap(idx: int | None) -> bool:
        return idx is not None and i <= idx < k

    invisible = {cid for cid, f in facts.items() if f.indices and all(in_gap(x) for x in f.indices)}
    assert set(cut) == set(full) - invisible, (i, k)
    alive_at_k = {live.headers["Linkedid"] for live in view.channels.values()}
    live_uids = set(view.channels)

    for cid, got in cut.items():
        want, f = full[cid], facts[cid]
        ctx = (cid, i, k)
        if not any(in_gap(x) for x in f.indices):
            assert got == want, ctx  # rule: untouched calls are identical
            continue
        ended_in_gap = in_gap(f.indices[-1])
        assert got.end_estimated is ended_in_gap, ctx
        assert got.ended_s == (view.now_s if ended_in_gap else want.ended_s), ctx
        # rule 2: the cause is known exactly when the customer side's Hangup was seen
        cause_seen = not in_gap(f.customer_hangup)
        assert got.hangup_cause == (want.hangup_cause if cause_seen else None), ctx
        if not any(in_gap(x) for x in f.hangup_requests) and not ended_in_gap:
            assert got.hung_up_by == want.hung_up_by, ctx
        if not in_gap(f.first_newchannel) or cid in live_uids:
            assert got.direction == want.direction, ctx
        # rule 6: caller / DID / customer known when the event carrying them was seen or the channel is still there
        if not in_gap(f.caller_idx) or cid in live_uids:
            assert got.caller == want.caller, ctx
        if not in_gap(f.first_newchannel) or cid in live_uids:
            assert got.did == want.did, ctx
            if want.direction == "inbound" or not any(in_gap(x) for x in f.trunk_dialbegin):
                assert got.customer == want.customer, ctx
        assert is_subsequence(got.agents_rung, want.agents_rung), ctx  # rule 4
        # Answers: observed -> identical; inside the window -> known only if the answering leg survived.
        if want.answered_by is None:
            assert got.answered_by is None and got.outcome == want.outcome or got.outcome != "answered", ctx
        elif not in_gap(f.answer_idx):
            assert (got.outcome, got.answered_by) == (want.outcome, want.answered_by), ctx
        elif cid in alive_at_k and any(
            live.headers["Linkedid"] == cid and live.headers["ChannelState"] == "6"
            and live.headers["Channel"].startswith(f"PJSIP/{want.answered_by}-")
            for live in view.channels.values()
        ):
            assert (got.outcome, got.answered_by) == ("answered", want.answered_by), ctx
        if got.answered_by is not None:
            assert got.answered_by in want.agents_talked, ctx  # rule 3: never an invented answer
        # Times (rule 5).
        start_seen = f.first_newchannel is not None and not in_gap(f.first_newchannel)
        if start_seen:
            assert got.started_s == want.started_s, ctx
        elif cid in live_uids:
            assert 0.0 <= got.started_s - want.started_s < 1.0, ctx
        answer_seen = want.answered_by is None or not in_gap(f.answer_idx)
        if start_seen and answer_seen and not ended_in_gap and got.outcome == want.outcome:
            assert got.wait_s == pytest.approx(want.wait_s, abs=1e-6), ctx
            assert got.talk_s == pytest.approx(want.talk_s, abs=1e-6), ctx


def cut_points(n: int, seed: str, count: int) -> list[tuple[int, int]]:
    rng = random.Random(seed)
    points = {(0, 0), (n, n), (0, n), (n // 2, n // 2)}
    while len(points) < count:
        i = rng.randrange(0, n + 1)
        width = rng.choice([0, 1, 2, 5, 20, 60, rng.randrange(0, n + 1)])
        points.add((i, min(n, i + width)))
    return sorted(points)


@pytest.mark.parametrize("scenario", CALL_SCENARIOS)
def test_cut_and_resync(traces_dir: Path, scenario: str) -> None:
    frames = event_frames(traces_dir / f"{scenario}.ami")
    full, facts = full_run(frames)
    count = 400 if scenario == "concurrent_calls_5" else 60
    for i, k in cut_points(len(frames), scenario, count):
        check_cut(frames, i, k, full, facts)


def test_resync_with_nothing_lost_changes_nothing(traces_dir: Path) -> None:
    """A reconnect with no missed event: every call comes out exactly as in the uninterrupted run."""
    frames = event_frames(traces_dir / "concurrent_calls_5.ami")
    full, _ = full_run(frames)
    for k in range(0, len(frames) + 1, 7):
        domain, _ = cut_run(frames, k, k)
        assert ended_by_id(domain) == full


def test_call_started_while_away_is_recovered(traces_dir: Path) -> None:
    frames = event_frames(traces_dir / "concurrent_calls_5.ami")
    full, facts = full_run(frames)
    # Drop everything from just before the 3rd call's first event to just after the 3rd call is answered.
    third = "1795390759.38"
    i = facts[third].first_newchannel
    k = facts[third].answer_idx
    assert i is not None and k is not None
    domain, view = cut_run(frames, i, k + 1)
    (recovered,) = [e for e in domain if isinstance(e, CallStarted) and e.call_id == third]
    assert recovered.recovered is True
    assert (recovered.direction, recovered.caller, recovered.did) == ("inbound", "+12125550123", "8023")
    got = ended_by_id(domain)[third]
    assert (got.outcome, got.answered_by, got.hangup_cause, got.end_estimated) == ("answered", "1004", 16, False)
    assert 0.0 <= got.started_s - full[third].started_s < 1.0
    assert got.ended_s == full[third].ended_s


def test_incomplete_channel_list_never_closes_calls(traces_dir: Path) -> None:
    frames = event_frames(traces_dir / "inbound_agi_dial_answer.ami")
    tracker = CallTracker()
    half = next(n for n, h in enumerate(frames) if h["Event"] == "BridgeEnter")
    for h in frames[:half]:
        event = parse_event(h)
        if event is not None:
            tracker.feed(event)
    tracker.begin_resync()  # ... and the CoreShowChannels reply never completes
    assert list(tracker.end_resync(at_s=tracker.now_s + 5)) == []
    assert [c.call_id for c in tracker.open_calls()] == ["1795390491.0"]
    # The same with an explicitly complete, empty list: Asterisk has nothing, so the call ended while away.
    tracker.begin_resync()
    (ended,) = [e for e in tracker.end_resync(at_s=tracker.now_s + 5, channels_complete=True) if isinstance(e, CallEnded)]
    assert (ended.call_id, ended.end_estimated, ended.answered_by) == ("1795390491.0", True, "1002")
    # Late events of that call are ignored, never a second CallEnded.
    for h in frames[half:]:
        event = parse_event(h)
        if event is not None:
            assert not [e for e in tracker.feed(event) if isinstance(e, CallEnded)]
    assert tracker.stats.late_events > 0


def test_queue_membership_resync(traces_dir: Path) -> None:
    frames = event_frames(traces_dir / "agent_pause_cycle.ami")
    tracker = CallTracker()
    added = next(h for h in frames if h["Event"] == "QueueMemberAdded")
    tracker.feed(parse_event(added))  # type: ignore[arg-type]
    assert tracker.agents.agents["1005"].queues == {"sales": None}
    # While away, 1005 was paused for lunch in sales and added to support; the QueueStatus lists say so.
    member = next(h for h in frames if h["Event"] == "QueueMember")
    tracker.begin_resync()
    tracker.feed(parse_event(member))  # type: ignore[arg-type]
    tracker.feed(parse_event({**member, "Queue": "support", "Paused": "0", "PausedReason": ""}))  # type: ignore[arg-type]
    tracker.feed(parse_event(next(h for h in frames if h["Event"] == "QueueStatusComplete")))  # type: ignore[arg-type]
    changes = tracker.end_resync(at_s=tracker.now_s + 3)
    assert tracker.agents.agents["1005"].queues == {"sales": "lunch", "support": None}
    assert [(str(c.state), c.reason) for c in changes] == [("paused", "lunch")]
    # A later resync without 1005 in any queue removes the memberships.
    tracker.begin_resync()
    tracker.end_resync(at_s=tracker.now_s + 1, members_complete=True)
    assert tracker.agents.agents["1005"].queues == {}
    assert tracker.agent_states()["1005"] == ("available", None)
