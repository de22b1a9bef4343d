"""What every input value must satisfy before it reaches the database or Asterisk, whatever the field.

Pure checks, applied by ``schemas.In`` to every field of every request body (and by the HTTP layer to the raw JSON),
so a new field is covered without anyone remembering to:

- integers fit a 64-bit column (PostgreSQL BIGINT, SQLite INTEGER): a larger one is refused, not overflowed;
- date-times are timezone-aware values that still exist in UTC (``0001-01-01T00:00:00+14:00`` does not);
- text holds no NUL or other control characters, nor the bidirectional controls that make a name display as
  something else (U+202A..U+202E, U+2066..U+2069, U+200E/U+200F, U+061C, "Trojan Source"); single-line fields (names,
  titles, reasons: everything but the multi-line fields below) also hold no line break, which would split an AMI
  header or a log line.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Free text typed by people: line breaks are part of it. Every other field is a single line.
MULTILINE_FIELDS = frozenset({"body", "notes", "description", "text", "message", "custom"})

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u0080-\u009f]")
_BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_LINE_BREAK = re.compile("[\r\n\u2028\u2029]")


def check_text(value: str, *, multiline: bool) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters (NUL, escape, ...)")
    if _BIDI.search(value):
        raise ValueError("must not contain bidirectional control characters")
    if not multiline and _LINE_BREAK.search(value):
        raise ValueError("must be a single line (no CR or LF)")
    return value


def check_int(value: int) -> int:
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"must be between {INT64_MIN} and {INT64_MAX}")
    return value


def check_datetime(value: datetime) -> datetime:
    if value.tzinfo is not None:
        try:
            value.astimezone(timezone.utc)
        except OverflowError:
            raise ValueError("is out of range once converted to UTC") from None
    return value


def check_value(value: Any, *, multiline: bool) -> Any:
    """``value`` as validated by pydantic (str, int, datetime, or lists / dicts of them); raises ValueError."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return check_text(value, multiline=multiline)
    if isinstance(value, int):
        return check_int(value)
    if isinstance(value, datetime):
        return check_datetime(value)
    if isinstance(value, (list, tuple)):
        for item in value:
            check_value(item, multiline=multiline)
    elif isinstance(value, dict):
        for key, item in value.items():
            check_value(key, multiline=False)
            check_value(item, multiline=multiline)
    return value


class TooDeep(ValueError):
    pass


def check_json(data: Any, *, max_depth: int = 32) -> None:
    """Raw JSON (any shape): nesting at most ``max_depth`` (a 5,000-deep body must not reach a recursive validator)
    and no integer beyond 64 bits, wherever it is (also in free-form dicts such as custom fields)."""
    stack: list[tuple[Any, int, str]] = [(data, 0, "body")]
    while stack:
        value, depth, where = stack.pop()
        if depth > max_depth:
            raise TooDeep(f"{where}: nested deeper than {max_depth} levels")
        if isinstance(value, bool):
            continue
        if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
            raise ValueError(f"{where}: must be between {INT64_MIN} and {INT64_MAX}")
        if isinstance(value, dict):
            stack.extend((item, depth + 1, f"{where}.{key}" if where != "body" else str(key)) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((item, depth + 1, f"{where}[{i}]") for i, item in enumerate(value))
