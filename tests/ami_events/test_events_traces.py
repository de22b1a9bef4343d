"""Typed parsing against every real capture: counts from INDEX.md, required headers from EVENTS_CATALOG.md."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from pathlib import Path

import pytest

from callcenter.ami import events as ami
from callcenter.ami.events import EVENT_SPECS, is_known_event, parse_event, parse_event_full
from callcenter.ami.frames import FrameSplitter

STD_BLOCK = (
    "Channel ChannelState ChannelStateDesc CallerIDNum CallerIDName ConnectedLineNum ConnectedLineName Language "
    "AccountCode Context Exten Priority Uniqueid Linkedid"
).split()


def frames_of(path: Path) -> list[dict[str, str]]:
    splitter = FrameSplitter()
    frames = splitter.feed(path.read_bytes())
    assert splitter.malformed_count == 0
    assert splitter.buffered_bytes == 0, "a capture ends on a complete frame"
    return frames


def index_event_counts(traces_dir: Path) -> dict[str, int]:
    """scenario name -> 'events' column of the INDEX.md scenario table."""
    counts = {}
    row = re.compile(r"^\|\s*\d+\s*\|\s*\[(\w+)\]\([^)]*\)\s*\|[^|]*\|\s*[\d.]+\s*\|\s*(\d+)\s*\|")
    for line in (traces_dir / "INDEX.md").read_text().splitlines():
        m = row.match(line)
        if m:
            counts[m.group(1)] = int(m.group(2))
    return counts


def catalog_always_headers(traces_dir: Path) -> dict[str, set[str]]:
    """event name -> headers EVENTS_CATALOG.md says are present in every occurrence (blocks expanded)."""
    out: dict[str, set[str]] = {}
    name = None
    for line in (traces_dir / "EVENTS_CATALOG.md").read_text().splitlines():
        if line.startswith("## "):
            name = line[3:].strip()
        elif line.startswith("- always:") and name:
            headers: set[str] = set()
            for token in re.findall(r"<(\w+) channel block>|(\S+)", line[len("- always:") :]):
                prefix, plain = token
                if prefix:
                    headers.update(("" if prefix == "std" else prefix) + h for h in STD_BLOCK)
                elif plain not in ("channel", "block>"):
                    headers.add(plain)
            out[name] = headers
    return out


def test_event_counts_match_index(traces_dir: Path) -> None:
    expected = index_event_counts(traces_dir)
    # Every capture has its INDEX row (the reconnect half of asterisk_restart shares that scenario's row).
    assert set(expected) == {p.stem for p in traces_dir.glob("*.ami")} - {"asterisk_restart_reconnect"}, expected
    assert len(expected) >= 20, expected  # the 20 published scenarios, and those captured here since
    for scenario, count in expected.items():
        frames = frames_of(traces_dir / f"{scenario}.ami")
        assert sum("Event" in f for f in frames) == count, scenario


def test_every_frame_parses_and_every_name_is_known(trace_files: list[Path]) -> None:
    seen: Counter[str] = Counter()
    for path in trace_files:
        for headers in frames_of(path):
            name = headers.get("Event")
            if name is None:
                assert parse_event(headers) is None  # action responses are not events
                continue
            seen[name] += 1
            assert is_known_event(name), f"{path.name}: {name}"
            event = parse_event_full(headers)  # raises AmiParseError on a missing/bad header
            if name in EVENT_SPECS:
                assert type(event) is ami.EVENT_CLASSES[name]
                cls, rows = EVENT_SPECS[name]
                for row in rows:
                    if row.required:
                        assert getattr(event, row.field) is not None or row.conv is ami._opt, (name, row.field)
            else:
                assert event is None
    # Every typed event class that occurs in the captures was exercised.
    assert {"Newchannel", "DialEnd", "AgentRingNoAnswer", "QueueMember", "OriginateResponse", "Cdr"} <= set(seen)


def test_required_headers_are_always_present_per_catalog(traces_dir: Path) -> None:
    """We must never reject an event this Asterisk sends: required headers are a subset of 'always present'."""
    always = catalog_always_headers(traces_dir)
    checked = 0
    for name, (_, rows) in EVENT_SPECS.items():
        if name not in always:
            continue  # not in the captures (CoreShowChannel, MixMonitorStop ...): shape from the Asterisk docs
        required = {row.header for row in rows if row.required}
        assert required <= always[name], (name, required - always[name])
        checked += 1
    assert checked >= 40


def test_typed_values_from_the_captures(traces_dir: Path) -> None:
    def events(scenario: str) -> list[ami.AmiEvent]:
        out = [parse_event_full(h) for h in frames_of(traces_dir / f"{scenario}.ami")]
        return [e for e in out if e is not None]

    qrna = events("queue_ringnoanswer_then_answer")
    (rna,) = [e for e in qrna if isinstance(e, ami.AgentRingNoAnswer)]
    assert rna.ring_time_ms == 8000 and rna.member_name == "Agent 1003" and rna.queue == "support"
    (connect,) = [e for e in qrna if isinstance(e, ami.AgentConnect)]
    assert (connect.hold_time_s, connect.ring_time_s, connect.interface) == (11, 2, "PJSIP/1002")
    (complete,) = [e for e in qrna if isinstance(e, ami.AgentComplete)]
    assert (complete.talk_time_s, complete.reason) == (13, "caller")

    busy = events("inbound_busy")
    busy_hangup = next(e for e in busy if isinstance(e, ami.Hangup) and e.channel.startswith("PJSIP/1004"))
    assert (busy_hangup.cause, busy_hangup.cause_txt, busy_hangup.tech_cause) == (17, "User busy", 486)
    assert busy_hangup.timestamp_s == 1795390547.012202  # "Timestamp: 1795390547.012202"

    noans = events("originate_noanswer")
    (resp,) = [e for e in noans if isinstance(e, ami.OriginateResponse)]
    assert (resp.response, resp.reason, resp.uniqueid, resp.channel) == ("Failure", 3, None, "PJSIP/5550001@trunk")
    first = next(e for e in noans if isinstance(e, ami.Newchannel))
    assert first.caller_id_num is None and first.channel_state == 0  # "<unknown>" and Down
    dial = next(e for e in noans if isinstance(e, ami.DialBegin))
    assert dial.channel is None and dial.uniqueid is None and dial.dial_string == "5550001@trunk"

    pause = events("agent_pause_cycle")
    booted = pause[0]
    assert isinstance(booted, ami.FullyBooted) and booted.timestamp_s is None and booted.uptime_s == 149
    pauses = [e for e in pause if isinstance(e, ami.QueueMemberPause)]
    assert [(p.paused, p.paused_reason) for p in pauses] == [(True, "lunch"), (False, None)]
    (member,) = [e for e in pause if isinstance(e, ami.QueueMember)]
    assert (member.name, member.location, member.paused, member.action_id) == ("Agent 1005", "PJSIP/1005", True, "pc-status")
    assert member.timestamp_s is None

    restart = events("asterisk_restart")
    assert isinstance(restart[-1], ami.Shutdown) and restart[-1].restart is True

    cdr = [e for e in events("inbound_agi_dial_answer_cdr") if isinstance(e, ami.Cdr)]
    assert [(c.disposition, c.duration_s, c.billable_s) for c in cdr] == [("ANSWERED", 15, 13)]

    local = events("originate_local_agent_first")
    (lob,) = [e for e in local if isinstance(e, ami.LocalOptimizationEnd)]
    assert lob.success is False and lob.local_one_channel.endswith(";1")


def test_early_drop_of_unused_variables_and_applications(traces_dir: Path) -> None:
    frames = frames_of(traces_dir / "inbound_agi_dial_answer.ami")
    kept = [parse_event(h) for h in frames]
    variables = {e.variable for e in kept if isinstance(e, ami.VarSet)}
    assert variables == {"CC_ATTEMPT", "MIXMONITOR_FILENAME", "CC_ACTION", "CC_TARGET", "CC_RING_TIMEOUT_S",
                         "CC_DIAL_OPTS", "DIALSTATUS", "BRIDGEPEER"}
    apps = {e.application for e in kept if isinstance(e, ami.Newexten)}
    assert apps == {"MixMonitor", "Dial"}
    all_varsets = sum(isinstance(parse_event_full(h), ami.VarSet) for h in frames)
    assert all_varsets > 2 * sum(isinstance(e, ami.VarSet) for e in kept)


def test_events_are_frozen_slotted_dataclasses() -> None:
    for cls in ami.EVENT_CLASSES.values():
        assert dataclasses.is_dataclass(cls)
        assert cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
        assert "__slots__" in cls.__dict__
    event = ami.DeviceStateChange(timestamp_s=1.0, device="PJSIP/1002", state="INUSE")
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.state = "NOT_INUSE"  # type: ignore[misc]
    assert not hasattr(event, "__dict__")
