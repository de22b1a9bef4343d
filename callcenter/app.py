"""Composition root: builds the adapters from settings and wires the feature modules with explicit arguments."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web

from callcenter import __version__, metrics_http
from callcenter.agentview import STATIC as AGENT_STATIC
from callcenter.reportsview import STATIC as REPORTS_STATIC
from callcenter.campaignview import STATIC as CAMPAIGNS_STATIC
from callcenter.webshared import STATIC as SHARED_STATIC
from callcenter.ami.agi import FastAgiServer
from callcenter.ami.channel_vars import AGI_ROUTE_FEATURE
from callcenter.deskphone import wiring as deskphone
from callcenter.ami.channel_vars import AGI_ROUTE_CAMPAIGN
from callcenter.dialer.agent_agi import CampaignAgentRoute
from callcenter.dialer.lease import MemoryLeases, RedisLeases
from callcenter.dialer.live_status import DIALER
from callcenter.dialer.runner import DialerRunner, DialerSettings
from callcenter.ami.connection import AmiConnection, AmiState
from callcenter.calls.live import LiveCalls, log_domain_event
from callcenter.calls.tracker import CallTracker
from callcenter.calls.wrapup_pause import WrapupPacer
from callcenter.instance import new_instance_id
from callcenter.automation.facts import CallLogged
from callcenter.events import AgentState, InProcessBus, is_domain_event
from callcenter.outbox.consumer import OutboxConsumer
from callcenter.outbox.pipeline import CRM_FEED, RECORDING_FEED, Sinks
from callcenter.outbox.writer import OutboxWriter
from callcenter.redis_bus import RedisFanout
from callcenter.api import agent_routes, automation_routes, call_routes, crm_routes, disposition_routes, supervisor_routes
from callcenter.api import report_routes, transfer_routes, wallboard_routes
from callcenter.api import analytics_routes, campaign_routes, sales_routes, saved_report_routes, schedule_routes, staffing_routes
from callcenter.api.agent_ws import agent_websocket, close_on_shutdown
from callcenter.api import auth_routes, redact
from callcenter.api import preview_routes, script_routes
from callcenter.api.auth import AUTH_THROTTLE, auth_middleware
from callcenter.api.sockets import OPEN_SOCKETS, OpenSockets, watch_on_startup
from callcenter.api.throttle import FailureThrottle
from callcenter.api.framework import MAX_BODY_BYTES, OPENAPI_DOC, Api, bind, error_middleware, openapi_document
from callcenter.automation.engine import Automation
from callcenter.automation.rules import WebhookRule
from callcenter.automation.webhooks import WebhookSender
from callcenter.config import Settings
from callcenter.mail.sender import MailSender
from callcenter.queues.fallback import FallbackQueueCheck
from callcenter.queues.keeper import MembershipKeeper
from callcenter.recording import http as recording_routes
from callcenter.recovery.service import GapRecovery
from callcenter.recording.http import RECORDINGS
from callcenter.recording.service import RecordingService
from callcenter.recording.storage import LocalStorage
from callcenter.routing.runtime import RoutingRuntime
from callcenter.routing.hours import due_after
from callcenter.routing.settings import build_rules
from callcenter.routing.state import MemoryRoutingStore
from callcenter.routing.state_redis import RedisRoutingStore
from callcenter.reports.agent_log import AgentLog
from callcenter.reports.report import did_team_of
from callcenter.reports.call_rollup import CallSumsKeeper
from callcenter.reports.period import DAY_S
from callcenter.reports.scheduler import ReportScheduler, webhook_secret_lookup
from callcenter.wallboard.feed import FiguresFeed
from callcenter.wallboard.hub import Hub
from callcenter.wallboard.state import WallboardState
from callcenter.crm_bridge import BridgeRules, CrmBridge
from crm_core.db import Database
from crm_core.migrate import upgrade_async
from crm_core.phones import try_normalize
from crm_core.records import PhoneRules
from callcenter.app_keys import (
    AGENT_LOG, AGI, AMI, AUTOMATION, BUS, CRM_BRIDGE, DATABASE, FALLBACK_CHECK, FEEDS, FIGURES_FEED, GAP_RECOVERY,
    HUB, INSTANCE, LIVE, MAIL_SENDER, OPENAPI, OUTBOX, PHONE_RULES, QUEUE_KEEPER, READY, REDIS, REDIS_FANOUT,
    REPORT_SCHEDULER, ROUTING, ROUTING_RULES, SETTINGS, SINKS, WORKER_BUS, WRITE_HOOKS,
)

log = logging.getLogger("callcenter.app")


def phone_rules(settings: Settings) -> PhoneRules:
    return PhoneRules.build(region=settings.crm.default_region, own_numbers=settings.crm.company_numbers)


async def _database_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    if settings.database.migrate_on_start:
        await upgrade_async(settings.database.url)
    await app[DATABASE].ping()
    app[READY]["database"] = True
    log.info("database ready (%s)", app[DATABASE].dialect)
    yield
    await app[DATABASE].dispose()


async def _redis_ctx(app: web.Application) -> AsyncIterator[None]:
    url = app[SETTINGS].redis.url
    if not url:
        app[REDIS] = None
        yield
        return
    client = aioredis.from_url(url, socket_connect_timeout=2)
    app[REDIS] = client
    log.info("redis configured at %s", url.split("@")[-1])
    fanout = RedisFanout(bus=app[BUS], redis=client, instance_id=app[INSTANCE])
    try:
        await fanout.start()
    except Exception as exc:  # Redis down at start: this instance still works alone; /readyz says why
        log.error("redis fan-out not started: %s", exc)
        fanout = None
    else:
        app[REDIS_FANOUT] = fanout  # its queue's depth and age in the metrics
    yield
    if fanout is not None:
        await fanout.stop()
    await client.aclose()


async def _outbox_writer_ctx(app: web.Application) -> AsyncIterator[None]:
    """The call path's facts into the durable outbox, for the workers (in this process or others)."""
    writer = OutboxWriter(db=app[DATABASE])
    unsubscribe = writer.attach(app[BUS])
    app[OUTBOX] = writer
    task = asyncio.create_task(writer.run(), name="outbox-writer")
    yield
    unsubscribe()
    # Torn down after the AMI session and the workers' consumer (contexts unwind in reverse): nothing adds any more.
    if not await writer.drain(app[SETTINGS].http.shutdown_timeout_s):
        log.error("outbox: %d facts not written at shutdown (the next start resyncs from Asterisk)", len(writer.buffer))
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _feed_ctx(name: str) -> Any:
    """The cleanup context of one outbox consumer: its rows in order onto its sinks' bus, the cursor moved once they
    are done. The CRM writer's and the recordings' are two: a recording file may take its grace to appear, and the
    CRM must not wait behind it."""

    async def feed(app: web.Application) -> AsyncIterator[None]:
        settings = app[SETTINGS]
        consumer = OutboxConsumer(db=app[DATABASE], name=name, holder=app[INSTANCE], deliver=app[SINKS][name].deliver,
                                  lease_s=settings.workers.lease_s, poll_s=settings.workers.poll_s)
        app[FEEDS][name] = consumer
        writer = app.get(OUTBOX)
        if writer is not None:
            writer.on_written.append(consumer.wake.set)  # in one process nothing needs to poll
        task = asyncio.create_task(consumer.run(), name=f"outbox-{name}")
        yield
        if writer is not None and consumer.holding:  # what the call path handed over so far, before the workers stop
            await writer.drain(settings.http.shutdown_timeout_s)
            try:
                async with asyncio.timeout(settings.http.shutdown_timeout_s):
                    await consumer.settled()
            except TimeoutError:
                log.error("outbox consumer %s stopped behind the outbox; another worker or the next start goes on", name)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        try:
            await consumer.release()
        except Exception as exc:  # the database is gone: the lease lapses by itself
            log.warning("outbox consumer %s: lease not released (%s)", name, exc.__class__.__name__)

    return feed


