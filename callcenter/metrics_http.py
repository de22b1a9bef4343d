"""``GET /metrics`` in the Prometheus text format, and callcenter.metrics wired into the app (kept here so that
callcenter/app.py only calls ``install``).

Not public: it needs an admin's token or a monitoring token (scope ``metrics:read``, made with ``callcenter add-user
prometheus --role agent --metrics-only``), sent as ``Authorization: Bearer`` (Prometheus: ``authorization:
credentials_file``); never in the URL. Queue depths, reasons and call counts tell an outsider how busy the centre is
and which dependency is down, so they are an operator's to read, like the API.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client.exposition import choose_encoder
from sqlalchemy import select

from callcenter.api.auth import PRINCIPAL
from callcenter.api.sockets import OPEN_SOCKETS
from callcenter.app_keys import AGI, AMI, BUS, DATABASE, GAP_RECOVERY, METRICS, QUEUE_KEEPER, REDIS_FANOUT, ROUTING
from callcenter.events import CallEnded
from callcenter.metrics import Backlog, Metrics, Sources
from callcenter.outbox.consumer import backlog
from crm_core.access import METRICS_READ
from crm_core.db import Database
from crm_core.errors import Forbidden
from crm_core.outbox_models import OutboxCursor

METRICS_PATH = "/metrics"


def install(app: web.Application) -> Metrics:
    """The app's registry, fed by the bus and the FastAGI server, read from the app's components at scrape time.
    Call after the bus is set (build_app); an app with none of them (crm-worker) exposes what it has."""

    def routing_service() -> object | None:
        runtime = app.get(ROUTING)
        return runtime.service if runtime is not None else None

    def websockets() -> dict[str, int]:
        sockets = app.get(OPEN_SOCKETS)
        return sockets.by_endpoint() if sockets is not None else {}

    metrics = Metrics(Sources(
        ami=lambda: app.get(AMI),
        agi=lambda: app.get(AGI),
        routing=routing_service,
        queue_keeper=lambda: app.get(QUEUE_KEEPER),
        gap_recovery=lambda: app.get(GAP_RECOVERY),
        fanout=lambda: app.get(REDIS_FANOUT),
        websockets=websockets,
        db_backlogs=[event_outbox_backlogs],
    ))
    app[METRICS] = metrics
    bus = app.get(BUS)  # a crm-worker app has no call path: no calls end there
    if bus is not None:
        bus.subscribe(metrics.on_call_ended, event_type=CallEnded)
    # on_startup runs after every cleanup context has started, so the FastAGI server (if enabled) exists by then.
    app.on_startup.append(_observe_route_answers)
    app.router.add_get(METRICS_PATH, metrics_endpoint)
    return metrics


async def event_outbox_backlogs(db: Database) -> dict[str, Backlog]:
    """Each event outbox consumer's rows not yet handed on (callcenter.outbox), as ``event_outbox:<consumer>``."""
    async with db.read_session() as session:
        consumers = list(await session.scalars(select(OutboxCursor.consumer).order_by(OutboxCursor.consumer)))
    figures = {}
    for consumer in consumers:
        depth, oldest_age_s = await backlog(db, consumer)
        figures[f"event_outbox:{consumer}"] = Backlog(depth=depth, oldest_age_s=max(0.0, oldest_age_s))
    return figures


async def _observe_route_answers(app: web.Application) -> None:
    server = app.get(AGI)
    if server is not None:
        server.on_answered = app[METRICS].route_answered


async def metrics_endpoint(request: web.Request) -> web.Response:
    """The registry in the Prometheus text format (an admin's token, or one with the scope metrics:read)."""
    principal = request[PRINCIPAL]  # the auth middleware has refused anyone without a token
    if principal.scope != METRICS_READ and not (principal.scope is None and principal.is_admin):
        raise Forbidden("GET /metrics needs an admin's token or a metrics:read token")
    metrics = request.app[METRICS]
    await metrics.refresh(request.app[DATABASE])
    # The classic text format unless the scraper asks for OpenMetrics (Accept), as prometheus_client serves it.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return web.Response(body=encode(metrics.registry), headers={"Content-Type": content_type})
