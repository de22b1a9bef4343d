"""Sales analytics: funnel per pipeline, lead-source conversion, activity per manager, lost reasons."""

from __future__ import annotations

from callcenter.api.framework import Api

api = Api()
V1 = "/api/v1"
