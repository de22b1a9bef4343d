"""`callcenter demo`: the whole system on this machine. The simulator on a free port, the whole app (build_app)
pointed at it with SQLite in ``data_dir``, a sample CRM (callcenter.demo.crm_seed), realistic traffic (known customers
and new numbers, misses, abandons) on the sample floor (callcenter.pbxsim.floor), progress lines, one JSON summary at
the end (duration reached or cancelled).

The demo lives outside callcenter.pbxsim so that the simulator speaks AMI and FastAGI only and knows nothing of our CRM
or service; this package is where the two meet.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any, TextIO

from aiohttp import web
from sqlalchemy import func, select

from callcenter.ami import actions
from callcenter.api.auth_routes import login_urls
from callcenter.app import build_app
from callcenter.app_keys import AGI, AMI, BUS, DATABASE, LIVE, ROUTING
from callcenter.outbox.pipeline import crm_settled
from callcenter.config import load_settings
from callcenter.demo import crm_seed
from callcenter.events import AgentState, CallEnded, CallRouted
from callcenter.pbxsim.clock import RealtimeClock
from callcenter.pbxsim.floor import AGENTS, DIDS, DND_AGENT, QUEUE, RING_S, phones, working_agents
from callcenter.pbxsim.recordings import voice_pairs
from callcenter.pbxsim.simulator import Simulator, SimulatorSettings
from callcenter.pbxsim.traffic import CallerMix, ScriptedCall, Traffic, arrival_rate
from callcenter.recording.http import RECORDINGS
from callcenter.recording.transcriber import WhisperTranscriber
from callcenter.recording.worker import run_worker
from callcenter.waiting import wait_set
from crm_core.access import Principal
from crm_core.models import Activity, Lead, Role, Task, TaskKind, User
from crm_core.recording_models import JobStatus, Recording, RecordingStatus, Transcript, TranscriptionJob
from crm_core.schemas import TokenIn, UserIn
from crm_core.users import LOGIN_CODE, create_token, create_user, issue_ticket

__all__ = ["DemoError", "run_demo"]

PROGRESS_EVERY_S = 5.0
# The floor (simulated seconds). The arrival rate comes from these through Erlang's load: agents x occupancy erlangs
# over the handle time (talk + the ring an agent is tied up by), so the demo shows a staffed floor, not a flood.
OCCUPANCY = 0.75  # the kind end of a realistic 75-85%: with 6 agents Erlang C gives ~74% answered within 20 s
TALK_S = (30.0, 90.0)
HANDLE_S = sum(TALK_S) / 2 + sum(RING_S) / 2
PATIENCE_S = (20.0, 150.0)
KNOWN_SHARE = 0.4  # calls from the sample CRM's customers: they reach their managers
RETURNING_SHARE = 0.2  # of the other calls: a new number calling again (the agent who took it last time)
# At the duration the demo stops placing calls and gives the calls in progress this long (wall seconds) to end;
# what still talks then is hung up. The transcription worker gets as long for what the last calls left.
WIND_DOWN_S = 5.0
TRANSCRIBE_GRACE_S = 10.0
MARKER = ".callcenter-demo"  # the demo's own data folder: only such a folder is replaced at the next run
# what a demo folder holds (one from before the marker is recognised by it)
DEMO_FILES = frozenset({MARKER, "callcenter.sqlite3", "callcenter.sqlite3-wal", "callcenter.sqlite3-shm",
                        "callcenter.sqlite3-journal", "recordings", "store"})


class DemoError(Exception):
    """The demo cannot start (its data folder is not its own); the message says what to do."""


def default_rate_per_s() -> float:
    """Calls per simulated second that keep the working agents at ``OCCUPANCY``."""
    return arrival_rate(agents=len(working_agents()), occupancy=OCCUPANCY, handle_s=HANDLE_S)


def _print(out: TextIO, line: str) -> None:
    out.write(line + "\n")
    out.flush()


def fresh_data_dir(data_dir: Path) -> Path:
    """A new, empty demo folder in place of the last run's (so ``var/`` does not grow run after run). A folder with
    files the demo did not make is left alone: the demo stops and says so."""
    data_dir = data_dir.resolve()
    if data_dir.exists():
        if not (data_dir / MARKER).exists() and not all(p.name in DEMO_FILES for p in data_dir.iterdir()):
            raise DemoError(f"{data_dir} is not empty and not a demo folder; pass --data-dir DIR (a new or demo folder)")
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    (data_dir / MARKER).write_text("made by `callcenter demo`; replaced by the next demo run\n")
    return data_dir


def route_kind(reason: str) -> str:
    """A routing reason code in one of four words: owner (or last agent), teammate, least-loaded (the team's
    strategy), queue (nobody free; voicemail and the like count as queue too)."""
    if reason in ("owner", "last-agent"):
        return "owner"
    tail = reason.rsplit("->", 1)[-1]
    if tail == "teammate":
        return "teammate"
    if tail in ("queue", "voicemail", "callback", "hangup") or reason in ("after-hours", "holiday"):
        return "queue"
    return "least-loaded"


async def run_demo(
    *,
    duration_s: float | None,
    seed: int,
    data_dir: Path,
    http_port: int,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    speed: float = 1.0,
    rate_per_s: float | None = None,
    max_calls: int | None = None,
    talk_s: tuple[float, float] = TALK_S,
    wind_down_s: float = WIND_DOWN_S,
    transcribe_grace_s: float = TRANSCRIBE_GRACE_S,
) -> dict[str, Any]:
    """Run the whole service against the simulator until ``duration_s`` (wall seconds; None = until cancelled) or,
    with ``max_calls``, until that many calls were placed and have ended.

    ``speed`` runs simulated time faster than the wall clock (call timestamps say what the calls would have taken;
    the wallboard's clocks then run behind the calls'); ``rate_per_s`` is in simulated time (None: the rate that
    keeps the agents at ``OCCUPANCY``). ``data_dir`` is replaced by a fresh one (see ``fresh_data_dir``).
    """
    data_dir = fresh_data_dir(data_dir)
    rate = default_rate_per_s() if rate_per_s is None else rate_per_s
    started = time.monotonic()
    clock = RealtimeClock(speed=speed)
    sim = Simulator(
        settings=SimulatorSettings(phones=phones(), seed=seed, monitor_dir=data_dir / "recordings"), clock=clock
    )
    await sim.start()
    database = data_dir / "callcenter.sqlite3"
    environ = {
        "CALLCENTER_DATABASE__URL": f"sqlite+aiosqlite:///{database}",
        "CALLCENTER_HTTP__PORT": str(http_port),
        "CALLCENTER_AMI__HOST": "127.0.0.1",
        "CALLCENTER_AMI__PORT": str(sim.ami_port),
        "CALLCENTER_AMI__USERNAME": sim.settings.username,
        "CALLCENTER_AMI__SECRET": sim.settings.secret,
        "CALLCENTER_AGI__PORT": "0",
        "CALLCENTER_ROUTING__DEFAULT_TEAM": crm_seed.TEAM,
        "CALLCENTER_CRM__COMPANY_NUMBERS": ",".join(DIDS),
    }
    # the simulator's MixMonitor writes real files where MIXMONITOR_FILENAME says: both names of the spool agree
    spool = str(sim.pbx.config.monitor_dir)
    environ |= {"CALLCENTER_RECORDING__SPOOL_DIR": spool, "CALLCENTER_RECORDING__ASTERISK_SPOOL_DIR": spool,
                "CALLCENTER_RECORDING__STORE_DIR": str(data_dir / "store"),
                "CALLCENTER_RECORDING__WORKER_POLL_INTERVAL_S": "0.5"}
    settings = load_settings(environ=environ)
    app = build_app(settings)
    ended: list[Any] = []
    app[BUS].subscribe(ended.append, event_type=CallEnded)
    first_route: dict[str, str] = {}  # call id -> reason of its first routing answer
    app[BUS].subscribe(lambda e: first_route.setdefault(e.call_id, e.reason), event_type=CallRouted)
    runner = web.AppRunner(app)
    traffic: Traffic | None = None
    arrivals: asyncio.Task[Any] | None = None
    summary: dict[str, Any] = {}
    # `callcenter worker` in-process: the calls' recordings are transcribed while the demo runs (bundled model)
    worker_stop = asyncio.Event()
    worker: asyncio.Task[Any] | None = None
    interrupted = False
    cut_short = 0
    try:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", http_port)
        await site.start()
        sim.set_agi_address("127.0.0.1", app[AGI].port)
        connection = app[AMI]
        await connection.wait_live(10.0)
        crm = await _seed(app[DATABASE], seed)
        if ROUTING in app:
            await app[ROUTING].refresh()  # routing knows the sample agents from the first call, not a minute later
        worker = asyncio.create_task(_transcription_worker(app, worker_stop), name="demo-transcription")
        for ext in AGENTS:
            dnd = ext == DND_AGENT
            await connection.send(actions.queue_add(
                queue=QUEUE, interface=f"PJSIP/{ext}", member_name=ext, state_interface=f"PJSIP/{ext}",
                paused=dnd, reason="do not disturb" if dnd else None))
        _print(out, f"demo: service on http://127.0.0.1:{http_port}, AMI simulator on 127.0.0.1:{sim.ami_port}, "
                    f"FastAGI on {app[AGI].port}, {len(crm.customers)} CRM customers, {len(working_agents())} agents "
                    f"working + {DND_AGENT} on do-not-disturb, {rate * 60:.1f} calls/min "
                    f"({OCCUPANCY:.0%} occupancy), speed x{speed:g}")
        _print(out, f"demo: database {database} (a fresh one each run); the links and token below work against "
                    f"this demo while it runs. `callcenter serve` uses database.url (default var/callcenter.sqlite3): "
                    f"make a token for it with `callcenter add-user`")
        base = f"http://127.0.0.1:{http_port}"
        token_id, token = await _demo_token(app[DATABASE])
        agent_token_id, _agent_token = await _demo_token(app[DATABASE], extension=AGENTS[0])
        # Pages open with one-time login links (tokens never go in URLs): each works once, within 5 minutes.
        _print(out, f"demo: wallboard {base}{await _login_path(app[DATABASE], token_id, 'wallboard')}")
        _print(out, f"demo: agent view of {AGENTS[0]} {base}{await _login_path(app[DATABASE], agent_token_id, 'agent')}")
        _print(out, f"demo: reports {base}{await _login_path(app[DATABASE], token_id, 'reports')}")
        _print(out, f"demo: campaigns {base}{await _login_path(app[DATABASE], token_id, 'campaigns')}")
        _print(out, f"demo: API token for curl: Authorization: Bearer {token}")
        _print(out, f"demo: the links work once, within 5 minutes; a new one: curl -X POST -H 'Authorization: Bearer "
                    f"{token}' {base}/api/v1/tokens/{token_id}/login-link")
        traffic = Traffic(pbx=sim.pbx, seed=seed, mix=CallerMix(
            dids=DIDS, known_numbers=tuple(crm.customers), known_share=KNOWN_SHARE, returning_share=RETURNING_SHARE,
            patience_s=PATIENCE_S, talk_s=talk_s, voices=voice_pairs()))
        # The floor starts as it runs: about as many calls as the steady load keeps in progress, spread a little.
        busy = max(1, round(rate * HANDLE_S))
        opening = [ScriptedCall(at_s=1.0 + 0.7 * i, caller=traffic.caller(label="opening")) for i in range(busy)]
        arrivals = clock.spawn(_arrivals(traffic, opening, rate, max_calls), name="demo-traffic")
        stop = asyncio.Event()
        # the duration is the time calls are placed: it starts with the traffic, not with the setup before it
        started = last_progress = time.monotonic()
        while True:
            if duration_s is not None and time.monotonic() - started >= duration_s:
                break
            if max_calls is not None and traffic.offered >= max_calls and len(ended) >= traffic.offered:
                break
            wait_s = PROGRESS_EVERY_S if duration_s is None else min(
                PROGRESS_EVERY_S, max(0.0, duration_s - (time.monotonic() - started)))
            if max_calls is not None:
                wait_s = min(wait_s, 0.5)  # check the end condition often; progress lines stay every few seconds
            if await wait_set(stop, wait_s):
                break
            if time.monotonic() - last_progress >= PROGRESS_EVERY_S - 0.01:
                last_progress = time.monotonic()
                _print(out, _progress_line(last_progress - started, traffic.offered, ended,
                                           len(sim.pbx.live_channels())))
        arrivals.cancel()
        cut_short = await _wind_down(app, sim, err, grace_s=wind_down_s)
    except asyncio.CancelledError:
        interrupted = True
        _print(out, "demo: stopping")
    finally:
        if arrivals is not None:
            arrivals.cancel()
        await sim.pbx.recorder.flush()
        summary = _summary(offered=traffic.offered if traffic else 0, ended=ended, sim=sim,
                           wall_s=time.monotonic() - started, routes=first_route, cut_short=cut_short,
                           threshold_s=settings.reports.service_level_s,
                           short_abandon_s=settings.reports.short_abandon_s)
        with contextlib.suppress(Exception):
            summary["agents_paused"] = _paused_agents(app)
        with contextlib.suppress(Exception):
            summary |= await _crm_counts(app)
        if worker is not None:
            with contextlib.suppress(Exception):
                summary |= await _recording_counts(app, worker, worker_stop, err=err,
                                                   backlog_s=0 if interrupted else transcribe_grace_s)
        with contextlib.suppress(Exception):
            await runner.cleanup()
        await sim.stop()
        summary["wall_s"] = round(time.monotonic() - started, 1)
    _print(out, json.dumps(summary))
    return summary


async def _wind_down(app: Any, sim: Simulator, err: TextIO, *, grace_s: float) -> int:
    """No new calls; the calls in progress get ``grace_s`` (wall) to end, then are hung up. Says so on ``err``;
    returns how many calls were cut short."""
    left = _calls_in_progress(sim)
    pending = await _transcriptions_left(app)
    _print(err, f"demo: winding down: {left} calls in progress, {pending} transcriptions left "
                f"(calls get {grace_s:g}s, then are hung up)")
    stop = asyncio.Event()
    deadline = time.monotonic() + grace_s
    shown = left
    while _calls_in_progress(sim) and time.monotonic() < deadline:
        await wait_set(stop, min(0.2, max(0.0, deadline - time.monotonic())))  # wall-clock pacing of a live demo
        if 0 < _calls_in_progress(sim) != shown:  # the wind-down as it goes: each call that ends by itself
            shown = _calls_in_progress(sim)
            _print(err, f"demo: winding down: {shown} calls in progress")
    cut = _calls_in_progress(sim)
    if cut:
        _print(err, f"demo: hanging up {cut} calls still in progress")
        for channel in sim.pbx.live_channels():
            with contextlib.suppress(Exception):
                sim.server.ops.hangup(channel=channel.name, cause=16)
        until = time.monotonic() + 5.0
        while sim.pbx.live_channels() and time.monotonic() < until:
            await wait_set(stop, 0.1)
    return cut


def _paused_agents(app: Any) -> dict[str, str]:
    """Agent -> pause reason, as the service's live model (and so the wallboard) has it."""
    agents = app[LIVE].tracker.agents.agents
    return {ext: rec.reason or "" for ext, rec in sorted(agents.items()) if rec.state is AgentState.PAUSED}


