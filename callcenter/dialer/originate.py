"""One dial attempt through Asterisk: the AMI Originate that places it, and the events that say how it ended.

The call is customer first: ``PJSIP/<e164>@<trunk>`` is Originated into the dialplan's [cc-campaign] (see its comment
in dialplans/extensions_callcenter.conf for why the trunk channel and not a Local pair). What ends an attempt, and
where the service reads it (docs/dialer.md, "Execution"):

* before an answer, from OriginateResponse (ActionID = the attempt's action_id) and the channel's hangup cause: the
  Reason is an AST_CONTROL_* value (include/asterisk/frame.h: 1 HANGUP, 3 RINGING, 4 ANSWER, 5 BUSY, 8 CONGESTION).
  Seen on a real Asterisk 20 with this Originate: 3 after ringing out the Timeout (originate_noanswer) and 0 after a
  486 (originate_busy), whose HangupRequest said cause 17 first. So 5 and 8 are taken at their word when they come,
  and 0 and 1 are read through the cause of the HangupRequest / Hangup: 17 busy, 18/19 no answer, others failed;
* after the answer, from what [cc-campaign] did on the channel: UserEvent CcDialerAmd (AMDSTATUS), DialEnd ANSWER
  towards the agent (connected), UserEvent CcDialerResult (abandoned: the information message played; machine),
  and finally the channel's Hangup: an answered call with none of these is the callee hanging up first.

The channel is tied to the attempt by the VarSet of CC_DIAL_ATTEMPT Asterisk announces when the Originate's variables
are set, before anything is dialled; UserEvents carry the attempt id themselves.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Final

from callcenter.ami import actions
from callcenter.ami.actions import AmiActionFailed, AmiError, AmiNotConnected, AmiTimeout
from callcenter.ami.channel_vars import (
    DEFAULT_INFO_MESSAGE,
    USER_EVENT_DIALER_AMD,
    USER_EVENT_DIALER_RESULT,
    ChannelVar,
    Context,
)
from callcenter.ami.events import (
    AmiEvent,
    DialEnd,
    DialerUserEvent,
    Hangup,
    HangupRequest,
    OriginateResponse,
    SoftHangupRequest,
    VarSet,
)
from callcenter.dialer.compliance import MAX_RING_S, MIN_RING_S
from callcenter.dialer.outcomes import AttemptOutcome

__all__ = [
    "AmdNotSure",
    "AttemptDial",
    "AttemptFollower",
    "AttemptResult",
    "InvalidAttempt",
    "MachineAction",
    "originate_action",
]

log = logging.getLogger(__name__)

_E164: Final = re.compile(r"^\+[1-9][0-9]{6,14}$")
# a sound file name as Playback() takes it: no extension, no ',' (it would start Playback's options) or '&'
SOUND_NAME: Final = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_/-]{0,127}$")
_ACTION_ID: Final = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_INT64_MAX: Final = 2**63 - 1

# OriginateResponse Reason: AST_CONTROL_* from include/asterisk/frame.h.
REASON_FAILED: Final = 0  # no channel, or chan_pjsip hung it up on a final response (the cause says why)
REASON_HANGUP: Final = 1
REASON_RINGING: Final = 3  # rang for the whole Timeout
REASON_ANSWER: Final = 4
REASON_BUSY: Final = 5
REASON_CONGESTION: Final = 8
# Hangup causes (include/asterisk/causes.h) that are not a failure of the call itself.
CAUSE_USER_BUSY: Final = 17
CAUSE_NO_USER_RESPONSE: Final = 18
CAUSE_NO_ANSWER: Final = 19

AMD_MACHINE: Final = "MACHINE"
# app_playback sets it after Playback(): FAILED when the file could not be opened (not installed, the channel already
# gone); a callee hanging up during the message still ends SUCCESS. Seen on Asterisk 20.20.1 without cc-dialer-info.
PLAYBACK_STATUS: Final = "PLAYBACKSTATUS"
PLAYBACK_FAILED: Final = "FAILED"


class InvalidAttempt(ValueError):
    """An attempt that cannot be dialled as given; ``field`` names the bad value."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class AmdNotSure(StrEnum):
    """What AMD()'s NOTSURE counts as (CC_AMD_NOTSURE). Human by default: a person treated as a machine is hung up
    on, which the law counts as an abandoned call (the AMD false-positive estimate)."""

    HUMAN = "human"
    MACHINE = "machine"


