"""Contact-centre analytics: call figures per agent, team, DID, queue and interval; agent occupancy and pauses."""

from __future__ import annotations

from callcenter.api.framework import Api

api = Api()
V1 = "/api/v1"
