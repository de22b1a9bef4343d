"""app_queue's bookkeeping: queues from queues.conf, dynamic members (QueueAdd/Remove/Pause), waiting callers,
member choice by strategy, statistics, and the member/params fields AMI prints.

Only state and pure decisions live here; the Queue() application that rings members is in ``queue_app``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from callcenter.pbxsim.channels import Channel
from callcenter.pbxsim.wire import Headers

__all__ = ["Member", "Queue", "QueueBook", "QueueEntry", "load_queues_conf", "read_persistent_members"]

DEVICE_NUMBER = {"UNKNOWN": 0, "NOT_INUSE": 1, "INUSE": 2, "BUSY": 3, "INVALID": 4, "UNAVAILABLE": 5,
                 "RINGING": 6, "RINGINUSE": 7, "ONHOLD": 8}


@dataclass(slots=True, kw_only=True, eq=False)
class Member:
    interface: str
    name: str
    state_interface: str
    penalty: int = 0
    paused: bool = False
    reason: str = ""
    calls_taken: int = 0
    last_call_s: int = 0
    last_pause_s: int = 0
    login_s: int = 0
    in_call: bool = False
    added_seq: int = 0

    def fields(self, *, queue: str, status: int, ringinuse: bool) -> Headers:
        """QueueMemberAdded/Removed/Status/Pause fields, in Asterisk's order."""
        return [
            ("Queue", queue),
            ("MemberName", self.name),
            ("Interface", self.interface),
            ("StateInterface", self.state_interface),
            ("Membership", "dynamic"),
            ("Penalty", str(self.penalty)),
            ("CallsTaken", str(self.calls_taken)),
            ("LastCall", str(self.last_call_s)),
            ("LastPause", str(self.last_pause_s)),
            ("LoginTime", str(self.login_s)),
            ("InCall", "1" if self.in_call else "0"),
            ("Status", str(status)),
            ("Paused", "1" if self.paused else "0"),
            ("PausedReason", self.reason if self.paused else ""),
            ("Ringinuse", "1" if ringinuse else "0"),
            ("Wrapuptime", "0"),
        ]


@dataclass(slots=True, kw_only=True, eq=False)
class QueueEntry:
    channel: Channel
    joined_s: float
    original_position: int


@dataclass(slots=True, kw_only=True)
class Queue:
    name: str
    strategy: str = "ringall"
    timeout_s: int = 15
    retry_s: int = 5
    musicclass: str = "default"
    ringinuse: bool = False
    maxlen: int = 0
    members: dict[str, Member] = field(default_factory=dict)  # interface -> member, in the order added
    entries: list[QueueEntry] = field(default_factory=list)
    completed: int = 0
    abandoned: int = 0
    holdtime_s: int = 0
    talktime_s: int = 0
    rr_position: int = 0

    def position(self, ch: Channel) -> int:
        for i, entry in enumerate(self.entries, 1):
            if entry.channel is ch:
                return i
        return 0

    def stats_vars(self) -> list[tuple[str, str]]:
        """setqueuevar=yes: the QUEUE* variables app_queue sets on the caller (and the member)."""
        return [
            ("QUEUENAME", self.name),
            ("QUEUEMAX", str(self.maxlen)),
            ("QUEUESTRATEGY", self.strategy),
            ("QUEUECALLS", str(len(self.entries))),
            ("QUEUEHOLDTIME", str(self.holdtime_s)),
            ("QUEUETALKTIME", str(self.talktime_s)),
            ("QUEUECOMPLETED", str(self.completed)),
            ("QUEUEABANDONED", str(self.abandoned)),
            ("QUEUESRVLEVEL", "0"),
            ("QUEUESRVLEVELPERF", "0.0"),
        ]

    def record_completed(self, *, hold_s: float, talk_s: float) -> None:
        # app_queue keeps exponentially weighted averages: new = (old * 3 + sample) / 4
        self.completed += 1
        self.holdtime_s = int((self.holdtime_s * 3 + hold_s) / 4) if self.completed > 1 else int(hold_s)
        self.talktime_s = int((self.talktime_s * 3 + talk_s) / 4) if self.completed > 1 else int(talk_s)

    def params(self, action_id: str) -> Headers:
        return [
            ("Event", "QueueParams"),
            ("Queue", self.name),
            ("Max", str(self.maxlen)),
            ("Strategy", self.strategy),
            ("Calls", str(len(self.entries))),
            ("Holdtime", str(self.holdtime_s)),
            ("TalkTime", str(self.talktime_s)),
            ("Completed", str(self.completed)),
            ("Abandoned", str(self.abandoned)),
            ("ServiceLevel", "0"),
            ("ServicelevelPerf", "0.0"),
            ("ServicelevelPerf2", "0.0"),
            ("Weight", "0"),
            ("ActionID", action_id),
        ]


