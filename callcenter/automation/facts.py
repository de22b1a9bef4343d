"""CRM facts: what happened in the CRM, published on the bus after it is committed. Rules react to them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Fact:
    name = "fact"

    @property
    def key(self) -> str:
        """Identity of the fact, so reacting twice to a replay is detectable."""
        raise NotImplementedError

    def payload(self) -> dict[str, Any]:
        return {"event": self.name, **asdict(self)}


@dataclass(frozen=True, slots=True)
class CallLogged(Fact):
    call_id: str
    activity_id: int
    direction: str
    outcome: str
    did: str | None
    number: str | None
    entity: str | None
    record_id: int | None
    responsible_id: int | None
    agent_user_id: int | None
    name = "call.ended"

    @property
    def key(self) -> str:
        return f"call:{self.call_id}"

    @property
    def missed(self) -> bool:
        return self.direction == "inbound" and self.outcome in ("missed", "abandoned")


@dataclass(frozen=True, slots=True)
class WrapUpLogged(Fact):
    """An agent's wrap-up (after-call work) booked on a call's activity, which changes the call's handle time. No
    rule reacts to it (not in FACT_NAMES); the wallboard's figures refresh on it."""

    call_id: str
    activity_id: int
    agent: str
    wrapup_s: float  # this agent's spell just booked (their own after-call work)
    call_wrapup_s: float  # the call's wrap-up so far: every agent's, every spell (what AHT adds to talk)
    name = "call.wrapped_up"

    @property
    def key(self) -> str:
        return f"wrapup:{self.call_id}:{self.agent}:{self.call_wrapup_s}"


@dataclass(frozen=True, slots=True)
class LeadCreated(Fact):
    lead_id: int
    number: str | None
    responsible_id: int | None
    source: str
    channel: str | None
    call_id: str | None
    name = "lead.created"

    @property
    def key(self) -> str:
        return f"lead:{self.lead_id}"


@dataclass(frozen=True, slots=True)
class DealStageChanged(Fact):
    deal_id: int
    from_stage_id: int | None
    to_stage_id: int
    status: str
    responsible_id: int | None
    changed_by_id: int | None
    change_id: int
    name = "deal.stage_changed"

    @property
    def key(self) -> str:
        return f"deal-stage:{self.change_id}"


@dataclass(frozen=True, slots=True)
class CallbackOverdue(Fact):
    task_id: int
    number: str | None
    assignee_id: int | None
    due_at: str
    missed_count: int
    name = "callback.overdue"

    @property
    def key(self) -> str:
        return f"overdue:{self.task_id}"


FACT_NAMES = ("call.ended", "call.missed", "lead.created", "deal.stage_changed", "callback.overdue")