def bridge_rules(settings: Settings, phone: PhoneRules) -> BridgeRules:
    crm = settings.crm
    excluded = {n.e164 for raw in crm.lead_exclude_numbers if (n := try_normalize(raw, region=phone.region))}
    return BridgeRules(
        lead_on_unknown=crm.lead_on_unknown,
        lead_policy_by_did=dict(crm.lead_policy_by_did),
        lead_exclude_numbers=frozenset(excluded | {raw.strip() for raw in crm.lead_exclude_numbers}),
        callback_sla_s=crm.callback_sla_s,
        outbound_leads=crm.outbound_leads,
    )


def vip_numbers(settings: Settings, phone: PhoneRules) -> frozenset[str]:
    raw = settings.automation.vip_numbers
    return frozenset(n.e164 for number in raw if (n := try_normalize(number, region=phone.region)))


async def _automation_ctx(app: web.Application) -> AsyncIterator[None]:
    """Rules on CRM facts, the webhook sender and the overdue-callback scanner."""
    settings = app[SETTINGS].automation
    vips = vip_numbers(app[SETTINGS], app[PHONE_RULES])
    sender = WebhookSender(
        db=app[DATABASE],
        secrets={r.name: r.secret for r in settings.rules if isinstance(r, WebhookRule)},
        timeout_s=settings.webhook_timeout_s,
        max_attempts=settings.webhook_max_attempts,
        base_backoff_s=settings.webhook_base_backoff_s,
        secret_of=webhook_secret_lookup(app[DATABASE]),  # scheduled reports' webhooks
    )
    automation = Automation(db=app[DATABASE], rules=settings.rules, vip_numbers=vips, on_webhook_queued=sender.wakeup.set,
                            on_mail_queued=app[MAIL_SENDER].wakeup.set)
    automation.attach(app[WORKER_BUS])
    app[AUTOMATION] = automation
    app[SINKS][CRM_FEED].idle_flags.append(automation.idle)
    app[SINKS][CRM_FEED].failure_counts.append(lambda: automation.failed)
    tasks = [
        asyncio.create_task(automation.run(), name="automation"),
        asyncio.create_task(sender.run(), name="webhook-sender"),
        asyncio.create_task(automation.run_overdue_scanner(interval_s=settings.overdue_scan_interval_s), name="overdue"),
    ]
    yield
    try:
        await asyncio.wait_for(automation.idle.wait(), app[SETTINGS].http.shutdown_timeout_s)
    except asyncio.TimeoutError:
        log.error("automation stopped with %d facts unhandled", automation.queue.qsize())
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _mail_ctx(app: web.Application) -> AsyncIterator[None]:
    """The e-mail outbox's sender and the scheduled-report loop (after automation: it wakes the webhook sender)."""
    settings = app[SETTINGS].mail
    sender = app[MAIL_SENDER]
    tasks = []
    try:
        sender.password = settings.password()
    except LookupError as exc:  # e-mails wait in the outbox until the operator sets the variable and restarts
        log.error("%s: no e-mail is sent", exc)
    else:
        tasks.append(asyncio.create_task(sender.run(), name="mail-sender"))
    scheduler = ReportScheduler(
        db=app[DATABASE], max_attachment_bytes=settings.max_attachment_bytes, on_mail_queued=sender.wakeup.set,
        on_webhook_queued=app[AUTOMATION].on_webhook_queued,
    )
    app[REPORT_SCHEDULER] = scheduler
    tasks.append(asyncio.create_task(scheduler.run(interval_s=settings.scheduler_interval_s), name="report-scheduler"))
    yield
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _crm_bridge_ctx(app: web.Application) -> AsyncIterator[None]:
    """Calls into the CRM: one writer task, started after the database is ready."""
    rules = bridge_rules(app[SETTINGS], app[PHONE_RULES])

    def callback_due_s(team: str | None, ended_s: float, sla_s: float) -> float:
        routing = app[ROUTING_RULES]
        # A callback filed under no routing team runs on the default team's hours, like a call to an unrouted DID.
        policy = routing.teams.get(team or "") or routing.route_for("")[0]
        return due_after(policy.hours, ended_s, sla_s)

    def present(user_id: int) -> bool:
        routing = app.get(ROUTING)
        info = routing.directory.agent_of_user(user_id) if routing is not None else None
        if info is None or app.get(AMI) is None:
            return True  # not a phone user, or no telephony to tell: assume they can call back
        state, _ = app[LIVE].agent_state(info.agent)
        return state not in (AgentState.OFFLINE, AgentState.PAUSED)

    bridge = CrmBridge(
        db=app[DATABASE],
        phone_rules=app[PHONE_RULES],
        rules=rules,
        publish=app[WORKER_BUS].publish,
        callback_due_s=callback_due_s,
        did_team=did_team_of(app[ROUTING_RULES]),
        present=present,
    )
    bridge.attach(app[WORKER_BUS])
    app[CRM_BRIDGE] = bridge
    app[SINKS][CRM_FEED].idle_flags.append(bridge.idle)
    app[SINKS][CRM_FEED].failure_counts.append(lambda: bridge.failed)
    task = asyncio.create_task(bridge.run(), name="crm-writer")
    yield
    # Drain what the calls already produced before the database goes away.
    try:
        await asyncio.wait_for(bridge.idle.wait(), app[SETTINGS].http.shutdown_timeout_s)
    except asyncio.TimeoutError:
        log.error("CRM writer stopped with %d calls unwritten", bridge.queue.qsize())
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _agent_log_ctx(app: web.Application) -> AsyncIterator[None]:
    """Agent state spells for occupancy and pause reports: one writer task beside the CRM bridge."""
    agent_log = AgentLog(db=app[DATABASE])
    agent_log.attach(app[WORKER_BUS])
    app[AGENT_LOG] = agent_log
    app[SINKS][CRM_FEED].idle_flags.append(agent_log.idle)
    app[SINKS][CRM_FEED].failure_counts.append(lambda: agent_log.failed)
    task = asyncio.create_task(agent_log.run(), name="agent-log-writer")
    yield
    try:
        await asyncio.wait_for(agent_log.idle.wait(), app[SETTINGS].http.shutdown_timeout_s)
    except asyncio.TimeoutError:
        log.error("agent log stopped with %d state changes unwritten", agent_log.queue.qsize())
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _call_sums_ctx(app: web.Application) -> AsyncIterator[None]:
    """The quarter-hour call sums kept for the reports' settings (built on the first start, then kept on write)."""
    settings = app[SETTINGS].reports
    keeper = CallSumsKeeper(app[DATABASE], rule=settings.rule(), fcr_window_s=settings.fcr_days * DAY_S)
    task = asyncio.create_task(keeper.run(interval_s=settings.sums_refresh_s), name="call-sums-keeper")
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _recording_ctx(app: web.Application) -> AsyncIterator[None]:
    """Recordings into the store on RecordingReady, linked to the call's activity on CallLogged; retries of missing
    or failed files and retention in a maintenance loop. Transcription runs elsewhere (`callcenter worker`)."""
    service = app[RECORDINGS]
    tasks: list[asyncio.Task[Any]] = []
    if app[SETTINGS].recording.enabled:  # disabled: what is stored is still served, nothing new comes in
        sinks = app[SINKS][RECORDING_FEED]
        service.attach(sinks.bus)
        sinks.idle_flags.append(service.idle)
        tasks = [
            asyncio.create_task(service.run(), name="recording-ingest"),
            asyncio.create_task(service.run_maintenance(), name="recording-maintenance"),
        ]
    yield
    # After the CRM writer's drain (contexts unwind in reverse): its last CallLogged links are handled too.
    try:
        await asyncio.wait_for(service.drain(), app[SETTINGS].http.shutdown_timeout_s)
    except asyncio.TimeoutError:
        log.error("recording ingest stopped with %d events unhandled (the files stay in the spool)",
                  service.queue.qsize())
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def _routing_ctx(app: web.Application) -> AsyncIterator[None]:
    """The routing brain: a Redis store when Redis is configured (several instances share agents), else memory."""
    settings = app[SETTINGS]
    client = app[REDIS]
    runtime = RoutingRuntime(
        settings=settings.routing,
        rules=app[ROUTING_RULES],
        db=app[DATABASE],
        phone_rules=app[PHONE_RULES],
        store=RedisRoutingStore(redis=client) if client is not None else MemoryRoutingStore(),
        bus=app[BUS],
        ami=lambda: app.get(AMI),
        vip_numbers=vip_numbers(settings, app[PHONE_RULES]),
        live=app[LIVE],
        instance=app[INSTANCE],
    )
    await runtime.start()
    app[ROUTING] = runtime
    app[WRITE_HOOKS].append(runtime.on_write)
    yield
    app[WRITE_HOOKS].remove(runtime.on_write)
    await runtime.stop()


