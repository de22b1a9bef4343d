"""A thin layer over aiohttp: typed bodies, one session per request, errors mapped in one middleware, OpenAPI.

Each route is declared once with its body and response models; the same declaration drives validation,
serialisation and the OpenAPI document, so they cannot drift apart.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from callcenter.api.auth import PRINCIPAL
from crm_core.access import Principal
from crm_core.db import Database
from crm_core.errors import Conflict, CrmError, Forbidden, Invalid, NotFound, TooManyRequests, Unauthorized
from crm_core.input_rules import INT64_MAX, TooDeep, check_json, check_text
from crm_core.models import Role
from crm_core.paging import MAX_LIMIT, Page
from crm_core.records import PhoneRules

log = logging.getLogger("callcenter.api")

MAX_BODY_BYTES = 1024 * 1024
STATUS = {NotFound: 404, Conflict: 409, Invalid: 422, Forbidden: 403, Unauthorized: 401, TooManyRequests: 429}
MAX_JSON_DEPTH = 32


class BadRequest(CrmError):
    code = "bad_request"


class ServiceUnavailable(CrmError):
    """A dependency outside us (Asterisk) cannot do it now; the client may retry."""

    code = "unavailable"


class UnsupportedMediaType(CrmError):
    code = "unsupported_media_type"


STATUS[BadRequest] = 400
STATUS[ServiceUnavailable] = 503
STATUS[UnsupportedMediaType] = 415


@dataclass(slots=True)
class Call:
    """What a handler gets: the request, who asks, the validated body and an open transaction."""

    request: web.Request
    principal: Principal
    session: Any
    rules: PhoneRules
    body: Any = None
    # Run after the transaction commits (publishing facts about what was just written).
    # Run once the transaction is committed (a failed write must not act); a coroutine a hook returns is awaited.
    after_commit: list[Callable[[], Any]] = field(default_factory=list)

    def path_int(self, name: str) -> int:
        raw = self.request.match_info[name]
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(f"{name} must be an integer", field=name) from None
        if not 0 < value < 2**63:
            raise NotFound(f"{name} {raw} not found", field=name)
        return value

    def query_int(self, name: str, *, default: int | None = None, low: int = 0, high: int = INT64_MAX) -> int | None:
        raw = self.request.query.get(name)
        if raw is None:
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
        if raw:
            try:
                check_text(raw, multiline=False)  # a NUL would reach (and break) a PostgreSQL query
            except ValueError as exc:
                raise BadRequest(f"query parameter {name} {exc}", field=name) from None
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
    public: bool = False  # no token needed (a login link's exchange); the handler gets ANONYMOUS
    # JSON schemas of query parameters beyond the common ones in QUERY_SCHEMAS (enums, other bounds)
    query_schemas: dict[str, dict[str, Any]] | None = None
    # A file, not JSON (a chart, an export): the media types its success may have.
    media: tuple[str, ...] = ()


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
        public: bool = False,
        query_schemas: dict[str, dict[str, Any]] | None = None,
        media: tuple[str, ...] = (),
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(
                Route(method, path, handler, summary, body, response, many, status, query, tag, public, query_schemas,
                      media)
            )
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


def is_json(content_type: str) -> bool:
    return content_type == "application/json" or (content_type.startswith("application/") and content_type.endswith("+json"))


async def _body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise BadRequest(f"body larger than {MAX_BODY_BYTES} bytes", field="body")
    # A form or text body is not JSON that happens to parse: refusing it also keeps a cross-site HTML form (which
    # cannot send application/json without a CORS preflight) from ever reaching a handler.
    raw = await request.read()
    if not raw:
        raise BadRequest("a JSON body is required", field="body")
    if not is_json(request.content_type):
        raise UnsupportedMediaType(
            f"send the body as application/json (got {request.content_type or 'no Content-Type'})", field="Content-Type"
        )
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadRequest(f"body is not valid JSON: {exc}", field="body") from None
    except RecursionError:
        raise BadRequest(f"body nested deeper than {MAX_JSON_DEPTH} levels", field="body") from None
    try:
        check_json(data, max_depth=MAX_JSON_DEPTH)
    except TooDeep as exc:
        raise BadRequest(str(exc).partition(": ")[2], field=str(exc).partition(": ")[0]) from None
    except ValueError as exc:
        where, _, message = str(exc).partition(": ")
        raise Invalid(message, field=where) from None
    # Strict: JSON types as the OpenAPI document states them (no 0 for false, no epoch number for a date-time, no
    # "1" for an integer): what a client sends is what it meant.
    return model.model_validate_json(raw, strict=True)


# Who a public route's handler sees: nobody (the scope makes every access check refuse).
ANONYMOUS = Principal(user_id=None, role=Role.AGENT, scope="anonymous")

# Told (method, path template) after every write that committed, e.g. so routing re-reads owners or agents.
WriteHook = Callable[[str, str], None]


def bind(
    route: Route, *, db: Database, rules: PhoneRules, on_write: Sequence[WriteHook] = ()
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        principal = request.get(PRINCIPAL) or ANONYMOUS
        for name, value in request.match_info.items():
            try:
                check_text(value, multiline=False)
            except ValueError:
                raise NotFound(f"no such {name}", field=name) from None  # nothing with such a name can exist
        body = await _body(request, route.body) if route.body else None
        async with db.session(actor_id=principal.user_id) as session:
            call = Call(request=request, principal=principal, session=session, rules=rules, body=body)
            result = await route.handler(call)
            if isinstance(result, web.StreamResponse):
                return result
            payload = _dump(route, result)
        for hook in call.after_commit:
            pending = hook()
            if asyncio.iscoroutine(pending):  # awaited before the answer (a task it returns runs on in the background)
                await pending
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
        headers = {"Retry-After": str(exc.details["retry_after_s"])} if "retry_after_s" in exc.details else None
        return web.json_response(
            error_body(exc.code, exc.message, field=exc.field, **exc.details), status=STATUS.get(type(exc), 400),
            headers=headers,
        )
    except ValidationError as exc:
        fields = [
            {"field": ".".join(str(p) for p in e["loc"]) or "body", "message": e["msg"]}
            for e in exc.errors(include_url=False)
        ]
        return web.json_response(
            error_body("validation_failed", fields[0]["message"], field=fields[0]["field"], fields=fields), status=422
        )
    except IntegrityError as exc:
        # A constraint the validation did not foresee (e.g. null for a column that needs a value): the client's input,
        # so a 4xx naming the column, never a 500.
        column = _constraint_column(exc)
        if column is not None:
            return web.json_response(error_body("invalid", f"{column} needs a value", field=column), status=422)
        return web.json_response(error_body("conflict", "the change conflicts with existing data"), status=409)
    except (DataError, DBAPIError) as exc:
        # SQLSTATE class 22 (data exception: out of range, bad encoding): the input's fault, a 422, never a 500.
        cause = getattr(exc.orig, "__cause__", None)  # asyncpg refusing an argument it cannot encode (int32 range)
        data = isinstance(exc, DataError) or isinstance(cause, (ValueError, OverflowError))
        if not data and not str(getattr(exc.orig, "sqlstate", "") or "").startswith("22"):
            return _internal_error(request)
        return web.json_response(error_body("invalid", "a value is out of range for its field", field="body"), status=422)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # Keep what the exception says beyond its body: Allow on a 405, Retry-After, ...
        headers = {k: v for k, v in exc.headers.items() if k.lower() not in ("content-type", "content-length")}
        if isinstance(exc, web.HTTPMethodNotAllowed) and (documented := _documented_methods(request)) is not None:
            headers["Allow"] = ",".join(documented)
        return web.json_response(
            error_body(exc.reason.lower().replace(" ", "_"), exc.reason), status=exc.status, headers=headers
        )
    except Exception:
        return _internal_error(request)


def _internal_error(request: web.Request) -> web.Response:
    """Called inside an except block: logs the exception being handled with an incident id the answer repeats."""
    incident = uuid.uuid4().hex[:12]
    log.exception("unhandled error in %s %s incident=%s", request.method, request.path, incident)
    return web.json_response(error_body("internal", "internal error", incident=incident), status=500)


# The OpenAPI document of the app serving the request (set by the composition root), for Allow on a 405.
OPENAPI_DOC = web.AppKey("openapi_doc", dict)


def _documented_methods(request: web.Request) -> list[str] | None:
    """The methods documented for the path as the document names it: its most literal template that matches (so
    /calls/click-to-call answers POST, not also the GET of /calls/{call_id} that aiohttp's router would add)."""
    doc = request.app.get(OPENAPI_DOC)
    if doc is None:
        return None
    parts = request.path.rstrip("/").split("/")
    best: tuple[int, list[str]] | None = None
    for template, operations in doc.get("paths", {}).items():
        pattern = template.split("/")
        if len(pattern) != len(parts):
            continue
        if all(p == q or (p.startswith("{") and p.endswith("}") and q) for p, q in zip(pattern, parts)):
            params = sum(p.startswith("{") for p in pattern)
            if best is None or params < best[0]:
                best = (params, sorted(m.upper() for m in operations))
    return best[1] if best else None


_NOT_NULL = (
    re.compile(r"NOT NULL constraint failed: \w+\.(\w+)"),  # SQLite
    re.compile(r'null value in column "(\w+)"'),  # PostgreSQL
)


def _constraint_column(exc: IntegrityError) -> str | None:
    text = str(exc.orig)
    for pattern in _NOT_NULL:
        if match := pattern.search(text):
            return match.group(1)
    return None


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
                {"name": name, "in": "path", "required": True, "schema": _PATH_TYPES.get(name, {"type": "string"})}
                for name in _path_params(route.path)
            ]
            + [
                {"name": name, "in": "query", "required": False, "schema": _query_schema(route, name)}
                for name in route.query
            ],
            "responses": {
                "400": {"description": "bad request", **error},
                "401": {"description": "no or bad token", **error},
                "403": {"description": "not allowed", **error},
                "404": {"description": "not found", **error},
                "409": {"description": "conflict", **error},
                "422": {"description": "validation failed", **error},
                "429": {"description": "too many failed sign-ins from this address (see Retry-After)", **error},
                "503": {"description": "a dependency (Asterisk, the CRM writer) cannot do it now; retry", **error},
            },
        }
        if route.public:
            operation["security"] = []
        if route.body:
            operation["responses"]["413"] = {"description": "body too large", **error}
            operation["responses"]["415"] = {"description": "the body is not application/json", **error}
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
        if route.media:
            ok["content"] = {media: {"schema": {"type": "string", "format": "binary"}} for media in route.media}
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
_PATH_TYPES: dict[str, dict[str, Any]] = {"id": {"type": "integer", "format": "int64"}}
_BOOL = {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"]}
# Query parameters as Call.query_int / query_bool read them, by name; others default to a string.
QUERY_SCHEMAS: dict[str, dict[str, Any]] = {
    "limit": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
    "offset": {"type": "integer", "minimum": 0, "maximum": INT64_MAX},
    "pool": _BOOL, "overdue": _BOOL, "unread": _BOOL, "download": _BOOL,
    # Free-text parameters with the length Call.query_str allows them.
    "phone": {"type": "string", "maxLength": 64}, "call_id": {"type": "string", "maxLength": 64},
    "email": {"type": "string", "maxLength": 320}, "q": {"type": "string", "maxLength": 200},
    "team": {"type": "string", "maxLength": 120}, "from": {"type": "string", "maxLength": 64},
    "to": {"type": "string", "maxLength": 64}, "entity": {"type": "string", "maxLength": 64},
}
_ID_QUERY = {"type": "integer", "minimum": 0, "maximum": INT64_MAX}


def _query_schema(route: Route, name: str) -> dict[str, Any]:
    if route.query_schemas and name in route.query_schemas:
        return route.query_schemas[name]
    if name in QUERY_SCHEMAS:
        return QUERY_SCHEMAS[name]
    if name.endswith("_id") and name != "call_id":
        return _ID_QUERY
    return {"type": "string"}


def enum_schema(enum_type: Any) -> dict[str, Any]:
    return {"type": "string", "enum": [e.value for e in enum_type]}


def _path_params(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{") and part.endswith("}")]
