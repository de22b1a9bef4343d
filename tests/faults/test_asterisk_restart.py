"""Asterisk restarted mid-call (issue 16's fault suite): the simulator restarts under calls that talk and calls that
wait in the queue. Asterisk hangs them all up with its process; the service ends each once (the Shutdown event, then
the resync after it logs in again), puts the queue members back (MembershipKeeper: Asterisk forgets dynamic
members), and the calls after the restart are answered again. The CRM ends as an undisturbed run's: every call once,
one lead per new number, one callback per missed number."""

from __future__ import annotations

import asyncio
from pathlib import Path

from callcenter.ami.connection import AmiState
from callcenter.app_keys import AMI, QUEUE_KEEPER
from callcenter.events import CallAnswered, CallEnded, CallOutcome
from callcenter.outbox.pipeline import crm_settled
from tests.faults.crm_check import assert_crm_matches_the_simulator, finished_calls
from tests.floor import EXTENSIONS, QUEUE, running_floor

WAIT_S = 30.0
NEW_BEFORE = [f"+1312555{5000 + i:04d}" for i in range(3)]
NEW_AFTER = [f"+1312555{5100 + i:04d}" for i in range(3)]


async def test_an_asterisk_restart_mid_call_ends_every_call_once(tmp_path: Path) -> None:
    async with running_floor(tmp_path) as floor:
        await floor.all_available()
        sim, ami, keeper = floor.sim, floor.app[AMI], floor.app[QUEUE_KEEPER]
        sim.clock.auto = False  # time stands still: the restart comes while the calls talk and wait
        customers = [floor.customer_of(ext) for ext in EXTENSIONS]
        # Three agents, six callers: three talk, three wait in the queue when Asterisk goes.
        for number in customers + NEW_BEFORE:
            await floor.call(number, talk_s=600.0, patience_s=600.0)
        while len([e for e in floor.seen if isinstance(e, CallAnswered)]) < len(EXTENSIONS):
            await sim.clock.advance(1.0)
            assert sim.clock.now_s() - sim.pbx.boot_s < 120, "the agents never answered"
        assert len(sim.pbx.live_channels()) > 2 * len(EXTENSIONS)

        sessions, resyncs = ami.stats.sessions, keeper.resyncs_done
        await sim.server.restart(down_s=0.2)
        first = [r.linkedid for r in finished_calls(floor)]
        assert len(first) == len(customers + NEW_BEFORE)  # Asterisk hung every call up with its process
        await floor.wait(lambda: set(first) <= {e.call_id for e in floor.seen if isinstance(e, CallEnded)},
                         "the service to end the calls Asterisk dropped", timeout_s=WAIT_S)
        await ami.wait_until(lambda c: c.stats.sessions > sessions and c.state is AmiState.LIVE, WAIT_S)
        await asyncio.wait_for(keeper.wait_resyncs(resyncs + 1), WAIT_S)
        assert set(sim.pbx.queues.queues[QUEUE].members) == {f"PJSIP/{ext}" for ext in EXTENSIONS}  # put back

        sim.clock.auto = True
        after = customers + NEW_AFTER
        for number in after:
            await floor.call(number, talk_s=5.0, patience_s=600.0)
        await floor.wait(lambda: len(finished_calls(floor)) == len(first) + len(after)
                         and not sim.pbx.live_channels(), "the calls after the restart to end", timeout_s=WAIT_S)
        ids = {r.linkedid for r in finished_calls(floor)}
        ended = await floor.wait(lambda: (e := {x.call_id: x for x in floor.seen if isinstance(x, CallEnded)})
                                 and ids <= set(e) and e, "the service to end every call", timeout_s=WAIT_S)
        assert all(ended[r.linkedid].outcome is CallOutcome.ANSWERED
                   for r in finished_calls(floor) if r.linkedid not in first)  # the queue works again
        # The callers waiting in the queue when Asterisk went are missed calls (their callback brings them back).
        waiting = [ended[r.linkedid].outcome for r in finished_calls(floor) if r.linkedid in first and not r.answered_by]
        assert waiting and set(waiting) == {CallOutcome.MISSED}
        assert await asyncio.wait_for(crm_settled(floor.app), WAIT_S)
        await assert_crm_matches_the_simulator(floor, set(NEW_BEFORE + NEW_AFTER))