async def _wallboard_ctx(app: web.Application) -> AsyncIterator[None]:
    """Today's figures and missed calls on the wallboard, recomputed once for every screen."""
    settings = app[SETTINGS]
    rules = app[ROUTING_RULES]
    feed = FiguresFeed(
        hub=app[HUB],
        db=app[DATABASE],
        zones={name: team.hours.zone for name, team in rules.teams.items()},
        did_team=did_team_of(rules),
        rule=settings.reports.rule(),
        debounce_s=settings.wallboard.refresh_debounce_s,
        interval_s=settings.wallboard.refresh_interval_s,
    )
    feed.attach(app[BUS])
    app[FIGURES_FEED] = feed
    app[WRITE_HOOKS].append(feed.poke)  # an API write may have changed a callback
    task = asyncio.create_task(feed.run(), name="wallboard-figures")
    feed.poke()
    yield
    app[WRITE_HOOKS].remove(feed.poke)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def _wallboard_hub(app: web.Application, settings: Settings) -> Hub:
    def agent_info(agent: str) -> Any:
        routing = app.get(ROUTING)
        return routing.directory.agent(agent) if routing is not None else None

    state = WallboardState(
        agent_team=lambda agent: (info := agent_info(agent)) and info.team,
        agent_name=lambda agent: (info := agent_info(agent)) and info.name,
        did_team=did_team_of(app[ROUTING_RULES]),
    )
    thresholds = {name: t.model_dump() for name, t in settings.wallboard.thresholds.items()}
    return Hub(state=state, config={"thresholds": thresholds})


