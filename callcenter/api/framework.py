"""A thin layer over aiohttp: typed bodies, one session per request, errors mapped in one middleware, OpenAPI.

Each route is declared once with its body and response models; the same declaration drives validation,
serialisation and the OpenAPI document, so they cannot drift apart.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from crm_core.access import Principal
from crm_core.db import Database
from crm_core.errors import Conflict, CrmError, Forbidden, Invalid, NotFound, Unauthorized
from crm_core.paging import MAX_LIMIT, Page
from crm_core.records import PhoneRules

log = logging.getLogger("callcenter.api")

MAX_BODY_BYTES = 1024 * 1024
STATUS = {NotFound: 404, Conflict: 409, Invalid: 422, Forbidden: 403, Unauthorized: 401}


class BadRequest(CrmError):
    code = "bad_request"


class ServiceUnavailable(CrmError):
    """A dependency outside us (Asterisk) cannot do it now; the client may retry."""

    code = "unavailable"


STATUS[BadRequest] = 400
STATUS[ServiceUnavailable] = 503


@dataclass(slots=True)
class Call:
    """What a handler gets: the request, who asks, the validated body and an open transaction."""

    request: web.Request
    principal: Principal
    session: Any
    rules: PhoneRules
    body: Any = None
    # Run after the transaction commits (publishing facts about what was just written).
    after_commit: list[Callable[[], None]] = field(default_factory=list)

    def path_int(self, name: str) -> int:
        raw = self.request.match_info[name]
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(f"{name} must be an integer", field=name) from None
        if not 0 < value < 2**63:
            raise NotFound(f"{name} {raw} not found", field=name)
        return value

    def query_int(self, name: str, *, default: int | None = None, low: int = 0, high: int = 2**63 - 1) -> int | None:
        raw = self.request.query.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(f"query parameter {name} must be an integer", field=name) from None
        if not low <= value <= high:
            raise BadRequest(f"query parameter {name} must be between {low} and {high}", field=name)
        return value

    def query_str(self, name: str, *, max_length: int = 200) -> str | None:
        raw = self.request.query.get(name)
        if raw is not None and len(raw) > max_length:
            raise BadRequest(f"query parameter {name} is longer than {max_length}", field=name)
        return raw or None

    def query_bool(self, name: str) -> bool | None:
        raw = self.request.query.get(name)
        if raw is None:
            return None
        if raw.lower() in ("1", "true", "yes"):
            return True
        if raw.lower() in ("0", "false", "no"):
            return False
        raise BadRequest(f"query parameter {name} must be true or false", field=name)

    def query_enum(self, name: str, enum_type: Any) -> Any:
        raw = self.request.query.get(name)
        if raw is None:
            return None
        try:
            return enum_type(raw)
        except ValueError:
            allowed = ", ".join(e.value for e in enum_type)
            raise BadRequest(f"query parameter {name} must be one of {allowed}", field=name) from None

    @property
    def page(self) -> tuple[int, int]:
        limit = self.query_int("limit", default=50, low=1, high=MAX_LIMIT)
        offset = self.query_int("offset", default=0, low=0)
        return limit or 50, offset or 0


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    body: type[BaseModel] | None
    response: type[BaseModel] | None
    many: bool
    status: int
    query: tuple[str, ...]
    tag: str


@dataclass
class Api:
    routes: list[Route] = field(default_factory=list)

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        body: type[BaseModel] | None = None,
        response: type[BaseModel] | None = None,
        many: bool = False,
        status: int = 200,
        query: tuple[str, ...] = (),
        tag: str = "crm",
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method, path, handler, summary, body, response, many, status, query, tag))
            return handler

        return register


def _dump(route: Route, result: Any) -> Any:
    if route.response is None:
        return result
    one = route.response.model_validate
    if isinstance(result, Page):
        return {
            "items": [one(item).model_dump(mode="json") for item in result.items],
            "total": result.total,
            "limit": result.limit,
            "offset": result.offset,
        }
    if route.many:
        return [one(item).model_dump(mode="json") for item in result]
    return one(result).model_dump(mode="json")


async def _body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise BadRequest(f"body larger than {MAX_BODY_BYTES} bytes")
    raw = await request.read()
    if not raw:
        raise BadRequest("a JSON body is required")
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from None
    return model.model_validate(data)


# Told (method, path template) after every write that committed, e.g. so routing re-reads owners or agents.
WriteHook = Callable[[str, str], None]


def bind(
    route: Route, *, db: Database, rules: PhoneRules, on_write: Sequence[WriteHook] = ()
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        principal: Principal = request["principal"]
        body = await _body(request, route.body) if route.body else None
        async with db.session(actor_id=principal.user_id) as session:
            call = Call(request=request, principal=principal, session=session, rules=rules, body=body)
            result = await route.handler(call)
            if isinstance(result, web.StreamResponse):
                return result
            payload = _dump(route, result)
        for hook in call.after_commit:
            hook()
        if route.method != "GET":
            for write_hook in on_write:
                write_hook(route.method, route.path)
        if route.status == 204:
            return web.Response(status=204)
        return web.json_response(payload, status=route.status)

    return handle


def error_body(code: str, message: str, *, field: str | None = None, **extra: Any) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    error.update(extra)
    return {"error": error}


@web.middleware
async def error_middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    try:
        return await handler(request)
    except CrmError as exc:
        return web.json_response(
            error_body(exc.code, exc.message, field=exc.field, **exc.details), status=STATUS.get(type(exc), 400)
        )
    except ValidationError as exc:
        fields = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
            for e in exc.errors(include_url=False)
        ]
        return web.json_response(
            error_body("validation_failed", fields[0]["message"], field=fields[0]["field"], fields=fields), status=422
        )
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return web.json_response(error_body(exc.reason.lower().replace(" ", "_"), exc.reason), status=exc.status)
    except Exception:
        incident = uuid.uuid4().hex[:12]
        log.exception("unhandled error in %s %s incident=%s", request.method, request.path, incident)
        return web.json_response(error_body("internal", "internal error", incident=incident), status=500)


def openapi_document(api: Api, *, title: str, version: str) -> dict[str, Any]:
    """OpenAPI 3.1 from the route declarations (the same ones that validate and serialise)."""
    keyed = [(m, "validation" if m is r.body else "serialization") for r in api.routes for m in (r.body, r.response) if m]
    _, definitions = models_json_schema(list(dict.fromkeys(keyed)), ref_template="#/components/schemas/{model}")
    paths: dict[str, Any] = {}
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for route in api.routes:
        operation: dict[str, Any] = {
            "summary": route.summary,
            "tags": [route.tag],
            "operationId": route.handler.__name__,
            "parameters": [
                {"name": name, "in": "path", "required": True, "schema": {"type": _PATH_TYPES.get(name, "string")}}
                for name in _path_params(route.path)
            ]
            + [{"name": name, "in": "query", "required": False, "schema": {"type": "string"}} for name in route.query],
            "responses": {
                "400": {"description": "bad request", **error},
                "401": {"description": "no or bad token", **error},
                "403": {"description": "not allowed", **error},
                "404": {"description": "not found", **error},
                "409": {"description": "conflict", **error},
                "422": {"description": "validation failed", **error},
            },
        }
        if route.body:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{route.body.__name__}"}}},
            }
        ok: dict[str, Any] = {"description": "ok"}
        if route.response:
            schema: dict[str, Any] = {"$ref": f"#/components/schemas/{route.response.__name__}"}
            if route.many:
                schema = {"type": "array", "items": schema}
            elif route.query and "limit" in route.query:
                schema = {
                    "type": "object",
                    "properties": {
                        "items": {"type": "array", "items": schema},
                        "total": {"type": "integer"},
                        "limit": {"type": "integer"},
                        "offset": {"type": "integer"},
                    },
                }
            ok["content"] = {"application/json": {"schema": schema}}
        operation["responses"][str(route.status)] = ok
        paths.setdefault(route.path, {})[route.method.lower()] = operation
    schemas = dict(definitions.get("$defs", {}))
    schemas["Error"] = {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}},
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
    }


# Record ids are integers (read with path_int); call ids (Asterisk Linkedids) and agent extensions are strings.
_PATH_TYPES = {"id": "integer"}


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]
