"""The transcription worker's metrics: each take's real-time factor and each finished job, served by its own
loopback listener (the worker has no API)."""

from __future__ import annotations

import aiohttp

from callcenter.metrics import WorkerMetrics, serve_worker_metrics
from callcenter.recording.worker import run_worker
from crm_core.db import Database
from tests.prom import Scrape
from tests.recording.test_ingest import add_activity, ready
from tests.recording.test_worker import Flaky


async def test_a_transcribed_take_is_timed_against_its_audio(db: Database, make_service, rx_tx_call) -> None:  # type: ignore[no-untyped-def]
    call_id, path, legs = rx_tx_call
    await add_activity(db, call_id)
    service = make_service()
    await service.ingest(ready(call_id, path, legs))
    metrics = WorkerMetrics()
    done: list[dict] = []
    listener = serve_worker_metrics(metrics, host="127.0.0.1", port=0)
    try:
        stats = await run_worker(db=db, storage=service.storage, transcriber=Flaky(failures=0),
                                 settings=service.settings, until_drained=True, metrics=metrics,
                                 on_event=lambda name, data: done.append(data) if name == "done" else None)
        async with aiohttp.ClientSession() as http:
            async with http.get(f"http://127.0.0.1:{listener.server_port}/metrics") as resp:
                assert resp.status == 200
                scrape = Scrape(await resp.text())
    finally:
        listener.shutdown()
        listener.server_close()
    assert stats.done == 1 and len(done) == 1
    assert scrape.value("callcenter_transcription_jobs_finished_total", result="done") == 1
    assert scrape.value("callcenter_transcription_realtime_factor_count") == 1
    audio_s = scrape.value("callcenter_transcription_audio_seconds_total")
    processing_s = scrape.value("callcenter_transcription_processing_seconds_total")
    assert audio_s > 4  # the captured call's longer leg
    assert processing_s > 0
    assert abs(scrape.value("callcenter_transcription_realtime_factor_sum") - processing_s / audio_s) < 1e-9