async def _dialer_ctx(app: web.Application) -> AsyncIterator[None]:
    """The campaign runner, fed by the one ordered AMI stream (a tap on the live model's ingest, after the tracker)."""
    config = app[SETTINGS].dialer
    connection = app[AMI]
    if connection is None or not config.enabled:
        yield
        return
    settings = DialerSettings(tick_s=config.tick_s, lease_ttl_s=config.lease_ttl_s, trunk=config.trunk,
                              agent_ring_s=config.agent_ring_s, lost_grace_s=config.lost_grace_s,
                              instance=app[INSTANCE])
    client = app[REDIS]
    leases = RedisLeases(client, settings.instance) if client is not None else MemoryLeases(settings.instance)
    live = app[LIVE]
    runner = DialerRunner(db=app[DATABASE], live=live, store=app[ROUTING].store, send=connection.send,
                          ami_session=lambda: connection.generation if (
                              connection.state is AmiState.LIVE and live.synced_generation == connection.generation
                          ) else None,
                          leases=leases, settings=settings)
    app[DIALER] = runner
    live.ingest.taps.append(runner.handle)
    unsubscribe = app[BUS].subscribe(runner.on_domain_event)
    task = asyncio.create_task(runner.run(), name="dialer")
    yield
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await runner.stop()
    if callable(unsubscribe):
        unsubscribe()
    if runner.handle in live.ingest.taps:
        live.ingest.taps.remove(runner.handle)


