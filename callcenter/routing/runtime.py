"""Routing inside the running service: the RoutingService with its store follower and a fresh agent directory.

Users, teams and open callbacks come from the database; they are re-read every ``directory_refresh_s`` and at once
when the API writes users or teams (``on_write``). A write to contacts, companies, leads or deals drops the cached
caller facts, so a new owner gets the next call.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Final

from callcenter.ami.channel_vars import AGI_ROUTE_OUTBOUND
from callcenter.events import CallEnded, CallRouted, EventBus
from callcenter.routing.adapters import AmiAgentControl, DbCrmLookup, load_agents, open_callbacks_by_user
from callcenter.routing.crm import CachedLookup
from callcenter.routing.directory import StaticDirectory
from callcenter.routing.follower import StoreFollower
from callcenter.routing.outbound import OutboundRoute
from callcenter.routing.rules import RoutingRules
from callcenter.routing.service import RoutingService
from callcenter.routing.settings import RoutingSettings
from callcenter.routing.state import RoutingStore
from callcenter.waiting import wait_set
from crm_core.db import Database
from crm_core.phones import try_normalize
from crm_core.records import PhoneRules

__all__ = ["RoutingRuntime"]

log = logging.getLogger("callcenter.routing")

RECORD_PATHS: Final = ("/api/v1/contacts", "/api/v1/companies", "/api/v1/leads", "/api/v1/deals")
AGENT_PATHS: Final = ("/api/v1/users", "/api/v1/teams")


class RoutingRuntime:
    def __init__(
        self,
        *,
        settings: RoutingSettings,
        rules: RoutingRules,
        db: Database,
        phone_rules: PhoneRules,
        store: RoutingStore,
        bus: EventBus,
        ami: Callable[[], Any],
        vip_numbers: frozenset[str] = frozenset(),
        live: Any = None,
        instance: str | None = None,
    ) -> None:
        self.settings = settings
        self._live = live  # LiveCalls: pauses an agent in no queue for routing itself (Asterisk has no member)
        self.db = db
        self.store = store
        self.directory = StaticDirectory()
        self._ami = ami  # read at use: the AMI session may come and go
        region = phone_rules.region

        def normalize(number: str) -> str:
            parsed = try_normalize(number, region=region)
            return parsed.e164 if parsed else "".join(number.split())

        lookup = CachedLookup(
            lookup=DbCrmLookup(
                db=db, phone_rules=phone_rules, vip_numbers=vip_numbers, names=settings.caller_name.enabled
            ),
            ttl_s=settings.crm_cache_ttl_s,
            negative_ttl_s=settings.crm_negative_ttl_s,
            normalize=normalize,
        )
        self.service = RoutingService(
            rules=rules,
            store=store,
            directory=self.directory,
            lookup=lookup,
            pause_agent=self._pause,
            publish=bus.publish,
            crm_budget_ms=settings.crm_budget_ms,
            reservation_ttl_s=settings.reservation_ttl_s,
            decision_log_calls=settings.decision_log_calls,
            caller_name=settings.caller_name.to_format() if settings.caller_name.enabled else None,
            instance=instance,
        )
        bus.subscribe(self.service.on_routed, event_type=CallRouted)
        def forget_caller(ended: CallEnded) -> None:
            # The caller's "last agent" just changed: their next call must see it.
            if ended.customer:
                lookup.invalidate(ended.customer)

        self.outbound = OutboundRoute(settings=settings, directory=self.directory, default_region=region)
        self.follower = StoreFollower(bus=bus, store=store, on_call_ended=forget_caller)
        self._refresh_now = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def agi_routes(self) -> dict[str, Any]:
        """FastAGI scripts served next to the inbound router: the desk phones' outbound calls."""
        return {AGI_ROUTE_OUTBOUND: self.outbound.handler}

    def agent_control(self) -> AmiAgentControl | None:
        ami = self._ami()
        return AmiAgentControl(ami) if ami is not None else None

    async def _pause(self, agent: str, reason: str) -> None:
        control = self.agent_control()
        if control is None:
            raise RuntimeError("no Asterisk is configured (ami.host)")
        info = self.directory.agent(agent)
        target = info.target if info else f"PJSIP/{agent}"
        if self._live is not None:
            await self._live.pause(agent, reason, control=control, interface=target)
            return
        await control.pause(target, reason)

    async def refresh(self) -> None:
        """Re-read agents and their open callbacks (the part of their load the live model cannot see)."""
        agents = await load_agents(self.db, skills=self.settings.agent_skills)
        self.directory.replace(agents)
        callbacks = await open_callbacks_by_user(self.db)
        await self.store.set_open_callbacks({info.agent: callbacks.get(info.user_id or 0, 0) for info in agents})

    def on_write(self, _method: str, path: str) -> None:
        if path.startswith(RECORD_PATHS):
            self.service.invalidate_caller()
        elif path.startswith(AGENT_PATHS) or path.startswith("/api/v1/tasks"):
            self._refresh_now.set()

    async def start(self) -> None:
        await self.refresh()
        self.follower.start()
        self._task = asyncio.create_task(self._refresh_loop(), name="routing-directory")
        log.info("routing ready: %d agents, teams %s", len(self.directory.all_agents()), sorted(self.service.rules.teams))

    async def _refresh_loop(self) -> None:
        while True:
            await wait_set(self._refresh_now, self.settings.directory_refresh_s)
            self._refresh_now.clear()
            try:
                await self.refresh()
            except Exception:
                log.exception("routing directory refresh failed; keeping the previous one")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.follower.stop()
        await self.service.aclose()
        await self.store.aclose()
