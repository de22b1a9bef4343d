"""`callcenter demo` (callcenter.demo): the whole service against the simulator with the sample CRM, its floor sizing,
its data folder, the links and token it prints."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

from aiohttp import ClientSession

from callcenter.demo.run import run_demo
from tests.conftest import free_port

WAIT_S = 15.0



async def test_demo_runs_the_service_with_a_sample_crm(tmp_path: Path) -> None:
    out = io.StringIO()
    summary = await run_demo(duration_s=60.0, seed=3, data_dir=tmp_path, http_port=free_port(), out=out, speed=50.0,
                             max_calls=6)
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("demo: service on http://127.0.0.1:")
    # The newcomer gets both pages, each with a token of its own (an admin's, the first agent's).
    (wallboard,) = [line for line in lines if line.startswith("demo: wallboard http://")]
    (agent,) = [line for line in lines if line.startswith("demo: agent view of 1002 http://")]
    assert wallboard.split("login=")[1] != agent.split("login=")[1]
    assert json.loads(lines[-1]) == summary
    assert summary["calls_offered"] == 6 == summary["calls_ended"]
    assert summary["calls_answered"] + summary["calls_missed"] + summary["calls_abandoned"] + summary["calls_failed"] == 6
    assert summary["calls_answered"] >= 1
    assert summary["recordings_written"] == 3 * 6  # mix + rx + tx per call
    assert len(list((tmp_path / "recordings").glob("*.wav"))) == 18
    # Issue 7: every file stored; each call's recording transcribed (or, on a slow machine, still queued at the end)
    assert summary["recordings"] == 18
    assert summary["transcripts"] + summary["transcripts_pending"] == 6 and summary["transcripts"] >= 1
    assert (tmp_path / "callcenter.sqlite3").exists()


async def test_demo_floor_routes_from_the_first_call_and_shows_dnd_as_paused(tmp_path: Path) -> None:
    """Issue 13: routing knew no agent for the demo's first minute (every call `no-agent->queue`), and the agent on
    do-not-disturb showed Available. The opening calls meet a staffed floor: none of them goes to the queue."""
    from callcenter.pbxsim.floor import DND_AGENT

    out, err = io.StringIO(), io.StringIO()
    summary = await run_demo(duration_s=60.0, seed=3, data_dir=tmp_path, http_port=free_port(), out=out, err=err,
                             speed=50.0, max_calls=5)
    assert summary["calls_ended"] == 5
    assert summary["routed_pct"]["queue"] == 0, summary["routed_pct"]
    assert summary["routed_pct"]["owner"] + summary["routed_pct"]["least-loaded"] > 0
    assert summary["agents_paused"] == {DND_AGENT: "do not disturb"}
    assert "demo: database " in out.getvalue() and "`callcenter serve` uses database.url" in out.getvalue()


async def test_demo_duration_is_honoured_and_the_wind_down_is_bounded_and_said(tmp_path: Path) -> None:
    """Issue 13: `--duration 30` ran 130 s. At the deadline no call is placed any more; the calls in progress get
    the grace, then are hung up, and stderr says what is winding down."""
    out, err = io.StringIO(), io.StringIO()
    summary = await run_demo(duration_s=1.0, seed=3, data_dir=tmp_path, http_port=free_port(), out=out, err=err,
                             speed=10.0, talk_s=(3000.0, 3000.0), wind_down_s=0.5, transcribe_grace_s=0.5)
    lines = err.getvalue().splitlines()
    (winding,) = [line for line in lines if line.startswith("demo: winding down: ")]
    in_progress = int(winding.split()[3])
    assert in_progress >= 1 and "transcriptions left" in winding
    assert f"demo: hanging up {in_progress} calls still in progress" in lines
    assert summary["calls_cut_short"] == in_progress
    assert summary["calls_ended"] == summary["calls_offered"]
    # the old wind-down waited up to 300 simulated seconds for calls to end by themselves
    assert summary["simulated_s"] < 300


def test_each_demo_run_gets_a_fresh_folder_and_never_wipes_a_foreign_one(tmp_path: Path) -> None:
    from callcenter.demo.run import DemoError, fresh_data_dir

    demo = fresh_data_dir(tmp_path / "demo")
    (demo / "recordings").mkdir()
    (demo / "recordings" / "old.wav").write_bytes(b"x" * 1000)  # last run's files
    assert list(fresh_data_dir(tmp_path / "demo").iterdir()) == [demo / ".callcenter-demo"]
    older = tmp_path / "older"  # a demo folder from before the marker
    (older / "recordings").mkdir(parents=True)
    (older / "callcenter.sqlite3").write_bytes(b"")
    assert list(fresh_data_dir(older).iterdir()) == [older / ".callcenter-demo"]
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    try:
        fresh_data_dir(foreign)
    except DemoError as exc:
        assert "--data-dir" in str(exc)
    else:
        raise AssertionError("a folder the demo did not make was replaced")
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_route_reasons_fall_into_four_kinds() -> None:
    from callcenter.demo.run import route_kind

    cases = {"owner": "owner", "last-agent": "owner", "owner-busy->teammate": "teammate",
             "owner-paused->teammate": "teammate", "least-loaded": "least-loaded",
             "owner-busy->least-loaded": "least-loaded", "no-agent->queue": "queue", "owner-busy->queue": "queue",
             "after-hours": "queue"}
    assert {reason: route_kind(reason) for reason in cases} == cases


async def test_the_sample_crm_and_the_demo_admin_are_made_once_per_database(db: object) -> None:
    """Issue 13: a second demo on the same data logged an IntegrityError and added another Demo Admin."""
    from sqlalchemy import func, select

    from callcenter.demo.run import _demo_token
    from callcenter.demo.crm_seed import seed_crm
    from crm_core.models import Team, User

    first = await seed_crm(db, extensions=["1002", "1003", "1004"], seed=1)  # type: ignore[arg-type]
    again = await seed_crm(db, extensions=["1002", "1003", "1004"], seed=1)  # type: ignore[arg-type]
    assert again == first and len(first.customers) == 8 and set(first.customers.values()) == {"1002", "1003", "1004"}
    tokens = {(await _demo_token(db))[1], (await _demo_token(db))[1]}
    assert len(tokens) == 2  # a token per run, one admin behind them
    async with db.session() as s:  # type: ignore[attr-defined]
        assert await s.scalar(select(func.count(Team.id))) == 1
        assert await s.scalar(select(func.count(User.id)).where(User.name == "Demo Admin")) == 1


def test_erlang_c_sizes_the_demo_floor_at_a_realistic_occupancy() -> None:
    from callcenter.demo import run as demo
    from callcenter.pbxsim.floor import working_agents
    from callcenter.pbxsim.traffic import arrival_rate, erlang_c, service_level

    assert round(erlang_c(2, 1.0), 4) == 0.3333  # textbook: 2 agents, 1 erlang
    assert erlang_c(3, 3.0) == 1.0 and erlang_c(3, 0.0) == 0.0
    assert arrival_rate(agents=5, occupancy=0.8, handle_s=60.0) == 4.0 / 60.0
    agents = len(working_agents())
    load = demo.default_rate_per_s() * demo.HANDLE_S
    assert 0.75 <= load / agents <= 0.85  # the old demo offered 10.6 erlangs to 4 agents
    assert service_level(agents, load, handle_s=demo.HANDLE_S, threshold_s=20.0) > 0.5


class _Lines(io.StringIO):
    """The demo's stdout; ``ready`` is set once the last of its sign-in lines is out."""

    def __init__(self) -> None:
        super().__init__()
        self.ready = asyncio.Event()

    def write(self, text: str) -> int:
        if "demo: API token for curl" in text:
            self.ready.set()
        return super().write(text)