async def _agi_ctx(app: web.Application) -> AsyncIterator[None]:
    agi = app[SETTINGS].agi
    runner = app.get(DIALER)
    routes = {} if not isinstance(runner, DialerRunner) else {
        AGI_ROUTE_CAMPAIGN: CampaignAgentRoute(port=runner, agent_ring_s=runner.settings.agent_ring_s).handler}
    routes.update(app[ROUTING].agi_routes())  # the desk phones' outbound calls (callcenter.routing.outbound)
    routes[AGI_ROUTE_FEATURE] = deskphone.feature_route(app)  # desk phones' feature codes
    server = FastAgiServer(
        host=agi.host,
        port=agi.port,
        default_queue=agi.default_queue,
        queue_timeout_s=agi.queue_timeout_s,
        time_budget_ms=agi.time_budget_ms,
        decide=app[ROUTING].service.decide,
        routes=routes,
    )
    await server.start()
    app[AGI] = server
    log.info("FastAGI listening on %s:%d", agi.host, server.port)
    yield
    await server.stop()


async def _ami_ctx(app: web.Application) -> AsyncIterator[None]:
    ami = app[SETTINGS].ami
    if not ami.host:
        app[AMI] = None
        yield
        return
    connection = AmiConnection(
        host=ami.host,
        port=ami.port,
        username=ami.username,
        secret=ami.secret,
        ping_interval_s=ami.ping_interval_s,
        reconnect_max_s=ami.reconnect_max_s,
    )
    app[AMI] = connection
    connection.start()
    live = app[LIVE]
    # Queue logins and pauses survive an Asterisk restart: the keeper re-applies them after every (re)connect.
    keeper = app[QUEUE_KEEPER] = MembershipKeeper(inner=live, send=connection.send)
    keeper.after_resync = app[FALLBACK_CHECK] = FallbackQueueCheck(
        send=connection.send, expected_queue=app[SETTINGS].agi.default_queue, members_of=keeper.members_of
    )
    # Wrap-up is paced by the service (queues.conf wrapuptime = 0): QueuePause with the wrap-up reason meanwhile.
    pacer = WrapupPacer(agents=live.tracker.agents, send=connection.send, interface_of=lambda a: _interface(app, a),
                        clock=lambda: live.tracker.now_s)
    unsubscribe_pacer = pacer.attach(app[BUS])
    live.wrapup_pacer = pacer
    live.control_send = connection.send
    # Calls that start and end while AMI is down still reach the CRM (from FastAGI's decisions and the spool).
    settings = app[SETTINGS]
    recovery = app[GAP_RECOVERY] = GapRecovery(
        inner=keeper,
        bus=app[BUS],
        ami_down=lambda: connection.state not in (AmiState.RESYNCING, AmiState.LIVE),
        open_call_ids=lambda: {call.call_id for call in live.tracker.open_calls()},
        spool_dir=Path(settings.recording.spool_dir),
        asterisk_spool_dir=settings.recording.asterisk_spool_dir,
        instance=app[INSTANCE],
        recording_grace_s=settings.recording.missing_grace_s,  # MixMonitor's files may land after the hangup
    )
    recovery.attach(app[BUS])
    tasks = [
        asyncio.create_task(connection.run(recovery), name="ami-consumer"),
        asyncio.create_task(live.run_wrapup_timer(), name="wrapup-timer"),
        asyncio.create_task(pacer.run(), name="wrapup-pause"),
        asyncio.create_task(pacer.run_sweeper(), name="wrapup-pause-sweep"),
    ]
    yield
    unsubscribe_pacer()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await keeper.stop()
    await recovery.stop()
    await connection.stop()


