"""Automation through the running service: a deal stage change in the API reaches a signed webhook."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select

from callcenter.app_keys import AUTOMATION
from callcenter.automation.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from callcenter.outbox.pipeline import crm_settled
from crm_core.models import DeliveryStatus, WebhookDelivery
from tests.automation.receiver import SECRET, Receiver, receiver  # noqa: F401  (fixture)


async def test_deal_stage_change_reaches_a_webhook_through_the_api(make_world: Any, receiver: tuple[Receiver, str], tmp_path: Any) -> None:
    recv, url = receiver
    config = tmp_path / "callcenter.toml"
    config.write_text(
        f'[[automation.rules]]\nname = "stage"\nwhen = "deal.stage_changed"\nthen = "webhook"\nurl = "{url}"\nsecret = "{SECRET}"\n'
    )
    world = await make_world(config)
    _, pipeline = await world.call(world.admin, "POST", "/api/v1/pipelines", {"name": "P", "is_default": True, "stages": [{"name": "a"}, {"name": "b"}]})
    _, deal = await world.call(world.admin, "POST", "/api/v1/deals", {"title": "D"})
    status, _ = await world.call(world.admin, "POST", f"/api/v1/deals/{deal['id']}/stage", {"stage_id": pipeline["stages"][1]["id"]})
    assert status == 200
    await asyncio.wait_for(crm_settled(world.client.app), 10)  # through the outbox, committed with the change
    async with world.db.session() as s:
        [row] = list(await s.scalars(select(WebhookDelivery)))
    assert row.event == "deal.stage_changed" and row.payload["deal_id"] == deal["id"]
    assert row.payload["to_stage_id"] == pipeline["stages"][1]["id"]
    # The running sender delivers it, signed.
    await asyncio.wait_for(_delivered(world), 10)
    headers = recv.received[0]["headers"]
    assert verify(SECRET, int(headers[TIMESTAMP_HEADER]), recv.received[0]["body"], headers[SIGNATURE_HEADER])


async def _delivered(world: Any) -> None:
    sender_wakeup = world.client.app[AUTOMATION].on_webhook_queued
    while True:
        async with world.db.session() as s:
            row = await s.scalar(select(WebhookDelivery))
        if row is not None and row.status is DeliveryStatus.DELIVERED:
            return
        sender_wakeup()  # nudge the sender instead of sleeping


async def test_notifications_and_delivery_log_respect_roles(world: Any) -> None:
    from crm_core.models import Notification

    async with world.db.session() as s:
        s.add(Notification(kind="k", dedupe_key="a", team_id=world.agent_a1.team_id, user_id=world.agent_a1.id, message="for Alice", data={}))
        s.add(Notification(kind="k", dedupe_key="b", team_id=world.agent_b1.team_id, user_id=world.agent_b1.id, message="for Bea", data={}))
        s.add(WebhookDelivery(rule="r", url="http://127.0.0.1:1/x", event="lead.created", dedupe_key="r|x", payload={}, status=DeliveryStatus.DEAD, attempts=8))
    seen = {}
    for name in ("agent_a1", "agent_b1", "sup_a", "admin"):
        _, page = await world.call(getattr(world, name), "GET", "/api/v1/notifications")
        seen[name] = sorted(n["message"] for n in page["items"])
    assert seen == {"agent_a1": ["for Alice"], "agent_b1": ["for Bea"], "sup_a": ["for Alice"], "admin": ["for Alice", "for Bea"]}
    _, page = await world.call(world.agent_a1, "GET", "/api/v1/notifications")
    note_id = page["items"][0]["id"]
    status, read = await world.call(world.agent_a1, "POST", f"/api/v1/notifications/{note_id}/read")
    assert status == 200 and read["read_at"]
    _, unread = await world.call(world.agent_a1, "GET", "/api/v1/notifications", params={"unread": "true"})
    assert unread["total"] == 0
    status, _ = await world.call(world.agent_b1, "POST", f"/api/v1/notifications/{note_id}/read")
    assert status == 404
    status, _ = await world.call(world.sup_a, "GET", "/api/v1/webhooks/deliveries")
    assert status == 403
    _, log = await world.call(world.admin, "GET", "/api/v1/webhooks/deliveries", params={"status": "dead"})
    [dead] = log["items"]
    status, retried = await world.call(world.admin, "POST", f"/api/v1/webhooks/deliveries/{dead['id']}/retry")
    assert status == 200 and (retried["status"], retried["attempts"]) == ("pending", 0)
