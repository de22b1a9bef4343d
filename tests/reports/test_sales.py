"""Sales maths (pure), table by table: the funnel from aggregate rows, stuck thresholds, lead sources, manager
activity and lost reasons, with empty inputs and the edges of each definition."""

from __future__ import annotations

from decimal import Decimal

import pytest

from callcenter.reports.sales import (
    DAY_S,
    STUCK_MEDIAN_FACTOR,
    ActivityCount,
    DealCount,
    LeadGroup,
    Reach,
    Stage,
    StayStats,
    User,
    funnel,
    lead_sources,
    lost_reasons,
    manager_activity,
    split_reach,
    stuck_thresholds,
)

STAGES = [
    Stage(id=11, name="New", position=0, kind="open"),
    Stage(id=12, name="Offer", position=1, kind="open"),
    Stage(id=13, name="Won", position=2, kind="won"),
    Stage(id=14, name="Lost", position=3, kind="lost"),
]


def d(key: object, deals: int, amount: str, currency: str = "USD") -> DealCount:
    return DealCount(key=key, currency=currency, deals=deals, amount=Decimal(amount))


def test_an_empty_funnel_has_every_stage_and_no_made_up_shares() -> None:
    f = funnel(STAGES, furthest=[], entered=[], closed=[])
    assert [(s.name, s.reached_deals, s.reached_amount, s.to_next_pct, s.stays, s.median_in_stage_s) for s in f.stages] == [
        ("New", 0, {}, None, 0, None), ("Offer", 0, {}, None, 0, None), ("Won", 0, {}, None, 0, None),
        ("Lost", 0, {}, None, 0, None)]
    assert (f.deals, f.won_of_reached_pct, f.win_rate_pct) == (0, None, None)


def test_reached_accumulates_the_furthest_stage_per_currency() -> None:
    f = funnel(
        # given in stage order out of order, and a stage list out of position order: both sorted
        list(reversed(STAGES)),
        furthest=[d(2, 1, "10"), d(0, 3, "5"), d(1, 2, "7", "EUR"), d(2, 1, "4", "EUR")],
        entered=[d(11, 3, "5"), d(14, 1, "9")],
        closed=[d("won", 1, "10"), d("won", 1, "4", "EUR"), d("lost", 2, "1")],
        stays=[StayStats(stage_id=12, stays=2, mean_s=30.0, median_s=30.0)],
        stuck={11: 4},
    )
    rows = {s.name: s for s in f.stages}
    assert [s.name for s in f.stages] == ["New", "Offer", "Won", "Lost"]
    assert (rows["New"].reached_deals, rows["New"].reached_amount) == (
        7, {"USD": Decimal("15"), "EUR": Decimal("11")})
    assert (rows["Offer"].reached_deals, rows["Offer"].reached_amount) == (4, {"USD": Decimal("10"), "EUR": Decimal("11")})
    assert (rows["Won"].reached_deals, rows["Lost"].reached_deals) == (2, 1)  # lost: entered, not cumulative
    assert [rows[n].to_next_pct for n in ("New", "Offer", "Won", "Lost")] == [round(400 / 7, 1), 50.0, None, None]
    assert (rows["Offer"].stays, rows["Offer"].mean_in_stage_s, rows["New"].stuck_deals) == (2, 30.0, 4)
    assert (f.deals, f.won_deals, f.lost_deals) == (7, 2, 2)
    assert f.won_amount == {"USD": Decimal("10"), "EUR": Decimal("4")}
    assert (f.won_of_reached_pct, f.win_rate_pct) == (round(200 / 7, 1), 50.0)


def test_the_next_stage_skips_lost_stages_between() -> None:
    stages = [Stage(1, "A", 0, "open"), Stage(2, "Dead", 1, "lost"), Stage(3, "B", 2, "open"), Stage(4, "W", 3, "won")]
    f = funnel(stages, furthest=[d(0, 2, "0"), d(2, 2, "0")], entered=[], closed=[])
    assert [(s.name, s.reached_deals, s.to_next_pct) for s in f.stages] == [
        ("A", 4, 50.0), ("Dead", 0, None), ("B", 2, 0.0), ("W", 0, None)]


def test_stuck_thresholds() -> None:
    medians = {11: 100.0, 12: None, 13: 5.0}
    assert stuck_thresholds(STAGES, days=None, medians_s=medians) == {11: STUCK_MEDIAN_FACTOR * 100.0}
    assert stuck_thresholds(STAGES, days=3, medians_s=medians) == {11: 3 * DAY_S, 12: 3 * DAY_S}


