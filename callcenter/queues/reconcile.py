"""Pure: the service's record of dynamic queue members against what Asterisk reports after a (re)connect.

The rule (README, "Queue logins across Asterisk restarts"): the service's record is the truth for dynamic members.
It follows every QueueMemberAdded / QueueMemberPause / QueueMemberRemoved Asterisk sends while connected, whoever
caused it (the API, a feature code, the CLI), and after every (re)connect whatever Asterisk lacks or holds
differently is put back: a member it forgot is added again with its pause and reason, a pause it lost or gained is
set back. Members Asterisk has that the record lacks (static members of queues.conf, or a first connect) are adopted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Member:
    queue: str
    interface: str  # Location, e.g. PJSIP/1001
    name: str  # MemberName (the service sets it to the agent's id or name)
    state_interface: str
    penalty: int
    paused: bool
    reason: str  # pause reason ("" when none)
    dynamic: bool = True  # static members come from queues.conf and are never added by us

    @property
    def key(self) -> tuple[str, str]:
        return self.queue, self.interface


@dataclass(frozen=True, slots=True)
class AddBack:
    member: Member


@dataclass(frozen=True, slots=True)
class SetPause:
    member: Member


Fix = AddBack | SetPause


def _flag(value: str | None) -> bool:
    return str(value or "").strip().lower() in ("1", "true", "yes")


def _int(value: str | None) -> int:
    try:
        return int(str(value or "0"))
    except ValueError:
        return 0


def member_from_headers(h: Mapping[str, str]) -> Member | None:
    """A member from a QueueMember list item (Name/Location) or a QueueMember* event (MemberName/Interface)."""
    queue = h.get("Queue")
    interface = h.get("Location") or h.get("Interface")
    if not queue or not interface:
        return None
    return Member(
        queue=queue,
        interface=interface,
        name=h.get("Name") or h.get("MemberName") or interface,
        state_interface=h.get("StateInterface") or interface,
        penalty=_int(h.get("Penalty")),
        paused=_flag(h.get("Paused")),
        reason=(h.get("PausedReason") or "") if _flag(h.get("Paused")) else "",
        dynamic=(h.get("Membership") or "dynamic").lower() == "dynamic",
    )


def reconcile(record: Mapping[tuple[str, str], Member], asterisk: Iterable[Member]) -> list[Fix]:
    """What to send so that Asterisk holds the record again; members only Asterisk has are left alone."""
    present = {m.key: m for m in asterisk}
    fixes: list[Fix] = []
    for key, wanted in record.items():
        if not wanted.dynamic:
            continue
        have = present.get(key)
        if have is None:
            fixes.append(AddBack(wanted))
        elif (have.paused, have.reason if have.paused else "") != (wanted.paused, wanted.reason if wanted.paused else ""):
            fixes.append(SetPause(wanted))
    return fixes


def as_list_item(member: Member, template: Mapping[str, str] | None = None) -> dict[str, str]:
    """The QueueMember list item Asterisk will report once ``member`` is re-applied (for the live model)."""
    item = dict(template or {})
    item.update(
        {
            "Event": "QueueMember",
            "Queue": member.queue,
            "Name": member.name,
            "Location": member.interface,
            "StateInterface": member.state_interface,
            "Membership": "dynamic",
            "Penalty": str(member.penalty),
            "Paused": "1" if member.paused else "0",
            "PausedReason": member.reason if member.paused else "",
        }
    )
    item.setdefault("Status", "0")  # AST_DEVICE_UNKNOWN until Asterisk reports the device
    return item


def adopt(record: dict[tuple[str, str], Member], asterisk: Iterable[Member]) -> None:
    """After a reconcile: members only Asterisk reported join the record (static ones too, for display)."""
    for member in asterisk:
        record.setdefault(member.key, member)
