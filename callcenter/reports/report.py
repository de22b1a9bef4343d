"""Per-team reports (pure): which team a call belongs to, figures per team, and their one wire shape.

The reports API and the wallboard both send ``figures_json``: the page can only show what the API would answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from callcenter.reports.figures import CallbackFact, CallFact, Figures, ServiceLevelRule, compute_figures
from callcenter.reports.period import Period
from callcenter.routing.rules import RoutingRules
from crm_core.call_facts import routed_team

__all__ = ["ALL_TEAMS", "call_team", "did_team_of", "figures_by_team", "figures_json"]

ALL_TEAMS = None  # the key of the figures over every team (admins' "all")

# DID -> the routing team that serves it (RoutingRules.route_for), for calls no routing decision names a team for.
DidTeam = Callable[[str | None], str | None]


def did_team_of(rules: RoutingRules) -> DidTeam:
    return lambda did: rules.route_for(did or "")[0].name


def call_team(decisions: Sequence[Mapping[str, Any]] | None, did: str | None, did_team: DidTeam) -> str | None:
    """A call belongs to the team its last routing decision chose; without one, to the team serving its DID."""
    return routed_team(decisions) or did_team(did)


def figures_by_team(
    calls: Sequence[CallFact],
    callbacks: Sequence[CallbackFact],
    *,
    periods: Mapping[str | None, Period],
    now_s: float,
    rule: ServiceLevelRule,
) -> dict[str | None, Figures]:
    """Figures for each requested team (``ALL_TEAMS``: every call and callback) over that team's own period."""
    out: dict[str | None, Figures] = {}
    for team, period in periods.items():
        mine = calls if team is ALL_TEAMS else [c for c in calls if c.team == team]
        theirs = callbacks if team is ALL_TEAMS else [cb for cb in callbacks if cb.team == team]
        out[team] = compute_figures(mine, theirs, from_s=period.from_s, to_s=period.to_s, now_s=now_s, rule=rule)
    return out


def figures_json(team: str | None, period: Period, figures: Figures) -> dict[str, Any]:
    return {
        "team": team,
        "timezone": period.zone.key,
        "from_iso": period.iso(figures.from_s),
        "to_iso": period.iso(figures.to_s),
        **asdict(figures),
        "series": [asdict(slot) for slot in figures.series],  # a JSON list, equal to what a client decodes
    }
