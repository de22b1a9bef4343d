"""The whole service (build_app) against the PBX simulator, over real sockets: a call with speech on both sides is
recorded by the simulator's MixMonitor, stored with its checksum, queued, transcribed by the worker with the bundled
model, and found per speaker through the HTTP API, on the call and on the customer's timeline."""

from __future__ import annotations

import asyncio
import hashlib
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from callcenter.ami import actions
from callcenter.app import build_app
from callcenter.app_keys import AGI, AMI, BUS
from callcenter.automation.facts import CallLogged
from callcenter.config import load_settings
from callcenter.outbox.pipeline import feeds_settled
from callcenter.pbxsim.callmodel import AgentPhone, Caller, PhoneAnswer
from callcenter.pbxsim.clock import VirtualClock
from callcenter.pbxsim.simulator import Simulator, SimulatorSettings
from callcenter.recording.http import RECORDINGS
from callcenter.recording.worker import run_worker
from crm_core.access import Principal
from crm_core.db import Database
from crm_core.models import Role
from crm_core.recording_models import JobStatus, Recording, RecordingStatus, TranscriptionJob
from crm_core.schemas import TokenIn, UserIn
from crm_core.users import create_token, create_user
from tests.recording.sound import clip, write_wav

WAIT_S = 30.0  # bound on each wait for the service; a healthy run needs well under a second per step
WORKER_S = 300.0  # bound on the worker's run (tiny.en on ~20 s of audio takes seconds)
CUSTOMER_NUMBER = "+12125550142"


async def _admin_headers(db: Database) -> dict[str, str]:
    async with db.session() as s:
        user = await create_user(s, Principal.system(), UserIn(name="Admin", role=Role.ADMIN))
        _, secret = await create_token(s, Principal.system(), TokenIn(user_id=user.id, name="e2e"))
    return {"Authorization": f"Bearer {secret}"}


def _said(turns: list[dict[str, Any]], speaker: str) -> str:
    return " ".join(t["text"] for t in turns if t["speaker"] == speaker).lower()


