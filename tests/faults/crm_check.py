"""The fault suite's end state: the CRM equals an undisturbed run's for the calls the simulator itself placed and
ended (its own record, not the service's view of them)."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from callcenter.app_keys import DATABASE
from callcenter.pbxsim.pbx import CallRecord
from crm_core.models import Activity, Lead, Phone, Task, TaskKind
from tests.floor import Floor


def finished_calls(floor: Floor) -> list[CallRecord]:
    return [r for r in floor.sim.pbx.calls.values() if r.ended_s is not None]


async def crm_rows(floor: Floor) -> tuple[list[str], list[str], list[str]]:
    """(activity call ids, lead numbers, callback numbers) in the CRM."""
    async with floor.app[DATABASE].session() as s:
        calls = list(await s.scalars(select(Activity.call_id).where(Activity.call_id.is_not(None))))
        leads = list(await s.scalars(select(Phone.e164).join(Lead, Phone.lead_id == Lead.id)))
        callbacks = list(await s.scalars(select(Task.callback_e164).where(Task.kind == TaskKind.CALLBACK)))
    return calls, leads, [c for c in callbacks if c is not None]


def missed_numbers(floor: Floor) -> set[str]:
    return {r.caller for r in finished_calls(floor) if r.answered_by is None and r.caller is not None}


async def assert_crm_matches_the_simulator(floor: Floor, new_numbers: set[str]) -> None:
    """Every call the simulator ended is one activity; one lead per new number that called; one callback per number
    with a call nobody answered."""
    records = finished_calls(floor)
    assert records and not floor.sim.pbx.live_channels()
    calls, leads, callbacks = await crm_rows(floor)
    assert Counter(calls) == Counter(r.linkedid for r in records)  # every call once, none lost, none twice
    assert Counter(leads) == Counter(new_numbers & {r.caller for r in records})  # one lead per new number
    assert Counter(callbacks) == Counter(missed_numbers(floor))  # one callback per missed number