class MachineAction(StrEnum):
    """What [cc-campaign] does on an answering machine (CC_MACHINE_ACTION)."""

    HANGUP = "hangup"
    MESSAGE = "message"  # wait for the beep, play the information message


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptDial:
    """Everything one Originate needs; validated here because each value ends up inside an AMI header, a dial string
    or a dialplan application argument."""

    attempt_id: int
    campaign_id: int
    action_id: str  # the attempt row's action_id: the OriginateResponse carries it back
    number_e164: str
    caller_id_e164: str  # a number the callee can call back (the law)
    caller_id_name: str = ""
    ring_s: float = 25.0
    amd_notsure: AmdNotSure = AmdNotSure.HUMAN
    machine_action: MachineAction = MachineAction.HANGUP
    info_message: str = DEFAULT_INFO_MESSAGE
    trunk: str = "trunk"  # the PJSIP endpoint customers are dialled through

    def __post_init__(self) -> None:
        for name in ("attempt_id", "campaign_id"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= _INT64_MAX:
                raise InvalidAttempt(name, f"must be a positive id, got {value!r}")
        if not isinstance(self.action_id, str) or not _ACTION_ID.match(self.action_id):
            raise InvalidAttempt("action_id", f"must match {_ACTION_ID.pattern}, got {self.action_id!r}")
        for name in ("number_e164", "caller_id_e164"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _E164.match(value):
                raise InvalidAttempt(name, f"must be an E.164 number (+ and 7-15 digits), got {value!r}")
        if not isinstance(self.caller_id_name, str) or any(c in self.caller_id_name for c in '"<>\r\n\\'):
            raise InvalidAttempt("caller_id_name", "must not contain quotes, <, >, backslashes or line breaks")
        if not isinstance(self.ring_s, (int, float)) or not MIN_RING_S <= self.ring_s <= MAX_RING_S:
            raise InvalidAttempt("ring_s", f"must ring {MIN_RING_S:g}..{MAX_RING_S:g} s, got {self.ring_s!r}")
        object.__setattr__(self, "amd_notsure", _enum(AmdNotSure, "amd_notsure", self.amd_notsure))
        object.__setattr__(self, "machine_action", _enum(MachineAction, "machine_action", self.machine_action))
        if not isinstance(self.info_message, str) or not SOUND_NAME.match(self.info_message):
            raise InvalidAttempt("info_message", f"must be a sound file name ({SOUND_NAME.pattern})")
        if not isinstance(self.trunk, str) or not re.match(r"^[A-Za-z0-9_.-]{1,64}$", self.trunk):
            raise InvalidAttempt("trunk", f"bad endpoint name {self.trunk!r}")


def _enum(kind: type[StrEnum], name: str, value: object) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise InvalidAttempt(name, f"must be one of {', '.join(kind)}, got {value!r}") from None


def originate_action(dial: AttemptDial) -> actions.Action:
    """The Originate for ``dial`` (async; its Timeout is the ring time, so Asterisk gives up exactly then)."""
    name = dial.caller_id_name or dial.caller_id_e164
    return actions.originate(
        channel=f"PJSIP/{dial.number_e164}@{dial.trunk}",
        context=Context.CAMPAIGN,
        exten=dial.number_e164,
        caller_id=f'"{name}" <{dial.caller_id_e164}>',
        timeout_ms=round(dial.ring_s * 1000),
        variables={
            ChannelVar.CAMPAIGN: dial.campaign_id,
            ChannelVar.DIAL_ATTEMPT: dial.attempt_id,
            ChannelVar.AMD_NOTSURE: dial.amd_notsure.value,
            ChannelVar.MACHINE_ACTION: dial.machine_action.value,
            ChannelVar.INFO_MESSAGE: dial.info_message,
        },
        action_id=dial.action_id,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AttemptResult:
    """How one attempt ended, and what said so (``recognised_by``), for the attempt row and the CRM activity."""

    attempt_id: int
    action_id: str
    outcome: AttemptOutcome
    recognised_by: str  # e.g. "OriginateResponse Reason 3", "hangup cause 17", "DialEnd ANSWER to 1002"
    uniqueid: str | None = None  # the callee's channel (None when none was created)
    linkedid: str | None = None
    originate_reason: int | None = None
    hangup_cause: int | None = None
    amd_status: str | None = None  # AMDSTATUS: HUMAN, MACHINE, NOTSURE, HANGUP
    amd_cause: str | None = None
    agent: str | None = None  # the extension connected (CONNECTED) or named by the service then not reached
    answered_s: float | None = None  # when the callee answered (the OriginateResponse Success), by the follower's clock
    verdict_s: float | None = None  # when AMD() gave its verdict (CcDialerAmd): the pacing's time to answer
    sent: bool = True  # False: the Originate never left (no AMI session), so nothing was dialled


@dataclass(slots=True)
class _Attempt:
    dial: AttemptDial
    future: asyncio.Future[AttemptResult]
    uniqueid: str | None = None
    linkedid: str | None = None
    answered: bool = False
    originate_reason: int | None = None
    cause: int | None = None
    hung_up: bool = False
    amd_status: str | None = None
    amd_cause: str | None = None
    dialplan_outcome: str | None = None
    agent: str | None = None
    connected_agent: str | None = None
    answered_s: float | None = None
    verdict_s: float | None = None
    message_failed: bool = False  # Playback() of the information message reported FAILED


Send = Callable[[actions.Action], Awaitable[Any]]


class AttemptFollower:
    """Sends each attempt's Originate once and turns the AMI events about it into one AttemptResult.

    Feed it every typed event of the one ordered AMI stream (``handle``). Nothing here re-sends an Originate: an
    action that may or may not have run (AMI timeout) ends as FAILED with that said, and is never dialled again by
    this class; the runner's retry rules decide about a new attempt.
    """

    def __init__(self, *, send: Send, clock: Callable[[], float] = time.time) -> None:
        self._send = send
        self._clock = clock
        self._by_action: dict[str, _Attempt] = {}
        self._by_attempt: dict[int, _Attempt] = {}
        self._by_uniqueid: dict[str, _Attempt] = {}
        self.foreign_events = 0  # dialer UserEvents naming an attempt that is not ours (another instance's, stale)

    @property
    def pending(self) -> tuple[AttemptDial, ...]:
        return tuple(a.dial for a in self._by_attempt.values())

    async def dial(self, dial: AttemptDial) -> asyncio.Future[AttemptResult]:
        """Send the Originate; the returned future resolves once the attempt is over (it may already be)."""
        if dial.attempt_id in self._by_attempt or dial.action_id in self._by_action:
            raise InvalidAttempt("attempt_id", f"attempt {dial.attempt_id} ({dial.action_id}) is already being dialled")
        attempt = _Attempt(dial=dial, future=asyncio.get_running_loop().create_future())
        # registered before sending: the first VarSet can arrive before the action's response
        self._by_action[dial.action_id] = attempt
        self._by_attempt[dial.attempt_id] = attempt
        try:
            await self._send(originate_action(dial))
        except AmiActionFailed as exc:
            self._finish(attempt, AttemptOutcome.FAILED, f"Originate refused by Asterisk: {exc.message or exc}")
        except AmiNotConnected as exc:
            self._finish(attempt, AttemptOutcome.FAILED, f"Originate not sent: {exc}", sent=False)
        except AmiTimeout as exc:
            # Asterisk may have queued it: say so; never send it again (nothing dialled twice)
            self._finish(attempt, AttemptOutcome.FAILED, f"no answer to the Originate, not re-sent: {exc}")
        except AmiError as exc:
            self._finish(attempt, AttemptOutcome.FAILED, f"Originate failed: {exc}")
        return attempt.future

    def give_up(self, attempt_id: int, why: str, *, outcome: AttemptOutcome = AttemptOutcome.FAILED,
                agent: str | None = None) -> bool:
        """End an attempt whose own events will not come (the AMI session was lost while it ran): with what its call
        showed (the live model's end of it, from the resync), else FAILED; never re-sent. False when not pending."""
        attempt = self._by_attempt.get(attempt_id)
        if attempt is None:
            return False
        if agent is not None:
            attempt.connected_agent = agent
        self._finish(attempt, outcome, why)
        return True

    # -- events ---------------------------------------------------------------------------------------------------

    def handle(self, event: AmiEvent | None) -> None:
        if isinstance(event, VarSet):
            self._on_varset(event)
        elif isinstance(event, OriginateResponse):
            self._on_response(event)
        elif isinstance(event, DialerUserEvent):
            self._on_user_event(event)
        elif isinstance(event, DialEnd):
            self._on_dial_end(event)
        elif isinstance(event, (HangupRequest, SoftHangupRequest)):
            attempt = self._by_uniqueid.get(event.uniqueid)
            if attempt is not None and event.cause and attempt.cause is None:
                attempt.cause = event.cause
        elif isinstance(event, Hangup):
            self._on_hangup(event)

    def _on_varset(self, event: VarSet) -> None:
        if event.variable == PLAYBACK_STATUS:
            attempt = self._by_uniqueid.get(event.uniqueid)
            if attempt is not None and event.value == PLAYBACK_FAILED:
                attempt.message_failed = True
            return
        if event.variable != ChannelVar.DIAL_ATTEMPT:
            return
        attempt = self._by_attempt.get(_int(event.value) or 0)
        if attempt is not None and attempt.uniqueid is None:
            attempt.uniqueid, attempt.linkedid = event.uniqueid, event.linkedid
            self._by_uniqueid[event.uniqueid] = attempt

    def _on_response(self, event: OriginateResponse) -> None:
        attempt = self._by_action.get(event.action_id or "")
        if attempt is None:
            return
        attempt.originate_reason = event.reason
        if event.response.lower() == "success":
            attempt.answered = True
            attempt.answered_s = self._clock()
            if event.uniqueid and attempt.uniqueid is None:
                attempt.uniqueid = event.uniqueid
                self._by_uniqueid[event.uniqueid] = attempt
            if attempt.hung_up:
                self._conclude_answered(attempt)
            return
        outcome, why = _before_answer(event.reason, attempt.cause)
        self._finish(attempt, outcome, why)

    def _on_user_event(self, event: DialerUserEvent) -> None:
        attempt = self._by_attempt.get(_int(event.attempt) or 0)
        if attempt is None:
            self.foreign_events += 1
            log.info("dialer UserEvent %s for attempt %r that is not ours; ignored", event.user_event, event.attempt)
            return
        if event.user_event == USER_EVENT_DIALER_AMD:
            attempt.amd_status, attempt.amd_cause = event.status, event.cause
            attempt.verdict_s = self._clock()
        elif event.user_event == USER_EVENT_DIALER_RESULT:
            attempt.dialplan_outcome = (event.outcome or "").lower()
            attempt.agent = event.agent if event.agent and event.agent != "none" else attempt.agent

    def _on_dial_end(self, event: DialEnd) -> None:
        attempt = self._by_uniqueid.get(event.uniqueid or "")
        if attempt is None or event.dial_status != "ANSWER":
            return
        # PJSIP/1002-0000002a -> 1002
        attempt.connected_agent = event.dest_channel.partition("/")[2].rsplit("-", 1)[0]

    def _on_hangup(self, event: Hangup) -> None:
        attempt = self._by_uniqueid.get(event.uniqueid)
        if attempt is None:
            return
        attempt.hung_up = True
        if attempt.cause is None or attempt.cause == 16:
            attempt.cause = event.cause
        if attempt.answered:
            self._conclude_answered(attempt)
        # not answered: the OriginateResponse (sent after the hangup's cause was known) decides

    def _conclude_answered(self, attempt: _Attempt) -> None:
        if attempt.connected_agent:
            self._finish(attempt, AttemptOutcome.CONNECTED, f"DialEnd ANSWER to {attempt.connected_agent}")
        elif attempt.dialplan_outcome == "abandoned" and attempt.message_failed:
            # still abandoned, but the law's message was not heard: said where the attempt's record keeps it
            log.warning("dialer attempt %d: the information message did not play (PLAYBACKSTATUS FAILED): is the "
                        "sound file %r installed on Asterisk?", attempt.dial.attempt_id, attempt.dial.info_message)
            self._finish(attempt, AttemptOutcome.ABANDONED,
                         f"CcDialerResult abandoned: information message NOT played ({attempt.dial.info_message}: "
                         "PLAYBACKSTATUS FAILED)")
        elif attempt.dialplan_outcome == "abandoned":
            self._finish(attempt, AttemptOutcome.ABANDONED, "CcDialerResult abandoned: information message played")
        elif attempt.dialplan_outcome == "machine" or attempt.amd_status == AMD_MACHINE:
            self._finish(attempt, AttemptOutcome.MACHINE, f"AMD {attempt.amd_status} ({attempt.amd_cause})")
        else:
            self._finish(attempt, AttemptOutcome.CALLEE_HANGUP,
                         f"answered, hung up before an agent (AMD {attempt.amd_status or 'unfinished'})")

    def _finish(self, attempt: _Attempt, outcome: AttemptOutcome, why: str, *, sent: bool = True) -> None:
        dial = attempt.dial
        self._by_action.pop(dial.action_id, None)
        self._by_attempt.pop(dial.attempt_id, None)
        if attempt.uniqueid is not None:
            self._by_uniqueid.pop(attempt.uniqueid, None)
        if attempt.future.done():
            return
        result = AttemptResult(
            attempt_id=dial.attempt_id,
            action_id=dial.action_id,
            outcome=outcome,
            recognised_by=why,
            uniqueid=attempt.uniqueid,
            linkedid=attempt.linkedid,
            originate_reason=attempt.originate_reason,
            hangup_cause=attempt.cause,
            amd_status=attempt.amd_status,
            amd_cause=attempt.amd_cause,
            agent=attempt.connected_agent or attempt.agent,
            answered_s=attempt.answered_s,
            verdict_s=attempt.verdict_s,
            sent=sent,
        )
        log.info("dialer attempt %d (%s) %s: %s", dial.attempt_id, dial.action_id, outcome.value, why)
        attempt.future.set_result(result)


def _before_answer(reason: int, cause: int | None) -> tuple[AttemptOutcome, str]:
    """The outcome of an Originate that failed before the callee answered."""
    said = f"OriginateResponse Reason {reason}"
    if reason == REASON_RINGING:
        return AttemptOutcome.NO_ANSWER, said
    if reason == REASON_BUSY:
        return AttemptOutcome.BUSY, said
    if reason == REASON_CONGESTION:
        return AttemptOutcome.FAILED, f"{said} (congestion)"
    if cause == CAUSE_USER_BUSY:
        return AttemptOutcome.BUSY, f"{said}, hangup cause {cause}"
    if cause in (CAUSE_NO_USER_RESPONSE, CAUSE_NO_ANSWER):
        return AttemptOutcome.NO_ANSWER, f"{said}, hangup cause {cause}"
    if cause is None:
        return AttemptOutcome.FAILED, f"{said}, no channel was created"
    return AttemptOutcome.FAILED, f"{said}, hangup cause {cause}"


def _int(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 19 else None
