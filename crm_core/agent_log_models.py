"""Agent state spells (available, talking, wrap-up, paused with reason) as the reports read them for occupancy and pause time."""

from __future__ import annotations

from crm_core.models import Base  # noqa: F401  (tables of this module register on Base.metadata)
