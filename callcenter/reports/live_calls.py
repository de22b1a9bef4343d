"""A call that just ended, as the reports will read it back from the CRM (pure).

The wallboard keeps today's figures from the domain events instead of re-reading the day's calls after each one
(callcenter/wallboard/feed.py). For the page to agree with GET /api/v1/reports/team-figures, the CallFact it adds
must be the one ``store.inbound_calls`` will read once the CRM writer has stored the call: the same rounding of
waits and talk (crm_bridge writes them to 3 decimals), instants through the database's microseconds, the team of
the last routing decision that names one, else the DID's (``report.call_team``), the call's wrap-up so far.
Only the fields the team figures and the missed list use are filled; first-contact resolution is not shown live.
"""

from __future__ import annotations

from datetime import UTC, datetime

from callcenter.events import CallDirection, CallEnded
from callcenter.reports.figures import CallFact
from callcenter.reports.report import DidTeam

__all__ = ["live_call_fact"]


def _stored_instant(epoch_s: float) -> float:
    """An instant as it comes back from a timestamp column (microseconds)."""
    return datetime.fromtimestamp(epoch_s, tz=UTC).timestamp()


def live_call_fact(
    call: CallEnded, *, routed_team: str | None, did_team: DidTeam, wrapup_s: float | None = None
) -> CallFact | None:
    """``routed_team``: the team of the call's last routing decision that named one. None for a call that is not
    inbound (the team figures count inbound calls only)."""
    if call.direction is not CallDirection.INBOUND:
        return None
    return CallFact(
        call_id=call.call_id,
        team=routed_team or did_team(call.did),
        started_s=_stored_instant(call.started_s),
        ended_s=_stored_instant(call.ended_s),
        outcome=call.outcome.value,
        wait_s=round(call.wait_s, 3),
        talk_s=round(call.talk_s, 3),
        wrapup_s=wrapup_s,
        caller=(call.caller or None) and call.caller[:64],
        queue=call.queue[:64] if call.queue else None,
        approximate=bool(call.end_estimated),
        did=call.did and call.did[:64],
    )
