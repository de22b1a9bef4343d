"""The AMI link dropped 100 times under traffic (issue 16's fault suite): a cuttable proxy stands between the service
and the simulator's AMI port and is cut and restored while calls run. Every cut ends the AMI session; the service
reconnects, resyncs, ends the calls that hung up while it was away and rebuilds those that began and ended in the gap
(callcenter/recovery). The CRM holds every call once and one lead per new number, and every missed number has its
one callback.

Known limit (reported, not fixed here): a call routed in one gap, adopted at the resync while it still rang, then
answered and ended in the next gap is closed by the tracker as not answered (nothing it saw says so) and its
number gets a callback an undisturbed run would not have; gap recovery's recording check does not cover calls the
tracker adopted. The test asserts that such calls are the only difference."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from callcenter.ami.connection import AmiState
from callcenter.app_keys import AMI, GAP_RECOVERY
from callcenter.events import CallEnded, CallOutcome
from callcenter.outbox.pipeline import crm_settled
from tests.faults.crm_check import crm_rows, finished_calls, missed_numbers
from tests.faults.proxy import CuttableProxy
from tests.floor import EXTENSIONS, running_floor

CUTS = 100
WAIT_S = 30.0
NEW_CALLERS = [f"+1312555{6000 + i:04d}" for i in range(10)]
# Reconnect at once and back off little: a hundred outages fit in the test's time (the backoff is tests/ami_conn's).
CONFIG = "[ami]\nreconnect_max_s = 0.1\n"


async def test_a_hundred_ami_drops_under_traffic_lose_and_double_no_call(tmp_path: Path) -> None:
    proxy: CuttableProxy | None = None

    async def through_proxy(sim_port: int) -> int:
        nonlocal proxy
        proxy = CuttableProxy(target_host="127.0.0.1", target_port=sim_port)
        await proxy.start()
        return proxy.port

    try:
        async with running_floor(tmp_path, CONFIG, ami_port=through_proxy) as floor:
            assert proxy is not None
            ami = floor.app[AMI]
            ami.reconnect_min_s = 0.02
            # Every routed call has a MixMonitor file; it is written as the call hangs up, so it is there at once.
            floor.app[GAP_RECOVERY].recording_grace_s = 1.0
            await floor.all_available()
            customers = [floor.customer_of(ext) for ext in EXTENSIONS]
            for cut in range(CUTS):
                # A call placed just before the cut: depending on how far it gets, AMI sees all, part or none of it.
                if cut % 3 == 0:
                    number, patience_s = customers[cut // 3 % len(customers)], 60.0
                else:  # new numbers; every other one gives up while it rings (a missed call)
                    number, patience_s = NEW_CALLERS[cut % len(NEW_CALLERS)], 0.3 if cut % 2 else 60.0
                await floor.call(number, talk_s=10.0, patience_s=patience_s)
                sessions = ami.stats.sessions
                proxy.cut()
                await ami.wait_until(lambda c: c.state is not AmiState.LIVE, WAIT_S)
                proxy.restore()
                await ami.wait_until(lambda c: c.stats.sessions > sessions and c.state is AmiState.LIVE, WAIT_S)

            # Every call the simulator placed has ended there, and the service ended each of them once.
            await floor.wait(lambda: len(finished_calls(floor)) == CUTS and not floor.sim.pbx.live_channels(),
                             "every call to end in the simulator", timeout_s=WAIT_S)
            records = finished_calls(floor)
            await floor.wait(lambda: {r.linkedid for r in records}
                             <= {e.call_id for e in floor.seen if isinstance(e, CallEnded)},
                             "the service to end every call", timeout_s=WAIT_S)
            assert await asyncio.wait_for(crm_settled(floor.app), WAIT_S)

            calls, leads, callbacks = await crm_rows(floor)
            assert Counter(calls) == Counter(r.linkedid for r in records)  # every call once, none lost, none twice
            assert Counter(leads) == Counter(set(NEW_CALLERS))  # one lead per new number
            missed = missed_numbers(floor)
            assert missed and missed <= set(callbacks) and len(callbacks) == len(set(callbacks))
            # The known limit (module docstring) is the only way the service's outcome differs from the simulator's.
            ended = {e.call_id: e for e in floor.seen if isinstance(e, CallEnded)}
            wrong = [ended[r.linkedid] for r in records
                     if (r.answered_by is not None) != (ended[r.linkedid].outcome is CallOutcome.ANSWERED)]
            assert all(e.end_estimated and e.outcome is not CallOutcome.ANSWERED for e in wrong), [
                (e.call_id, e.outcome, e.end_estimated) for e in wrong]
            assert set(callbacks) - missed <= {e.caller for e in wrong}
    finally:
        if proxy is not None:
            await proxy.close()
