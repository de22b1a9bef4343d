"""CRM errors with stable ids; the HTTP layer maps them to status codes in one place."""

from __future__ import annotations

from typing import Any


class CrmError(Exception):
    code = "crm_error"

    def __init__(self, message: str, *, field: str | None = None, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details


class NotFound(CrmError):
    code = "not_found"


class Conflict(CrmError):
    """The record would duplicate one that exists; `details` names it (entity, id)."""

    code = "conflict"


class Invalid(CrmError):
    code = "invalid"


class Forbidden(CrmError):
    code = "forbidden"


class Unauthorized(CrmError):
    code = "unauthorized"


class TooManyRequests(CrmError):
    """Refused for now (failed sign-ins from this address); ``details['retry_after_s']`` says when to try again."""

    code = "too_many_requests"
