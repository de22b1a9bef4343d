"""manager.conf users and manager.c's permission rules: who may send which action, who is sent which event.

Asterisk 20 (main/manager.c):

* a user's ``read`` and ``write`` lines become bit masks with ``get_perm`` (class names from ``perms[]``; a user
  without them has none, __init_manager);
* an action runs when ``writeperm & authority`` is non-zero or its authority is 0 (process_message); otherwise the
  answer is ``Response: Error`` / ``Message: Permission denied``. ListCommands lists the same test;
* an event reaches a session when ``(readperm & category) == category`` and ``(send_events & category) ==
  category`` (process_events) and the session's event filters let it through (should_send_event);
* ``Events:`` on Login and ``EventMask:`` on the Events action go through ``strings_to_mask``.

The authorities below are those the modules register (ast_manager_register_xml*: main/manager.c, main/pbx.c,
apps/app_queue.c, apps/app_mixmonitor.c, res/res_pjsip/pjsip_options.c, res/res_pjsip/pjsip_configuration.c,
res/res_pjsip/location.c, res/res_pjsip_registrar.c, res/res_manager_devicestate.c, main/manager_bridges.c,
pbx/pbx_config.c, res/res_agi.c, main/features.c); the synopses are their XML docs', as ListCommands prints them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

__all__ = [
    "ACTIONS",
    "ALL",
    "ManagerUser",
    "authority_to_str",
    "event_category",
    "get_perm",
    "load_manager_conf",
    "strings_to_mask",
]

log = logging.getLogger("callcenter.pbxsim.ami")

# include/asterisk/manager.h EVENT_FLAG_*, in manager.c's perms[] order (names and order matter: get_perm walks it)
SYSTEM: Final = 1 << 0
CALL: Final = 1 << 1
LOG: Final = 1 << 2
VERBOSE: Final = 1 << 3
COMMAND: Final = 1 << 4
AGENT: Final = 1 << 5
USER: Final = 1 << 6
CONFIG: Final = 1 << 7
DTMF: Final = 1 << 8
REPORTING: Final = 1 << 9
CDR: Final = 1 << 10
DIALPLAN: Final = 1 << 11
ORIGINATE: Final = 1 << 12
AGI: Final = 1 << 13
CC: Final = 1 << 14
AOC: Final = 1 << 15
TEST: Final = 1 << 16
SECURITY: Final = 1 << 17
MESSAGE: Final = 1 << 18
ALL: Final = 0x7FFFFFFF  # INT_MAX, the "all" entry of perms[]

_PERMS: Final = (
    (SYSTEM, "system"), (CALL, "call"), (LOG, "log"), (VERBOSE, "verbose"), (COMMAND, "command"),
    (AGENT, "agent"), (USER, "user"), (CONFIG, "config"), (DTMF, "dtmf"), (REPORTING, "reporting"), (CDR, "cdr"),
    (DIALPLAN, "dialplan"), (ORIGINATE, "originate"), (AGI, "agi"), (CC, "cc"), (AOC, "aoc"), (TEST, "test"),
    (SECURITY, "security"), (MESSAGE, "message"), (ALL, "all"), (0, "none"),
)
_BY_LABEL: Final = {label: num for num, label in _PERMS}

# action (lower case) -> (name as registered, authority, synopsis)
ACTIONS: Final[Mapping[str, tuple[str, int, str]]] = {
    name.lower(): (name, authority, synopsis)
    for name, authority, synopsis in (
        # main/manager.c __init_manager
        ("Ping", 0, "Keepalive command."),
        ("Events", 0, "Control Event Flow."),
        ("Logoff", 0, "Logoff Manager."),
        ("Login", 0, "Login Manager."),
        ("Challenge", 0, "Generate Challenge for MD5 Auth."),
        ("Hangup", SYSTEM | CALL, "Hangup channel."),
        ("Status", SYSTEM | CALL | REPORTING, "List channel status."),
        ("Setvar", CALL, "Sets a channel variable or function value."),
        ("Getvar", CALL | REPORTING, "Gets a channel variable or function value."),
        ("GetConfig", SYSTEM | CONFIG, "Retrieve configuration."),
        ("Redirect", CALL, "Redirect (transfer) a call."),
        ("Atxfer", CALL, "Attended transfer."),
        ("CancelAtxfer", CALL, "Cancel an attended transfer."),
        ("Originate", ORIGINATE, "Originate a call."),
        ("Command", COMMAND, "Execute Asterisk CLI Command."),
        ("ExtensionState", CALL | REPORTING, "Check Extension Status."),
        ("ListCommands", 0, "List available manager commands."),
        ("UserEvent", USER, "Send an arbitrary event."),
        ("WaitEvent", 0, "Wait for an event to occur."),
        ("CoreSettings", SYSTEM | REPORTING, "Show PBX core settings (version etc)."),
        ("CoreStatus", SYSTEM | REPORTING, "Show PBX core status variables."),
        ("Reload", CONFIG | SYSTEM, "Send a reload event."),
        ("CoreShowChannels", SYSTEM | REPORTING, "List currently active channels."),
        ("ModuleLoad", SYSTEM, "Module management."),
        ("ModuleCheck", SYSTEM, "Check if module is loaded."),
        ("Filter", SYSTEM, "Dynamically add filters for the current manager session."),
        ("BlindTransfer", CALL, "Blind transfer channel(s) to the given destination"),
        # main/pbx.c
        ("ExtensionStateList", CALL | REPORTING, "List the current known extension states."),
        # apps/app_queue.c load_module
        ("QueueStatus", 0, "Show queue status."),
        ("QueueSummary", 0, "Show queue summary."),
        ("QueueAdd", AGENT, "Add interface to queue."),
        ("QueueRemove", AGENT, "Remove interface from queue."),
        ("QueuePause", AGENT, "Makes a queue member temporarily unavailable."),
        ("QueueLog", AGENT, "Adds custom entry in queue_log."),
        ("QueuePenalty", AGENT, "Set the penalty for a queue member."),
        ("QueueMemberRingInUse", AGENT, "Set the ringinuse value for a queue member."),
        ("QueueRule", 0, "Queue Rules."),
        ("QueueReload", 0, "Reload a queue, queues, or any sub-section of a queue or queues."),
        ("QueueReset", 0, "Reset queue statistics."),
        # apps/app_mixmonitor.c
        ("MixMonitorMute", SYSTEM | CALL, "Mute / unMute a Mixmonitor recording."),
        ("MixMonitor", SYSTEM, "Record a call and mix the audio during the recording. Use of StopMixMonitor is "
                               "required to guarantee the audio file is available for processing during dialplan "
                               "execution."),
        ("StopMixMonitor", SYSTEM | CALL, "Stop recording a call through MixMonitor, and free the recording's file "
                                          "handle."),
        # res_pjsip (pjsip_options.c, pjsip_configuration.c, location.c), res_pjsip_registrar.c
        ("PJSIPQualify", SYSTEM | REPORTING, "Qualify a chan_pjsip endpoint."),
        ("PJSIPShowContacts", SYSTEM, "Lists PJSIP Contacts."),
        ("PJSIPShowEndpoints", SYSTEM, "Lists PJSIP endpoints."),
        ("PJSIPShowEndpoint", SYSTEM, "Detail listing of an endpoint and its objects."),
        ("PJSIPShowAors", SYSTEM, "Lists PJSIP AORs."),
        ("PJSIPShowRegistrationsInbound", SYSTEM, "Lists PJSIP inbound registrations."),
        ("PJSIPShowRegistrationInboundContactStatuses", SYSTEM,
         "Lists ContactStatuses for PJSIP inbound registrations."),
        # res/res_manager_devicestate.c
        ("DeviceStateList", CALL | REPORTING, "List the current known device states."),
        # main/manager_bridges.c, main/features.c
        ("BridgeList", 0, "Get a list of bridges in the system."),
        ("BridgeInfo", 0, "Get information about a bridge."),
        ("BridgeDestroy", 0, "Destroy a bridge."),
        ("BridgeKick", 0, "Kick a channel from a bridge."),
        ("Bridge", CALL, "Bridge two channels already in the PBX."),
        # pbx/pbx_config.c, res/res_agi.c
        ("DialplanExtensionAdd", SYSTEM, "Add an extension to the dialplan"),
        ("DialplanExtensionRemove", SYSTEM, "Remove an extension from the dialplan"),
        ("AGI", AGI, "Add an AGI command to execute by Async AGI."),
    )
}


def _instring(bigstr: str, smallstr: str) -> bool:
    """manager.c ast_instring(bigstr, smallstr, ','): every segment but the last matches when it is a prefix of
    ``smallstr`` (strncmp over the segment's length; "sys,call" grants system), the last one must be equal."""
    segments = bigstr.split(",")
    for segment in segments[:-1]:
        if smallstr[: len(segment)] == segment:
            return True
    return segments[-1] == smallstr


def get_perm(text: str | None) -> int:
    """manager.c get_perm: the classes named in a manager.conf ``read``/``write`` value (case-sensitive)."""
    if not text:
        return 0
    mask = 0
    for num, label in _PERMS:
        if _instring(text, label):
            mask |= num
    return mask


_TRUE: Final = frozenset({"yes", "true", "y", "t", "1", "on"})
_FALSE: Final = frozenset({"no", "false", "n", "f", "0", "off"})


def strings_to_mask(text: str | None) -> int:
    """manager.c strings_to_mask: empty -1 (unchanged), digits their number, false 0, true every class, else
    the classes named."""
    if not text:
        return -1
    if text.isdigit():
        return int(text)
    low = text.strip().lower()
    if low in _FALSE:  # ast_false
        return 0
    if low in _TRUE:  # ast_true
        return ALL
    return get_perm(text)


def authority_to_str(authority: int) -> str:
    """manager.c authority_to_str: the class names a mask touches, ``all`` always among them (Privilege header)."""
    labels = [label for num, label in _PERMS[:-1] if authority & num]
    return ",".join(labels) or "<none>"


def event_category(privilege: str) -> int:
    """The category an event was raised with, from its ``Privilege`` header (``call,all`` -> CALL): the header is
    authority_to_str(category), which adds ``all`` to any non-zero category."""
    mask = 0
    for label in privilege.split(","):
        label = label.strip()
        if label != "all":
            mask |= _BY_LABEL.get(label, 0)
    return mask


@dataclass(frozen=True, slots=True)
class EventFilter:
    """A legacy ``eventfilter = <regex>`` line (``!`` in front: exclude); matched against the whole event text
    (manager.c manager_add_filter / match_eventdata, FILTER_MATCH_REGEX with POSIX regexec)."""

    pattern: re.Pattern[str]
    exclude: bool

    def matches(self, event_text: str) -> bool:
        return self.pattern.search(event_text) is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class ManagerUser:
    name: str
    secret: str
    read: int = 0
    write: int = 0
    filters: tuple[EventFilter, ...] = field(default_factory=tuple)
    # a second Login while a session of this user is open: "Login Already In Use" unless allowed (the user's line,
    # else [general]'s, else yes: manager.c allowmultiplelogin = 1)
    allow_multiple_login: bool = True

    def may_run(self, authority: int) -> bool:
        return bool(self.write & authority) or authority == 0

    def wants(self, event_text: str) -> bool:
        """manager.c should_send_event: no filters pass everything; include filters only: one must match; exclude
        only: none may; both: an include must match and no exclude."""
        includes = [f for f in self.filters if not f.exclude]
        excludes = [f for f in self.filters if f.exclude]
        if includes and not any(f.matches(event_text) for f in includes):
            return False
        return not any(f.matches(event_text) for f in excludes)


def _filter(criteria: str, value: str) -> EventFilter | None:
    exclude = value.startswith("!")
    pattern = value[1:] if exclude else value
    if "(" in criteria:
        # advanced filters (name(...), header(...), method(...)) are not modelled: say so rather than guess
        log.warning("manager.conf: advanced event filter %r is not supported by the simulator; ignored", criteria)
        return None
    if not pattern:
        log.warning("manager.conf: legacy event filter with no pattern; ignored (manager.c rejects it too)")
        return None
    try:
        return EventFilter(pattern=re.compile(pattern, re.DOTALL), exclude=exclude)
    except re.error:
        log.warning("manager.conf: event filter %r does not compile; ignored (manager.c rejects it too)", pattern)
        return None


def load_manager_conf(path: Path) -> dict[str, ManagerUser]:
    """Every user section of manager.conf ([general] is the server's); read, write, secret and eventfilter."""
    users: dict[str, ManagerUser] = {}
    section: str | None = None
    values: dict[str, str] = {}
    filters: list[EventFilter] = []
    general: dict[str, str] = {}

    def close() -> None:
        if section == "general":
            general.update(values)
        elif section is not None:
            multiple = values.get("allowmultiplelogin", general.get("allowmultiplelogin", "yes"))
            users[section] = ManagerUser(name=section, secret=values.get("secret", ""), read=get_perm(values.get("read")),
                                         write=get_perm(values.get("write")), filters=tuple(filters),
                                         allow_multiple_login=multiple.strip().lower() in _TRUE)

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and "]" in line:
            close()
            section, values, filters = line[1:line.index("]")].strip(), {}, []
            continue
        key, sep, value = line.partition("=")
        if not sep or section is None:
            continue
        key, value = key.strip().lstrip(">").strip(), value.strip().lstrip(">").strip()
        if key.lower().startswith("eventfilter"):
            entry = _filter(key, value)
            if entry is not None:
                filters.append(entry)
        else:
            values[key.lower()] = value  # the last read/write line wins, as in __init_manager's loop
    close()
    return users