def _interface(app: web.Application, agent: str) -> str:
    """The queue member interface of an agent (their Dial target), as the agent controls use it."""
    routing = app.get(ROUTING)
    info = routing.directory.agent(agent) if routing is not None else None
    return info.target if info is not None else f"PJSIP/{agent}"


async def healthz(_request: web.Request) -> web.Response:
    """Liveness: the process answers."""
    return web.json_response({"status": "ok", "version": __version__})


async def readyz(request: web.Request) -> web.Response:
    """Readiness: every configured dependency answers now."""
    app = request.app
    checks: dict[str, str] = {}
    try:
        await app[DATABASE].ping()
        checks["database"] = "ok"
    except Exception as exc:  # any failure means "not ready"; the reason is reported, not raised
        checks["database"] = f"down: {exc.__class__.__name__}"
    client = app.get(REDIS)
    if client is not None:
        try:
            await client.ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"down: {exc.__class__.__name__}"
    connection = app.get(AMI)
    if connection is not None:
        checks["ami"] = "ok" if connection.state is AmiState.LIVE else f"down: {connection.state}"
        if connection.state is not AmiState.LIVE and connection.stats.last_error:
            checks["ami"] += f" ({connection.stats.last_error})"
    # Ready, but wrong in a way an operator must fix: shown, never a reason to take the service out of rotation.
    warnings: list[str] = []
    if connection is not None:
        if connection.stats.missing_permissions:
            warnings.append("AMI user may not send " + ", ".join(connection.stats.missing_permissions))
        warnings += [f"AMI resync: {name} answered {text!r}" for name, text in connection.stats.resync_errors.items()]
        check = app.get(FALLBACK_CHECK)
        if check is not None:
            warnings += check.problems
    ok = all(value == "ok" for value in checks.values())
    body: dict[str, Any] = {"status": "ok" if ok else "unavailable", "checks": checks}
    if warnings:
        body["warnings"] = warnings
    return web.json_response(body, status=200 if ok else 503)


