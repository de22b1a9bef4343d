"""Scheduled report deliveries and the e-mail outbox."""

from __future__ import annotations

from crm_core.models import Base  # noqa: F401  (tables of this module register on Base.metadata)
