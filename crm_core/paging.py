"""Offset pagination shared by every list query."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")
MAX_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


async def paginate(session: AsyncSession, query: Select[Any], *, limit: int, offset: int) -> Page[Any]:
    total = await session.scalar(select(func.count()).select_from(query.order_by(None).subquery()))
    items = list(await session.scalars(query.limit(limit).offset(offset)))
    return Page(items=items, total=total or 0, limit=limit, offset=offset)
