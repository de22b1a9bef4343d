"""Replaying a trace with a disconnect in the middle writes the same activities as the uninterrupted run."""

from __future__ import annotations

import random
from pathlib import Path

from sqlalchemy import select

from callcenter.crm_bridge import BridgeRules, CrmBridge
from crm_core.db import Database
from crm_core.models import Activity, Lead
from crm_core.records import PhoneRules
from tests.calls.replaying import event_frames, linkedids_of, run
from tests.calls.test_resync import cut_run


async def _write(db: Database, events: list[object]) -> dict[str, tuple[str | None, str | None]]:
    bridge = CrmBridge(db=db, phone_rules=PhoneRules(region="US"), rules=BridgeRules())
    for event in events:
        await bridge.handle(event)
    async with db.session() as s:
        rows = list(await s.scalars(select(Activity)))
        leads = list(await s.scalars(select(Lead)))
    assert len(leads) == len({r.from_e164 for r in rows if r.from_e164})
    return {r.call_id: (r.result, r.call_meta.get("answered_by")) for r in rows if r.call_id}


async def test_disconnect_mid_stream_gives_the_same_activities(db: Database, traces_dir: Path) -> None:
    path = traces_dir / "concurrent_calls_5.ami"
    frames = event_frames(path)
    _, full_events = run(path)
    rng = random.Random(5)
    i = rng.randrange(len(frames) // 4, len(frames) // 2)
    k = i + rng.randrange(1, 40)
    cut_events, _ = cut_run(frames, i, k)
    got = await _write(db, cut_events)
    # The uninterrupted run over the same database must neither add nor duplicate anything.
    expected = await _write(db, full_events)
    assert set(got) == set(expected) and len(got) == 5
    untouched = set(expected) - set().union(*(linkedids_of(h) for h in frames[i:k]))
    for call_id in untouched:
        assert got[call_id] == expected[call_id]
