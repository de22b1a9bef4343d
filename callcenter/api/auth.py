"""Bearer-token authentication: every route needs a token except the public ones (health, OpenAPI, a login link's
exchange).

Tokens never travel in URLs (they would land in access logs, browser history and Referer headers):
- a WebSocket, whose browser API cannot send a header, presents a one-time ticket (``?ticket=``, 30 s, single use)
  obtained with the bearer token from ``POST /api/v1/auth/ws-ticket``;
- a page is opened with a one-time login code (``/agent?login=``, 5 min, single use) that the page exchanges at
  ``POST /api/v1/auth/login`` for its own session token, kept in sessionStorage.
Failed sign-ins are throttled per client address (429 + Retry-After).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from callcenter.api.throttle import FailureThrottle
from crm_core.access import METRICS_READ, WALLBOARD_READ, Principal
from crm_core.db import Database
from crm_core.errors import Forbidden, TooManyRequests, Unauthorized
from crm_core.users import WS_TICKET, authenticate, principal_of, redeem_ticket, touch_token

PRINCIPAL = web.RequestKey("principal", Principal)
AUTH_THROTTLE = web.AppKey("auth_throttle", FailureThrottle)

LOGIN_PATH = "/api/v1/auth/login"
# /metrics is not public: it needs an admin's token or a metrics:read one (callcenter.metrics_http).
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", LOGIN_PATH})
# Static pages anyone may load: they hold no data; what they show comes from the API with the viewer's token.
PUBLIC_PAGES = ("/wallboard", "/agent", "/reports", "/campaigns", "/shared")
WEBSOCKETS = frozenset({"/api/v1/wallboard/ws", "/api/v1/agent/ws"})
# What a restricted token may reach (method, path); a scope not listed here reaches nothing.
SCOPED_ROUTES = {
    WALLBOARD_READ: frozenset({
        ("GET", "/api/v1/wallboard/ws"), ("GET", "/api/v1/wallboard/me"), ("POST", "/api/v1/auth/ws-ticket"),
    }),
    METRICS_READ: frozenset({("GET", "/metrics")}),
}


def client_address(request: web.Request) -> str:
    """The peer's address (a reverse proxy in front should be the one to throttle by X-Forwarded-For)."""
    return request.remote or "unknown"


def check_throttle(request: web.Request) -> None:
    throttle = request.app.get(AUTH_THROTTLE)  # build_app always sets one; a bare test app may not
    wait_s = throttle.retry_after_s(client_address(request), time.monotonic()) if throttle is not None else None
    if wait_s is not None:
        raise TooManyRequests(
            f"too many failed sign-ins from this address; try again in {wait_s} s", retry_after_s=wait_s
        )


def record_failure(request: web.Request) -> None:
    throttle = request.app.get(AUTH_THROTTLE)
    if throttle is not None:
        throttle.failed(client_address(request), time.monotonic())


def auth_middleware(db: Database) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path in PUBLIC_PATHS or _public_page(request.path):
            return await handler(request)
        check_throttle(request)
        try:
            principal = await _principal(request, db)
        except Unauthorized:
            record_failure(request)
            raise
        if principal.scope is not None and (request.method, request.path) not in SCOPED_ROUTES.get(principal.scope, ()):
            raise Forbidden(f"this token is limited to {principal.scope}")
        request[PRINCIPAL] = principal
        return await handler(request)

    return middleware


async def _principal(request: web.Request, db: Database) -> Principal:
    header = request.headers.get("Authorization", "")
    ticket = request.query.get("ticket")
    if not header and ticket and request.path in WEBSOCKETS and request.headers.get("Upgrade", "").lower() == "websocket":
        # Browsers cannot set headers on a WebSocket: a one-time ticket stands for the token instead.
        if len(ticket) > 200:
            raise Unauthorized("malformed ticket")
        async with db.session() as session:
            token = await redeem_ticket(session, ticket, WS_TICKET)
            principal, _ = await principal_of(session, token)
        return principal
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        if "access_token" in request.query or "token" in request.query:
            raise Unauthorized("tokens are not accepted in URLs: send Authorization: Bearer <token> (WebSockets: a "
                               "ticket from POST /api/v1/auth/ws-ticket)")
        raise Unauthorized("send an API token: Authorization: Bearer <token>")
    if len(secret) > 200:
        raise Unauthorized("malformed API token")
    async with db.read_session() as session:
        principal, touch = await authenticate(session, secret.strip())
    if touch is not None:
        async with db.session() as session:
            await touch_token(session, touch)
    return principal


def _public_page(path: str) -> bool:
    return any(path == page or path.startswith(page + "/static/") for page in PUBLIC_PAGES)
