"""The one place that builds the AMI actions the service sends, and the errors they can end in.

Builders are pure: they return the header mapping panoramisk sends. Every value is checked for CR/LF, because a
caller id or a variable value with a line break would inject extra AMI headers (or a whole action).
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from callcenter.ami.channel_vars import USER_EVENT_AGENT_CONTROL, AgentControl, OriginateVar, SpyMode

Action = dict[str, Any]
_ids = itertools.count(1)
_PREFIX = f"cc-{os.getpid()}-"


class AmiError(Exception):
    """Base of every AMI failure the service sees."""


class AmiNotConnected(AmiError):
    """No logged-in AMI session right now; the action was not sent."""


class AmiTimeout(AmiError):
    """Asterisk did not answer the action in time (it may or may not have run it)."""


class AmiAuthError(AmiError):
    """Asterisk refused the login (wrong user or secret, or an ACL)."""


class AmiActionFailed(AmiError):
    """Asterisk answered Response: Error."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"{action} failed: {message or 'no message'}")
        self.action = action
        self.message = message


def new_action_id() -> str:
    return f"{_PREFIX}{next(_ids)}"


def _clean(name: str, value: Any) -> str:
    text = str(value)
    if "\r" in text or "\n" in text:
        raise ValueError(f"AMI header {name} must not contain a line break: {text!r}")
    return text


def _action(name: str, headers: Mapping[str, Any], *, action_id: str | None = None) -> Action:
    action: Action = {"Action": name, "ActionID": _clean("ActionID", action_id or new_action_id())}
    for key, value in headers.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            action[key] = [_clean(key, v) for v in value]
        else:
            action[key] = _clean(key, value)
    return action


def _variables(variables: Mapping[str, Any] | None) -> list[str] | None:
    if not variables:
        return None
    lines = []
    for key, value in variables.items():
        if not key or "=" in key or not key.replace("_", "").isalnum():
            raise ValueError(f"bad channel variable name {key!r}")
        lines.append(f"{key}={_clean(key, value)}")
    return lines


def _flag(value: bool) -> str:
    return "true" if value else "false"


def login(*, username: str, secret: str) -> Action:
    return _action("Login", {"Username": username, "Secret": secret, "Events": "on"})


def ping() -> Action:
    return _action("Ping", {})


def originate(
    *,
    channel: str,
    context: str | None = None,
    exten: str | None = None,
    priority: int = 1,
    application: str | None = None,
    data: str | None = None,
    caller_id: str | None = None,
    timeout_ms: int = 30_000,
    variables: Mapping[str, Any] | None = None,
    account: str | None = None,
    action_id: str | None = None,
) -> Action:
    """Async Originate: the result arrives as an OriginateResponse event carrying the same ActionID."""
    if (context is None) == (application is None):
        raise ValueError("originate to either context/exten or an application, not both")
    if context is not None and not exten:
        raise ValueError("originate to a context needs an exten")
    if timeout_ms <= 0:
        raise ValueError("timeout_ms must be positive")
    return _action(
        "Originate",
        {
            "Channel": channel,
            "Context": context,
            "Exten": exten,
            "Priority": priority if context is not None else None,
            "Application": application,
            "Data": data,
            "CallerID": caller_id,
            "Timeout": timeout_ms,
            "Account": account,
            "Async": "true",
            "Variable": _variables(variables),
        },
        action_id=action_id,
    )


