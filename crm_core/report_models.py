"""Saved reports: their definitions, versions (who changed what) and team shares (issue 14)."""

from __future__ import annotations

from crm_core.models import Base  # noqa: F401  (tables of this module register on Base.metadata)