def _calls_in_progress(sim: Simulator) -> int:
    return sum(1 for record in sim.pbx.calls.values() if record.ended_s is None)


async def _transcriptions_left(app: Any) -> int:
    with contextlib.suppress(Exception):
        async with app[DATABASE].session() as session:
            return int(await session.scalar(select(func.count(TranscriptionJob.id)).where(
                TranscriptionJob.status.in_((JobStatus.QUEUED, JobStatus.LEASED)))) or 0)
    return 0


DEMO_ADMIN_EMAIL = "demo-admin@example.com"


async def _login_path(db: Any, token_id: int, page: str) -> str:
    """A one-time login link (path) to ``page`` ("wallboard", "agent", "reports" or "campaigns") signed in as
    ``token_id``."""
    async with db.session() as session:
        code, _expires = await issue_ticket(session, token_id, LOGIN_CODE)
    return login_urls(code)[f"{page}_url"]


async def _demo_token(db: Any, *, extension: str | None = None) -> tuple[int, str]:
    """(id, secret) of a new API token for the agent at ``extension`` (the agent view), or for the Demo Admin
    (wallboard, curl)."""
    async with db.session() as session:
        system = Principal.system()
        if extension is None:
            # one Demo Admin per database, whatever the number of runs on it
            user_id = await session.scalar(select(User.id).where(User.email == DEMO_ADMIN_EMAIL))
            if user_id is None:
                user_id = (await create_user(session, system, UserIn(
                    name="Demo Admin", email=DEMO_ADMIN_EMAIL, role=Role.ADMIN))).id
        else:
            user_id = (await session.execute(select(User.id).where(User.extension == extension))).scalar_one()
        made, secret = await create_token(session, system, TokenIn(user_id=user_id, name="demo"))
        token_id = made.id
    return token_id, secret


