"""A campaign's states and the manager actions between them (pure): every (state, action) pair, allowed or not."""

from __future__ import annotations

import pytest

from callcenter.dialer.lifecycle import EDITABLE, FINAL, Action, NotAllowed, allowed_actions, apply
from callcenter.dialer.outcomes import CampaignState as S

ALLOWED = {
    (S.DRAFT, Action.START): S.RUNNING,
    (S.DRAFT, Action.STOP): S.STOPPED,
    (S.RUNNING, Action.PAUSE): S.PAUSED,
    (S.RUNNING, Action.STOP): S.STOPPED,
    (S.PAUSED, Action.RESUME): S.RUNNING,
    (S.PAUSED, Action.STOP): S.STOPPED,
}


@pytest.mark.parametrize("state", list(S))
@pytest.mark.parametrize("action", list(Action))
def test_every_pair(state: S, action: Action) -> None:
    if (state, action) in ALLOWED:
        assert apply(state, action) is ALLOWED[(state, action)]
        assert action in allowed_actions(state)
        return
    with pytest.raises(NotAllowed) as caught:
        apply(state, action)
    message = caught.value.message
    assert f"cannot {action.value} a campaign that is {state.value}" in message
    assert action not in allowed_actions(state)
    if state in FINAL:
        assert "is final" in message
    else:
        assert "allowed now: " + ", ".join(a.value for a in allowed_actions(state)) in message


def test_final_states_allow_nothing_and_only_draft_or_paused_are_edited() -> None:
    assert FINAL == {S.STOPPED, S.FINISHED}
    assert all(allowed_actions(s) == () for s in FINAL)
    assert EDITABLE == {S.DRAFT, S.PAUSED}
    # A repeated click is refused, not turned into another action: start twice, resume twice.
    with pytest.raises(NotAllowed):
        apply(apply(S.DRAFT, Action.START), Action.START)
    with pytest.raises(NotAllowed):
        apply(apply(S.PAUSED, Action.RESUME), Action.RESUME)
