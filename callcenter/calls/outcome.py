"""How a finished call is summarised: outcome, who hung up, the hangup cause, wait and talk time.

Rules (each from an observation in tests/data/ami-traces/INDEX.md):

* answered  = an agent and the customer side were both up (the tracker's ``connected_s``). Caller ``Newstate Up``
  alone means nothing for queue calls (``Answer()`` runs first).
* inbound, not answered:
    - abandoned: the caller left a queue (``QueueCallerAbandon``) *and* Queue() did not return on its own
      (``QUEUESTATUS=TIMEOUT`` also produces QueueCallerAbandon); or the caller hung up before any agent was offered;
    - missed: agents were offered the call (direct Dial rang out, was cancelled by the caller, busy, unavailable) or
      the queue timed out, or the caller was waiting in a queue when Asterisk went down (nobody is told otherwise:
      the missed call's callback task brings them back);
    - failed: the system ended it without offering it to anyone (routing said hang up, Asterisk went down before a
      queue).
* outbound / internal, not answered: from the called leg's DialEnd status or Hangup cause: busy (BUSY / 17),
  missed (NOANSWER, CANCEL, 19), abandoned (the customer answered but no agent was connected), failed otherwise.
* who hung up: the side of the last ``HangupRequest`` on a customer-side channel or an answered agent leg (a busy
  or ringing agent leg rejecting the call is not "hanging up the call"); ``SoftHangupRequest`` is ignored because the
  dialplan-owning channel gets one whatever happened. None seen -> system, unless the end was not observed.
"""

from __future__ import annotations

from callcenter.calls.channels import ChannelKind
from callcenter.calls.model import Call, Channel
from callcenter.events import CallDirection, CallOutcome, HungUpBy

__all__ = ["classify", "customer_side", "primary_channel"]

_BUSY_CAUSES = frozenset({17})
_NO_ANSWER_CAUSES = frozenset({18, 19, 0})
_NO_ANSWER_STATUSES = frozenset({"NOANSWER", "CANCEL"})


def customer_side(call: Call, ch: Channel) -> bool:
    """Trunk legs are the customer; a call without any trunk leg (internal) has the calling phone as 'customer'."""
    if ch.kind is ChannelKind.TRUNK:
        return True
    return not call.has_trunk and ch.uniqueid == call.first_uniqueid


def primary_channel(call: Call) -> Channel | None:
    """The channel whose Hangup cause describes the call: the customer side that ended last."""
    best: Channel | None = None
    for ch in call.channels.values():
        if customer_side(call, ch) and (best is None or _later(ch, best)):
            best = ch
    if best is None and call.first_uniqueid is not None:
        best = call.channels.get(call.first_uniqueid)
    return best


def _later(a: Channel, b: Channel) -> bool:
    return (a.hangup_s or float("inf")) >= (b.hangup_s or float("inf"))


def hung_up_by(call: Call, *, end_observed: bool) -> HungUpBy | None:
    for uid in reversed(call.hangup_requests):
        ch = call.channels.get(uid)
        if ch is None or ch.kind is ChannelKind.LOCAL or ch.kind is ChannelKind.OTHER:
            continue
        if customer_side(call, ch):
            return HungUpBy.CUSTOMER
        if ch.answered_s is not None or ch.uniqueid == call.first_uniqueid:
            return HungUpBy.AGENT
    reason = call.agent_complete_reason
    if reason == "caller":
        return HungUpBy.CUSTOMER
    if reason in ("agent", "transfer"):
        return HungUpBy.AGENT
    if call.shutdown:
        return HungUpBy.SYSTEM
    return HungUpBy.SYSTEM if end_observed else None


def _called_leg_outcome(call: Call, primary: Channel | None) -> CallOutcome:
    """Outbound/internal not answered: what happened to the leg we tried to reach."""
    statuses = list(call.customer_results) if call.has_trunk else [a.result for a in call.attempts if a.result]
    cause = primary.hangup_cause if primary is not None else None
    if any(ch.up_s is not None for ch in call.channels.values() if ch.kind is ChannelKind.TRUNK):
        return CallOutcome.ABANDONED  # the customer picked up but no agent was ever connected
    last = statuses[-1] if statuses else None
    if last == "BUSY" or (last is None and cause in _BUSY_CAUSES):
        return CallOutcome.BUSY
    if last in _NO_ANSWER_STATUSES or (last is None and cause in _NO_ANSWER_CAUSES):
        return CallOutcome.MISSED
    if not call.has_trunk and not statuses and call.agents_rung:
        return CallOutcome.MISSED
    return CallOutcome.FAILED


def classify(call: Call, *, end_observed: bool) -> tuple[CallOutcome, HungUpBy | None, Channel | None]:
    """(outcome, who hung up, primary channel) of a call that has just ended."""
    primary = primary_channel(call)
    who = hung_up_by(call, end_observed=end_observed)
    if call.connected_s is not None:
        return CallOutcome.ANSWERED, who, primary
    if call.direction is CallDirection.INBOUND:
        if call.queue_abandoned and not call.queue_status:
            return CallOutcome.ABANDONED, who, primary
        if call.attempts or call.queue_status or (call.shutdown and call.queue is not None):
            return CallOutcome.MISSED, who, primary
        if who is HungUpBy.CUSTOMER:
            return CallOutcome.ABANDONED, who, primary
        return CallOutcome.FAILED, who, primary
    return _called_leg_outcome(call, primary), who, primary
