"""What the sales reports need beyond the CRM core (a deal's lost reason)."""

from __future__ import annotations

from crm_core.models import Base  # noqa: F401  (tables of this module register on Base.metadata)
