"""Audit log of every change (who, what, when), written in the same transaction as the change itself.

Hooked on the session rather than on each service function, so no code path can change a record unaudited.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import event, insert, inspect
from sqlalchemy.orm import Session

from crm_core.types import utcnow

_installed = False


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _columns(obj: Any) -> list[str]:
    return [attr.key for attr in inspect(obj).mapper.column_attrs]


def _rows(session: Session, actor_key: str) -> list[dict[str, Any]]:
    from crm_core.models import AuditEntry  # noqa: F401  (table must be mapped)

    actor = session.info.get(actor_key)
    now = utcnow()
    rows = []

    def add(obj: Any, action: str, changes: dict[str, Any]) -> None:
        rows.append(
            {
                "at": now,
                "actor_id": actor,
                "entity": obj.__tablename__,
                "entity_id": obj.id,
                "action": action,
                "changes": changes,
            }
        )

    for obj in session.new:
        if getattr(obj, "__audited__", False):
            add(obj, "create", {key: _jsonable(getattr(obj, key)) for key in _columns(obj)})
    for obj in session.dirty:
        if not getattr(obj, "__audited__", False) or not session.is_modified(obj, include_collections=False):
            continue
        state = inspect(obj)
        changes = {}
        for key in _columns(obj):
            history = state.attrs[key].history
            if history.has_changes() and key != "updated_at":
                old = history.deleted[0] if history.deleted else None
                new = history.added[0] if history.added else None
                if old != new:
                    changes[key] = [_jsonable(old), _jsonable(new)]
        if changes:
            add(obj, "update", changes)
    for obj in session.deleted:
        if getattr(obj, "__audited__", False):
            add(obj, "delete", {key: _jsonable(getattr(obj, key)) for key in _columns(obj)})
    return rows


def install(actor_key: str) -> None:
    """Register the hook once for every Session in the process."""
    global _installed
    if _installed:
        return
    _installed = True

    @event.listens_for(Session, "after_flush")
    def _after_flush(session: Session, _context: Any) -> None:
        # after_flush: new rows have their ids and attribute history is still intact.
        rows = _rows(session, actor_key)
        if rows:
            from crm_core.models import AuditEntry

            session.connection().execute(insert(AuditEntry), rows)