def test_lead_sources_rows_and_totals() -> None:
    got = lead_sources(
        [
            LeadGroup("web", "form", 2, 1, 60.0),
            LeadGroup("phone", "+1555", 4, 1, 10.0),
            LeadGroup("phone", None, 2, 0, None),
        ],
        [d(("phone", "+1555"), 1, "30"), d(("web", "form"), 1, "5", "EUR"), d(("web", "form"), 1, "6")],
    )
    assert [(r.source, r.channel, r.converted_pct, r.won_deals, r.won_amount) for r in got.rows] == [
        ("phone", "+1555", 25.0, 1, {"USD": Decimal("30")}),
        ("phone", None, 0.0, 0, {}),
        ("web", "form", 50.0, 2, {"EUR": Decimal("5"), "USD": Decimal("6")}),
    ]
    assert (got.leads, got.converted, got.converted_pct, got.won_deals) == (8, 2, 25.0, 3)
    assert got.won_amount == {"USD": Decimal("36"), "EUR": Decimal("5")}
    empty = lead_sources([], [])
    assert (empty.rows, empty.leads, empty.converted_pct) == ([], 0, None)


def test_manager_activity() -> None:
    users = [User(1, "Zed", 7, True), User(2, "Amy", 7, True), User(3, "Gone", 7, False), User(4, "Left", None, False)]
    rows = manager_activity(
        users,
        [
            ActivityCount(1, "call", "inbound", 3, answered=2, talk_s=10.04),
            ActivityCount(1, "call", "outbound", 2, answered=1, talk_s=5.0),
            ActivityCount(1, "call", "internal", 9, answered=9, talk_s=900.0),
            ActivityCount(1, "task", None, 4),  # task log entries: tasks done come from the tasks
            ActivityCount(2, "email", None, 2),
            ActivityCount(3, "meeting", None, 1),
            ActivityCount(99, "note", None, 1),  # not in scope
        ],
        done={(1, "task"): 2, (1, "callback"): 1, (99, "task"): 5},
        won=[d(2, 1, "50"), d(2, 2, "70", "EUR")],
    )
    assert [r.name for r in rows] == ["Amy", "Gone", "Zed"]  # Left: deactivated and idle
    zed = rows[2]
    assert (zed.calls_inbound, zed.calls_inbound_answered, zed.calls_outbound, zed.calls_outbound_answered) == (3, 2, 2, 1)
    assert (zed.talk_s, zed.tasks_done, zed.callbacks_done) == (15.0, 2, 1)
    assert (rows[0].emails, rows[0].deals_won, rows[0].won_amount) == (2, 3, {"USD": Decimal("50"), "EUR": Decimal("70")})
    assert rows[1].meetings == 1


@pytest.mark.parametrize(
    ("counts", "want"),
    [
        ([], []),
        (
            [d(None, 2, "5"), d("price", 2, "10"), d("timing", 1, "1"), d("price", 1, "3", "EUR")],
            [("price", 3, 50.0), (None, 2, round(100 / 3, 1)), ("timing", 1, round(100 / 6, 1))],
        ),
        ([d(None, 1, "5"), d("b", 1, "1"), d("a", 1, "1")], [("a", 1, round(100 / 3, 1)), ("b", 1, round(100 / 3, 1)),
                                                             (None, 1, round(100 / 3, 1))]),
    ],
)
def test_lost_reasons(counts: list[DealCount], want: list[tuple[str | None, int, float]]) -> None:
    assert [(r.reason, r.deals, r.share_pct) for r in lost_reasons(counts)] == want


def test_split_reach_reads_positions_and_masks() -> None:
    rows = [
        Reach(furthest_position=2, entered_mask=0b0101, currency="USD", deals=3, amount=Decimal("30")),  # New, Won
        Reach(furthest_position=None, entered_mask=0b1000, currency="EUR", deals=1, amount=Decimal("4")),  # Lost only
        Reach(furthest_position=1, entered_mask=0b1010, currency="USD", deals=2, amount=Decimal("0")),  # Offer, Lost
    ]
    furthest, entered = split_reach(rows, STAGES)
    assert furthest == [d(2, 3, "30"), d(1, 2, "0")]
    assert entered == [d(11, 3, "30"), d(13, 3, "30"), d(14, 1, "4", "EUR"), d(12, 2, "0"), d(14, 2, "0")]
    f = funnel(STAGES, furthest=furthest, entered=entered, closed=[])
    assert [(s.name, s.reached_deals, s.entered_deals) for s in f.stages] == [
        ("New", 5, 3), ("Offer", 5, 2), ("Won", 3, 3), ("Lost", 3, 3)]
