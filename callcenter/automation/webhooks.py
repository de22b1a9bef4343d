"""Signed webhook delivery from the outbox table: lease, POST, record, retry with backoff, give up after N tries.

The row is leased in a short transaction and the HTTP call happens outside any transaction, so a slow receiver
never holds database locks. Several instances can run senders: PostgreSQL hands each row to one of them
(FOR UPDATE SKIP LOCKED); an expired lease (a sender that died) makes the row due again.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta

import aiohttp

from callcenter.automation.outbox import backoff_s, lease_due, run_until_cancelled
from crm_core.db import Database
from crm_core.models import DeliveryStatus, WebhookDelivery
from crm_core.types import utcnow

log = logging.getLogger("callcenter.webhooks")
SIGNATURE_HEADER = "X-Callcenter-Signature"
TIMESTAMP_HEADER = "X-Callcenter-Timestamp"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>"; the timestamp lets receivers refuse replays."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: int, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class WebhookSender:
    def __init__(
        self,
        *,
        db: Database,
        secrets: Mapping[str, str],
        timeout_s: float = 10.0,
        max_attempts: int = 8,
        base_backoff_s: float = 10.0,
        max_backoff_s: float = 3600.0,
        batch: int = 20,
        secret_of: Callable[[str], Awaitable[str | None]] | None = None,
    ) -> None:
        self.db = db
        self.secrets = dict(secrets)
        # Deliveries not from a configured rule (a report schedule's) find their secret here, by their rule name.
        self.secret_of = secret_of
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.base_backoff_s = base_backoff_s
        self.max_backoff_s = max_backoff_s
        self.batch = batch
        self.wakeup = asyncio.Event()

    def backoff_s(self, attempts: int) -> float:
        return backoff_s(attempts, base_s=self.base_backoff_s, max_s=self.max_backoff_s)

    async def _lease(self, now: datetime) -> list[WebhookDelivery]:
        return await lease_due(self.db, WebhookDelivery, now=now, batch=self.batch, lease_s=self.timeout_s * 3)

    async def deliver_due(self, http: aiohttp.ClientSession, *, now: datetime | None = None) -> int:
        """Try every due delivery once; returns how many were tried."""
        now = now or utcnow()
        rows = await self._lease(now)
        for row in rows:
            status, error = await self._post(http, row)
            async with self.db.session() as session:
                stored = await session.get(WebhookDelivery, row.id)
                if stored is None:
                    continue
                stored.attempts += 1
                stored.response_status = status
                if status is not None and 200 <= status < 300:
                    stored.status = DeliveryStatus.DELIVERED
                    stored.delivered_at = utcnow()
                    stored.last_error = None
                elif stored.attempts >= self.max_attempts or error == "rule no longer configured":
                    stored.status = DeliveryStatus.DEAD
                    stored.last_error = error
                    log.error("webhook %d to %s gave up after %d attempts: %s", row.id, row.url, stored.attempts, error)
                else:
                    stored.last_error = error
                    stored.next_attempt_at = now + timedelta(seconds=self.backoff_s(stored.attempts))
        return len(rows)

    async def _post(self, http: aiohttp.ClientSession, row: WebhookDelivery) -> tuple[int | None, str | None]:
        secret = self.secrets.get(row.rule)
        if secret is None and self.secret_of is not None:
            secret = await self.secret_of(row.rule)
        if secret is None:
            return None, "rule no longer configured"
        body = json.dumps(row.payload, separators=(",", ":"), sort_keys=True).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "X-Callcenter-Event": row.event,
            "X-Callcenter-Delivery": str(row.id),
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(secret, timestamp, body),
        }
        try:
            async with http.post(row.url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as resp:
                if 200 <= resp.status < 300:
                    return resp.status, None
                return resp.status, f"HTTP {resp.status}"
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            return None, f"{exc.__class__.__name__}: {exc}"[:500]

    async def run(self, *, idle_s: float = 5.0) -> None:
        async with aiohttp.ClientSession() as http:
            await run_until_cancelled(lambda: self.deliver_due(http), wakeup=self.wakeup, idle_s=idle_s, log=log,
                                      what="webhook sender")
