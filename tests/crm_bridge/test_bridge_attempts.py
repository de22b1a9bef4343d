"""Every agent a call was offered to is on the call's activity, with the result and ring time: the busy and the
unreachable ones too, not only the phones that rang (real captures through the tracker into the database)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from callcenter.events import CallEnded
from crm_core.db import Database
from crm_core.models import Activity
from tests.crm_bridge.test_bridge import add_agent, bridge, feed, replay


async def activity_meta(db: Database) -> dict:
    async with db.session() as s:
        [activity] = list(await s.scalars(select(Activity)))
    return activity.call_meta


@pytest.mark.parametrize(
    ("trace", "first", "result", "rang", "ring_s"),
    [
        ("inbound_busy", "1004", "BUSY", False, 0.0),  # 486 at once: the phone never rang
        ("inbound_target_unavailable", "1007", "CHANUNAVAIL", False, 0.0),  # no contact: no channel at all
        ("inbound_dial_noanswer_fallback", "1003", "NOANSWER", True, 8.0),  # Dial(...,8) rang out
        ("queue_ringnoanswer_then_answer", "1003", "NOANSWER", True, 8.0),  # queue timeout 8
    ],
)
async def test_each_attempt_with_result_and_ring_time_is_on_the_activity_once(
    db: Database, traces_dir: Path, trace: str, first: str, result: str, rang: bool, ring_s: float
) -> None:
    await add_agent(db, first)
    events = replay(traces_dir / f"{trace}.ami")
    b = bridge(db)
    await feed(b, events)
    await feed(b, events)  # a replay writes the same list, never a second copy
    meta = await activity_meta(db)
    attempts = meta["attempts"]
    assert [(a["agent"], a["result"], a["rang"]) for a in attempts] == [(first, result, rang), ("1002", "ANSWER", True)]
    assert attempts[0]["ring_s"] == pytest.approx(ring_s, abs=0.05)
    assert attempts[1]["ring_s"] == pytest.approx(2.0, abs=0.05)  # the answering phone rang 2 s in every capture
    assert meta["agent_user_ids"][first] is not None  # the agent tried is linked as a user even when never rung
    (call,) = [e for e in events if isinstance(e, CallEnded)]
    assert len(call.attempts) == 2
