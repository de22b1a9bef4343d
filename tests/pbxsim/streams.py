"""Compare two AMI streams (a real capture and the simulator's) the way the fidelity test needs.

Asterisk is multi-threaded: each channel's events come from its own thread in a fixed order, but the threads race,
so the global interleaving of events that happen in the same millisecond differs from run to run (compare the
DeviceStateChange positions in inbound_agi_dial_answer and inbound_dial_noanswer_fallback). So the comparison is:

1. per *thread* (one channel, one device, one queue member, one bridge, system events), the sequences of
   events are equal: name, header set, and the values that do not depend on time or ids;
2. globally, the simulator's order never contradicts the capture's across *bursts*: a burst is a run of capture
   events less than ``BURST_GAP_S`` apart. Inside a burst any cross-thread order is accepted.

Ids (channel suffixes, Uniqueids, bridge ids) are renamed by order of first appearance; timestamps, addresses,
durations and counters that carry the history of the capture PBX are masked.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from typing import Final

from tests.pbxsim.harness import frames_of

BURST_GAP_S: Final = 0.002

# Headers whose values are compared (after renaming ids). Everything else only has to be present.
COMPARED: Final = frozenset({
    "Event", "Channel", "ChannelStateDesc", "CallerIDNum", "CallerIDName", "ConnectedLineNum", "ConnectedLineName",
    "Context", "Exten", "Priority", "Uniqueid", "Linkedid", "DestChannel", "DestChannelStateDesc", "DestUniqueid",
    "DestLinkedid", "DestContext", "DialString", "DialStatus", "Application", "AppData", "Extension", "Cause",
    "Cause-txt", "TechCause", "Device", "State", "Queue", "Interface", "MemberName", "StateInterface", "Paused",
    "PausedReason", "InCall", "Status", "Reason", "Response", "Position", "Count", "OriginalPosition", "Class",
    "Command", "ResultCode", "Result", "BridgeNumChannels", "BridgeType", "BridgeTechnology", "Shutdown", "Restart",
    "PeerStatus", "Peer", "ContactStatus", "URI", "AccountID", "Service", "UsingPassword", "Module",
    "ObjectType", "Name", "Location", "Strategy", "ListItems", "EventList", "Message", "ActionID", "Variable",
    # transfers (api_*): who moved whom, and the DTMF that did it
    "IsExternal", "DestType", "TransfererChannel", "TransfereeChannel", "OrigTransfererChannel",
    "SecondTransfererChannel", "LocalOneChannel", "LocalTwoChannel", "SourceChannel", "LocalOptimization", "Success",
    "Digit", "Direction", "SwapUniqueid", "DestUniqueId",
})
# VarSet values that are decided by the dialplan and the call flow, not by time or the capture PBX's history.
COMPARED_VARIABLES: Final = frozenset({
    "SIPDOMAIN", "CC_ATTEMPT", "CC_ACTION", "CC_TARGET", "CC_RING_TIMEOUT_S", "CC_DIAL_OPTS", "CC_QUEUE",
    "CC_QUEUE_TIMEOUT_S", "CC_CAMPAIGN", "AGISTATUS", "DIALSTATUS", "DIALEDPEERNUMBER", "DIALEDPEERNAME",
    "MIXMONITOR_FILENAME", "BRIDGEPEER", "MEMBERINTERFACE", "MEMBERNAME", "MEMBERDYNAMIC", "MEMBERREALTIME",
    "MEMBERPENALTY", "QEORIGINALPOS", "QUEUENAME", "QUEUEMAX", "QUEUESTRATEGY", "QUEUECALLS", "QUEUEPOSITION",
    "QUEUESTATUS", "ABANDONED", "QUEUESRVLEVEL", "QUEUESRVLEVELPERF",
    "BLINDTRANSFER", "ATTENDEDTRANSFER", "TRANSFERERNAME", "TRANSFER_CONTEXT", "CHANLOCALSTATUS",
})
# Not simulated on purpose: RTCP reports every ~5 s per media stream say nothing the service uses (the parser drops
# them), and their timing depends on the RTP stack, not on the call flow.
SKIPPED_EVENTS: Final = frozenset({"RTCPSent", "RTCPReceived"})

_UID: Final = re.compile(r"\b\d{10}\.\d+\b")
_CHAN: Final = re.compile(r"\b(PJSIP/[^\s,;/-]+)-([0-9a-f]{8})\b")
_PATH: Final = re.compile(r"/[^\s,]*/")


@dataclass
class _Names:
    uids: dict[str, str] = field(default_factory=dict)
    chans: dict[str, str] = field(default_factory=dict)
    bridges: dict[str, str] = field(default_factory=dict)

    def value(self, text: str) -> str:
        text = _CHAN.sub(lambda m: f"{m.group(1)}-#{self.chans.setdefault(m.group(0), str(len(self.chans) + 1))}",
                         text)
        text = _UID.sub(lambda m: "U" + self.uids.setdefault(m.group(0), str(len(self.uids) + 1)), text)
        return _PATH.sub("<dir>/", text)


@dataclass(frozen=True)
class Ev:
    name: str
    thread: str
    keys: frozenset[str]
    values: tuple[tuple[str, str], ...]
    ts: float | None

    def describe(self) -> str:
        shown = {k: v for k, v in self.values if k in ("Variable", "Application", "DialStatus", "State", "Cause",
                                                       "ChannelStateDesc", "Device")}
        return f"{self.name} {shown}"


def events(data: bytes) -> tuple[list[Ev], list[tuple[tuple[str, str], ...]]]:
    """(events, responses) of one raw stream, normalised."""
    names = _Names()
    out: list[Ev] = []
    responses: list[tuple[tuple[str, str], ...]] = []
    in_list = False
    for frame in frames_of(data):
        headers = dict(frame)
        if "Response" in headers:
            responses.append(tuple((k, v) for k, v in frame if k in ("Response", "ActionID", "Message", "EventList")))
            in_list = headers.get("EventList") == "start"
            continue
        name = headers.get("Event")
        if name is None or name in SKIPPED_EVENTS:
            continue
        if in_list or ("ActionID" in headers and name != "OriginateResponse"):
            # list items answer an action: they belong to the responses, in order
            responses.append(tuple((k, names.value(v) if k in COMPARED else "*") for k, v in frame))
            if headers.get("EventList") == "Complete":
                in_list = False
            continue
        values = []
        for key, value in frame:
            if key == "BridgeUniqueid":
                value = "B" + names.bridges.setdefault(value, str(len(names.bridges) + 1))
                values.append((key, value))
            elif key in COMPARED:
                values.append((key, names.value(value)))
        if name == "VarSet" and headers.get("Variable") in COMPARED_VARIABLES:
            values.append(("Value", names.value(headers.get("Value", ""))))
        if name in ("DialState", "DialBegin") and headers.get("DestChannelStateDesc") == "Down":
            # The dialling thread may snapshot the leg just before the leg's own thread marks it Ringing
            # (inbound_caller_abandons_ringing shows Down, the other captures Ringing), or after (a phone that rings
            # at once: api_attended_transfer_aborted's DialBegin shows Ringing): the same moment, either way.
            values = [(k, "Ringing" if k == "DestChannelStateDesc" else v) for k, v in values]
        value_map = dict(values)
        if name == "OriginateResponse":
            thread = "originate:" + headers.get("ActionID", "")
        elif name == "DeviceStateChange":
            thread = "device:" + headers["Device"]
        elif name.startswith("QueueMember"):
            thread = f"member:{headers['Queue']}:{headers['Interface']}"
        elif name in ("BridgeCreate", "BridgeDestroy"):
            thread = "bridge:" + value_map["BridgeUniqueid"]
        elif "Channel" in headers:
            thread = "channel:" + value_map["Channel"]
        else:
            thread = "system"
        ts = headers.get("Timestamp")
        out.append(Ev(name=name, thread=thread, keys=frozenset(headers), values=tuple(values),
                      ts=float(ts) if ts else None))
    return _mask_racing_leaves(out), responses


def _mask_racing_leaves(evs: list[Ev], gap_s: float = BURST_GAP_S) -> list[Ev]:
    """Two channels leaving one bridge within a burst (a blind transfer: the transferer is removed while the
    transferee moves out in its own thread) race for BridgeNumChannels: api_blind_transfer shows the transferer
    first, api_blind_transfer_busy the transferee. Each of the pair gets both counts (e.g. "0|1"): that the two
    counts are these is still compared, not which channel left first."""
    leaves = [i for i, ev in enumerate(evs) if ev.name == "BridgeLeave" and ev.ts is not None]
    pairs = []
    for a, b in itertools.pairwise(leaves):
        x, y = evs[a], evs[b]
        same = dict(x.values).get("BridgeUniqueid") == dict(y.values).get("BridgeUniqueid")
        if same and abs((y.ts or 0.0) - (x.ts or 0.0)) < gap_s:
            pairs.append((a, b))
    out = list(evs)
    for a, b in pairs:
        both = "|".join(sorted(dict(evs[i].values).get("BridgeNumChannels", "") for i in (a, b)))
        for i in (a, b):
            ev = evs[i]
            out[i] = Ev(name=ev.name, thread=ev.thread, keys=ev.keys, ts=ev.ts,
                        values=tuple((k, both if k == "BridgeNumChannels" else v) for k, v in ev.values))
    return out


def threads(evs: list[Ev]) -> dict[str, list[Ev]]:
    out: dict[str, list[Ev]] = {}
    for ev in evs:
        out.setdefault(ev.thread, []).append(ev)
    return out


def thread_differences(real: list[Ev], sim: list[Ev]) -> list[str]:
    """Human-readable differences between the per-thread sequences (empty when they agree)."""
    problems: list[str] = []
    rt, st = threads(real), threads(sim)
    for key in sorted(set(rt) | set(st)):
        a, b = rt.get(key, []), st.get(key, [])
        for i in range(max(len(a), len(b))):
            x = a[i] if i < len(a) else None
            y = b[i] if i < len(b) else None
            if x is None or y is None or x.name != y.name or x.keys != y.keys or x.values != y.values:
                problems.append(_explain(key, i, x, y))
                break
    return problems


def _explain(thread: str, index: int, real: Ev | None, sim: Ev | None) -> str:
    if real is None or sim is None:
        which = "capture" if real is None else "simulator"
        other = sim if real is None else real
        return f"{thread}[{index}]: the {which} ends here; the other has {other.describe() if other else '?'}"
    if real.name != sim.name:
        return f"{thread}[{index}]: capture {real.describe()} / simulator {sim.describe()}"
    if real.keys != sim.keys:
        return (f"{thread}[{index}] {real.name}: headers only in capture {sorted(real.keys - sim.keys)}, "
                f"only in simulator {sorted(sim.keys - real.keys)}")
    diff = [(k, v, dict(sim.values).get(k)) for k, v in real.values if dict(sim.values).get(k) != v]
    diff += [(k, None, v) for k, v in sim.values if k not in dict(real.values)]
    return f"{thread}[{index}] {real.name}: (header, capture, simulator) {diff}"


def order_violations(real: list[Ev], sim: list[Ev], *, gap_s: float = BURST_GAP_S) -> list[str]:
    """Simulator events whose capture counterpart lies in an earlier burst than one already emitted."""
    burst_of: dict[tuple[str, int], int] = {}
    burst = 0
    last_ts: float | None = None
    seen: dict[str, int] = {}
    for ev in real:
        if ev.ts is not None:
            if last_ts is not None and ev.ts - last_ts > gap_s:
                burst += 1
            last_ts = ev.ts
        n = seen.get(ev.thread, 0)
        seen[ev.thread] = n + 1
        burst_of[(ev.thread, n)] = burst
    problems = []
    high = -1
    high_ev: Ev | None = None
    seen.clear()
    for ev in sim:
        n = seen.get(ev.thread, 0)
        seen[ev.thread] = n + 1
        b = burst_of.get((ev.thread, n))
        if b is None:
            continue
        if b < high:
            problems.append(f"{ev.thread} {ev.describe()} (capture burst {b}) after {high_ev.describe() if high_ev else '?'}"
                            f" (capture burst {high})")
        elif b > high:
            high, high_ev = b, ev
    return problems
