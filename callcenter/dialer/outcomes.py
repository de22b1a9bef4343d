"""The names the dialer's parts share (pure): campaign modes and what a dial attempt can end with.

One definition for the pacing, the compliance rules, the campaign store and the simulator, so an outcome means the
same thing in the law's counts (abandoned over live-answered), the retry rules and the CRM activity.
"""

from __future__ import annotations

import enum

__all__ = ["AttemptOutcome", "CampaignMode", "CampaignState", "LIVE_ANSWERED", "RETRYABLE"]


class CampaignMode(enum.StrEnum):
    PREVIEW = "preview"  # the agent sees the card and clicks to dial
    PROGRESSIVE = "progressive"  # one call per free agent
    PREDICTIVE = "predictive"  # paced ahead of free agents (callcenter.dialer.pacing)


class CampaignState(enum.StrEnum):
    DRAFT = "draft"
    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"  # by a manager; a stopped campaign is not resumed
    FINISHED = "finished"  # the list is done (every number dialled to its end or refused)


class AttemptOutcome(enum.StrEnum):
    CONNECTED = "connected"  # answered live and given to an agent
    ABANDONED = "abandoned"  # answered live, no agent within the limit: the information message was played
    MACHINE = "machine"  # answering machine (AMD) and no message left / campaign rule
    NO_ANSWER = "no_answer"  # rang for the campaign's ring time, nobody answered
    BUSY = "busy"
    FAILED = "failed"  # congestion, unreachable, Originate refused, channel unavailable
    CALLEE_HANGUP = "callee_hangup"  # answered, hung up before an agent could take it (within the limit)


# Answered by a person: the denominator of the abandon rate (with AMD false positives estimated by the law's rule).
LIVE_ANSWERED = frozenset({AttemptOutcome.CONNECTED, AttemptOutcome.ABANDONED, AttemptOutcome.CALLEE_HANGUP})
# Outcomes a retry rule may dial again (per campaign: delay and maximum attempts per outcome).
RETRYABLE = frozenset({AttemptOutcome.NO_ANSWER, AttemptOutcome.BUSY, AttemptOutcome.FAILED, AttemptOutcome.MACHINE})
