"""The campaign runner: paces running campaigns, claims and dials their numbers, and writes what each attempt became.

Per tick (``DialerSettings.tick_s``, and at once when an attempt ends):

1. the running campaigns, grouped by team; a team's campaigns are paced by the instance holding its lease
   (callcenter/dialer/lease.py), highest priority first, so they share the team's agents without overdialling;
2. per campaign, the pacing (callcenter/dialer/pacing.py) from live measurements: the team's agents as the live model
   has them, the calls in flight, this campaign's recent outcomes and answer delays, the legal window's counts;
3. the next permitted numbers from the dial list (list_walk.py); each is claimed immediately before its dial
   (attempt_store.claim: the lists, flags, consent, retries and window read again, the row written before the
   Originate) and dialled through the AttemptFollower, which the one ordered AMI stream feeds (``handle``);
4. each result is written to its attempt row; the CRM bridge writes the call's activity from the live model's
   CallEnded and links it to the attempt (attempt_store.link_activity); an attempt with no channel at all (an
   Originate Asterisk refused) gets its activity here, so every attempt is in the CRM.

The campaign's callee answered by a person reaches ``agent_for`` through FastAGI (agent_agi.py): a free agent of the
team is reserved in the routing store (the same reservations inbound routing makes, so no agent is offered an
inbound and a campaign call at once) within the 2 s the law gives.

Nothing is dialled twice: the claim's unique attempt number, the follower refusing a second Originate of an attempt,
and attempts lost with an instance or an AMI session never re-sent (they end ``failed`` with why; the retry rules
decide about a new attempt later).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import select

from callcenter.dialer import attempt_store, campaign_store
from callcenter.dialer.agent_agi import NotOurAttempt
from callcenter.dialer.campaign import CampaignDefinition, parse_campaign
from callcenter.dialer.compliance import retry_verdict
from callcenter.dialer.lease import Leases
from callcenter.dialer.list_walk import Candidate, ListWalk
from callcenter.dialer.live_status import CampaignLive, Status
from callcenter.dialer.originate import AttemptDial, AttemptFollower, AttemptResult
from callcenter.dialer.outcomes import LIVE_ANSWERED, AttemptOutcome, CampaignMode, CampaignState
from callcenter.dialer.pacing import PacingDecision, PacingInputs, decide
from callcenter.dialer.verdict import Refusal
from callcenter.events import AgentState, AgentStateChanged, CallEnded, CallOutcome
from callcenter.instance import new_instance_id
from callcenter.reports.definition import ReportEntity
from callcenter.waiting import wait_set
from crm_core.db import Database
from crm_core.dialer_models import AttemptState, Campaign, CampaignAttempt
from crm_core.errors import Conflict
from crm_core.models import User
from crm_core.types import utcnow

__all__ = ["DialerRunner", "DialerSettings", "PreviewCard", "PreviewDialled", "PreviewRefused"]

log = logging.getLogger("callcenter.dialer")

SAMPLES: Final = 300  # talk / wrap-up / answer-delay samples kept (the pacer's distributions)
OUTCOMES_KEPT: Final = 400  # recent outcomes per campaign (the answer-rate measurement)
CALLS_ENDED_KEPT: Final = 2000  # the live model's ends of dialler calls, by ActionID (for attempts lost with AMI)


@dataclass(frozen=True, slots=True, kw_only=True)
class DialerSettings:
    tick_s: float = 1.0
    lease_ttl_s: float = 10.0  # an instance silent this long loses its teams to another
    trunk: str = "trunk"  # the PJSIP endpoint customers are dialled through
    agent_ring_s: int = 2  # Dial()'s timeout on the reserved agent's phone (campaign phones auto-answer)
    reservation_ttl_s: float = 6.0  # an agent reserved for an answered call is held at most this long
    page_rows: int = 200  # dial-list rows read per page
    scan_rows_per_tick: int = 2000  # rows judged at most per campaign per tick
    lost_grace_s: float = 60.0  # after ring time: an attempt with no call and no result is lost
    directory_refresh_s: float = 30.0
    preview_hold_s: float = 900.0  # a preview card shown this long without a dial or skip goes back to the list
    instance: str = field(default_factory=new_instance_id)


@dataclass(slots=True)
class _InFlight:
    attempt_id: int
    campaign_id: int
    team_id: int
    e164: str
    action_id: str
    dialled_s: float
    ring_s: float
    generation: int  # the AMI session it was dialled in
    reserved_agent: str | None = None  # preview: the agent who asked for the call
    verdict_s: float | None = None  # a person answered (the AGI asked for an agent)
    task: asyncio.Task[None] | None = None


@dataclass(slots=True)
class _Run:
    """What the runner keeps per campaign between ticks."""

    campaign_id: int
    walk: ListWalk = field(default_factory=ListWalk)
    outcomes: collections.deque[AttemptOutcome] = field(default_factory=lambda: collections.deque(maxlen=OUTCOMES_KEPT))
    answer_delays_s: collections.deque[float] = field(default_factory=lambda: collections.deque(maxlen=SAMPLES))
    decision: PacingDecision | None = None
    status: str = Status.IDLE
    detail: str = ""
    held: dict[str, _Held] = field(default_factory=dict)  # preview cards shown, by agent extension
    walking: asyncio.Lock = field(default_factory=asyncio.Lock)  # one walk at a time (ticks and agents' requests)


@dataclass(frozen=True, slots=True)
class _Held:
    candidate: Candidate
    since_s: float


@dataclass(frozen=True, slots=True)
class PreviewCard:
    """The card a preview agent holds: the record and the number they may dial."""

    campaign_id: int
    candidate: Candidate


@dataclass(frozen=True, slots=True)
class PreviewDialled:
    attempt_id: int
    e164: str


@dataclass(frozen=True, slots=True)
class PreviewRefused:
    """Why there is no card, or why the card's dial was refused: ``field`` names what (state, mode, extension, card,
    list, agent_state, dialer, or e164 with the number's refusal ``reason``), as the API's 409 does."""

    field: str
    message: str
    retry_at_s: float | None = None
    reason: str | None = None  # a refusal of the number (callcenter.dialer.verdict.Reason)


class DialerRunner:
    def __init__(
        self,
        *,
        db: Database,
        live: Any,  # LiveCalls: the agents' states and the open calls
        store: Any,  # RoutingStore: agent reservations shared with inbound routing
        send: Callable[[Any], Any],  # the AMI session's send
        ami_session: Callable[[], int | None],  # the live AMI session's generation once resynced, else None
        leases: Leases,
        settings: DialerSettings = DialerSettings(),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db, self.live, self.store, self.leases, self.settings = db, live, store, leases, settings
        self._ami_session = ami_session
        self._clock = clock
        self.follower = AttemptFollower(send=send, clock=clock)
        self._in_flight: dict[int, _InFlight] = {}
        self._runs: dict[int, _Run] = {}
        self._held_teams: set[int] = set()
        self._team_ext: dict[int, tuple[str, ...]] = {}
        self._team_ext_at_s = -1e18
        self._agent_since: dict[str, tuple[AgentState, float]] = {}
        self._calls_ended: dict[str, CallEnded] = {}
        self._talk_s: collections.deque[float] = collections.deque(maxlen=SAMPLES)
        self._wrapup_s: collections.deque[float] = collections.deque(maxlen=SAMPLES)
        self.wakeup = asyncio.Event()
        self.ticks = 0
        self.tick_done = asyncio.Event()  # set after every tick (tests wait on it, never on time)

    # -- inputs ---------------------------------------------------------------------------------------------------

    def handle(self, event: Any) -> None:
        """One typed event of the one ordered AMI stream (AmiIngest's tap)."""
        self.follower.handle(event)

    def on_domain_event(self, event: object) -> None:
        """Bus subscriber: talk and wrap-up durations (the pacer's distributions)."""
        if isinstance(event, AgentStateChanged):
            previous = self._agent_since.get(event.agent)
            if previous is not None:
                state, since_s = previous
                if state is AgentState.TALKING and event.state is not AgentState.TALKING:
                    self._talk_s.append(max(0.0, event.at_s - since_s))
                elif state is AgentState.WRAP_UP and event.state is not AgentState.WRAP_UP:
                    self._wrapup_s.append(max(0.0, event.at_s - since_s))
            self._agent_since[event.agent] = (event.state, event.at_s)
        elif isinstance(event, CallEnded) and event.originate_action_id:
            # Kept for an attempt whose own events are lost with the AMI session: the resync's end of its call.
            self._calls_ended[event.originate_action_id] = event
            while len(self._calls_ended) > CALLS_ENDED_KEPT:
                self._calls_ended.pop(next(iter(self._calls_ended)))
            self.wakeup.set()

    # -- the AGI's question ---------------------------------------------------------------------------------------

    async def agent_for(self, campaign_id: int, attempt_id: int) -> str | None:
        """Asterisk's AGI may reach any instance, not only the one dialling: an attempt not in flight here is read
        from the database (one primary-key read) and given an agent from the same shared reservations."""
        now_s = self._clock()
        flight = self._in_flight.get(attempt_id)
        preferred = None
        if flight is not None and flight.campaign_id == campaign_id:
            flight.verdict_s = now_s
            run = self._runs.get(campaign_id)
            if run is not None:
                run.answer_delays_s.append(max(0.0, now_s - flight.dialled_s))
            preferred = flight.reserved_agent
            team_id, action_id = flight.team_id, flight.action_id
        else:
            team_id, action_id, preferred = await self._dialling(campaign_id, attempt_id)
        # Reserved under the call's own id, so the routing store's CallRinging / CallEnded confirm and release it
        # like an inbound call's (under another id it would hold the agent until the reservation expired).
        call_id = next((c.call_id for c in self.live.tracker.open_calls() if c.originate_action_id == action_id),
                       f"dialer-{attempt_id}")
        if preferred is not None:
            # A preview call goes to the agent who dialled it, reserved like any other (from the answer on, inbound
            # routing does not offer them a call). Taken since the dial (an inbound call while the callee's phone
            # rang, a pause): another free agent of the team rather than the callee hearing the information message.
            won = await self.store.reserve(call_id=call_id, attempt=1, candidates=[preferred], now_s=now_s,
                                           ttl_s=self.settings.reservation_ttl_s)
            if won:
                return won[0]
            log.info("dialer: attempt %d's previewing agent %s is no longer free; another agent takes it",
                     attempt_id, preferred)
        free = sorted(
            (since, ext) for ext in await self._extensions(team_id)
            if (rec := self.live.tracker.agents.agents.get(ext)) is not None and rec.state is AgentState.AVAILABLE
            for since in (rec.since_s if rec.since_s is not None else 0.0,)
        )
        # Longest idle first, as the inbound router's "least recent" does.
        won = await self.store.reserve(call_id=call_id, attempt=1, candidates=[e for _, e in free],
                                       now_s=now_s, ttl_s=self.settings.reservation_ttl_s)
        return won[0] if won else None

    async def _dialling(self, campaign_id: int, attempt_id: int) -> tuple[int, str | None, str | None]:
        """(team, ActionID, previewing agent) of an attempt another instance dials."""
        async with self.db.read_session() as session:
            found = (await session.execute(
                select(CampaignAttempt.state, Campaign.team_id, CampaignAttempt.action_id,
                       CampaignAttempt.preview_agent)
                .join(Campaign, Campaign.id == CampaignAttempt.campaign_id)
                .where(CampaignAttempt.id == attempt_id, CampaignAttempt.campaign_id == campaign_id))).first()
        if found is None or found[0] not in (AttemptState.PLANNED, AttemptState.DIALLING) or found[1] is None:
            raise NotOurAttempt(f"attempt {attempt_id} of campaign {campaign_id} is not being dialled")
        return found[1], found[2], found[3]

    async def _extensions(self, team_id: int) -> tuple[str, ...]:
        known = self._team_ext.get(team_id)
        if known is None:
            async with self.db.read_session() as session:
                known = self._team_ext[team_id] = tuple(await campaign_store.team_extensions(session, team_id))
        return known

    # -- preview mode: the agent sees the card and dials it ----------------------------------------------------------
    # Any instance serves these (no lease): cards are held per instance, and the claim's unique attempt number keeps
    # two instances' agents from dialling one number (the second gets an in-flight refusal and takes the next card).

    async def _preview_campaign(self, campaign_id: int, agent: str) -> tuple[Campaign, _Run] | PreviewRefused:
        async with self.db.read_session() as session:
            campaign = await session.get(Campaign, campaign_id)
            if campaign is not None:
                session.expunge(campaign)
        if campaign is None or campaign.state is not CampaignState.RUNNING:
            state = "gone" if campaign is None else campaign.state.value
            return PreviewRefused("state", f"the campaign is {state}, not running")
        if campaign.mode is not CampaignMode.PREVIEW:
            return PreviewRefused("mode", f"the campaign dials {campaign.mode.value}, not preview")
        if agent not in await self._extensions(campaign.team_id or 0):
            self._team_ext.pop(campaign.team_id or 0, None)  # maybe just added to the team: read it again next time
            if agent not in await self._extensions(campaign.team_id or 0):
                return PreviewRefused("extension", f"extension {agent} is not an agent of the campaign's team")
        return campaign, self._runs.setdefault(campaign.id, _Run(campaign.id))

    async def preview_next(self, campaign_id: int, agent: str) -> PreviewCard | PreviewRefused:
        """The card ``agent`` holds, or the next permitted number of the list held for them."""
        found = await self._preview_campaign(campaign_id, agent)
        if isinstance(found, PreviewRefused):
            return found
        campaign, run = found
        now_s = self._clock()
        for ext, held in list(run.held.items()):
            if now_s - held.since_s > self.settings.preview_hold_s:
                del run.held[ext]  # its agent went away: the number is callable again (the next pass finds it)
        if (held := run.held.get(agent)) is not None:
            return PreviewCard(campaign.id, held.candidate)
        candidate = await self._next(campaign, run, now_s)
        if candidate is not None:
            run.held[agent] = _Held(candidate, now_s)
            return PreviewCard(campaign.id, candidate)
        if campaign.state is not CampaignState.RUNNING:
            return PreviewRefused("state", f"the campaign is {campaign.state.value}: {run.detail}")
        if run.walk.asleep(now_s):
            return PreviewRefused("list", "no number is callable now (calling hours, retry delays, calls in flight)",
                                  retry_at_s=run.walk.asleep_until_s)
        return PreviewRefused("list", "no callable number found in this part of the list yet; ask again",
                              retry_at_s=now_s + self.settings.tick_s)

    async def preview_dial(self, campaign_id: int, agent: str) -> PreviewDialled | PreviewRefused:
        """Dial the card ``agent`` holds (customer first, the call reserved for them): the attempt, or why not.
        The number is checked again immediately before the dial (a do-not-call entry added while the card was shown
        refuses it); the card is given up either way."""
        found = await self._preview_campaign(campaign_id, agent)
        if isinstance(found, PreviewRefused):
            return found
        campaign, run = found
        if agent not in run.held:
            return PreviewRefused("card", "no card is shown to you: take the next card first")
        if self._ami_session() is None:
            return PreviewRefused("dialer", "the AMI session is down: nothing is dialled")
        if (state := self.live.agent_state(agent)[0]) is not AgentState.AVAILABLE:
            return PreviewRefused("agent_state", f"you are {state.value}: a preview call needs you available")
        candidate = run.held.pop(agent).candidate
        definition = parse_campaign(campaign.definition)
        now_s = self._clock()
        async with self.db.session() as session:
            claimed = await attempt_store.claim(
                session, campaign_id=campaign.id, definition=definition, e164=candidate.e164,
                contact_id=candidate.contact_id, lead_id=candidate.lead_id, now_s=now_s, agent_reserved=True,
                preview_agent=agent)
        if isinstance(claimed, Refusal):
            await _wake(run)  # the list may hold more now that this card is gone
            return PreviewRefused("e164", f"{candidate.e164} may not be dialled now: {claimed.detail}",
                                  retry_at_s=claimed.retry_at_s, reason=claimed.reason.value)
        await self._originate(campaign, definition, run, candidate, claimed, reserved_agent=agent)
        return PreviewDialled(claimed.attempt_id, candidate.e164)

    async def preview_skip(self, campaign_id: int, agent: str) -> bool:
        """Give the card up undialled: the number stays callable (the walk's next pass finds it). False: no card."""
        run = self._runs.get(campaign_id)
        if run is None or run.held.pop(agent, None) is None:
            return False
        await _wake(run)  # a list asleep only because of held cards has something again
        return True

    # -- the loop -------------------------------------------------------------------------------------------------

    async def run(self) -> None:
        while True:
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("dialer tick failed; next tick in %.1f s", self.settings.tick_s)
            await wait_set(self.wakeup, self.settings.tick_s)
            self.wakeup.clear()

    async def tick(self) -> None:
        now_s = self._clock()
        async with self.db.read_session() as session:
            running = list(await session.scalars(
                select(Campaign).where(Campaign.state == CampaignState.RUNNING)
                .order_by(Campaign.priority.desc(), Campaign.id)
            ))
            if now_s - self._team_ext_at_s >= self.settings.directory_refresh_s or any(
                    c.team_id not in self._team_ext for c in running):
                teams = {c.team_id for c in running if c.team_id is not None}
                self._team_ext = {t: tuple(await campaign_store.team_extensions(session, t)) for t in teams}
                self._team_ext_at_s = now_s
            session.expunge_all()
        # Ours, whichever team: an instance holding no lease dials too (preview cards).
        self._give_up_lost_own()
        by_team: dict[int, list[Campaign]] = collections.defaultdict(list)
        for campaign in running:
            if campaign.team_id is not None:
                by_team[campaign.team_id].append(campaign)
        for team_id, campaigns in by_team.items():
            if not await self.leases.hold(team_id, ttl_s=self.settings.lease_ttl_s):
                self._held_teams.discard(team_id)
                continue
            if team_id not in self._held_teams:
                self._held_teams.add(team_id)
                log.info("dialer: pacing team %d's campaigns on %s", team_id, self.settings.instance)
            await self._sweep_lost([c for c in campaigns], now_s)
            for campaign in campaigns:
                await self._pace(campaign, now_s)
        for team_id in list(self._held_teams - set(by_team)):
            if not any(f.team_id == team_id for f in self._in_flight.values()):
                await self.leases.release(team_id)
                self._held_teams.discard(team_id)
        for campaign_id in list(self._runs):
            if campaign_id not in {c.id for c in running}:
                del self._runs[campaign_id]  # paused or stopped: its next run starts a fresh pass
        self.ticks += 1
        self.tick_done.set()

    # -- one campaign ---------------------------------------------------------------------------------------------

    async def _pace(self, campaign: Campaign, now_s: float) -> None:
        run = self._runs.setdefault(campaign.id, _Run(campaign.id))
        definition = parse_campaign(campaign.definition)
        team = self._team_ext.get(campaign.team_id or 0, ())
        states = {ext: self.live.agent_state(ext)[0] for ext in team}
        if self._ami_session() is None:
            run.status, run.detail = Status.WAITING_FOR_ASTERISK, "the AMI session is down: nothing is dialled"
        elif not any(s is not AgentState.OFFLINE for s in states.values()):
            run.status, run.detail = Status.WAITING_FOR_AGENTS, "no agent of the team is logged in"
        elif run.walk.asleep(now_s):
            run.status = Status.WAITING_FOR_WINDOW
            run.detail = "no number is callable now (calling hours, retry delays, calls in flight)"
        else:
            decision = decide(await self._inputs(campaign, definition, run, states, now_s))
            run.decision = decision
            run.status, run.detail = Status.DIALLING, decision.why
            dialled = await self._dial(campaign, definition, run, decision.dial_count, now_s)
            if campaign.state is not CampaignState.RUNNING:
                pass  # finished or paused by the walk: _end said why
            elif dialled:
                run.detail = f"dialled {dialled}: {decision.why}"
            elif run.walk.asleep(now_s):
                run.status = Status.WAITING_FOR_WINDOW
                run.detail = "no number is callable now (calling hours, retry delays, calls in flight)"
        await self._publish_status(campaign, run, states, now_s)

    def _talking_actions(self) -> set[str]:
        """ActionIDs of dialler calls an agent has answered (the live model's open calls)."""
        return {c.originate_action_id for c in self.live.tracker.open_calls()
                if c.originate_action_id and c.answered_by}

    def _campaign_in_flight(self, campaign_id: int) -> int:
        return sum(1 for f in self._in_flight.values() if f.campaign_id == campaign_id)

    async def _inputs(self, campaign: Campaign, definition: CampaignDefinition, run: _Run,
                      states: dict[str, AgentState], now_s: float) -> PacingInputs:
        talking, wrapup = [], []
        for ext, state in states.items():
            since = self._agent_since.get(ext, (state, now_s))[1]
            if state is AgentState.TALKING:
                talking.append(_elapsed_s(now_s, since))
            elif state is AgentState.WRAP_UP:
                wrapup.append(_elapsed_s(now_s, since))
        team_flights = [f for f in self._in_flight.values() if f.team_id == campaign.team_id]
        ringing = tuple(max(0.0, now_s - f.dialled_s) for f in team_flights if f.verdict_s is None)
        talking = self._talking_actions()
        # A person answered and no agent has taken the call yet (inside the 2 s): an agent is about to be used.
        waiting = sum(1 for f in team_flights if f.verdict_s is not None and f.action_id not in talking)
        outcomes = collections.Counter(run.outcomes)
        abandon = definition.law.abandon
        async with self.db.read_session() as session:
            counts = await attempt_store.window_counts(session, campaign.id, now_s=now_s, window_s=abandon.window_s)
        return PacingInputs(
            mode=definition.mode,
            now_s=now_s,
            agents_free=sum(1 for s in states.values() if s is AgentState.AVAILABLE),
            agents_talking_elapsed_s=tuple(talking),
            agents_wrapup_elapsed_s=tuple(wrapup),
            talk_samples_s=tuple(self._talk_s),
            wrapup_samples_s=tuple(self._wrapup_s),
            ringing_ages_s=ringing,
            calls_waiting_for_agent=waiting,
            recent_live_count=sum(outcomes[o] for o in LIVE_ANSWERED),
            recent_machine_count=outcomes[AttemptOutcome.MACHINE],
            recent_no_answer_count=outcomes[AttemptOutcome.NO_ANSWER],
            recent_busy_failed_count=outcomes[AttemptOutcome.BUSY] + outcomes[AttemptOutcome.FAILED],
            answer_delay_samples_s=tuple(run.answer_delays_s),
            ring_timeout_s=definition.law.ring_s,
            window_live_count=counts.live_answered,
            window_abandoned_count=counts.abandoned,
            abandon_cap_ratio=abandon.cap_pct / 100.0,
            amd_false_positive_ratio=abandon.amd_false_positive_rate,
        )

    async def _next(self, campaign: Campaign, run: _Run, now_s: float) -> Candidate | None:
        async with run.walking:
            return await self._walk_next(campaign, run, now_s)

    async def _walk_next(self, campaign: Campaign, run: _Run, now_s: float) -> Candidate | None:
        """The next permitted number not in flight here nor on a preview card shown here, walking the list as far as
        this tick's budget allows."""
        walk = run.walk
        busy = {f.e164 for f in self._in_flight.values() if f.campaign_id == campaign.id}
        busy |= {h.candidate.e164 for h in run.held.values()}
        scanned = 0
        while True:
            while walk.buffer:
                candidate = walk.buffer.popleft()
                if candidate.e164 not in busy:
                    return candidate
            if scanned >= self.settings.scan_rows_per_tick or walk.asleep(now_s):
                return None
            try:
                async with self.db.read_session() as session:
                    page = await campaign_store.dial_list_page(session, campaign, cursor=walk.cursor,
                                                               limit=self.settings.page_rows)
            except Conflict as exc:
                await self._end(campaign, run, CampaignState.PAUSED, f"paused by the dialer: {exc.message}",
                                Status.NO_LIST)
                return None
            scanned += len(page.rows)
            contact = page.entity is ReportEntity.CONTACTS
            lead = page.entity is ReportEntity.LEADS
            for row in page.rows:
                if isinstance(row.verdict, Refusal):
                    walk.refused(row.verdict)
                elif row.e164 is not None and row.e164 not in busy:
                    walk.take(Candidate(row.record_id, row.e164, row.record_id if contact else None,
                                        row.record_id if lead else None, row.values))
            walk.page_read(page.next_cursor, len(page.rows))
            if page.next_cursor is None:
                if walk.buffer:
                    walk.found_this_pass = True
                # A card shown counts as in flight: the list is not done while an agent may still dial it.
                in_flight = self._campaign_in_flight(campaign.id) + len(run.held)
                if walk.end_pass(now_s, in_flight=in_flight) and not walk.buffer:
                    await self._end(campaign, run, CampaignState.FINISHED,
                                    f"the list is done after {walk.passes} passes: every number reached its end",
                                    Status.IDLE)
                    return None

    async def _dial(self, campaign: Campaign, definition: CampaignDefinition, run: _Run, wanted: int,
                    now_s: float) -> int:
        dialled = 0
        reserved = definition.mode in (CampaignMode.PREVIEW, CampaignMode.PROGRESSIVE)
        if wanted == 0:
            # Walk on anyway (up to the next callable number, kept for later): the list's end must be seen while
            # every agent is busy too, or a campaign whose agents never free up at the right moment never finishes.
            candidate = await self._next(campaign, run, now_s)
            if candidate is not None:
                run.walk.buffer.appendleft(candidate)
            return 0
        while dialled < wanted:
            candidate = await self._next(campaign, run, now_s)
            if candidate is None:
                break
            async with self.db.session() as session:
                claimed = await attempt_store.claim(
                    session, campaign_id=campaign.id, definition=definition, e164=candidate.e164,
                    contact_id=candidate.contact_id, lead_id=candidate.lead_id, now_s=now_s, agent_reserved=reserved)
            if isinstance(claimed, Refusal):
                continue
            await self._originate(campaign, definition, run, candidate, claimed)
            dialled += 1
        return dialled

    async def _originate(self, campaign: Campaign, definition: CampaignDefinition, run: _Run, candidate: Candidate,
                         claimed: attempt_store.Claimed, *, reserved_agent: str | None = None) -> None:
        answering = definition.answering
        dial = AttemptDial(
            attempt_id=claimed.attempt_id, campaign_id=campaign.id, action_id=claimed.action_id,
            number_e164=candidate.e164, caller_id_e164=definition.caller_id,
            ring_s=definition.law.ring_s, amd_notsure=answering.amd_notsure, machine_action=answering.machine_action,
            info_message=answering.info_message, trunk=self.settings.trunk,
        )
        flight = _InFlight(claimed.attempt_id, campaign.id, campaign.team_id or 0, candidate.e164, claimed.action_id,
                           self._clock(), definition.law.ring_s, self._ami_session() or 0,
                           reserved_agent=reserved_agent)
        self._in_flight[claimed.attempt_id] = flight
        future = await self.follower.dial(dial)
        async with self.db.session() as session:
            await attempt_store.mark_dialling(session, claimed.attempt_id, at_s=flight.dialled_s)
        flight.task = asyncio.create_task(self._follow(flight, future, definition),
                                          name=f"dialer-attempt-{claimed.attempt_id}")

    async def _follow(self, flight: _InFlight, future: asyncio.Future[AttemptResult],
                      definition: CampaignDefinition) -> None:
        result = await future
        try:
            await self._record(flight, result, definition)
        except Exception:
            log.exception("dialer: attempt %d ended %s but could not be written; it stays in flight in the database "
                          "and is resolved as lost later", flight.attempt_id, result.outcome.value)
        finally:
            self._in_flight.pop(flight.attempt_id, None)
            run = self._runs.get(flight.campaign_id)
            if run is not None and not self._campaign_in_flight(flight.campaign_id):
                await _wake(run)  # the list may be done now that its last call ended: walk it again
            self.wakeup.set()

    async def _record(self, flight: _InFlight, result: AttemptResult, definition: CampaignDefinition) -> None:
        now_s = self._clock()
        if not result.sent:
            async with self.db.session() as session:  # nothing was dialled: the number stays as callable as it was
                await attempt_store.not_sent(session, result.attempt_id, why=result.recognised_by)
            return
        run = self._runs.get(flight.campaign_id)
        if run is not None:
            run.outcomes.append(result.outcome)
            if result.outcome is AttemptOutcome.MACHINE and result.verdict_s is not None:
                run.answer_delays_s.append(max(0.0, result.verdict_s - flight.dialled_s))
        async with self.db.session() as session:
            agent_id = None  # the agent who talked; one reserved but never reached is only in the activity's meta
            if result.agent and result.outcome is AttemptOutcome.CONNECTED:
                agent_id = await session.scalar(select(User.id).where(User.extension == result.agent))
            row = await attempt_store.record_result(session, result, ended_s=now_s, answered_s=result.answered_s,
                                                    agent_id=agent_id)
            if row is None:
                return
            if row.activity_id is not None:
                await attempt_store.describe_on_activity(session, row, recognised_by=result.recognised_by)
            elif result.uniqueid is None:
                # No channel was ever made: no CallEnded will come, so the bridge writes nothing. Write it here.
                await attempt_store.write_failed_activity(session, row, recognised_by=result.recognised_by,
                                                          team_id=flight.team_id)
            if result.outcome in _RETRY_ENDS and definition.retry.after_last.value == "agent_task":
                attempts, _ = await campaign_store._history(session, row.campaign_id, [row.e164])
                verdict = retry_verdict(now_s, attempts.get(row.e164, ()), definition.rules().retry)
                if isinstance(verdict, Refusal) and verdict.retry_at_s is None:
                    await attempt_store.file_agent_task(session, row, team_id=flight.team_id, campaign_name=definition.name)

    # -- attempts lost with an instance or an AMI session ---------------------------------------------------------

    def _give_up_lost_own(self) -> None:
        """Our attempts dialled in an AMI session lost since, with no call of theirs open after the new session's
        resync (the resync lists every channel, so one missing has ended): ended at once from the call's end if one
        was seen, else failed; never re-sent."""
        session_now = self._ami_session()
        if session_now is None:
            return  # no resynced session: the live model cannot say which calls are still open
        open_actions = {c.originate_action_id for c in self.live.tracker.open_calls() if c.originate_action_id}
        for flight in list(self._in_flight.values()):
            if flight.generation < session_now and flight.action_id not in open_actions:
                call = self._calls_ended.get(flight.action_id)
                outcome, agent = _outcome_of_call(call)
                self.follower.give_up(
                    flight.attempt_id, outcome=outcome, agent=agent,
                    why="the AMI session was lost while it ran; " + (
                        f"its call ended {call.outcome.value} (resync)" if call is not None
                        else "no call of it is open after the resync and none was seen; not re-sent"))

    async def _sweep_lost(self, campaigns: Sequence[Campaign], now_s: float) -> None:
        """Attempts whose end will never be seen, each ended from its CRM activity when the bridge wrote one, else
        ``failed`` with why; none is re-sent:

        * ours, dialled in an AMI session that was lost since: at once (``_give_up_lost_own``, every tick);
        * rows left by an instance that died (or by this process before a restart): once their ring time and a grace
          have passed with no call of theirs open (until then its Originate may still be on its way).
        """
        session_now = self._ami_session()
        if session_now is None:
            return  # no resynced session: the live model cannot say which calls are still open
        open_actions = {c.originate_action_id for c in self.live.tracker.open_calls() if c.originate_action_id}
        by_id = {c.id: c for c in campaigns}
        async with self.db.read_session() as session:
            rows = await attempt_store.unfinished(session, list(by_id))
            session.expunge_all()
        for row in rows:
            if row.id in self._in_flight or row.action_id in open_actions:
                continue
            call = self._calls_ended.get(row.action_id or "")
            ring_s = float(by_id[row.campaign_id].definition.get("law", {}).get("ring_s", 25.0))
            started = row.dialled_at or row.created_at
            if call is None and row.activity_id is None and now_s - started.timestamp() < ring_s + self.settings.lost_grace_s:
                continue  # no end seen (no call end, no activity the CRM bridge wrote): its Originate may be on its way
            outcome, agent = _outcome_of_call(call) if call is not None else (None, None)
            async with self.db.session() as session:
                agent_id = agent and await session.scalar(select(User.id).where(User.extension == agent))
                await attempt_store.resolve_lost(
                    session, row.id, now_s=now_s, outcome=outcome, agent_id=agent_id,
                    why="the instance dialling it stopped before its end was seen" + (
                        f"; its call ended {call.outcome.value}" if call is not None else ""))

    # -- state and status -----------------------------------------------------------------------------------------

    async def _end(self, campaign: Campaign, run: _Run, state: CampaignState, reason: str, status: str) -> None:
        async with self.db.session() as session:
            row = await session.get(Campaign, campaign.id, with_for_update=True)
            if row is None or row.state is not CampaignState.RUNNING:
                return
            row.state, row.state_reason = state, reason[:300]
            row.version += 1
            row.updated_at = utcnow()
        campaign.state = state
        run.status, run.detail = status, reason
        log.info("campaign %d %s: %s", campaign.id, state.value, reason)

    async def _publish_status(self, campaign: Campaign, run: _Run, states: dict[str, AgentState],
                              now_s: float) -> None:
        flights = [f for f in self._in_flight.values() if f.campaign_id == campaign.id]
        answered = self._talking_actions()
        talking = sum(1 for f in flights if f.action_id in answered)
        live = CampaignLive(
            campaign_id=campaign.id, at_s=now_s, status=run.status, detail=run.detail,
            instance=self.settings.instance,
            ringing=sum(1 for f in flights if f.verdict_s is None),
            waiting_for_agent=sum(1 for f in flights if f.verdict_s is not None) - talking,
            talking=talking,
            agents=dict(collections.Counter(s.value for s in states.values())),
            pacing=None if run.decision is None else _decision_json(run.decision),
            next_dial_at_s=run.walk.asleep_until_s if run.walk.asleep(now_s) else None,
        )
        await self.leases.put_status(live, ttl_s=max(3 * self.settings.tick_s, self.settings.lease_ttl_s))

    async def live_status(self, campaign_id: int) -> CampaignLive | None:
        return await self.leases.get_status(campaign_id)

    async def stop(self) -> None:
        tasks = [f.task for f in self._in_flight.values() if f.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for team_id in list(self._held_teams):
            await self.leases.release(team_id)
        self._held_teams.clear()


# Outcomes after which the number may be used up by the retry rules (after_last: agent_task files a callback).
_RETRY_ENDS: Final = frozenset({AttemptOutcome.NO_ANSWER, AttemptOutcome.BUSY, AttemptOutcome.FAILED,
                                AttemptOutcome.MACHINE})


async def _wake(run: _Run) -> None:
    """Walk the list again at the next chance. Under the walk's lock: a walk in progress read the list before the
    change and would put the walk back to sleep (up to max_sleep_s) after this, with a call just ended unseen."""
    async with run.walking:
        run.walk.asleep_until_s = None


def _elapsed_s(now_s: float, since_s: object) -> float:
    """Seconds since ``since_s``; 0 for a time the event did not carry or one ahead of our clock (Asterisk's and the
    service's clocks differ a little)."""
    try:
        elapsed = float(now_s) - float(since_s)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return elapsed if math.isfinite(elapsed) and elapsed > 0 else 0.0


def _outcome_of_call(call: CallEnded | None) -> tuple[AttemptOutcome, str | None]:
    """What the live model's end of a dialler call says the attempt became (no call seen: failed)."""
    if call is None:
        return AttemptOutcome.FAILED, None
    if call.answered_by:
        return AttemptOutcome.CONNECTED, call.answered_by
    return {CallOutcome.ABANDONED: AttemptOutcome.ABANDONED, CallOutcome.BUSY: AttemptOutcome.BUSY,
            CallOutcome.MISSED: AttemptOutcome.NO_ANSWER}.get(call.outcome, AttemptOutcome.FAILED), None


def _decision_json(decision: PacingDecision) -> dict[str, Any]:
    keep = ("dial_count", "progressive_count", "fallback", "calls_in_flight", "agents_logged_in",
            "agents_soon_free_expected", "live_ratio", "machine_ratio", "unanswered_ratio", "expected_abandons",
            "allowed_abandons", "window_abandon_ratio", "budget_left_ratio", "why")
    out: dict[str, Any] = {name: getattr(decision, name) for name in keep}
    out["mode"] = decision.mode.value
    return out
