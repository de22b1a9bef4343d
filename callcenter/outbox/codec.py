"""What goes through the outbox, as JSON, and each item's dedupe key (the same fact from two instances is one row)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Final

from callcenter.automation.facts import DealStageChanged
from callcenter.events import (
    FROM_AMI,
    AgentStateChanged,
    CallEnded,
    CallRouted,
    RecordingReady,
    event_from_dict,
    event_to_dict,
)

# What the workers need: the call path's facts (AMI's, FastAGI's) and the CRM facts the API commits. Ringing,
# answered, transferred... are in the outbox too: a worker's consumers may want them, and they are cheap.
FACTS: Final[dict[str, type]] = {"DealStageChanged": DealStageChanged}  # appended in the API's own transaction
FROM_BUS: Final[frozenset[type]] = frozenset({*FROM_AMI, CallRouted})  # appended by the call path's writer


class BadItem(ValueError):
    """A row that does not decode: reported with its id and skipped, never retried forever."""


def dedupe_key(item: object) -> str:
    """Identity across instances: what two instances derive from one AMI stream gets the same key."""
    if isinstance(item, CallEnded):
        return f"ended:{item.call_id}"
    if isinstance(item, AgentStateChanged):
        return f"agent:{item.agent}:{item.at_s:.6f}:{item.state}:{item.previous}"
    if isinstance(item, RecordingReady):
        return f"recording:{item.call_id}:{item.path}"
    if isinstance(item, CallRouted):
        return f"routed:{item.call_id}:{item.attempt}:{item.instance}"
    if isinstance(item, DealStageChanged):
        return item.key
    # CallStarted, CallRinging, CallAnswered, CallTransferred: by call and instant
    payload = event_to_dict(item)
    return f"{payload['type']}:{payload.get('call_id')}:{payload.get('at_s')}:{payload.get('agent', '')}"[:200]


def encode(item: object) -> tuple[str, str]:
    """(kind, JSON payload)."""
    if isinstance(item, tuple(FACTS.values())):
        return type(item).__name__, json.dumps(dataclasses.asdict(item), separators=(",", ":"))  # type: ignore[call-overload]
    payload = event_to_dict(item)
    return payload["type"], json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def decode(kind: str, payload: str) -> object:
    try:
        data: dict[str, Any] = json.loads(payload)
        fact = FACTS.get(kind)
        if fact is not None:
            return fact(**data)
        if data.get("type") != kind:
            raise ValueError(f"payload type {data.get('type')!r} is not the row's kind")
        return event_from_dict(data)
    except (ValueError, TypeError, KeyError) as exc:
        raise BadItem(f"{kind}: {exc.__class__.__name__}: {exc}") from None
