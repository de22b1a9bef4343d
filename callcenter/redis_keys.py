"""Every Redis key and channel name the service uses, defined once (instances must agree on them)."""

from __future__ import annotations

PREFIX = "cc:"
EVENTS_CHANNEL = PREFIX + "events"  # pub/sub: domain events fanned out across service instances
