"""Bytes and events that are not what Asterisk sends: nothing escapes, memory stays bounded, no call ends twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callcenter.ami.events import parse_event
from callcenter.ami.frames import FrameSplitter
from callcenter.calls.ingest import AmiIngest
from callcenter.calls.tracker import CallTracker
from callcenter.events import CallEnded, InProcessBus

from .replaying import AsteriskView, ended_by_id, event_frames

TRACES = ("concurrent_calls_5", "blind_transfer_redirect", "originate_local_agent_first", "queue_ringnoanswer_then_answer")
LIMIT = 4096


@pytest.fixture(scope="module")
def raw_traces(traces_dir: Path) -> dict[str, bytes]:
    return {name: (traces_dir / f"{name}.ami").read_bytes() for name in TRACES}


@pytest.fixture(scope="module")
def frames_by_trace(traces_dir: Path) -> dict[str, list[dict[str, str]]]:
    return {name: event_frames(traces_dir / f"{name}.ami") for name in TRACES}


def mutate(data: bytes, ops: list[tuple[int, int, int, bytes]]) -> bytes:
    buf = bytearray(data)
    for kind, pos, length, junk in ops:
        if not buf:
            break
        pos %= len(buf)
        if kind == 0:  # flip bytes
            for j in range(pos, min(len(buf), pos + length)):
                buf[j] ^= 0x5A
        elif kind == 1:  # delete a range (truncated frames, lost separators)
            del buf[pos : pos + length * 50]
        elif kind == 2:  # insert garbage
            buf[pos:pos] = junk
        else:  # duplicate a range (repeated frames)
            buf[pos:pos] = buf[pos : pos + length * 200]
    return bytes(buf)


ops_strategy = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 10**6), st.integers(1, 40), st.binary(max_size=80)), max_size=12
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=st.sampled_from(TRACES), ops=ops_strategy, chunk=st.integers(1, 5000))
def test_corrupted_streams_never_raise(raw_traces: dict[str, bytes], name: str, ops: list, chunk: int) -> None:
    data = mutate(raw_traces[name], ops)
    bus = InProcessBus()
    published: list[Any] = []
    bus.subscribe(published.append)
    ingest = AmiIngest(tracker=CallTracker(wrapup_s=5.0), publish=bus.publish, splitter=FrameSplitter(max_frame_bytes=LIMIT))
    for start in range(0, len(data), chunk):
        ingest.feed_bytes(data[start : start + chunk])
        assert ingest.splitter.buffered_bytes <= LIMIT
    ingest.tracker.tick(ingest.tracker.now_s + 60)
    assert bus.handler_errors == 0
    ended_by_id(published)  # each call ends at most once
    c = ingest.counters
    assert c.events >= c.typed_events and c.frames == c.events + c.responses


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_dropped_duplicated_reordered_events_and_random_resyncs(
    frames_by_trace: dict[str, list[dict[str, str]]], data: st.DataObject
) -> None:
    frames = frames_by_trace[data.draw(st.sampled_from(TRACES))]
    n = len(frames)
    indices = list(range(n))
    for _ in range(data.draw(st.integers(0, 30))):
        op, a, b = data.draw(st.tuples(st.integers(0, 2), st.integers(0, n - 1), st.integers(0, n - 1)))
        if op == 0 and len(indices) > 1:
            indices.pop(a % len(indices))
        elif op == 1:
            indices.insert(a % (len(indices) + 1), b)
        else:
            i, j = a % len(indices), b % len(indices)
            indices[i], indices[j] = indices[j], indices[i]
    resync_at = set(data.draw(st.lists(st.integers(0, len(indices)), max_size=3)))
    tracker = CallTracker(wrapup_s=3.0)
    view = AsteriskView()
    domain: list[Any] = []
    for pos, idx in enumerate(indices):
        if pos in resync_at:
            tracker.begin_resync()
            for item in view.core_show_channels():
                domain.extend(tracker.feed(parse_event(item)))  # type: ignore[arg-type]
            domain.extend(tracker.end_resync(at_s=view.now_s))
        view.apply(frames[idx])
        event = parse_event(frames[idx])
        if event is not None:
            domain.extend(tracker.feed(event))
    ended = ended_by_id(domain)
    for call in ended.values():
        assert call.wait_s >= 0 and call.talk_s >= 0
        assert call.answered_by is None or call.answered_by in call.agents_talked


def test_bad_events_in_a_stream_are_counted_and_skipped(raw_traces: dict[str, bytes]) -> None:
    block = (
        b"Timestamp: 1795390760.0\r\nChannel: PJSIP/trunk-99\r\nChannelState: 4\r\nCallerIDNum: 1\r\nCallerIDName: x\r\n"
        b"ConnectedLineNum: 2\r\nConnectedLineName: y\r\nContext: c\r\nExten: s\r\nPriority: 1\r\nUniqueid: 2.2\r\n"
    )
    junk = (
        b"Event: Newchannel\r\n" + block + b"\r\n"  # no Linkedid
        + b"Event: Hangup\r\n" + block + b"Linkedid: 2.2\r\nCause: sixteen\r\nCause-txt: Normal\r\n\r\n"  # garbage
        + b"Event: BrandNewEvent\r\nFoo: bar\r\n\r\n"  # unknown name
        + b"no colon at all\r\n\r\n"  # malformed frame
        + "Event: PeerStatus\r\nChannelType: PJSIP\r\nPeer: PJSIP/1001\r\nPeerStatus: Reachable\r\nNote: Zoë 山田\r\n\r\n".encode()
    )
    data = raw_traces["concurrent_calls_5"]
    middle = data.index(b"Event: Newchannel")
    published: list[Any] = []
    ingest = AmiIngest(tracker=CallTracker(), publish=published.append)
    ingest.feed_bytes(data[:middle] + junk + data[middle:])
    c = ingest.counters
    assert (c.parse_errors, c.unknown_events, ingest.malformed_frames) == (2, 1, 1)
    assert "Newchannel" in ingest.recent_parse_errors[0] and "Linkedid" in ingest.recent_parse_errors[0]
    assert "Cause" in ingest.recent_parse_errors[1]
    assert ingest.unknown_names == {"BrandNewEvent": 1}
    assert len([e for e in published if isinstance(e, CallEnded)]) == 5  # the real calls are unaffected