WALLBOARD_STATIC = Path(__file__).with_name("wallboard") / "static"


# A page opened from a login link has its one-time code in the address until its script removes it: never send
# that address on as a Referer (its own scripts and styles are fetched before the script runs).
PAGE_HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


async def wallboard_page(_request: web.Request) -> web.FileResponse:
    """The page itself is public; its data needs a token (a login link's code, exchanged once, see api.auth)."""
    return web.FileResponse(WALLBOARD_STATIC / "index.html", headers=PAGE_HEADERS)


async def agent_page(_request: web.Request) -> web.FileResponse:
    """Public like the wallboard's page; everything on it comes from the API with the agent's token."""
    return web.FileResponse(AGENT_STATIC / "index.html", headers=PAGE_HEADERS)


async def reports_page(_request: web.Request) -> web.FileResponse:
    """Public like the wallboard's page; the reports on it come from the API with the supervisor's token."""
    return web.FileResponse(REPORTS_STATIC / "index.html", headers=PAGE_HEADERS)


async def campaigns_page(_request: web.Request) -> web.FileResponse:
    """Public like the wallboard's page; the campaigns on it come from the API with the manager's token."""
    return web.FileResponse(CAMPAIGNS_STATIC / "index.html", headers=PAGE_HEADERS)


async def wallboard_ws(request: web.Request) -> web.StreamResponse:
    return await wallboard_routes.wallboard_websocket(request, hub=request.app[HUB], db=request.app[DATABASE])


async def agent_ws(request: web.Request) -> web.StreamResponse:
    app = request.app
    calls = app[LIVE].tracker

    def caller_of(call_id: str) -> str | None:
        call = next((c for c in calls.open_calls() if c.call_id == call_id), None)
        return (call.customer or call.caller) if call is not None else None

    return await agent_websocket(request, db=app[DATABASE], rules=app[PHONE_RULES], bus=app[BUS], caller_of=caller_of,
                                 state_of=app[LIVE].agent_state)


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


API_MODULES = (auth_routes, crm_routes, call_routes, disposition_routes, agent_routes, supervisor_routes, transfer_routes, automation_routes, recording_routes, report_routes, wallboard_routes,
               saved_report_routes, analytics_routes, sales_routes, staffing_routes, schedule_routes, campaign_routes,
               script_routes, preview_routes)


def _add_workers(app: web.Application, settings: Settings, database: Database) -> None:
    """The CRM writer, recording ingest, agent log, call sums and automation (with mail), on a bus of their own fed
    from the outbox (never straight from the call path's bus: what reaches them is what is durable)."""
    workers = InProcessBus()
    app[WORKER_BUS] = workers
    recordings = InProcessBus()
    workers.subscribe(recordings.publish, event_type=CallLogged)  # the recording is linked to the call's activity
    app[SINKS] = {CRM_FEED: Sinks(workers), RECORDING_FEED: Sinks(recordings)}
    app[FEEDS] = {}
    app[MAIL_SENDER] = MailSender(db=database, settings=settings.mail)
    if RECORDINGS not in app:
        recording = settings.recording
        app[RECORDINGS] = RecordingService(db=database, storage=LocalStorage(root=Path(recording.store_dir)),
                                           settings=recording)
    for ctx in (_automation_ctx, _mail_ctx, _recording_ctx, _crm_bridge_ctx, _agent_log_ctx, _call_sums_ctx,
                _feed_ctx(CRM_FEED), _feed_ctx(RECORDING_FEED)):
        app.cleanup_ctx.append(ctx)


def build_worker_app(settings: Settings, *, database: Database | None = None) -> web.Application:
    """`callcenter crm-worker`: the workers alone, fed from the outbox that `callcenter serve` processes write
    (several may run: one holds the outbox at a time, the others take over when it stops). Health and metrics only
    over HTTP."""
    database = database or Database.from_url(
        settings.database.url, echo=settings.database.echo, pool_size=settings.database.pool_size
    )
    # The API's middlewares: /metrics needs a token here too (healthz and readyz stay public).
    app = web.Application(middlewares=[error_middleware, auth_middleware(database)])
    app[SETTINGS] = settings
    app[DATABASE] = database
    app[INSTANCE] = new_instance_id()
    app[PHONE_RULES] = phone_rules(settings)
    app[READY] = {}
    app[ROUTING_RULES] = build_rules(settings.routing, default_queue=settings.agi.default_queue)
    app.cleanup_ctx.append(_database_ctx)
    _add_workers(app, settings, database)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    metrics_http.install(app)
    return app


