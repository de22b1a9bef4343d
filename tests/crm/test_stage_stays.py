"""Every write of a deal's stage keeps each change's ``left_at`` (when the deal left the stage it put it in) and the
deal's ``stage_entered_at`` true (crm_core.stage_stays): creating a deal, converting a lead into one, moving it on,
winning, losing and reopening it, history rows written, backdated or removed out of order; deals and history made
before the columns existed get them from migration 0015."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy import select

from crm_core import deals, records
from crm_core.access import Principal
from crm_core.db import Database, create_engine
from crm_core.migrate import downgrade, upgrade
from crm_core.models import Deal, DealStageChange, Lead, PipelineStage, Role, StageKind, User
from crm_core.schemas import DealIn, PipelineIn, StageIn

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


async def _admin_and_stages(db: Database) -> tuple[Principal, dict[str, int]]:
    async with db.session() as s:
        user = User(name="Ada", role=Role.ADMIN)
        s.add(user)
        await s.flush()
        admin = Principal(user_id=user.id, role=Role.ADMIN)
        pipeline = await deals.create_pipeline(s, admin, PipelineIn(name="Sales", is_default=True, stages=[
            StageIn(name="New"), StageIn(name="Offer"), StageIn(name="Won", kind=StageKind.WON),
            StageIn(name="Lost", kind=StageKind.LOST),
        ]))
        return admin, {stage.name: stage.id for stage in pipeline.stages}


async def _history(db: Database, deal_id: int) -> tuple[list[tuple[int, datetime, datetime | None]], datetime | None]:
    async with db.session() as s:
        rows = await s.scalars(select(DealStageChange).where(DealStageChange.deal_id == deal_id)
                               .order_by(DealStageChange.changed_at, DealStageChange.id))
        history = [(c.to_stage_id, c.changed_at, c.left_at) for c in rows]
        entered = await s.scalar(select(Deal.stage_entered_at).where(Deal.id == deal_id))
    return history, entered


def _chained(history: list[tuple[int, datetime, datetime | None]]) -> bool:
    """Each change left when the next one came; the last one is still open."""
    nexts = [at for _, at, _ in history[1:]] + [None]
    return [left for _, _, left in history] == nexts


async def test_create_move_win_reopen_and_lose(db: Database) -> None:
    admin, stage = await _admin_and_stages(db)
    async with db.session() as s:
        deal = await deals.create_deal(s, admin, DealIn(title="Fleet"))
        deal_id = deal.id
        assert deal.stage_entered_at is not None  # the loaded deal shows it at once
    history, entered = await _history(db, deal_id)
    assert [(to, left) for to, _, left in history] == [(stage["New"], None)] and entered == history[0][1]

    path = ["Offer", "Won", "Offer", "Lost", "New"]  # won and lost are stages too; reopened twice
    for name in path:
        async with db.session() as s:
            moved = await deals.move_stage(s, admin, deal_id, stage[name])
            shown = moved.stage_entered_at
        history, entered = await _history(db, deal_id)
        assert history[-1][0] == stage[name] and _chained(history)
        assert entered == history[-1][1] == shown
    # A move to the stage it is in writes no change and keeps its entry.
    async with db.session() as s:
        await deals.move_stage(s, admin, deal_id, stage["New"])
    assert await _history(db, deal_id) == (history, entered)


async def test_a_lead_converted_into_a_deal(db: Database) -> None:
    admin, stage = await _admin_and_stages(db)
    async with db.session() as s:
        lead = Lead(title="Inbound lead", source="phone")
        s.add(lead)
        await s.flush()
        converted = await records.convert_lead(s, admin, lead.id, create_contact=False, create_company=False,
                                               deal=DealIn(title="From the lead", stage_id=stage["Offer"]))
        deal_id = converted.converted_deal_id
    history, entered = await _history(db, deal_id)
    assert [(to, left) for to, _, left in history] == [(stage["Offer"], None)] and entered == history[0][1]


async def test_history_written_backdated_and_removed_out_of_order(db: Database) -> None:
    admin, stage = await _admin_and_stages(db)
    async with db.session() as s:  # a deal made without history (an import): in its stage since its creation
        pipeline_id = await s.scalar(select(PipelineStage.pipeline_id).where(PipelineStage.id == stage["New"]))
        deal = Deal(title="Imported", pipeline_id=pipeline_id, stage_id=stage["New"], created_at=T0)
        s.add(deal)
        await s.flush()
        deal_id = deal.id
    assert await _history(db, deal_id) == ([], T0)

    day = timedelta(days=1)
    async with db.session() as s:  # written in the order New (T0), Won (T0+3d), then Offer (T0+1d) in between
        for to, at in (("New", T0), ("Won", T0 + 3 * day), ("Offer", T0 + day)):
            s.add(DealStageChange(deal_id=deal_id, to_stage_id=stage[to], changed_at=at))
            await s.flush()
    history, entered = await _history(db, deal_id)
    assert [to for to, _, _ in history] == [stage["New"], stage["Offer"], stage["Won"]]
    assert _chained(history) and entered == T0 + 3 * day

    async with db.session() as s:  # the won change backdated before the offer: now the offer is the latest
        won = await s.scalar(select(DealStageChange).where(DealStageChange.deal_id == deal_id,
                                                           DealStageChange.to_stage_id == stage["Won"]))
        won.changed_at = T0 + day / 2
    history, entered = await _history(db, deal_id)
    assert [to for to, _, _ in history] == [stage["New"], stage["Won"], stage["Offer"]]
    assert _chained(history) and entered == T0 + day

    async with db.session() as s:  # the offer removed: the deal is back in the won stage since its change
        offer = await s.scalar(select(DealStageChange).where(DealStageChange.deal_id == deal_id,
                                                             DealStageChange.to_stage_id == stage["Offer"]))
        await s.delete(offer)
    history, entered = await _history(db, deal_id)
    assert [to for to, _, _ in history] == [stage["New"], stage["Won"]]
    assert _chained(history) and entered == T0 + day / 2

    async with db.session() as s:  # two changes at the same instant: ordered by id, the first left at once
        s.add_all([DealStageChange(deal_id=deal_id, to_stage_id=stage["Lost"], changed_at=T0 + 2 * day),
                   DealStageChange(deal_id=deal_id, to_stage_id=stage["New"], changed_at=T0 + 2 * day)])
    history, entered = await _history(db, deal_id)
    assert _chained(history) and history[-2][2] == history[-1][1] == T0 + 2 * day and entered == T0 + 2 * day


def test_deals_made_before_get_their_stays(db_url: str) -> None:
    downgrade(db_url, "0014")
    is_sqlite = db_url.startswith("sqlite")

    def ts(moment: datetime) -> object:
        return moment.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f") if is_sqlite else moment

    day = timedelta(days=1)

    async def insert_and_read() -> tuple[list[tuple], list[tuple]]:
        engine = create_engine(db_url)
        try:
            async with engine.begin() as conn:
                await conn.execute(sa.text("INSERT INTO pipelines (id, name, is_default, created_at)"
                                           " VALUES (1, 'Sales', true, :t)"), {"t": ts(T0)})
                await conn.execute(sa.text(
                    "INSERT INTO pipeline_stages (id, pipeline_id, name, position, kind) VALUES"
                    " (1, 1, 'New', 0, 'open'), (2, 1, 'Offer', 1, 'open'), (3, 1, 'Won', 2, 'won')"))
                for deal_id, stage_id in ((1, 3), (2, 2), (3, 1)):  # deal 3 has no history
                    await conn.execute(sa.text(
                        "INSERT INTO deals (id, title, pipeline_id, stage_id, status, currency, custom, created_at,"
                        " updated_at) VALUES (:id, 'd', 1, :st, :status, 'USD', '{}', :t, :t)"),
                        {"id": deal_id, "st": stage_id, "status": "won" if stage_id == 3 else "open", "t": ts(T0)})
                # Deal 1: New, then Won and Offer at the same instant (ordered by id: Won left at once).
                # Deal 2: New, then Offer.
                for change_id, deal_id, to, at in ((1, 1, 1, T0), (2, 1, 3, T0 + 2 * day), (3, 2, 1, T0 + day),
                                                   (4, 1, 2, T0 + 2 * day), (5, 2, 2, T0 + 4 * day)):
                    await conn.execute(sa.text(
                        "INSERT INTO deal_stage_history (id, deal_id, to_stage_id, changed_at)"
                        " VALUES (:id, :deal, :to, :at)"), {"id": change_id, "deal": deal_id, "to": to, "at": ts(at)})
            await asyncio.to_thread(upgrade, db_url)
            async with engine.connect() as conn:
                history = (await conn.execute(sa.text(
                    "SELECT id, left_at FROM deal_stage_history ORDER BY id"))).all()
                entered = (await conn.execute(sa.text("SELECT id, stage_entered_at FROM deals ORDER BY id"))).all()
                return [tuple(r) for r in history], [tuple(r) for r in entered]
        finally:
            await engine.dispose()

    history, entered = asyncio.run(insert_and_read())

    def when(value: object) -> datetime | None:  # SQLite returns text, PostgreSQL aware datetimes
        if value is None or isinstance(value, datetime):
            return value
        return datetime.fromisoformat(str(value)).replace(tzinfo=timezone.utc)

    assert [(i, when(v)) for i, v in history] == [
        (1, T0 + 2 * day), (2, T0 + 2 * day), (3, T0 + 4 * day), (4, None), (5, None),
    ]
    assert [(i, when(v)) for i, v in entered] == [(1, T0 + 2 * day), (2, T0 + 4 * day), (3, T0)]
