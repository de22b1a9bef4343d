"""Custom fields per entity: typed values and required-field rules."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crm_core.errors import Invalid
from crm_core.models import CustomFieldDef, Entity, FieldType

MAX_STRING_LENGTH = 2000


def _coerce(definition: CustomFieldDef, value: Any) -> Any:
    field = f"custom.{definition.key}"
    kind = definition.field_type
    if kind is FieldType.STRING:
        if not isinstance(value, str):
            raise Invalid("must be text", field=field)
        if len(value) > MAX_STRING_LENGTH:
            raise Invalid(f"longer than {MAX_STRING_LENGTH} characters", field=field)
        return value
    if kind is FieldType.NUMBER:
        if isinstance(value, bool):
            raise Invalid("must be a number", field=field)
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise Invalid("must be a number", field=field) from None
        if not number.is_finite():
            raise Invalid("must be a finite number", field=field)
        # Kept as a JSON number; integers stay integers.
        return int(number) if number == number.to_integral_value() else float(number)
    if kind is FieldType.DATE:
        try:
            return date.fromisoformat(str(value)).isoformat()
        except ValueError:
            raise Invalid("must be a date (YYYY-MM-DD)", field=field) from None
    if value not in definition.choices:
        raise Invalid(f"must be one of {definition.choices}", field=field)
    return value


def validate(
    definitions: Iterable[CustomFieldDef],
    values: Mapping[str, Any],
    *,
    stage_position: int | None = None,
    stage_positions: Mapping[int, int] | None = None,
) -> dict[str, Any]:
    """Check `values` (the record's full custom dict after the change) against the definitions.

    A deal field with `required_from_stage_id` is required once the deal's stage is at or past that stage.
    """
    by_key = {d.key: d for d in definitions}
    unknown = sorted(set(values) - set(by_key))
    if unknown:
        raise Invalid(f"no such custom field: {unknown[0]}", field=f"custom.{unknown[0]}")
    cleaned: dict[str, Any] = {}
    for key, definition in by_key.items():
        value = values.get(key)
        if value is None or value == "":
            if _is_required(definition, stage_position, stage_positions or {}):
                raise Invalid("is required", field=f"custom.{key}")
            continue
        cleaned[key] = _coerce(definition, value)
    return cleaned


def _is_required(definition: CustomFieldDef, stage_position: int | None, positions: Mapping[int, int]) -> bool:
    if definition.required:
        return True
    if definition.required_from_stage_id is None or stage_position is None:
        return False
    threshold = positions.get(definition.required_from_stage_id)
    return threshold is not None and stage_position >= threshold


async def definitions_for(session: AsyncSession, entity: Entity) -> list[CustomFieldDef]:
    rows = await session.scalars(select(CustomFieldDef).where(CustomFieldDef.entity == entity))
    return list(rows)
