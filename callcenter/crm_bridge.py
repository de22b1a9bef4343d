"""Every finished call into the CRM: one call activity, a lead for an unknown number, a callback for a missed call.

Fed by `CallEnded` / `RecordingReady` / agents leaving wrap-up (`AgentStateChanged`) from the bus. Writes happen
in one task, in event order, each call in its own transaction. Everything is idempotent by call id (the Asterisk
Linkedid): a replay, a resync or a second service instance never makes a second activity, lead or merged miss,
because the database refuses the duplicate (unique call id on activities, unique phone on records, one open
callback per number) and we then update instead.

Wrap-up (after-call work) is booked on the call it followed, as spells keyed by agent and start (``call_meta``
``wrapup_spells``) with their sum in ``call_meta.wrapup_s``, which the reports add to talk time for AHT. Keyed spells
make a replayed event a no-op and let a call have several (a pause in the middle, a transfer's two agents). A spell
that ends before its call's activity exists (the first agent of a transfer) is held and written with the activity.
No wrap-up configured means no spells and no ``wrapup_s`` at all: unknown, never a made-up 0.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.automation.facts import CallLogged, LeadCreated, WrapUpLogged
from callcenter.dialer import attempt_store
from callcenter.events import (
    AgentStateChanged,
    CallDirection,
    CallEnded,
    CallOutcome,
    CallRouted,
    Consultation,
    DialAttempt,
    EventBus,
    RecordingReady,
)
from callcenter.reports.report import DidTeam, call_team
from crm_core import records
from crm_core.access import Principal
from crm_core.db import Database
from crm_core.errors import Conflict
from crm_core.models import (
    OPEN_CALLBACK,
    Activity,
    ActivityKind,
    Contact,
    Deal,
    DealStatus,
    Direction,
    Entity,
    Lead,
    Task,
    TaskKind,
    TaskStatus,
    Team,
    User,
)
from crm_core.phones import is_withheld, try_normalize
from crm_core.records import Owner, PhoneRules
from crm_core.schemas import LeadIn, PhoneIn

log = logging.getLogger("callcenter.crm")

LeadPolicy = Literal["all", "missed", "never"]
MISSED = (CallOutcome.MISSED, CallOutcome.ABANDONED)


@dataclass(frozen=True, slots=True)
class BridgeRules:
    lead_on_unknown: LeadPolicy = "all"
    lead_policy_by_did: dict[str, LeadPolicy] = field(default_factory=dict)
    lead_exclude_numbers: frozenset[str] = frozenset()
    callback_sla_s: float = 900.0
    outbound_leads: bool = False

    def lead_policy(self, did: str | None) -> LeadPolicy:
        return self.lead_policy_by_did.get(did or "", self.lead_on_unknown)


MAX_ROUTED_CALLS = 20_000  # calls whose decisions are held until they end (a lost CallEnded must not leak)
MAX_HELD_WRAPUPS = 20_000  # calls whose wrap-up spells wait for their activity (same reason)

_DIRECTION = {CallDirection.INBOUND: Direction.INBOUND, CallDirection.OUTBOUND: Direction.OUTBOUND}


def _utc(epoch_s: float) -> datetime:
    return datetime.fromtimestamp(epoch_s, tz=timezone.utc)


@dataclass(frozen=True, slots=True)
class CallbackTeam:
    """The CRM team a missed call's callback is filed under (its pool), and that team's own SLA if it has one."""

    id: int | None
    name: str | None  # the routing team whose opening hours the SLA runs in
    callback_sla_s: float | None


def _spell(left: AgentStateChanged) -> dict[str, Any]:
    """One wrap-up spell as call_meta keeps it. Rounded to what Asterisk's timestamps carry, so the key (agent,
    start) compares equal after a JSON round trip on either database."""
    assert left.wrapup_since_s is not None and left.wrapup_s is not None
    return {"agent": left.agent, "started_s": round(left.wrapup_since_s, 6), "wrapup_s": round(left.wrapup_s, 3)}


def _attempt(a: DialAttempt) -> dict[str, Any]:
    return {"agent": a.agent, "queue": a.queue, "result": a.result, "at_s": round(a.at_s, 6),
            "ring_s": a.ring_s, "rang": a.rang}


def _consultation(c: Consultation) -> dict[str, Any]:
    return {"agent": c.agent, "by_agent": c.by_agent, "at_s": round(c.at_s, 6),
            "ended_s": round(c.ended_s, 6) if c.ended_s is not None else None, "transferred": c.transferred}


def with_wrapup_spells(meta: dict[str, Any], spells: list[dict[str, Any]]) -> dict[str, Any]:
    """``meta`` with ``spells`` booked once each (by agent and start) and ``wrapup_s`` the sum of all booked."""
    booked = {(s["agent"], s["started_s"]): s for s in meta.get("wrapup_spells", ())}
    booked.update(((s["agent"], s["started_s"]), s) for s in spells)
    ordered = sorted(booked.values(), key=lambda s: (s["started_s"], s["agent"]))
    return {**meta, "wrapup_spells": ordered, "wrapup_s": round(sum(s["wrapup_s"] for s in ordered), 3)}


def _mentions(task: Task, call_id: str) -> bool:
    """Whether the callback's log already names this call (its lines are "<id>", "attempt <id>: ...", ...)."""
    return any(call_id in line.replace(":", " ").split() for line in task.description.splitlines())


