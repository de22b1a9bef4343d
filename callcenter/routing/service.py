"""FastAGI route handler: gathers the facts, runs the pure policy, reserves the agent, answers Asterisk.

``RoutingService.decide`` is a FastAgiServer ``decide`` callable. Per request: the team and required skills from the
DID (and IVR choice), the caller's CRM facts (cached, within ``crm_budget_ms``; a slow CRM means routing without
owner facts, not a stalled caller), one state snapshot, the policy's plan, an atomic reservation of the first
candidate still free, then the answer. On the Redis store a first attempt's snapshot and reservation are one round
trip (``route`` says how that stays the pure policy's answer). Every decision is kept in a bounded log by call id and logged on one line.
Side effects (auto-pause) run after the answer, so the caller never waits for an AMI round trip.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from callcenter.ami.agi import AgiRequest, RouteDecision
from callcenter.ami.channel_vars import CcAction
from callcenter.events import AgentState, CallRouted
from callcenter.routing.caller_name import CallerNameFormat, format_caller_name
from callcenter.routing.crm import CachedLookup, CrmLookup, CrmMatch
from callcenter.routing.directory import AgentDirectory
from callcenter.routing.hours import window_start_s
from callcenter.routing.policy import AgentView, AutoPause, CallerFacts, CallFacts, Decision, Plan, plan_route
from callcenter.routing.rules import RoutingRules, Strategy, TeamPolicy
from callcenter.routing.state import Reserved, RoutingStore, Snapshot, TierAsk

__all__ = ["DecisionLog", "PauseAgent", "RoutingService"]

log = logging.getLogger("callcenter.routing")

PauseAgent = Callable[[str, str], Awaitable[None]]  # (agent id, reason): pause the agent in every queue
IVR_CHOICE_ARG: Final = 4  # agi_arg_4, when the dialplan passes the caller's IVR choice
_LAST_SNAPSHOTS: Final = 256  # (team, agents of interest) pairs remembered for the one-round-trip decision


def _confirms(plan: Plan, speculative: Plan, got: Reserved) -> bool:
    """Whether ``got`` (reserved by ``speculative``'s order, against the state ``plan`` was made on) is what
    reserving by ``plan`` would have taken: on that state every candidate of ``plan`` is reservable, so that is the
    first one of its first tier (all of it when ringing all), or nothing when it has no tier."""
    if not plan.tiers:
        return not got.agents
    first = plan.tiers[0]
    expected = first.agents if first.ring_all else first.agents[:1]
    if got.tier is None or got.agents != expected:
        return False
    # The round-robin cursor moved (or not) as the fresh plan's tier would have moved it.
    return (speculative.tiers[got.tier].strategy is Strategy.ROUND_ROBIN) == (first.strategy is Strategy.ROUND_ROBIN)


class DecisionLog:
    """The last ``max_calls`` calls' decisions (one per attempt), by call id."""

    def __init__(self, *, max_calls: int = 10_000) -> None:
        self._by_call: collections.OrderedDict[str, list[Decision]] = collections.OrderedDict()
        self._max_calls = max_calls

    def add(self, decision: Decision) -> None:
        entries = self._by_call.get(decision.call_id)
        if entries is None:
            entries = self._by_call[decision.call_id] = []
            while len(self._by_call) > self._max_calls:
                self._by_call.popitem(last=False)
        else:
            self._by_call.move_to_end(decision.call_id)
        entries.append(decision)

    def for_call(self, call_id: str) -> tuple[Decision, ...]:
        return tuple(self._by_call.get(call_id, ()))

    def recent(self, limit: int = 100) -> list[Decision]:
        out: list[Decision] = []
        for entries in reversed(self._by_call.values()):
            out.extend(reversed(entries))
            if len(out) >= limit:
                break
        return out[:limit]

    def __len__(self) -> int:
        return len(self._by_call)


class RoutingService:
    def __init__(
        self,
        *,
        rules: RoutingRules,
        store: RoutingStore,
        directory: AgentDirectory,
        lookup: CrmLookup | CachedLookup | None = None,
        pause_agent: PauseAgent | None = None,
        publish: Callable[[object], None] | None = None,
        clock: Callable[[], float] = time.time,
        crm_budget_ms: int = 100,
        crm_cache_ttl_s: float = 60.0,
        crm_negative_ttl_s: float = 10.0,
        reservation_ttl_s: float = 15.0,
        decision_log_calls: int = 10_000,
        caller_name: CallerNameFormat | None = None,
        instance: str | None = None,
    ) -> None:
        self.instance = instance  # CallRouted.instance of this one's answers
        self.rules = rules
        self.store = store
        self.directory = directory
        if lookup is None or isinstance(lookup, CachedLookup):
            self.crm_cache = lookup
        else:
            self.crm_cache = CachedLookup(lookup=lookup, ttl_s=crm_cache_ttl_s, negative_ttl_s=crm_negative_ttl_s)
        self._pause_agent = pause_agent
        self._publish = publish
        self._clock = clock
        self._crm_budget_s = crm_budget_ms / 1000
        self._reservation_ttl_s = reservation_ttl_s
        self._caller_name = caller_name  # None: the answer sets no CALLERID(name)
        self.decisions = DecisionLog(max_calls=decision_log_calls)
        self.reason_counts: collections.Counter[str] = collections.Counter()
        # Calls routed without the caller's CRM facts, by why ("crm-timeout", "crm-error"): metrics
        self.crm_skipped: collections.Counter[str] = collections.Counter()
        self._side_effects: set[asyncio.Task[None]] = set()
        # Remote store: the last snapshot per (team, agents of interest), and how the plans on it fared
        # ("confirmed": one round trip, "corrected": two, "cold": no snapshot yet, or a retry). See route().
        self._last_snapshot: dict[tuple[str, tuple[str, ...]], Snapshot] = {}
        self.speculation: collections.Counter[str] = collections.Counter()

    # -- public -------------------------------------------------------------------------------------------------

    def on_routed(self, event: CallRouted) -> None:
        """Another instance's FastAGI answer (Redis fan-out): shown here too, as if this one had answered."""
        if event.instance == self.instance:
            return
        self.decisions.add(Decision(
            call_id=event.call_id, attempt=event.attempt, did=event.did or "", caller=event.caller,
            team=event.team or "", action=CcAction(event.action), reason=event.reason, explanation=event.explanation,
            targets=event.targets, ring_timeout_s=event.ring_timeout_s, queue=event.queue, mailbox=event.mailbox,
            alternatives=event.alternatives, decided_at_s=event.at_s,
        ))

    async def decide(self, request: AgiRequest) -> RouteDecision:
        started = time.perf_counter()
        decision = await self.route(request)
        self.decisions.add(decision)
        self.reason_counts[decision.reason] += 1
        where = "&".join(decision.targets) or decision.queue or decision.mailbox or ""
        log.info(
            "route attempt=%d did=%s caller=%s team=%s -> %s %s reason=%s in %.1f ms: %s",
            decision.attempt,
            decision.did,
            decision.caller,
            decision.team,
            decision.action.value,
            where,
            decision.reason,
            (time.perf_counter() - started) * 1000,
            decision.explanation,
            extra={"call_id": decision.call_id},
        )
        if self._publish is not None:
            # The activity and the wallboard carry the decision; a failing consumer is the bus's to log.
            self._publish(
                CallRouted(
                    call_id=decision.call_id,
                    at_s=decision.decided_at_s,
                    attempt=decision.attempt,
                    action=decision.action.value,
                    reason=decision.reason,
                    targets=decision.targets,
                    queue=decision.queue,
                    team=decision.team,
                    explanation=decision.explanation,
                    caller=request.callerid_num,
                    did=request.did,
                    uniqueid=request.uniqueid,
                    last_dial_status=request.last_dial_status,
                    instance=self.instance,
                    ring_timeout_s=decision.ring_timeout_s,
                    mailbox=decision.mailbox,
                    alternatives=decision.alternatives,
                )
            )
        for effect in decision.side_effects:
            task = asyncio.create_task(self._auto_pause(effect, decision.call_id), name=f"auto-pause-{effect.agent}")
            self._side_effects.add(task)
            task.add_done_callback(self._side_effects.discard)
        return self.to_route_decision(decision)

    async def route(self, request: AgiRequest) -> Decision:
        """The Decision for ``request`` (reserving its agent), without logging or side effects."""
        now_s = self._clock()
        call_id = request.linkedid or request.uniqueid
        ivr = request.args[IVR_CHOICE_ARG - 1].strip() if len(request.args) >= IVR_CHOICE_ARG else None
        team, skills = self.rules.route_for(request.did, ivr_choice=ivr or None)
        match, crm_note = await self._crm(request.callerid_num)
        caller = self._caller_facts(match)
        agent_ids = self._agents_of_interest(team, caller)
        window_s = window_start_s(now_s, zone=team.hours.zone, window_s=team.load_window_s)
        rr_team = team.name if team.strategy is Strategy.ROUND_ROBIN else None
        stage = "state"
        try:

            def plan_on(snap: Snapshot, streaks: Mapping[str, int] | None = None) -> Plan:
                call = CallFacts(
                    call_id=call_id,
                    did=request.did,
                    caller=request.callerid_num,
                    attempt=request.attempt,
                    last_dial_status=request.last_dial_status,
                    offers=snap.offers,
                    required_skills=skills,
                    crm=caller,
                    crm_note=crm_note,
                )
                return plan_route(
                    call=call, team=team, agents=self._views(snap, streaks or {}), now_s=now_s,
                    rr_cursor=snap.rr_cursor,
                )

            async def reserve(
                plan: Plan, release: tuple[str, ...], withdraw: tuple[str, ...] = (), rr_before: str | None = None
            ) -> Reserved:
                return await self.store.snapshot_and_reserve(
                    agents=agent_ids if self.store.remote else (),  # the next decision's guess (see below)
                    call_id=call_id, attempt=request.attempt, now_s=now_s, window_start_s=window_s,
                    ttl_s=self._reservation_ttl_s, tiers=self._asks(plan), release=release, withdraw=withdraw,
                    rr_team=rr_team, rr_before=rr_before,
                )

            # One round trip per first attempt on a remote store: plan on the snapshot the previous decision for
            # these agents brought back, and let one script reserve the first reservable agent in that plan's
            # order AND return the state it reserved against (read in the same atomic step). The pure policy then
            # plans again on that exact state: if it picks what was reserved, the decision is exactly the one
            # snapshot -> plan -> reserve would have made with no call in between (the script's "reservable" is
            # the policy's "free" on a first attempt), so it stands. If not (the order changed since: someone
            # came back from a break, ...), one more call withdraws the speculative reservation (and its offer)
            # and reserves by the fresh plan: two round trips, as before. The policy stays pure and in Python;
            # Lua only knows "first reservable in this order". The cost of a miss: the wrongly reserved agent
            # looks taken to other calls for one round trip. Retries keep snapshot -> plan -> reserve: their
            # no-answer counting needs this call's offers before planning.
            key = (team.name, tuple(agent_ids))
            guess = self._last_snapshot.get(key) if self.store.remote and request.attempt == 1 else None
            if guess is not None:
                stage = "policy"
                speculative = plan_on(dataclasses.replace(guess, offers={}))
                stage = "state"
                got = await reserve(speculative, ())
                snap = got.snapshot
                stage = "policy"
                plan = plan_on(snap)
                asked = speculative
                if not snap.offers and _confirms(plan, speculative, got):
                    self.speculation["confirmed"] += 1
                    decision = plan.decide(got.agents, tier=0) if got.agents else plan.decide_unreserved()
                else:
                    self.speculation["corrected"] += 1
                    stage = "state"
                    got = await reserve(plan, tuple(snap.offers), withdraw=got.agents, rr_before=snap.rr_cursor)
                    decision = self._decide(plan, got)
                    asked = plan
            else:
                if self.store.remote:
                    self.speculation["cold"] += 1
                snap = await self.store.snapshot(
                    agents=agent_ids, call_id=call_id, now_s=now_s, window_start_s=window_s, rr_team=rr_team
                )
                streaks: Mapping[str, int] = {}
                if request.attempt > 1 and request.last_dial_status == "NOANSWER":
                    previous = [a for a, attempt in snap.offers.items() if attempt == request.attempt - 1]
                    if previous:
                        streaks = await self.store.note_no_answer(
                            call_id=call_id, attempt=request.attempt, agents=previous
                        )
                stage = "policy"
                plan = plan_on(snap, streaks)
                stage = "state"
                got = await reserve(plan, tuple(snap.offers))  # this call's earlier reservations: that Dial is over
                decision = self._decide(plan, got)
                asked = plan
            if self.store.remote:
                remembered = got.snapshot
                if rr_team and got.tier is not None and asked.tiers[got.tier].strategy is Strategy.ROUND_ROBIN:
                    # The cursor this reservation moved: a round-robin team's next plan starts after it.
                    remembered = dataclasses.replace(remembered, rr_cursor=got.agents[-1])
                self._remember(key, remembered)
            name = self._display_name(match, vip=request.callerid_num in team.vip_numbers)
            return dataclasses.replace(decision, caller_name=name) if name else decision
        except Exception as exc:
            # The caller still reaches the team queue, and the decision log says why.
            log.exception("routing %s failed; queueing", stage, extra={"call_id": call_id})
            return Decision(
                call_id=call_id,
                attempt=request.attempt,
                did=request.did,
                caller=request.callerid_num,
                team=team.name,
                action=CcAction.QUEUE,
                reason=f"{stage}-error->queue",
                explanation=f"Routing {stage} failed ({exc.__class__.__name__}); queued in {team.queue}.",
                queue=team.queue,
                queue_timeout_s=team.queue_timeout_s,
                mailbox=team.mailbox,
                decided_at_s=now_s,
            )

    def _display_name(self, match: CrmMatch | None, *, vip: bool) -> str | None:
        """The caller name from the lookup routing already made (no second lookup, nothing on a miss or a lookup
        over the CRM budget)."""
        if self._caller_name is None or match is None:
            return None
        return format_caller_name(
            self._caller_name,
            contact=match.contact_name,
            company=match.company_name,
            lead=match.lead_title,
            vip=vip or match.vip,
            open_callback=match.open_callback,
        )

    def invalidate_caller(self, number: str | None = None) -> None:
        """Ownership of ``number`` changed (or, with None, of anything): the next call asks the CRM again."""
        if self.crm_cache is not None:
            self.crm_cache.invalidate(number)

    async def drain(self) -> None:
        """Wait for side effects started so far (tests, shutdown)."""
        while self._side_effects:
            await asyncio.gather(*list(self._side_effects), return_exceptions=True)

    def to_route_decision(self, decision: Decision) -> RouteDecision:
        action = decision.action
        if action is CcAction.DIAL:
            assert decision.ring_timeout_s is not None
            targets = []
            for agent in decision.targets:
                info = self.directory.agent(agent)
                targets.append(info.target if info else f"PJSIP/{agent}")
            dial = RouteDecision.for_dial(
                targets,
                ring_timeout_s=decision.ring_timeout_s,
                reason=decision.reason,
                overflow_queue=decision.queue,
                queue_timeout_s=decision.queue_timeout_s,
            )
            return dataclasses.replace(dial, mailbox=decision.mailbox, caller_name=decision.caller_name)
        if action is CcAction.QUEUE:
            assert decision.queue is not None
            queued = RouteDecision.for_queue(
                decision.queue, reason=decision.reason, queue_timeout_s=decision.queue_timeout_s,
                mailbox=decision.mailbox,
            )
            return dataclasses.replace(queued, caller_name=decision.caller_name)
        if action is CcAction.VOICEMAIL:
            assert decision.mailbox is not None
            return RouteDecision.for_voicemail(decision.mailbox, reason=decision.reason)
        if action is CcAction.CALLBACK:
            return RouteDecision.for_callback(reason=decision.reason, mailbox=decision.mailbox)
        return RouteDecision.for_hangup(reason=decision.reason)

    # -- steps --------------------------------------------------------------------------------------------------

    async def _crm(self, caller: str | None) -> tuple[CrmMatch | None, str | None]:
        cache = self.crm_cache
        if not caller or cache is None:
            return None, None
        found, match = cache.cached(caller)
        if found:
            return match, None
        task = cache.lookup_task(caller)
        done, _ = await asyncio.wait({task}, timeout=self._crm_budget_s)
        if not done:
            # The lookup goes on and fills the cache; this caller is routed without owner facts.
            self.crm_skipped["crm-timeout"] += 1
            return None, f"CRM lookup took over {self._crm_budget_s * 1000:.0f} ms, caller facts skipped"
        if task.cancelled() or task.exception() is not None:
            self.crm_skipped["crm-error"] += 1
            return None, "CRM lookup failed, caller facts skipped"
        return task.result(), None

    def _caller_facts(self, match: CrmMatch | None) -> CallerFacts | None:
        if match is None:
            return None
        owner = self.directory.agent_of_user(match.responsible_user_id) if match.responsible_user_id is not None else None
        last = self.directory.agent_of_user(match.last_agent_user_id) if match.last_agent_user_id is not None else None
        return CallerFacts(
            entity=match.entity,
            record_id=match.record_id,
            owner_user_id=match.responsible_user_id,
            owner_agent=owner.agent if owner else None,
            last_agent=last.agent if last else None,
            last_talked_s=match.last_talked_at_s,
            vip=match.vip,
        )

    def _agents_of_interest(self, team: TeamPolicy, caller: CallerFacts | None) -> list[str]:
        ids = [a.agent for a in self.directory.team_agents(team.name)]
        if caller is not None and team.owner.enabled:
            seen = set(ids)
            for person in (caller.owner_agent, caller.last_agent):
                info = self.directory.agent(person) if person else None
                if info is None:
                    continue
                extra = [info, *self.directory.team_agents(info.team)] if info.team else [info]
                for other in extra:
                    if other.agent not in seen:
                        seen.add(other.agent)
                        ids.append(other.agent)
        return ids

    def _views(self, snap: Snapshot, streaks: Mapping[str, int]) -> dict[str, AgentView]:
        views = {}
        for agent, live in snap.agents.items():
            info = self.directory.agent(agent)
            views[agent] = AgentView(
                agent=agent,
                team=info.team if info else None,
                state=live.state,
                since_s=live.since_s,
                reason=live.reason,
                reserved_by=live.reserved_by,
                busy_s=live.busy_s,
                calls=live.calls,
                last_busy_end_s=live.last_busy_end_s,
                open_callbacks=live.open_callbacks,
                no_answer_streak=streaks.get(agent, live.no_answer_streak),
                skills=info.skills if info else {},
                user_id=info.user_id if info else None,
                name=info.name if info else None,
            )
        return views

    @staticmethod
    def _asks(plan: Plan) -> tuple[TierAsk, ...]:
        return tuple(
            TierAsk(
                candidates=tier.agents,
                count=len(tier.agents) if tier.ring_all else 1,
                round_robin=tier.strategy is Strategy.ROUND_ROBIN,
            )
            for tier in plan.tiers
        )

    @staticmethod
    def _decide(plan: Plan, got: Reserved) -> Decision:
        return plan.decide(got.agents, tier=got.tier) if got.tier is not None else plan.decide_unreserved()

    def _remember(self, key: tuple[str, tuple[str, ...]], snap: Snapshot) -> None:
        """The state this decision saw, for the next decision over the same agents to plan on."""
        self._last_snapshot.pop(key, None)
        self._last_snapshot[key] = dataclasses.replace(snap, offers={})
        while len(self._last_snapshot) > _LAST_SNAPSHOTS:
            del self._last_snapshot[next(iter(self._last_snapshot))]

    async def _auto_pause(self, effect: AutoPause, call_id: str) -> None:
        if self._pause_agent is None:
            log.warning("auto-pause of %s wanted but no pause action is wired", effect.agent, extra={"call_id": call_id})
            return
        try:
            await self._pause_agent(effect.agent, effect.reason)
        except Exception:
            log.exception("auto-pause of %s failed", effect.agent, extra={"call_id": call_id})
            return
        # Mark it here too: the QueueMemberPause event may trail the next route request by a few milliseconds.
        try:
            await self.store.set_state(effect.agent, AgentState.PAUSED, at_s=self._clock(), reason=effect.reason)
        except Exception:
            log.exception("marking %s paused in the routing state failed", effect.agent, extra={"call_id": call_id})
        log.info(
            "auto-paused %s after %d consecutive no-answers (%s)",
            effect.agent,
            effect.no_answers,
            effect.reason,
            extra={"call_id": call_id},
        )

    async def aclose(self) -> None:
        """Let running side effects finish; the store and the lookup belong to the caller."""
        await self.drain()
