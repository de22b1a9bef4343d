"""Staffing: agents needed per 15-minute interval (Erlang C / A on measured traffic) and what-if simulation."""

from __future__ import annotations

from callcenter.api.framework import Api

api = Api()
V1 = "/api/v1"