class CrmBridge:
    def __init__(
        self,
        *,
        db: Database,
        phone_rules: PhoneRules,
        rules: BridgeRules,
        publish: Callable[[object], None] | None = None,
        callback_due_s: Callable[[str | None, float, float], float] | None = None,
        did_team: DidTeam | None = None,
        present: Callable[[int], bool] | None = None,
        queue_limit: int = 100_000,
    ) -> None:
        self.db = db
        # (team, missed at, SLA) -> when the callback is due: the composition root counts only that team's open hours.
        self.callback_due_s = callback_due_s or (lambda _team, ended_s, sla_s: ended_s + sla_s)
        # DID -> the routing team serving it, for calls without a routing decision (as the reports attribute calls).
        self.did_team: DidTeam = did_team or (lambda _did: None)
        # Whether a user can take their callback now (logged in, not paused); unknown: assume so.
        self.present = present or (lambda _user_id: True)
        self.publish = publish
        self.phone_rules = phone_rules
        self.rules = rules
        self.queue: asyncio.Queue[object] = asyncio.Queue(maxsize=queue_limit)
        self.written = 0
        self.failed = 0
        self.dropped = 0
        self.idle = asyncio.Event()
        self.idle.set()
        # Routing decisions of calls still going on, written into their activity when they end.
        self.routes: collections.OrderedDict[str, list[dict[str, Any]]] = collections.OrderedDict()
        # Wrap-up spells of calls not written yet, by call id: written with the activity.
        self.held_wrapups: collections.OrderedDict[str, list[dict[str, Any]]] = collections.OrderedDict()

    def attach(self, bus: EventBus) -> None:
        bus.subscribe(self._enqueue, event_type=CallEnded)
        bus.subscribe(self._enqueue, event_type=RecordingReady)
        bus.subscribe(self._routed, event_type=CallRouted)
        bus.subscribe(self._agent_changed, event_type=AgentStateChanged)

    def _agent_changed(self, event: AgentStateChanged) -> None:
        # Through the writer's queue, so a wrap-up is handled in bus order with its call's CallEnded.
        if event.wrapup_call_id is not None:
            self._enqueue(event)

    def _routed(self, event: CallRouted) -> None:
        decision = {
            "attempt": event.attempt,
            "action": event.action,
            "reason": event.reason,
            "targets": list(event.targets),
            "queue": event.queue,
            "team": event.team,
            "explanation": event.explanation,
        }
        self.routes.setdefault(event.call_id, []).append(decision)
        while len(self.routes) > MAX_ROUTED_CALLS:
            self.routes.popitem(last=False)

    def _enqueue(self, event: object) -> None:
        try:
            self.queue.put_nowait(event)
            self.idle.clear()
        except asyncio.QueueFull:
            # The database is far behind; the call is still in Asterisk's CDR. Say so loudly.
            self.dropped += 1
            log.error("CRM writer queue full: call %s not recorded", getattr(event, "call_id", "?"))

    async def run(self) -> None:
        while True:
            event = await self.queue.get()
            try:
                await self.handle(event)
                self.written += 1
            except Exception:
                # One bad call must not stop the recording of every later one.
                self.failed += 1
                log.exception("CRM write failed", extra={"call_id": getattr(event, "call_id", "-")})
            finally:
                if self.queue.empty():
                    self.idle.set()

    async def handle(self, event: object) -> None:
        if isinstance(event, CallEnded):
            await self.record_call(event)
        elif isinstance(event, RecordingReady):
            await self.attach_recording(event)
        elif isinstance(event, AgentStateChanged) and event.wrapup_call_id is not None:
            await self.record_wrapup(event)

    # -- the call activity --------------------------------------------------------------------------------------

    async def record_call(self, call: CallEnded) -> Activity:
        number = try_normalize(call.customer, region=self.phone_rules.region)
        facts: list[object] = []
        async with self.db.session() as session:
            owner = await records.lookup_phone(session, self.phone_rules, call.customer)
            agent_ids = await self._agent_ids(
                session, (call.answered_by, *call.agents_rung, *(a.agent for a in call.attempts))
            )
            answered_by = agent_ids.get(call.answered_by or "")
            if owner is None and self._wants_lead(call, number):
                # Nobody answered: the lead goes to whom the team's routing offered the call first.
                first_offered = agent_ids.get(call.agents_rung[0]) if call.agents_rung else None
                owner, created = await self._lead_for(session, call, number, responsible_id=answered_by or first_offered)
                if created:
                    facts.append(
                        LeadCreated(lead_id=owner.id, number=owner.e164, responsible_id=owner.responsible_id,
                                    source="phone", channel=call.did, call_id=call.call_id)
                    )
            activity = await self._upsert_activity(session, call, number, owner, answered_by, agent_ids)
            if call.originate_action_id:
                await attempt_store.link_activity(session, call.originate_action_id, activity)
            if activity.team_id is None:
                # Whose supervisors see the call while nobody of theirs took it (crm_core.access.activity_filter);
                # kept once set (a live disposition or link sets it from the first routing decision).
                activity.team_id = await self._call_team_id(session, call, activity.call_meta.get("routing"))
            held = self.held_wrapups.get(call.call_id)
            if held:
                activity.call_meta = with_wrapup_spells(activity.call_meta, held)
                # Told as when booked on a written call: the wallboard keeps each call's wrap-up from these facts.
                facts += [
                    WrapUpLogged(call_id=call.call_id, activity_id=activity.id, agent=spell["agent"],
                                 wrapup_s=spell["wrapup_s"], call_wrapup_s=activity.call_meta["wrapup_s"])
                    for spell in held
                ]
            if number is not None and call.direction is CallDirection.INBOUND and call.outcome in MISSED:
                await self._merge_missed(session, call, number.e164, owner, activity.call_meta.get("routing"))
            elif number is not None and call.direction is not CallDirection.INTERNAL:
                await self._reached_or_tried(session, call, number.e164)
            facts.append(
                CallLogged(
                    call_id=call.call_id, activity_id=activity.id, direction=call.direction.value,
                    outcome=call.outcome.value, did=call.did, number=number.e164 if number else None,
                    entity=owner.entity.value if owner else None, record_id=owner.id if owner else None,
                    responsible_id=owner.responsible_id if owner else None, agent_user_id=answered_by,
                )
            )
        self.held_wrapups.pop(call.call_id, None)  # only now: a failed write keeps them for the next try
        log.info("call written: activity %d %s", activity.id, call.outcome, extra={"call_id": call.call_id})
        # Facts go out only once they are committed, so a rule never sees a record that was rolled back.
        if self.publish is not None:
            for fact in facts:
                self.publish(fact)
        return activity

    async def _agent_ids(self, session: AsyncSession, extensions: tuple[str | None, ...]) -> dict[str, int]:
        wanted = [e for e in extensions if e]
        if not wanted:
            return {}
        rows = await session.execute(select(User.extension, User.id).where(User.extension.in_(wanted)))
        return {ext: uid for ext, uid in rows}

    def _wants_lead(self, call: CallEnded, number: Any) -> bool:
        if number is None or is_withheld(call.customer) or self.phone_rules.is_own(call.customer or "", number):
            return False
        if number.e164 in self.rules.lead_exclude_numbers or (call.customer or "").strip() in self.rules.lead_exclude_numbers:
            return False
        if call.direction is CallDirection.OUTBOUND:
            return self.rules.outbound_leads
        if call.direction is not CallDirection.INBOUND:
            return False
        policy = self.rules.lead_policy(call.did)
        return policy == "all" or (policy == "missed" and call.outcome in MISSED)

    async def _lead_for(
        self, session: AsyncSession, call: CallEnded, number: Any, *, responsible_id: int | None
    ) -> tuple[Owner, bool]:
        data = LeadIn(
            title=f"Call from {number.raw}"[:300],
            person_name=(call.caller_name or None) and call.caller_name[:300],
            source="phone",
            channel=call.did,
            phones=[PhoneIn(number=number.raw)],
        )
        if responsible_id is not None:
            data = data.model_copy(update={"responsible_id": responsible_id})
        try:
            lead = await records.create(session, Principal.system(), self.phone_rules, Entity.LEAD, data)
            log.info("lead %d created from %s", lead.id, number.e164, extra={"call_id": call.call_id})
            return Owner(entity=Entity.LEAD, id=lead.id, responsible_id=lead.responsible_id, e164=number.e164), True
        except Conflict as exc:
            # Another call from the same new number won the race: attach to its lead.
            existing = exc.details["existing"]
            found = await records.lookup_phone(session, self.phone_rules, number.e164)
            assert found is not None and found.id == existing["id"]
            return found, False

    async def _links(self, session: AsyncSession, owner: Owner | None) -> dict[str, int | None]:
        links: dict[str, int | None] = {"contact_id": None, "company_id": None, "lead_id": None, "deal_id": None}
        if owner is None:
            return links
        links[f"{owner.entity.value}_id"] = owner.id
        if owner.entity is Entity.CONTACT:
            links["company_id"] = await session.scalar(select(Contact.company_id).where(Contact.id == owner.id))
        deal_owner = {
            Entity.CONTACT: Deal.contact_id, Entity.COMPANY: Deal.company_id, Entity.LEAD: Deal.lead_id
        }[owner.entity]
        links["deal_id"] = await session.scalar(
            select(Deal.id).where(deal_owner == owner.id, Deal.status == DealStatus.OPEN).order_by(Deal.updated_at.desc()).limit(1)
        )
        return links

    async def _upsert_activity(
        self,
        session: AsyncSession,
        call: CallEnded,
        number: Any,
        owner: Owner | None,
        answered_by: int | None,
        agent_ids: dict[str, int],
    ) -> Activity:
        inbound = call.direction is CallDirection.INBOUND
        values: dict[str, Any] = {
            "kind": ActivityKind.CALL,
            "direction": _DIRECTION.get(call.direction, Direction.INTERNAL),
            "subject": f"{call.direction} call {call.outcome}",
            "started_at": _utc(call.started_s),
            "ended_at": _utc(call.ended_s),
            "result": call.outcome.value,
            "user_id": answered_by,
            "call_id": call.call_id,
            "from_e164": number.e164 if inbound and number else None,
            "from_raw": (call.caller or None) and call.caller[:64],
            "to_e164": number.e164 if not inbound and number else None,
            "to_raw": (call.customer if not inbound else call.did) and (call.customer if not inbound else call.did)[:64],
            "did": call.did and call.did[:64],
            "wait_s": round(call.wait_s, 3),
            "talk_s": round(call.talk_s, 3),
            "recording_ref": call.recordings[0] if call.recordings else None,
            "call_meta": {
                "caller_name": call.caller_name,
                "answered_by": call.answered_by,
                "agents_rung": list(call.agents_rung),
                "agents_talked": list(call.agents_talked),
                "agent_user_ids": {
                    ext: agent_ids.get(ext) for ext in dict.fromkeys((*call.agents_rung, *(a.agent for a in call.attempts)))
                },
                # Every agent the call was offered to, rung or not (busy, unreachable), with result and ring time.
                "attempts": [_attempt(a) for a in call.attempts],
                "consultations": [_consultation(c) for c in call.consultations],
                "queue": call.queue,
                "hangup_cause": call.hangup_cause,
                "hangup_cause_txt": call.hangup_cause_txt,
                "hung_up_by": call.hung_up_by.value if call.hung_up_by else None,
                "recordings": list(call.recordings),
                "campaign": call.campaign,
                "originate_action_id": call.originate_action_id,
                "end_estimated": call.end_estimated,
                # Absent rather than empty, so a replay never erases the decisions already written.
                **({"routing": routes} if (routes := self.routes.pop(call.call_id, None)) else {}),
            },
            **await self._links(session, owner),
        }
        existing = await session.scalar(select(Activity).where(Activity.call_id == call.call_id))
        if existing is None:
            try:
                async with session.begin_nested():
                    activity = Activity(**values)
                    session.add(activity)
                    await session.flush()
                    return activity
            except IntegrityError:
                existing = await session.scalar(select(Activity).where(Activity.call_id == call.call_id))
                if existing is None:
                    raise
        # Late or repeated information for the same call updates the one activity; links an agent chose during the
        # call win over the number's owner.
        chosen = set(existing.call_meta.get("linked", ()))
        for key, value in values.items():
            if key in chosen:
                continue
            if key == "call_meta":
                value = {**existing.call_meta, **value}
            setattr(existing, key, value)
        await session.flush()
        return existing

    # -- wrap-up ------------------------------------------------------------------------------------------------

    async def record_wrapup(self, left: AgentStateChanged) -> None:
        """Book the wrap-up spell ``left`` ends on its call's activity, or hold it until the activity is written."""
        call_id = left.wrapup_call_id
        assert call_id is not None
        spell = _spell(left)
        async with self.db.session() as session:
            # Locked: the API writes call_meta of the same row (a link chosen during the call).
            activity = await session.scalar(select(Activity).where(Activity.call_id == call_id).with_for_update())
            if activity is None:
                self._hold_wrapup(call_id, spell)
                return
            meta = with_wrapup_spells(activity.call_meta, [spell])
            if meta == activity.call_meta:
                return  # a replay
            activity.call_meta = meta
            fact = WrapUpLogged(call_id=call_id, activity_id=activity.id, agent=left.agent, wrapup_s=spell["wrapup_s"],
                                call_wrapup_s=meta["wrapup_s"])
        log.info("wrap-up of %s: %.1f s (call total %.1f s)", left.agent, fact.wrapup_s, fact.call_wrapup_s,
                 extra={"call_id": call_id})
        if self.publish is not None:
            self.publish(fact)

    def _hold_wrapup(self, call_id: str, spell: dict[str, Any]) -> None:
        held = self.held_wrapups.setdefault(call_id, [])
        if spell not in held:
            held.append(spell)
        while len(self.held_wrapups) > MAX_HELD_WRAPUPS:
            lost, _ = self.held_wrapups.popitem(last=False)
            log.warning("wrap-up of a call never written dropped", extra={"call_id": lost})

    # -- callbacks ----------------------------------------------------------------------------------------------

    async def _merge_missed(
        self, session: AsyncSession, call: CallEnded, e164: str, owner: Owner | None, decisions: Any
    ) -> None:
        task = await self._open_callback(session, e164)
        if task is not None:
            if _mentions(task, call.call_id):
                return  # this miss was merged already (replay)
            task.missed_count += 1
            task.description += f"\n{call.call_id}"
            task.title = f"Call back {e164} ({task.missed_count} missed calls)"
            # It stays in the team it was filed under; one written before tasks had teams gets this call's.
            if task.team_id is None:
                task.team_id = (await self._callback_team(session, call, decisions, owner)).id
            await session.flush()
            return
        assignee = owner.responsible_id if owner else None
        if assignee is not None and not self.present(assignee):
            log.info("callback for %s to the team pool: user %d is away", e164, assignee, extra={"call_id": call.call_id})
            assignee = None
        team = await self._callback_team(session, call, decisions, owner)
        sla_s = team.callback_sla_s if team.callback_sla_s is not None else self.rules.callback_sla_s
        links = await self._links(session, owner)
        try:
            async with session.begin_nested():
                session.add(
                    Task(
                        title=f"Call back {e164} (missed call)",
                        description=f"Missed calls (call ids):\n{call.call_id}",
                        kind=TaskKind.CALLBACK,
                        status=TaskStatus.OPEN,
                        priority=2,
                        assignee_id=assignee,
                        team_id=team.id,
                        due_at=_utc(self.callback_due_s(team.name, call.ended_s, sla_s)),
                        callback_e164=e164,
                        missed_count=1,
                        **links,
                    )
                )
                await session.flush()
        except IntegrityError:
            # A concurrent miss from the same number created it first: merge into that one.
            await self._merge_missed(session, call, e164, owner, decisions)

    async def _call_team_id(self, session: AsyncSession, call: CallEnded, decisions: Any) -> int | None:
        name = call_team(decisions if isinstance(decisions, list) else None, call.did, self.did_team)
        return await session.scalar(select(Team.id).where(Team.name == name)) if name else None

    async def _callback_team(
        self, session: AsyncSession, call: CallEnded, decisions: Any, owner: Owner | None
    ) -> CallbackTeam:
        """The call's team (its last routing decision's, else its DID's: reports.report.call_team), as the CRM team of
        that name (routing teams are named after CRM teams); failing that, the responsible agent's team."""
        name = call_team(decisions if isinstance(decisions, list) else None, call.did, self.did_team)
        columns = select(Team.id, Team.name, Team.callback_sla_s)
        row = (await session.execute(columns.where(Team.name == name))).first() if name else None
        if row is None and owner is not None and owner.responsible_id is not None:
            row = (
                await session.execute(columns.join(User, User.team_id == Team.id).where(User.id == owner.responsible_id))
            ).first()
        if row is None:
            if name:
                log.warning("callback filed under no team: no CRM team is named %r like the call's routing team", name,
                            extra={"call_id": call.call_id})
            return CallbackTeam(id=None, name=name, callback_sla_s=None)
        return CallbackTeam(id=row[0], name=row[1], callback_sla_s=row[2])

    async def _open_callback(self, session: AsyncSession, e164: str) -> Task | None:
        # Row lock: concurrent misses from one number increment the same counter (no lost update on PostgreSQL).
        return await session.scalar(
            select(Task).where(Task.callback_e164 == e164, OPEN_CALLBACK).with_for_update()
        )

    async def _reached_or_tried(self, session: AsyncSession, call: CallEnded, e164: str) -> None:
        """An answered call with the customer closes their open callback; an unanswered callback attempt counts."""
        task = await self._open_callback(session, e164)
        if task is None or _mentions(task, call.call_id):
            return  # none, already counted, or promised during this very call: a call is not its own callback
        if call.outcome is CallOutcome.ANSWERED:
            task.status = TaskStatus.DONE
            task.completed_at = _utc(call.ended_s)
            task.description += f"\nreached by call {call.call_id}"
        elif call.direction is CallDirection.OUTBOUND:
            task.attempt_count += 1
            task.description += f"\nattempt {call.call_id}: {call.outcome}"
        await session.flush()

    # -- recordings ---------------------------------------------------------------------------------------------

    async def attach_recording(self, ready: RecordingReady) -> None:
        async with self.db.session() as session:
            activity = await session.scalar(select(Activity).where(Activity.call_id == ready.call_id))
            if activity is None:
                return  # the call's activity is written at CallEnded, which also carries the file names
            # The recording store's own link (an API URL, set when it stored the files) is the better reference and
            # may have come first: the two run in separate tasks. The Asterisk names stay in call_meta either way.
            if not (activity.recording_ref or "").startswith("/api/"):
                activity.recording_ref = ready.path
            activity.call_meta = {**activity.call_meta, "recording_legs": list(ready.leg_paths)}


__all__ = ["BridgeRules", "CallbackTeam", "CrmBridge", "Lead"]