async def test_a_recorded_call_is_stored_transcribed_and_searchable(
    db: Database, db_url: str, tmp_path: Path, aiohttp_client, transcriber  # type: ignore[no-untyped-def]
) -> None:
    # The simulator's MixMonitor plays these as each side's first turn (8 kHz 16-bit, as it wants them).
    customer_speech = write_wav(tmp_path / "customer.wav", clip("customer_refund.wav"))
    agent_speech = write_wav(tmp_path / "agent.wav", clip("agent_refund.wav"))
    sim = Simulator(settings=SimulatorSettings(phones=(AgentPhone(extension="1002"),), monitor_dir=tmp_path / "spool"),
                    clock=VirtualClock(start_epoch_s=time.time()))
    await sim.start()
    spool = str(sim.pbx.config.monitor_dir)
    settings = load_settings(environ={
        "CALLCENTER_DATABASE__URL": db_url, "CALLCENTER_DATABASE__MIGRATE_ON_START": "false",
        "CALLCENTER_AMI__HOST": "127.0.0.1", "CALLCENTER_AMI__PORT": str(sim.ami_port),
        "CALLCENTER_AMI__SECRET": sim.settings.secret,
        "CALLCENTER_AGI__PORT": "0", "CALLCENTER_AGI__DEFAULT_QUEUE": "sales",
        "CALLCENTER_CRM__COMPANY_NUMBERS": "8001",
        "CALLCENTER_RECORDING__SPOOL_DIR": spool, "CALLCENTER_RECORDING__ASTERISK_SPOOL_DIR": spool,
        "CALLCENTER_RECORDING__STORE_DIR": str(tmp_path / "store"),
    })
    app = build_app(settings, database=db)
    logged: list[CallLogged] = []
    call_logged = asyncio.Event()
    app[BUS].subscribe(lambda fact: (logged.append(fact), call_logged.set()), event_type=CallLogged)
    try:
        client = await aiohttp_client(app)  # starts the service: AMI session, FastAGI, CRM writer, recordings
        headers = await _admin_headers(db)
        sim.set_agi_address("127.0.0.1", app[AGI].port)
        await app[AMI].wait_live(WAIT_S)
        await app[AMI].send(actions.queue_add(queue="sales", interface="PJSIP/1002", member_name="1002",
                                              state_interface="PJSIP/1002"))
        sim.pbx.phones["1002"].scripted.append(PhoneAnswer(action="answer", delay_s=2.0))
        sim.call(Caller(number=CUSTOMER_NUMBER, did="8001", talk_s=20.0, speech=customer_speech,
                        agent_speech=agent_speech))

        # The CRM writer logs the call (after its commit); the recording service has the RecordingReady of the
        # same call queued before that, and links the activity on the CallLogged: drained, both are done.
        await asyncio.wait_for(call_logged.wait(), WAIT_S)
        service = app[RECORDINGS]
        await asyncio.wait_for(feeds_settled(app), WAIT_S)  # the RecordingReady through the outbox
        await asyncio.wait_for(service.drain(), WAIT_S)
        (fact,) = logged
        call_id = fact.call_id

        async with db.session() as s:
            rows = {r.leg: r for r in await s.scalars(select(Recording).where(Recording.call_id == call_id))}
            jobs = list(await s.scalars(select(TranscriptionJob).where(TranscriptionJob.call_id == call_id)))
        assert set(rows) == {"mix", "rx", "tx"}
        for leg, row in rows.items():
            assert row.status is RecordingStatus.STORED, (leg, row.reason)
            source = Path(spool) / Path(row.source_path).name
            assert row.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()
            assert row.size_bytes == source.stat().st_size and row.duration_s and row.duration_s > 15
            assert row.activity_id == fact.activity_id
        assert [j.status for j in jobs] == [JobStatus.QUEUED]
        resp = await client.get(f"/api/v1/activities/{fact.activity_id}", headers=headers)
        assert (await resp.json())["recording_ref"] == f"/api/v1/calls/{call_id}/recordings"

        stats = await asyncio.wait_for(
            run_worker(db=db, storage=service.storage, transcriber=transcriber, settings=service.settings,
                       until_drained=True), WORKER_S)
        assert (stats.done, stats.failed, stats.dead) == (1, 0, 0)

        resp = await client.get("/api/v1/transcripts/search", params={"q": "refund"}, headers=headers)
        assert resp.status == 200
        hits = (await resp.json())["items"]
        assert [h["call_id"] for h in hits] == [call_id]

        resp = await client.get(f"/api/v1/calls/{call_id}", headers=headers)
        call = await resp.json()
        (transcript,) = call["transcripts"]
        turns = transcript["conversation"]
        customer, agent = _said(turns, "customer"), _said(turns, "agent")
        assert "printer" in customer and "refund" in customer, turns
        assert "sorry" in agent and "replacement" in agent, turns
        assert "refund" not in agent and "replacement" not in customer  # each side on its own channel
        assert turns[0]["speaker"] == "agent"  # the agent greets first (the simulator's turn order)
        activity = call["activity"]
        assert activity["recording_ref"] == f"/api/v1/calls/{call_id}/recordings"
        assert activity["transcript_ref"] == f"/api/v1/transcripts/{transcript['id']}"

        # The unknown number became a lead; its timeline shows the call with who said what.
        resp = await client.get("/api/v1/timeline", params={"phone": CUSTOMER_NUMBER}, headers=headers)
        assert resp.status == 200
        (item,) = [i for i in (await resp.json())["timeline"] if i["type"] == "activity"]
        shown = item["data"]["transcript"]
        assert shown["id"] == transcript["id"] and "printer" in _said(shown["turns"], "customer")
    finally:
        await sim.stop()
    assert sim.clock.errors == []
