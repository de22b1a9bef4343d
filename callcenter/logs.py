"""Logging a supervisor can read: one line per event, with the call id when there is one."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

call_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("call_id", default="-")


class _ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "call_id"):
            record.call_id = call_id_var.get()
        return True


class _LineFormatter(logging.Formatter):
    converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        # Newlines inside a message would break "one line per event"; tracebacks go on indented lines.
        text = super().format(record)
        head, *rest = text.split("\n")
        return head if not rest else head + "\n" + "\n".join("    " + line for line in rest)


class JsonFormatter(logging.Formatter):
    """One JSON object per line (log.format = "json"): time (UTC, ISO 8601), level, logger, message, call_id, and
    exception (the traceback) when there is one. json.dumps escapes line breaks, so a traceback stays on its line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "call_id": getattr(record, "call_id", "-"),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def setup(level: str = "INFO", *, as_json: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_ContextFilter())
    if as_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            _LineFormatter("%(asctime)s.%(msecs)03dZ %(levelname)-7s %(name)s call=%(call_id)s %(message)s", "%Y-%m-%dT%H:%M:%S")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # aiohttp's access log is one line per request already; keep it, quiet the chatty libraries.
    for noisy in ("alembic", "asyncio", "sqlalchemy.engine"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))


@contextmanager
def call_context(call_id: str) -> Iterator[None]:
    token = call_id_var.set(call_id)
    try:
        yield
    finally:
        call_id_var.reset(token)