# ChanSpy options per mode, from app_chanspy.c's option list as Asterisk 20 documents it
# (docs.asterisk.org/Asterisk_20_Documentation/API_Documentation/Dialplan_Applications/ChanSpy):
#   q  no beep and no spoken channel name: the supervisor picked the call on the wallboard and would otherwise hear
#      "P-J-S-I-P one-zero-zero-two" before the audio (the beep only ever goes to the spying phone)
#   E  exit when the spied-on channel hangs up, so the supervisor's phone hangs up with the call
#   S  stop when no channel is left to spy on (the agent hung up before the supervisor answered) instead of polling
#   u  the argument is one full channel name (or uniqueid), not a prefix: ChanSpy(PJSIP/1002) would also match
#      PJSIP/10021-... and any other call on that phone, and would move on to the agent's next call
#   w  whisper: the supervisor's voice goes to the spied-on channel (the agent) only
#   B  barge: the supervisor's voice goes to both channels of the agent's bridge (agent and customer)
# Not used: b (only bridged channels) would end the session while the agent is briefly out of the bridge (hold,
# attended transfer) and the API already refuses unanswered calls; W (private whisper) leaves the supervisor deaf;
# d/X/x/c (DTMF mode switching and exits) would let a key on the desk phone change what the wallboard asked for.
CHANSPY_OPTIONS: Final[Mapping[SpyMode, str]] = MappingProxyType(
    {SpyMode.LISTEN: "qESu", SpyMode.WHISPER: "qESuw", SpyMode.BARGE: "qESuB"}
)
_SPY_LABEL: Final[Mapping[SpyMode, str]] = MappingProxyType(
    {SpyMode.LISTEN: "Listen", SpyMode.WHISPER: "Whisper", SpyMode.BARGE: "Barge"}
)
# Endpoint names and channel names end up inside a dial string, a ChanSpy argument list and a caller id: anything
# that could split them (",", "|", quotes, <>, spaces) is refused rather than escaped.
_ENDPOINT = re.compile(r"^[A-Za-z0-9_.+-]{1,64}$")
_CHANNEL = re.compile(r"^[A-Za-z0-9_.+@/;-]{1,128}$")


def chanspy(
    *,
    supervisor: str,
    spied_channel: str,
    agent: str,
    mode: SpyMode,
    timeout_ms: int = 20_000,
    action_id: str | None = None,
) -> Action:
    """Ring the supervisor's desk phone (PJSIP/<supervisor>); once answered it runs ChanSpy on the agent's channel.

    Async like every Originate: OriginateResponse (same ActionID) says whether the supervisor picked up. The CC_SPY
    variable tells the live model that the new channel is a listener, not a call.
    """
    if not _ENDPOINT.match(supervisor):
        raise ValueError(f"bad supervisor endpoint {supervisor!r}")
    if not _ENDPOINT.match(agent):
        raise ValueError(f"bad agent endpoint {agent!r}")
    if not _CHANNEL.match(spied_channel):
        raise ValueError(f"bad channel name {spied_channel!r}")
    mode = SpyMode(mode)
    return originate(
        channel=f"PJSIP/{supervisor}",
        application="ChanSpy",
        data=f"{spied_channel},{CHANSPY_OPTIONS[mode]}",
        caller_id=f'"{_SPY_LABEL[mode]} {agent}" <{agent}>',
        timeout_ms=timeout_ms,
        variables={OriginateVar.SPY: mode.value},
        action_id=action_id,
    )


def redirect(*, channel: str, context: str, exten: str, priority: int = 1) -> Action:
    return _action("Redirect", {"Channel": channel, "Context": context, "Exten": exten, "Priority": priority})


def hangup(*, channel: str, cause: int = 16) -> Action:
    return _action("Hangup", {"Channel": channel, "Cause": cause})


def queue_add(
    *,
    queue: str,
    interface: str,
    member_name: str | None = None,
    state_interface: str | None = None,
    penalty: int = 0,
    paused: bool = False,
    reason: str | None = None,
) -> Action:
    return _action(
        "QueueAdd",
        {
            "Queue": queue,
            "Interface": interface,
            "MemberName": member_name,
            "StateInterface": state_interface,
            "Penalty": penalty,
            "Paused": _flag(paused),
            "Reason": reason if paused else None,
        },
    )


def queue_remove(*, queue: str, interface: str) -> Action:
    return _action("QueueRemove", {"Queue": queue, "Interface": interface})


def queue_pause(*, interface: str, paused: bool, queue: str | None = None, reason: str | None = None) -> Action:
    """Without a queue, Asterisk pauses the member in every queue it belongs to."""
    return _action("QueuePause", {"Interface": interface, "Paused": _flag(paused), "Queue": queue, "Reason": reason})


def mix_monitor(*, channel: str, file: str, options: str = "") -> Action:
    return _action("MixMonitor", {"Channel": channel, "File": file, "options": options or None})


