"""A campaign's life (pure): which manager action is allowed in which state, and what state it leads to.

    draft --start--> running --pause--> paused --resume--> running
    draft | running | paused --stop--> stopped        (final: a stopped campaign is not resumed; copy it instead)
    running --(the list is done: the dialer, not a manager)--> finished   (final)

``start`` is only from a draft and ``resume`` only from paused, so a request repeated by a client (a double click, a
retry after a lost answer) is refused with the state it found instead of silently doing something else. What must also
hold to start or resume (the report matches something, an agent of the team is logged in) is the caller's to check:
this module knows states, not the database or the phones.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from callcenter.dialer.outcomes import CampaignState

__all__ = ["Action", "FINAL", "NotAllowed", "allowed_actions", "apply", "EDITABLE"]


class Action(enum.StrEnum):
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"


_NEXT: dict[tuple[CampaignState, Action], CampaignState] = {
    (CampaignState.DRAFT, Action.START): CampaignState.RUNNING,
    (CampaignState.RUNNING, Action.PAUSE): CampaignState.PAUSED,
    (CampaignState.PAUSED, Action.RESUME): CampaignState.RUNNING,
    (CampaignState.DRAFT, Action.STOP): CampaignState.STOPPED,
    (CampaignState.RUNNING, Action.STOP): CampaignState.STOPPED,
    (CampaignState.PAUSED, Action.STOP): CampaignState.STOPPED,
}
FINAL = frozenset({CampaignState.STOPPED, CampaignState.FINISHED})
# A definition may change only while nothing is being dialled from it (a running campaign is paused first).
EDITABLE = frozenset({CampaignState.DRAFT, CampaignState.PAUSED})


@dataclass(frozen=True, slots=True)
class NotAllowed(Exception):
    """``action`` is not allowed in ``state``; ``message`` says so and what is allowed instead."""

    state: CampaignState
    action: Action

    @property
    def message(self) -> str:
        allowed = allowed_actions(self.state)
        if self.state in FINAL:
            hint = f"a {self.state.value} campaign is final"
        else:
            hint = "allowed now: " + ", ".join(a.value for a in allowed)
        return f"cannot {self.action.value} a campaign that is {self.state.value} ({hint})"

    def __str__(self) -> str:
        return self.message


def allowed_actions(state: CampaignState) -> tuple[Action, ...]:
    return tuple(action for action in Action if (state, action) in _NEXT)


def apply(state: CampaignState, action: Action) -> CampaignState:
    """The state after ``action``, or NotAllowed."""
    try:
        return _NEXT[(state, action)]
    except KeyError:
        raise NotAllowed(state, action) from None
