"""What the service asks of its AMI user, and the check made at every login.

Asterisk refuses an action whose authority the user's manager.conf `write` classes do not meet (manager.c,
process_message: `Permission denied`), and an event whose class is not in `read` is never sent. A service missing a
class fails in odd places much later (a pause that never lands, a resync that never ends), so at login it asks
`ListCommands`, which lists exactly the actions this user may send (manager.c, action_listcommands filters on
`writeperm & authority`), and names what is missing and why.

Authorities are those Asterisk 20 registers (ast_manager_register_xml* in main/manager.c, apps/app_queue.c,
apps/app_mixmonitor.c, main/devicestate.c, main/pbx.c): an action needs ANY ONE of its classes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

# action -> (the classes any one of which allows it, what the service uses it for)
REQUIRED_ACTIONS: Final[Mapping[str, tuple[tuple[str, ...], str]]] = MappingProxyType(
    {
        "Originate": (("originate",), "click-to-call, supervisor listen/whisper/barge, the dialer"),
        "QueueAdd": (("agent",), "agent login and the re-login after an Asterisk restart"),
        "QueueRemove": (("agent",), "agent logout"),
        "QueuePause": (("agent",), "pause with a reason, wrap-up, no-answer auto-pause"),
        "CoreShowChannels": (("system", "reporting"), "resync of calls after every (re)connect"),
        "DeviceStateList": (("call", "reporting"), "resync of desk phone states after every (re)connect"),
        "QueueStatus": ((), "resync of queue members and pauses after every (re)connect"),
        "BlindTransfer": (("call",), "blind transfer of a live call (POST /calls/{id}/transfer, mode blind)"),
        "Atxfer": (("call",), "attended transfer of a live call (POST /calls/{id}/transfer, mode attended)"),
        "Setvar": (("call",), "agents' states on supervisors' BLF keys (DEVICE_STATE(Custom:agent-<ext>))"),
        "Getvar": (("call", "reporting"), "checking the dialplan's fallback queue after every (re)connect"),
        "UserEvent": (("user",), "wrap-up ends and pauses outside the queues, heard by every instance alike"),
    }
)


@dataclass(frozen=True, slots=True)
class PermissionReport:
    missing: tuple[str, ...]  # actions this user may not send, or that Asterisk does not have
    classes: tuple[str, ...]  # one class per gap that would grant it (the first listed)
    unavailable: tuple[str, ...] = ()  # of the missing, those no class would grant: their module is not loaded

    @property
    def complete(self) -> bool:
        return not self.missing

    def describe(self) -> str:
        if self.complete:
            return "every action the service sends is permitted"
        parts = []
        refused = [name for name in self.missing if name not in self.unavailable]
        if refused:
            uses = "; ".join(f"{name}: {REQUIRED_ACTIONS[name][1]}" for name in refused)
            parts.append(f"manager.conf `write` lacks {', '.join(self.classes)}: Asterisk will refuse "
                         f"{', '.join(refused)} ({uses})")
        if self.unavailable:
            uses = "; ".join(f"{name}: {REQUIRED_ACTIONS[name][1]}" for name in self.unavailable)
            parts.append(f"Asterisk has no {', '.join(self.unavailable)} (is its module loaded?) ({uses})")
        return "; ".join(parts)


def check_permissions(permitted_actions: Iterable[str]) -> PermissionReport:
    """Compare the actions `ListCommands` listed for this user with what the service sends."""
    permitted = {name.lower() for name in permitted_actions}
    missing = tuple(name for name in REQUIRED_ACTIONS if name.lower() not in permitted)
    classes: list[str] = []
    unavailable: list[str] = []
    for name in missing:
        allowed_by = REQUIRED_ACTIONS[name][0]
        if not allowed_by:  # authority 0: every user may send it, so it is missing from Asterisk itself
            unavailable.append(name)
        elif allowed_by[0] not in classes:
            classes.append(allowed_by[0])
    return PermissionReport(missing=missing, classes=tuple(classes), unavailable=tuple(unavailable))


def listed_actions(reply: Mapping[str, str]) -> list[str]:
    """The action names in a ListCommands reply: every header but the response's own."""
    own = {"response", "actionid", "message", "privilege"}
    return [key for key in reply if key.lower() not in own]
