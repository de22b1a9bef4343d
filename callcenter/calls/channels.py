"""Pure helpers that read Asterisk names: channel names, interfaces, dial strings, MixMonitor arguments."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "ChannelKind",
    "Naming",
    "dial_targets",
    "mixmonitor_files",
    "number_from_dial_string",
    "split_channel_name",
]


class ChannelKind(enum.Enum):
    TRUNK = "trunk"  # the customer side: a channel on a trunk endpoint
    AGENT = "agent"  # a desk phone / softphone endpoint
    LOCAL = "local"  # Local/...;1 and ;2 helper pairs: never an end of the conversation
    OTHER = "other"


def split_channel_name(name: str) -> tuple[str, str]:
    """``PJSIP/1002-0000000a`` -> (``PJSIP``, ``1002``); ``Local/1002@cc-agents-00000000;1`` -> (``Local``,
    ``1002@cc-agents``). A device or interface without the ``-<seq>`` suffix (``PJSIP/1002``) is returned as is."""
    tech, slash, rest = name.partition("/")
    if not slash:
        return "", name
    if tech == "Local":
        rest = rest.partition(";")[0]
    base, dash, seq = rest.rpartition("-")
    # Asterisk appends "-%08x" to make channel names unique; devices and interfaces have no such suffix.
    if dash and len(seq) >= 8 and all(c in "0123456789abcdef" for c in seq):
        rest = base
    return tech, rest


@dataclass(frozen=True, slots=True, kw_only=True)
class Naming:
    """Site conventions the tracker needs to tell customers from agents. Defaults match dialplans/ and the traces."""

    trunk_endpoints: frozenset[str] = frozenset({"trunk"})
    # Context a trunk call enters first: its Exten there is the DID.
    trunk_contexts: frozenset[str] = frozenset({"from-trunk"})
    # Contexts an inbound trunk channel can be seen in later (only used to classify channels found by a resync).
    inbound_contexts: frozenset[str] = frozenset({"from-trunk", "cc-inbound"})
    agent_techs: frozenset[str] = frozenset({"PJSIP", "SIP", "IAX2"})
    _cache: dict[str, tuple[ChannelKind, str]] = field(default_factory=dict, compare=False, repr=False)

    def classify(self, channel_name: str) -> tuple[ChannelKind, str]:
        """(kind, endpoint) of a channel; the endpoint of an agent channel is the agent id (``1002``)."""
        hit = self._cache.get(channel_name)
        if hit is not None:
            return hit
        tech, resource = split_channel_name(channel_name)
        if tech == "Local":
            out = (ChannelKind.LOCAL, resource)
        elif resource in self.trunk_endpoints:
            out = (ChannelKind.TRUNK, resource)
        elif tech in self.agent_techs and resource:
            out = (ChannelKind.AGENT, resource)
        else:
            out = (ChannelKind.OTHER, resource)
        if len(self._cache) > 50_000:
            self._cache.clear()  # channel names are unique per call: keep the memo bounded
        self._cache[channel_name] = out
        return out

    def agent_of_interface(self, interface: str | None) -> str | None:
        """Agent id of a device/queue interface: ``PJSIP/1002`` -> ``1002``; ``Local/1002@agents/n`` -> ``1002``;
        trunks, queue pseudo-devices (``Queue:sales_avail``) and unknown technologies -> None."""
        if not interface:
            return None
        tech, slash, resource = interface.partition("/")
        if not slash or not resource:
            return None
        if tech == "Local":
            agent = resource.partition("@")[0]
            return agent or None
        if tech not in self.agent_techs:
            return None
        resource = resource.partition("/")[0]
        if resource in self.trunk_endpoints:
            return None
        return resource or None


def dial_targets(app_data: str) -> list[str]:
    """Targets of a ``Dial()`` argument string: ``PJSIP/1002&PJSIP/1003,20,t`` -> [``PJSIP/1002``, ``PJSIP/1003``]."""
    first = app_data.partition(",")[0].strip()
    return [t.strip() for t in first.split("&") if t.strip()]


def number_from_dial_string(dial_string: str) -> str | None:
    """The dialled number in a dial string: ``5550001@trunk``, ``PJSIP/5550001@trunk``,
    ``PJSIP/trunk/sip:5550001@host`` -> ``5550001``."""
    s = dial_string.strip()
    if "/" in s:
        s = s.rsplit("/", 1)[1]
    if s.startswith(("sip:", "sips:")):
        s = s.partition(":")[2]
    s = s.partition("@")[0]
    return s or None


_MIXMON_OPT: Final = re.compile(r"([rt])\(([^)]*)\)")


def mixmonitor_files(app_data: str) -> tuple[str, tuple[str, ...]]:
    """(main file, per-direction files) of a MixMonitor argument string, as written (maybe relative)."""
    main, _, options = app_data.partition(",")
    options = options.partition(",")[0]
    legs = tuple(name for _, name in _MIXMON_OPT.findall(options) if name)
    return main.strip(), legs