def build_app(settings: Settings, *, database: Database | None = None) -> web.Application:
    database = database or Database.from_url(
        settings.database.url, echo=settings.database.echo, pool_size=settings.database.pool_size
    )
    rules = phone_rules(settings)
    app = web.Application(middlewares=[error_middleware, auth_middleware(database)], client_max_size=MAX_BODY_BYTES)
    app[SETTINGS] = settings
    app[DATABASE] = database
    app[INSTANCE] = new_instance_id()
    app[AUTH_THROTTLE] = FailureThrottle()
    app[OPEN_SOCKETS] = OpenSockets()
    redact.install()  # no secret in the access log, whichever runner serves this app
    app[PHONE_RULES] = rules
    app[READY] = {}
    app[WRITE_HOOKS] = []
    app[ROUTING_RULES] = build_rules(settings.routing, default_queue=settings.agi.default_queue)
    routes = Api(routes=[route for module in API_MODULES for route in module.api.routes])
    app[OPENAPI] = openapi_document(routes, title="callcenter", version=__version__)
    app[OPENAPI_DOC] = app[OPENAPI]  # the error middleware answers a 405's Allow from it
    app.cleanup_ctx.append(_database_ctx)
    watch_on_startup(app, DATABASE)  # revocations made elsewhere (another instance, the CLI) close streams too
    app.cleanup_ctx.append(_redis_ctx)
    bus = InProcessBus()
    bus.subscribe(log_domain_event)
    app[BUS] = bus
    hub = _wallboard_hub(app, settings)
    hub.attach(bus)
    app[HUB] = hub
    app[LIVE] = LiveCalls(tracker=CallTracker(wrapup_s=settings.calls.wrapup_s), bus=bus)
    app.cleanup_ctx.append(_outbox_writer_ctx)
    recording = settings.recording
    # Served by the API here, whichever process ingests them.
    app[RECORDINGS] = RecordingService(db=database, storage=LocalStorage(root=Path(recording.store_dir)), settings=recording)
    if settings.workers.in_process:  # the embedded default: one command runs everything, still through the outbox
        _add_workers(app, settings, database)
        # Their CRM facts (CallLogged, LeadCreated...) are this process's pages' news too.
        app[WORKER_BUS].subscribe(lambda fact: None if is_domain_event(fact) else bus.publish(fact))
    app.cleanup_ctx.append(_wallboard_ctx)
    # Routing follows the bus before the AMI session starts, so it sees the agents' states from the first resync.
    app.cleanup_ctx.append(_routing_ctx)
    app.cleanup_ctx.append(_ami_ctx)
    app.cleanup_ctx.append(deskphone.blf_ctx)  # agents' states on supervisors' BLF keys
    app.cleanup_ctx.append(_dialer_ctx)
    if settings.agi.enabled:
        app.cleanup_ctx.append(_agi_ctx)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/openapi.json", openapi)
    metrics_http.install(app)  # GET /metrics: an admin's or a metrics:read token
    app.router.add_get("/api/v1/wallboard/ws", wallboard_ws)
    app.router.add_get("/api/v1/agent/ws", agent_ws)
    app.router.add_get("/wallboard", wallboard_page)
    app.router.add_static("/wallboard/static", WALLBOARD_STATIC)
    app.router.add_get("/agent", agent_page)
    close_on_shutdown(app)
    app.router.add_static("/agent/static", AGENT_STATIC)
    app.router.add_get("/reports", reports_page)
    app.router.add_static("/reports/static", REPORTS_STATIC)
    app.router.add_get("/campaigns", campaigns_page)
    app.router.add_static("/campaigns/static", CAMPAIGNS_STATIC)
    app.router.add_static("/shared/static", SHARED_STATIC)  # signin.js, every page's sign-in
    for route in routes.routes:
        app.router.add_route(route.method, route.path, bind(route, db=database, rules=rules, on_write=app[WRITE_HOOKS]))
    return app
