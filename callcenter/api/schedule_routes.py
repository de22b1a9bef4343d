"""Scheduled reports: a saved report delivered daily or weekly by e-mail or webhook."""

from __future__ import annotations

from callcenter.api.framework import Api

api = Api()
V1 = "/api/v1"