async def test_the_printed_links_and_token_work_against_the_running_demo(tmp_path: Path) -> None:
    """Issue 13: the demo's token did not work where a newcomer used it. What the demo prints signs in to it."""
    port = free_port()
    out = _Lines()
    demo = asyncio.create_task(run_demo(duration_s=None, seed=3, data_dir=tmp_path, http_port=port, out=out,
                                        err=io.StringIO(), speed=50.0, max_calls=1))
    try:
        await asyncio.wait_for(out.ready.wait(), WAIT_S * 4)
        lines = out.getvalue().splitlines()
        (wallboard,) = [line.split()[-1] for line in lines if line.startswith("demo: wallboard ")]
        (agent,) = [line.split()[-1] for line in lines if line.startswith("demo: agent view of 1002 ")]
        (reports,) = [line.split()[-1] for line in lines if line.startswith("demo: reports ")]
        (campaigns,) = [line.split()[-1] for line in lines if line.startswith("demo: campaigns ")]
        (token,) = [line.split()[-1] for line in lines if line.startswith("demo: API token for curl")]
        async with ClientSession(f"http://127.0.0.1:{port}") as http:
            async with http.get("/api/v1/wallboard/me", headers={"Authorization": f"Bearer {token}"}) as resp:
                assert resp.status == 200 and (await resp.json())["role"] == "admin"
            for link, role in ((wallboard, "admin"), (agent, "agent"), (reports, "admin"), (campaigns, "admin")):
                assert link.startswith(f"http://127.0.0.1:{port}/")
                async with http.get(link) as resp:
                    assert resp.status == 200  # the page itself
                code = link.split("login=")[1]
                async with http.post("/api/v1/auth/login", json={"code": code}) as resp:
                    assert resp.status == 201, await resp.text()
                    assert (await resp.json())["role"] == role
        summary = await asyncio.wait_for(demo, WAIT_S * 4)
        assert summary["calls_ended"] == 1
    finally:
        demo.cancel()
        await asyncio.gather(demo, return_exceptions=True)
