"""Composition root: builds the adapters from settings and wires the feature modules with explicit arguments."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from aiohttp import web

from callcenter import __version__
from callcenter.api import crm_routes
from callcenter.api.auth import auth_middleware
from callcenter.api.framework import MAX_BODY_BYTES, bind, error_middleware, openapi_document
from callcenter.config import Settings
from crm_core.db import Database
from crm_core.migrate import upgrade_async
from crm_core.records import PhoneRules

log = logging.getLogger("callcenter.app")

SETTINGS = web.AppKey("settings", Settings)
DATABASE = web.AppKey("database", Database)
REDIS = web.AppKey("redis", Any)
PHONE_RULES = web.AppKey("phone_rules", PhoneRules)
READY = web.AppKey("ready", dict)
OPENAPI = web.AppKey("openapi", dict)


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
    client = aioredis.from_url(url, socket_connect_timeout=2, socket_timeout=2)
    app[REDIS] = client
    log.info("redis configured at %s", url.split("@")[-1])
    yield
    await client.aclose()


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
    ok = all(value == "ok" for value in checks.values())
    return web.json_response({"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503)


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[OPENAPI])


def build_app(settings: Settings, *, database: Database | None = None) -> web.Application:
    database = database or Database.from_url(
        settings.database.url, echo=settings.database.echo, pool_size=settings.database.pool_size
    )
    rules = phone_rules(settings)
    app = web.Application(middlewares=[error_middleware, auth_middleware(database)], client_max_size=MAX_BODY_BYTES)
    app[SETTINGS] = settings
    app[DATABASE] = database
    app[PHONE_RULES] = rules
    app[READY] = {}
    app[OPENAPI] = openapi_document(crm_routes.api, title="callcenter", version=__version__)
    app.cleanup_ctx.append(_database_ctx)
    app.cleanup_ctx.append(_redis_ctx)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/openapi.json", openapi)
    crm_routes.add_routes(app, lambda route: bind(route, db=database, rules=rules))
    return app
