"""Composition of the desk-phone parts into the app (kept here so callcenter/app.py only registers them)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from callcenter.deskphone.blf import AgentBlf
from callcenter.deskphone.features import PhoneFeatures
from callcenter.events import AgentStateChanged
from callcenter.app_keys import AMI, BUS, DATABASE, LIVE, QUEUE_KEEPER, ROUTING, SETTINGS

DESK_FEATURES = web.AppKey("desk_features", PhoneFeatures)
AGENT_BLF = web.AppKey("agent_blf", AgentBlf)


def feature_route(app: web.Application) -> Any:
    """The FastAGI handler of the feature codes (FastAgiServer routes[AGI_ROUTE_FEATURE])."""
    def members_of(interface: str) -> set[str]:
        keeper = app.get(QUEUE_KEEPER)
        return {queue for queue, member in keeper.record if member == interface} if keeper is not None else set()

    features = PhoneFeatures(routing=app[ROUTING], live=app[LIVE], db=app[DATABASE],
                             pause_reasons=app[SETTINGS].deskphone.pause_reasons, members_of=members_of)
    app[DESK_FEATURES] = features
    return features.handler


async def blf_ctx(app: web.Application) -> AsyncIterator[None]:
    """Agents' states on BLF keys, while an AMI session is configured (after _ami_ctx)."""
    connection = app.get(AMI)
    if connection is None:
        yield
        return
    live = app[LIVE]
    blf = app[AGENT_BLF] = AgentBlf(
        send=connection.send,
        agents=lambda: [info.agent for info in app[ROUTING].directory.all_agents()],
        state_of=live.agent_state,
    )

    unsubscribe = app[BUS].subscribe(blf.on_state, event_type=AgentStateChanged)
    # every agent once per AMI session, when the live model has its resync: the states read then are Asterisk's
    live.on_synced.append(blf.on_session)
    if live.synced_generation:
        blf.republish_all()
    tasks = [asyncio.create_task(blf.run(), name="agent-blf")]
    yield
    unsubscribe()
    live.on_synced.remove(blf.on_session)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
