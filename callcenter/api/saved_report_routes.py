"""Saved reports: build, save, share, version, evaluate with a cursor, export (CSV, XLSX)."""

from __future__ import annotations

from callcenter.api.framework import Api

api = Api()
V1 = "/api/v1"
