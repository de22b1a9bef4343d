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
from enum import StrEnum
from pathlib import Path
from typing import Final

__all__ = [
    "ACTIONS",
    "ALL",
    "EventFilter",
    "FilterError",
    "MatchType",
    "ManagerUser",
    "authority_to_str",
    "event_category",
    "get_perm",
    "load_manager_conf",
    "parse_filter",
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


class MatchType(StrEnum):
    """manager.c event_filter_match_type (match_type_names)."""

    REGEX = "regex"
    EXACT = "exact"
    STARTS_WITH = "starts_with"
    ENDS_WITH = "ends_with"
    CONTAINS = "contains"
    NONE = "none"


@dataclass(frozen=True, slots=True, kw_only=True)
class EventFilter:
    """One ``eventfilter`` line as manager.c manager_add_filter builds its event_filter_entry: a legacy
    ``eventfilter = [!]<regex>`` (matched against the whole event text), or an advanced
    ``eventfilter(action(include|exclude),name(<event>),header(<header>),method(<match>)) = [<pattern>]``.
    ``matches`` is filter_cmp_fn: the event name first (an exact, case-sensitive comparison: Asterisk compares
    ast_str_hash values), then the pattern against the whole text, or against the value of each line that begins
    with the header (``Header:``, blanks skipped, empty values never match) until one matches."""

    exclude: bool
    match_type: MatchType = MatchType.REGEX
    pattern: str = ""
    regex: re.Pattern[str] | None = None
    event_name: str | None = None
    header: str | None = None  # with its ':' (manager_add_filter appends one when missing)

    def _match(self, data: str) -> bool:
        """manager.c match_eventdata."""
        kind = self.match_type
        if kind is MatchType.REGEX:
            assert self.regex is not None
            return self.regex.search(data) is not None
        if kind is MatchType.STARTS_WITH:
            return data.startswith(self.pattern)
        if kind is MatchType.ENDS_WITH:
            return data.endswith(self.pattern)
        if kind is MatchType.CONTAINS:
            return self.pattern in data
        if kind is MatchType.EXACT:
            return data == self.pattern
        return True  # none

    def matches(self, event_text: str, event_name: str | None = None) -> bool:
        if self.event_name is not None:
            name = event_name if event_name is not None else _event_name(event_text)
            if name != self.event_name:
                return False
        if self.header is None:
            return self._match(event_text)
        for line in event_text.split("\n"):  # ast_read_line_from_buffer: lines end at \n, a \r before it dropped
            line = line[:-1] if line.endswith("\r") else line
            if line.startswith(self.header):
                value = line[len(self.header):].lstrip(" \t")  # ast_skip_blanks
                if value and self._match(value):
                    return True
        return False


def _event_name(event_text: str) -> str:
    """The name the event was raised with: its first line is ``Event: <name>`` (__manager_event_sessions_va)."""
    first = event_text.split("\r\n", 1)[0]
    return first[len("Event: "):] if first.startswith("Event: ") else ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ManagerUser:
    name: str
    secret: str
    read: int = 0
    write: int = 0
    filters: tuple[EventFilter, ...] = field(default_factory=tuple)
    # the eventfilter lines Asterisk would refuse (logged, not applied), with why: tests hold the shipped file to none
    filter_errors: tuple[str, ...] = ()
    # a second Login while a session of this user is open: "Login Already In Use" unless allowed (the user's line,
    # else [general]'s, else yes: manager.c allowmultiplelogin = 1)
    allow_multiple_login: bool = True

    def may_run(self, authority: int) -> bool:
        return bool(self.write & authority) or authority == 0

    def wants(self, event_text: str) -> bool:
        """manager.c should_send_event: no filters pass everything; include filters only: one must match; exclude
        only: none may; both: an include must match and no exclude."""
        name = _event_name(event_text)
        includes = [f for f in self.filters if not f.exclude]
        excludes = [f for f in self.filters if f.exclude]
        if includes and not any(f.matches(event_text, name) for f in includes):
            return False
        return not any(f.matches(event_text, name) for f in excludes)


class FilterError(ValueError):
    """An eventfilter line manager.c refuses (FILTER_FORMAT_ERROR / FILTER_COMPILE_FAIL): it logs a warning and the
    filter does not exist; the message is the warning's gist."""


_METHODS: Final = {m.value: m for m in MatchType}


def parse_filter(criteria: str, value: str) -> EventFilter:
    """manager.c manager_add_filter for one ``<criteria> = <value>`` line; FilterError where Asterisk refuses it."""
    where = f"'{criteria} = {value}'"
    pattern = value
    exclude = False
    # legacy: a leading '!' excludes; also accepted by advanced filters, where action(...) takes precedence
    if pattern.startswith("!"):
        exclude = True
        pattern = pattern[1:]
    match_type = MatchType.REGEX
    event_name = header = None
    start = criteria.find("(")
    if start < 0:
        if not pattern:
            raise FilterError(f"{where}: Legacy filter with no filter pattern specified")
    else:
        match_type = MatchType.NONE
        temp = criteria[start + 1:].strip()
        if not temp or not temp.endswith(")"):
            raise FilterError(f"{where}: Filter options not formatted correctly")
        found: set[str] = set()
        # strtok_r(temp, " ,)"): options are split on blanks, commas and ')', in any order
        for option in (o for o in re.split(r"[ ,)]+", temp) if o):
            _, paren, argument = option.partition("(")
            argument = argument.strip()
            if option.startswith("action"):
                if not paren:
                    raise FilterError(f"{where}: 'action' parameter not formatted correctly")
                if argument not in ("include", "exclude"):
                    raise FilterError(f"{where}: 'action' option '{argument}' is unknown")
                exclude = argument == "exclude"
                found.add("action")
            elif option.startswith(("name", "header", "method")):
                kind = "name" if option.startswith("name") else option[:6]
                if not paren or not argument:
                    raise FilterError(f"{where}: '{kind}' parameter not formatted correctly")
                if kind == "name":
                    event_name = argument
                elif kind == "header":
                    header = argument if argument.endswith(":") else argument + ":"
                else:
                    if argument not in _METHODS:
                        raise FilterError(f"{where}: 'method' option '{argument}' is unknown")
                    match_type = _METHODS[argument]
                found.add(kind)
            else:
                raise FilterError(f"{where}: Filter option '{option}' is unknown")
        if not found:
            raise FilterError(f"{where}: No action, name, header, or method option found")
        if not pattern and match_type is not MatchType.NONE:
            raise FilterError(f"{where}: method can't be '{match_type}' with no filter pattern")
        if pattern and match_type is MatchType.NONE:
            raise FilterError(f"{where}: method can't be 'none' with a filter pattern")
        if "name" not in found and "header" not in found and match_type is MatchType.NONE:
            raise FilterError(f"{where}: No name or header option found and no filter pattern")
    regex = None
    if pattern and match_type is MatchType.REGEX:
        try:
            # regcomp(REG_EXTENDED | REG_NOSUB), no REG_NEWLINE: '.' matches a line break and '^'/'$' only the ends
            regex = re.compile(pattern, re.DOTALL)
        except re.error:
            raise FilterError(f"Unable to compile regex filter for '{pattern}'") from None
    return EventFilter(exclude=exclude, match_type=match_type, pattern=pattern, regex=regex, event_name=event_name,
                       header=header)


def load_manager_conf(path: Path) -> dict[str, ManagerUser]:
    """Every user section of manager.conf ([general] is the server's); read, write, secret and eventfilter."""
    users: dict[str, ManagerUser] = {}
    section: str | None = None
    values: dict[str, str] = {}
    filters: list[EventFilter] = []
    errors: list[str] = []
    general: dict[str, str] = {}

    def close() -> None:
        if section == "general":
            general.update(values)
        elif section is not None:
            multiple = values.get("allowmultiplelogin", general.get("allowmultiplelogin", "yes"))
            users[section] = ManagerUser(name=section, secret=values.get("secret", ""), read=get_perm(values.get("read")),
                                         write=get_perm(values.get("write")), filters=tuple(filters),
                                         filter_errors=tuple(errors),
                                         allow_multiple_login=multiple.strip().lower() in _TRUE)

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and "]" in line:
            close()
            section, values, filters, errors = line[1:line.index("]")].strip(), {}, [], []
            continue
        key, sep, value = line.partition("=")
        if not sep or section is None:
            continue
        key, value = key.strip().lstrip(">").strip(), value.strip().lstrip(">").strip()
        if key.startswith("eventfilter"):  # ast_begins_with: case-sensitive
            try:
                filters.append(parse_filter(key, value))
            except FilterError as exc:
                log.warning("manager.conf [%s]: %s; filter ignored (manager.c refuses it too)", section, exc)
                errors.append(str(exc))
        else:
            values[key.lower()] = value  # the last read/write line wins, as in __init_manager's loop
    close()
    return users