async def _crm_counts(app: Any) -> dict[str, int]:
    """What the calls left in the CRM (after the writer has caught up)."""
    await asyncio.wait_for(crm_settled(app), 10)
    async with app[DATABASE].session() as session:
        count = lambda q: session.scalar(select(func.count()).select_from(q))  # noqa: E731
        return {
            "activities": await count(select(Activity.id).subquery()),
            "leads": await count(select(Lead.id).subquery()),
            "callbacks": await count(select(Task.id).where(Task.kind == TaskKind.CALLBACK).subquery()),
        }


async def _transcription_worker(app: Any, stop: asyncio.Event) -> None:
    """`callcenter worker` in-process until ``stop``; then it takes what is still queued, and returns."""
    service = app[RECORDINGS]
    transcriber = WhisperTranscriber.from_settings(service.settings)
    await asyncio.to_thread(transcriber.load)
    work = dict(db=service.db, storage=service.storage, transcriber=transcriber, settings=service.settings)
    await run_worker(**work, stop=stop)
    await run_worker(**work, until_drained=True)


async def _recording_counts(app: Any, worker: asyncio.Task[Any], stop: asyncio.Event, *, err: TextIO,
                            backlog_s: float) -> dict[str, int]:
    """Stored recording files and transcripts, after the worker took what the last calls left (``backlog_s`` at
    most; what it could not take in time is counted as pending)."""
    service = app[RECORDINGS]
    try:
        async with asyncio.timeout(backlog_s):
            await service.drain()  # the last calls' files are stored and their jobs queued
            stop.set()
            await worker
    except TimeoutError:
        _print(err, f"demo: {await _transcriptions_left(app)} transcriptions left for `callcenter worker` "
                    f"(not done within {backlog_s:g}s)")
    worker.cancel()
    await asyncio.gather(worker, return_exceptions=True)
    async with service.db.session() as session:
        count = lambda q: session.scalar(select(func.count()).select_from(q))  # noqa: E731
        return {
            "recordings": await count(select(Recording.id).where(
                Recording.status.in_((RecordingStatus.STORED, RecordingStatus.TRUNCATED))).subquery()),
            "transcripts": await count(select(Transcript.id).subquery()),
            "transcripts_pending": await count(select(TranscriptionJob.id).where(
                TranscriptionJob.status.in_((JobStatus.QUEUED, JobStatus.LEASED))).subquery()),
        }


