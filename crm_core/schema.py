"""Every model module, so that importing this one puts every table on ``Base.metadata`` (migrations, schema tests)."""

from __future__ import annotations

from crm_core import (
    agent_log_models, call_rollup_models, dialer_models, mail_models, models, outbox_models, recording_models,
    report_models, sales_models, script_models,
)

Base = models.Base
include_name = recording_models.include_name

__all__ = [
    "Base", "include_name", "agent_log_models", "call_rollup_models", "dialer_models", "mail_models", "outbox_models", "report_models",
    "sales_models", "script_models",
]
