"""Bearer-token authentication: every route needs a token except the public ones (health, OpenAPI)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from crm_core.access import WALLBOARD_READ
from crm_core.db import Database
from crm_core.errors import Forbidden, Unauthorized
from crm_core.users import authenticate, touch_token

PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", "/metrics"})
# Static pages anyone may load: they hold no data; what they show comes from the API with the viewer's token.
PUBLIC_PAGES = ("/wallboard", "/agent")
# What a restricted token may reach (method, path); a scope not listed here reaches nothing.
SCOPED_ROUTES = {
    WALLBOARD_READ: frozenset({("GET", "/api/v1/wallboard/ws"), ("GET", "/api/v1/wallboard/me")}),
}


def auth_middleware(db: Database) -> Callable[..., Awaitable[web.StreamResponse]]:
    @web.middleware
    async def middleware(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        if request.path in PUBLIC_PATHS or _public_page(request.path):
            return await handler(request)
        header = request.headers.get("Authorization", "")
        if not header and request.headers.get("Upgrade", "").lower() == "websocket" and "access_token" in request.query:
            # Browsers cannot set headers on a WebSocket; the token comes in the query string instead.
            header = "Bearer " + request.query["access_token"]
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise Unauthorized("send an API token: Authorization: Bearer <token>")
        if len(secret) > 200:
            raise Unauthorized("malformed API token")
        async with db.read_session() as session:
            principal, touch = await authenticate(session, secret.strip())
        if touch is not None:
            async with db.session() as session:
                await touch_token(session, touch)
        if principal.scope is not None and (request.method, request.path) not in SCOPED_ROUTES.get(principal.scope, ()):
            raise Forbidden(f"this token is limited to {principal.scope}")
        request["principal"] = principal
        return await handler(request)

    return middleware


def _public_page(path: str) -> bool:
    return any(path == page or path.startswith(page + "/static/") for page in PUBLIC_PAGES)
