"""Every Redis key and channel name the service uses, defined once (instances must agree on them)."""

from __future__ import annotations

PREFIX = "cc:"
EVENTS_CHANNEL = PREFIX + "events"  # pub/sub: domain events fanned out across service instances
DIALER_LEASE = PREFIX + "dialer:lease:team:"  # + team id: the instance pacing that team's campaigns (expires)
DIALER_STATUS = PREFIX + "dialer:status:"  # + campaign id: its live status, as the pacing instance last saw it
