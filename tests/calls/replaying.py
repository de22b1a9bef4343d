"""Test helpers: read a capture, type its events, run them through a tracker, derive Asterisk's live view."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callcenter.ami.events import AmiEvent, parse_event
from callcenter.ami.frames import FrameSplitter
from callcenter.calls.tracker import CallTracker
from callcenter.events import CallEnded

CALL_SCENARIOS = (
    "inbound_agi_dial_answer",
    "inbound_agi_dial_answer_cdr",
    "inbound_dial_noanswer_fallback",
    "inbound_target_unavailable",
    "inbound_busy",
    "inbound_caller_abandons_ringing",
    "queue_answered",
    "queue_abandoned",
    "queue_ringnoanswer_then_answer",
    "queue_timeout",
    "originate_answered_to_agent",
    "originate_noanswer",
    "originate_busy",
    "originate_local_agent_first",
    "blind_transfer_redirect",
    "concurrent_calls_5",
)


def event_frames(path: Path) -> list[dict[str, str]]:
    """Header maps of the Event frames of a capture, in order (responses dropped)."""
    return [h for h in FrameSplitter().feed(path.read_bytes()) if "Event" in h]


def typed(frames: Iterable[dict[str, str]]) -> list[AmiEvent]:
    return [e for e in map(parse_event, frames) if e is not None]


def feed_all(tracker: CallTracker, events: Iterable[AmiEvent]) -> list[Any]:
    out: list[Any] = []
    for event in events:
        out.extend(tracker.feed(event))
    return out


def run(path: Path, *, wrapup_s: float = 0.0) -> tuple[CallTracker, list[Any]]:
    tracker = CallTracker(wrapup_s=wrapup_s)
    return tracker, feed_all(tracker, typed(event_frames(path)))


def ended_by_id(domain: Sequence[Any]) -> dict[str, CallEnded]:
    ended = [e for e in domain if isinstance(e, CallEnded)]
    counts = Counter(e.call_id for e in ended)
    doubled = [cid for cid, n in counts.items() if n > 1]
    assert not doubled, f"CallEnded emitted more than once for {doubled}"
    return {e.call_id: e for e in ended}


@dataclass
class _LiveChannel:
    headers: dict[str, str]
    created_s: float
    bridge_id: str = ""
    application: str = ""
    application_data: str = ""


STD = (
    "Channel ChannelState ChannelStateDesc CallerIDNum CallerIDName ConnectedLineNum ConnectedLineName Language "
    "AccountCode Context Exten Priority Uniqueid Linkedid"
).split()


class AsteriskView:
    """What Asterisk itself knows while the stream is played: the live channels, as CoreShowChannels lists them.

    Built only from the raw frames (not from our parser or tracker), so that the snapshot we resync from is
    independent of the code under test.
    """

    def __init__(self) -> None:
        self.channels: dict[str, _LiveChannel] = {}
        self.now_s = 0.0

    def apply(self, h: dict[str, str]) -> None:
        ts = h.get("Timestamp")
        if ts is not None:
            self.now_s = max(self.now_s, float(ts))
        uid = h.get("Uniqueid")
        if uid is None or "Channel" not in h or "Linkedid" not in h:
            return
        name = h["Event"]
        if name == "Hangup":
            self.channels.pop(uid, None)
            return
        live = self.channels.get(uid)
        if live is None:
            if name != "Newchannel":
                return
            live = self.channels[uid] = _LiveChannel(headers={}, created_s=float(h["Timestamp"]))
        live.headers.update({k: h[k] for k in STD if k in h})
        if name == "BridgeEnter":
            live.bridge_id = h["BridgeUniqueid"]
        elif name == "BridgeLeave":
            live.bridge_id = ""
        elif name == "Newexten":
            live.application, live.application_data = h["Application"], h["AppData"]

    def core_show_channels(self, action_id: str = "resync-1") -> list[dict[str, str]]:
        """The CoreShowChannel items + CoreShowChannelsComplete Asterisk would send now."""
        items = []
        for live in self.channels.values():
            duration = max(0, math.floor(self.now_s - live.created_s))
            items.append(
                {
                    "Event": "CoreShowChannel",
                    "ActionID": action_id,
                    **live.headers,
                    "BridgeId": live.bridge_id,
                    "Application": live.application,
                    "ApplicationData": live.application_data,
                    "Duration": f"{duration // 3600:02d}:{duration // 60 % 60:02d}:{duration % 60:02d}",
                }
            )
        items.append(
            {"Event": "CoreShowChannelsComplete", "ActionID": action_id, "EventList": "Complete",
             "ListItems": str(len(items))}
        )
        return items


def linkedids_of(h: dict[str, str]) -> set[str]:
    return {h[k] for k in ("Linkedid", "DestLinkedid") if k in h}