async def _seed(db: Any, seed: int) -> Any:
    return await crm_seed.seed_crm(db, extensions=list(AGENTS), seed=seed)


async def _arrivals(traffic: Traffic, opening: list[ScriptedCall], rate_per_s: float, max_calls: int | None) -> None:
    await traffic.script(opening[:max_calls] if max_calls is not None else opening)
    while max_calls is None or traffic.offered < max_calls:
        await traffic.clock_gap(rate_per_s)
        traffic.place(traffic.caller())


def _progress_line(elapsed_s: float, offered: int, ended: list[Any], live_channels: int) -> str:
    outcomes = Counter(str(e.outcome) for e in ended)
    return (f"[{elapsed_s:6.1f}s] offered={offered} ended={len(ended)} answered={outcomes['answered']} "
            f"missed={outcomes['missed']} abandoned={outcomes['abandoned']} live_channels={live_channels}")


def _summary(*, offered: int, ended: list[Any], sim: Simulator, wall_s: float, routes: dict[str, str],
             cut_short: int, threshold_s: float, short_abandon_s: float) -> dict[str, Any]:
    """Counts, and the figures a supervisor reads: abandon %, service level (the reports' definition: answered within
    ``threshold_s`` over offered less short abandons), and where calls were first routed (share of calls)."""
    outcomes = Counter(str(e.outcome) for e in ended)
    by_agent = Counter(e.answered_by for e in ended if e.answered_by)
    within = sum(1 for e in ended if str(e.outcome) == "answered" and e.wait_s <= threshold_s)
    short = sum(1 for e in ended if str(e.outcome) == "abandoned" and e.wait_s < short_abandon_s)
    kinds = Counter(route_kind(reason) for reason in routes.values())
    pct = lambda part, whole: round(100.0 * part / whole, 1) if whole else None  # noqa: E731
    return {
        "calls_offered": offered,
        "calls_ended": len(ended),
        "calls_answered": outcomes["answered"],
        "calls_missed": outcomes["missed"],
        "calls_abandoned": outcomes["abandoned"],
        "calls_failed": outcomes["failed"],
        "calls_cut_short": cut_short,
        "abandoned_pct": pct(outcomes["abandoned"], len(ended)),
        "service_level_pct": pct(within, len(ended) - short),
        "routed_pct": {kind: pct(kinds[kind], len(routes)) for kind in ("owner", "teammate", "least-loaded", "queue")},
        "answered_by": dict(sorted(by_agent.items())),
        "recordings_written": len(sim.pbx.recorder.files),
        "simulated_s": round(sim.clock.now_s() - sim.pbx.boot_s, 1),
        "wall_s": round(wall_s, 1),
    }