def stop_mix_monitor(*, channel: str, mixmonitor_id: str | None = None) -> Action:
    return _action("StopMixMonitor", {"Channel": channel, "MixMonitorID": mixmonitor_id})


def setvar(*, channel: str, variable: str, value: str) -> Action:
    [line] = _variables({variable: value}) or [""]
    return _action("Setvar", {"Channel": channel, "Variable": variable, "Value": line.split("=", 1)[1]})


_CUSTOM_DEVICE = re.compile(r"^Custom:[A-Za-z0-9_.-]{1,64}$")
DEVICE_STATES: Final = frozenset(
    {"UNKNOWN", "NOT_INUSE", "INUSE", "BUSY", "INVALID", "UNAVAILABLE", "RINGING", "RINGINUSE", "ONHOLD"}
)  # what ast_devstate_val() reads (main/devicestate.c); anything else is stored as UNKNOWN


def set_device_state(*, device: str, state: str) -> Action:
    """Setvar DEVICE_STATE(Custom:<name>)=<state> without a channel (func_devstate.c; the `call` write class)."""
    if not _CUSTOM_DEVICE.match(device):
        raise ValueError(f"only Custom: devices can be set, got {device!r}")
    if state not in DEVICE_STATES:
        raise ValueError(f"unknown device state {state!r}")
    return _action("Setvar", {"Variable": f"DEVICE_STATE({device})", "Value": state})


def agent_control(*, agent: str, control: AgentControl, at_s: float, call_id: str | None = None,
                  reason: str | None = None) -> Action:
    """UserEvent CcAgentControl (manager.c action_userevent, the `user` write class): Asterisk sends every header
    but Action and UserEvent back out as an event to each session reading the `user` class, ActionID included."""
    return _action("UserEvent", {"UserEvent": USER_EVENT_AGENT_CONTROL, "Agent": agent, "Control": control.value,
                                 "AtS": f"{at_s:.6f}", "CallId": call_id, "Reason": reason})


# List actions used to resync the live model after every (re)connect.


def core_show_channels() -> Action:
    return _action("CoreShowChannels", {})


def queue_status(*, queue: str | None = None) -> Action:
    return _action("QueueStatus", {"Queue": queue})


def device_state_list() -> Action:
    return _action("DeviceStateList", {})


def extension_state_list() -> Action:
    return _action("ExtensionStateList", {})


def pjsip_show_contacts() -> Action:
    return _action("PJSIPShowContacts", {})


def getvar(*, variable: str, channel: str | None = None) -> Action:
    """Without a channel Asterisk reads a dialplan global (manager.c action_getvar)."""
    return _action("Getvar", {"Channel": channel, "Variable": variable})


def list_commands() -> Action:
    """The actions this AMI user may send (authority 0: always allowed)."""
    return _action("ListCommands", {})


# PJSIPShowContacts is not among them: Asterisk files it under `system` (res_pjsip/pjsip_options.c), which would also
# let the service load modules and reload configs. DeviceStateList already says which desk phones are unreachable
# (chan_pjsip reports UNAVAILABLE without a reachable contact), and ContactStatus events keep registrations current.
RESYNC_LISTS = (core_show_channels, queue_status, device_state_list)


# Transfers of a live call, on the transferring agent's channel (manager.c action_blind_transfer / action_atxfer).


def blind_transfer(*, channel: str, exten: str, context: str) -> Action:
    """The party bridged with ``channel`` (the customer) goes to exten@context; ``channel`` leaves the call.
    Needs no feature code; Asterisk answers Success or Error ("Transfer not permitted" ...) at once."""
    return _action("BlindTransfer", {"Channel": channel, "Exten": exten, "Context": context})


def atxfer(*, channel: str, exten: str, context: str) -> Action:
    """Attended transfer: the customer waits on hold while ``channel`` consults exten@context (through a Local
    channel); hanging up then completes it. Asterisk only queues the atxfer feature code and the digits as DTMF on the
    channel, so it works only where features.conf has an atxfer code and the channel has transfer rights (Dial
    option t/T); "Atxfer successfully queued" says nothing about the outcome (AttendedTransfer events do)."""
    return _action("Atxfer", {"Channel": channel, "Exten": exten, "Context": context})
