"""Secrets never reach the access log: token-like query values and anything shaped like one of our secrets are
replaced before a line is written, whatever logged it (aiohttp's access logger formats the request line and the
Referer header, which may carry a login link's code or an old-style ``?token=`` URL)."""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
# Query parameters that carry credentials here or in clients' habits.
_QUERY = re.compile(
    r"(?i)([?&;](?:token|access_token|api_key|apikey|key|ticket|login|code|secret|password|auth)=)[^&\s\"']*"
)
# Our own secrets by their prefixes (API tokens, WebSocket tickets, login codes), wherever they appear.
_SHAPED = re.compile(r"\b(?:cc|wst|login)_[A-Za-z0-9_-]{16,}")


def redact(text: str) -> str:
    return _SHAPED.sub(REDACTED, _QUERY.sub(lambda m: m.group(1) + REDACTED, text))


class RedactSecrets(logging.Filter):
    """On ``aiohttp.access``: rewrites the message and the request line it also hands to structured formatters."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = ()
        for key in ("first_request_line", "request_header"):
            value = record.__dict__.get(key)
            if isinstance(value, str):
                record.__dict__[key] = redact(value)
            elif isinstance(value, dict):
                record.__dict__[key] = {k: redact(v) if isinstance(v, str) else v for k, v in value.items()}
        return True


_FILTER = RedactSecrets()


def install() -> None:
    """Idempotent: every app built in this process shares the one filter on the access logger."""
    logger = logging.getLogger("aiohttp.access")
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
