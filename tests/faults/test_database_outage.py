"""PostgreSQL unavailable for 30 s under traffic (issue 16's fault suite): calls are still routed (the CRM lookup
fails open), what the call path learns waits in the outbox writer's memory, and when the database returns the backlog
drains: the CRM ends as an undisturbed run's, every call once, one lead per new number."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from callcenter.app_keys import DATABASE, OUTBOX
from callcenter.automation.facts import CallLogged
from callcenter.events import CallEnded, CallRouted
from callcenter.outbox.pipeline import crm_settled
from crm_core.models import Activity, Lead, Phone
from tests.faults.proxy import CuttableProxy
from tests.floor import EXTENSIONS, running_floor

OUTAGE_S = 30.0
WAIT_S = 60.0
NEW_CALLERS = [f"+1312555{8000 + i:04d}" for i in range(3)]
# What is tested is the database's absence, not FastAGI's own time budget on a loaded machine (it would answer the
# fallback queue itself, with no CallRouted to show).
CONFIG = "[agi]\ntime_budget_ms = 2000\n"


async def test_calls_are_routed_through_a_database_outage_and_the_backlog_drains(tmp_path: Path, empty_pg: str) -> None:
    host_port = empty_pg.split("@", 1)[1].split("/", 1)[0]
    proxy = CuttableProxy(target_host=host_port.split(":")[0], target_port=int(host_port.split(":")[1]))
    await proxy.start()
    url = empty_pg.replace(f"@{host_port}/", f"@127.0.0.1:{proxy.port}/")
    try:
        async with running_floor(tmp_path, CONFIG, database_url=url) as floor:
            await floor.all_available()
            before = [floor.customer_of(ext) for ext in EXTENSIONS[:2]]
            for number in before:
                await floor.call(number, talk_s=1.0)
            await floor.wait(lambda: len([e for e in floor.seen if isinstance(e, CallLogged)]) == len(before),
                             "the calls before the outage in the CRM", timeout_s=WAIT_S)

            proxy.cut()
            cut_at = time.monotonic()
            during = [floor.customer_of(ext) for ext in EXTENSIONS] + NEW_CALLERS
            for number in during:
                await floor.call(number, talk_s=1.0)
            ended = await floor.wait(
                lambda: (e := [x for x in floor.seen if isinstance(x, CallEnded)]) and len(e) == len(before) + len(during)
                and e, "every call to end", timeout_s=WAIT_S)
            routed = {e.call_id for e in floor.seen if isinstance(e, CallRouted)}
            assert {e.call_id for e in ended} <= routed  # FastAGI answered every call, database or not
            writer = floor.app[OUTBOX]
            assert writer.failures > 0 and len(writer.buffer) > 0 and proxy.refused > 0  # the outage was felt
            assert len([e for e in floor.seen if isinstance(e, CallLogged)]) == len(before)  # nothing written yet
            # The outage lasts its whole length (a fault's duration, not a wait for something to happen).
            await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - cut_at)))
            proxy.restore()

            assert await asyncio.wait_for(crm_settled(floor.app), WAIT_S)
            async with floor.app[DATABASE].session() as s:
                calls = list(await s.scalars(select(Activity.call_id).where(Activity.call_id.is_not(None))))
                leads = list(await s.scalars(select(Phone.e164).join(Lead, Phone.lead_id == Lead.id)))
            assert Counter(calls) == Counter(e.call_id for e in ended)  # every call once, none lost to the outage
            assert Counter(leads) == Counter(NEW_CALLERS)
            assert writer.dropped == 0
    finally:
        await proxy.close()
