"""Pure: a call that lived entirely while AMI was down, rebuilt from the facts that survive such a gap.

What survives: every FastAGI route request (FastAGI does not need AMI), the routing decision we answered, and the
MixMonitor files the dialplan writes for every inbound call (named by the inbound channel's Uniqueid). What does not:
channel events, so the ring, answer and hang-up times are not known. The rebuilt call says so (`end_estimated`, shown
as `approximate` on the activity) and is built by these rules:

* started = the first route request; ended = when MixMonitor closed its file (the hang-up), else when we found out.
* answered when the agent side of the recording has speech (`agent_speech_s` > 0.5 s); then talk runs from the
  first agent speech to the end, by the last dialled agent when the last decision dialled exactly one agent.
* otherwise missed (so the number gets its callback task), or failed when our last answer was to hang up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from callcenter.ami.channel_vars import CcAction
from callcenter.events import CallDirection, CallEnded, CallOutcome, CallRouted, RecordingReady

ANSWERED_SPEECH_S = 0.5  # agent-side speech needed to call it answered (clicks and prompts stay below)


@dataclass(slots=True)
class RoutedCall:
    """What FastAGI saw of one call while AMI was down."""

    call_id: str
    uniqueid: str | None
    caller: str | None
    did: str | None
    first_at_s: float
    decisions: list[CallRouted] = field(default_factory=list)

    def add(self, routed: CallRouted) -> None:
        self.decisions.append(routed)
        self.caller = self.caller or routed.caller
        self.did = self.did or routed.did
        self.uniqueid = self.uniqueid or routed.uniqueid


@dataclass(frozen=True, slots=True)
class SpoolFacts:
    """The call's MixMonitor files, as Asterisk names them, and what their audio says."""

    path: str
    leg_paths: tuple[str, ...]
    closed_at_s: float  # last write of the file: MixMonitor closes it when the channel hangs up
    duration_s: float
    agent_speech_s: float  # seconds of speech on the agent side
    first_agent_speech_s: float | None  # offset into the recording of the first agent speech


def rebuild(call: RoutedCall, facts: SpoolFacts | None, *, found_at_s: float) -> tuple[CallEnded, RecordingReady | None]:
    last = call.decisions[-1] if call.decisions else None
    ended_s = facts.closed_at_s if facts is not None else found_at_s
    ended_s = max(ended_s, call.first_at_s)
    answered = facts is not None and facts.agent_speech_s > ANSWERED_SPEECH_S
    answered_by = None
    wait_s, talk_s = ended_s - call.first_at_s, 0.0
    if answered and facts is not None:
        if last is not None and last.action == CcAction.DIAL and len(last.targets) == 1:
            answered_by = last.targets[0]
        recording_started_s = facts.closed_at_s - facts.duration_s
        answer_s = max(call.first_at_s, recording_started_s + (facts.first_agent_speech_s or 0.0))
        wait_s, talk_s = answer_s - call.first_at_s, max(0.0, ended_s - answer_s)
        outcome = CallOutcome.ANSWERED
    elif last is not None and last.action == CcAction.HANGUP:
        outcome = CallOutcome.FAILED
    else:
        outcome = CallOutcome.MISSED
    dialled = tuple(dict.fromkeys(t for d in call.decisions if d.action == CcAction.DIAL for t in d.targets))
    ended = CallEnded(
        call_id=call.call_id,
        started_s=call.first_at_s,
        ended_s=ended_s,
        direction=CallDirection.INBOUND,
        outcome=outcome,
        caller=call.caller,
        caller_name=None,
        did=call.did,
        customer=call.caller,
        answered_by=answered_by,
        agents_rung=dialled,  # offered by our answers; whether each phone rang is not known
        agents_talked=(answered_by,) if answered_by else (),
        attempts=(),
        wait_s=round(max(0.0, wait_s), 3),
        talk_s=round(talk_s, 3),
        hangup_cause=None,
        hangup_cause_txt=None,
        hung_up_by=None,
        recordings=(facts.path,) if facts is not None else (),
        queue=last.queue if last is not None and last.action == CcAction.QUEUE else None,
        end_estimated=True,
    )
    recording = None
    if facts is not None:
        recording = RecordingReady(call_id=call.call_id, at_s=ended_s, path=facts.path, leg_paths=facts.leg_paths)
    return ended, recording