def load_queues_conf(path: Path) -> list[Queue]:
    """The queue sections of queues.conf ([general] skipped); unknown keys are ignored like app_queue does."""
    queues: list[Queue] = []
    current: Queue | None = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and "]" in line:
            name = line[1:line.index("]")].strip()
            current = None if name == "general" else Queue(name=name)
            if current is not None:
                queues.append(current)
            continue
        if current is None or "=" not in line:
            continue
        key, _, value = (part.strip() for part in line.partition("="))
        if key == "strategy":
            current.strategy = value
        elif key == "timeout":
            current.timeout_s = int(value)
        elif key == "retry":
            current.retry_s = int(value)
        elif key == "musicclass":
            current.musicclass = value
        elif key == "ringinuse":
            current.ringinuse = value.lower() in ("yes", "true", "1")
        elif key == "maxlen":
            current.maxlen = int(value)
    return queues


def read_persistent_members(path: Path) -> bool:
    """queues.conf [general] persistentmembers (app_queue.c queue_set_global_params; no when absent)."""
    section = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("[") and "]" in line:
            section = line[1:line.index("]")].strip()
        elif section == "general" and "=" in line:
            key, _, value = (part.strip() for part in line.partition("="))
            if key == "persistentmembers":
                return value.lower() in ("yes", "true", "y", "t", "1", "on")  # ast_true
    return False


class QueueBook:
    """All queues; member choice is deterministic for a seed (``random`` strategy uses the simulator's rng)."""

    def __init__(self, queues: list[Queue], *, rng: random.Random) -> None:
        self.queues = {q.name: q for q in queues}
        self._rng = rng
        self._seq = 0

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def queues_of(self, state_interface: str) -> list[tuple[Queue, Member]]:
        return [(q, m) for q in self.queues.values() for m in q.members.values() if m.state_interface == state_interface]

    def order(self, queue: Queue, candidates: list[Member], *, tried: list[str]) -> list[Member]:
        """Members in the order this queue's strategy would try them."""
        if not candidates:
            return []
        strategy = queue.strategy
        if strategy == "linear":
            # linear: the configured (added) order, continuing after the last member tried for this caller
            members = list(queue.members.values())
            start = 0
            if tried:
                last = tried[-1]
                for i, m in enumerate(members):
                    if m.interface == last:
                        start = i + 1
                        break
            rotated = members[start:] + members[:start]
            return [m for m in rotated if m in candidates]
        if strategy == "leastrecent":
            return sorted(candidates, key=lambda m: (m.last_call_s, m.added_seq))
        if strategy == "fewestcalls":
            return sorted(candidates, key=lambda m: (m.calls_taken, m.added_seq))
        if strategy in ("rrmemory", "roundrobin", "rrordered"):
            members = list(queue.members.values())
            start = queue.rr_position % max(1, len(members))
            rotated = members[start:] + members[:start]
            return [m for m in rotated if m in candidates]
        if strategy == "random":
            shuffled = list(candidates)
            self._rng.shuffle(shuffled)
            return shuffled
        return sorted(candidates, key=lambda m: m.added_seq)  # ringall: everybody, in added order
