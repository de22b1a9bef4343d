"""E-mail delivery from the outbox table through SMTP (aiosmtplib): lease, send, record, retry with backoff.

The same shape as the webhook sender (callcenter.automation.outbox): rows are leased in a short transaction and the
SMTP conversation happens outside any transaction. A permanent refusal of the message itself (every recipient or
the content refused with a 5xx) gives up at once; anything else (server down, timeout, 4xx, a login the operator
can fix) is tried again later, up to ``max_attempts``.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib
from sqlalchemy import select
from sqlalchemy.orm import defer

from callcenter.automation.outbox import backoff_s, lease_due, run_until_cancelled
from callcenter.mail.settings import MailSettings
from crm_core.db import Database
from crm_core.mail_models import MailMessage
from crm_core.models import DeliveryStatus
from crm_core.types import utcnow

log = logging.getLogger("callcenter.mail")


@dataclass(frozen=True, slots=True)
class Attempt:
    ok: bool
    error: str | None = None
    permanent: bool = False  # the server refused for good (5xx): trying again cannot help


def build_message(row: MailMessage, attachment: bytes | None, *, from_address: str) -> EmailMessage:
    """The MIME message of an outbox row (header values were checked for CR/LF when the row was written; the
    policy refuses them again here)."""
    message = EmailMessage()
    message["From"] = from_address
    message["To"] = ", ".join(row.to_addrs)
    message["Subject"] = row.subject
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(idstring=f"outbox-{row.id}", domain=from_address.rpartition("@")[2] or None)
    message.set_content(row.body or "")
    if attachment is not None and row.attachment_name:
        maintype, _, subtype = (row.attachment_type or "application/octet-stream").partition("/")
        message.add_attachment(attachment, maintype=maintype, subtype=subtype, filename=row.attachment_name)
    return message


class MailSender:
    def __init__(self, *, db: Database, settings: MailSettings, password: str | None = None, batch: int = 10) -> None:
        self.db = db
        self.settings = settings
        self.password = password
        self.batch = batch
        self.wakeup = asyncio.Event()

    def backoff_s(self, attempts: int) -> float:
        return backoff_s(attempts, base_s=self.settings.base_backoff_s, max_s=self.settings.max_backoff_s)

    async def send_due(self, *, now: datetime | None = None) -> int:
        """Try every due e-mail once; returns how many were tried. Nothing is tried while no host is configured."""
        if not self.settings.host:
            return 0
        now = now or utcnow()
        # Attachments are read one e-mail at a time, when it is sent: a batch of report files is never all in memory.
        rows = await lease_due(self.db, MailMessage, now=now, batch=self.batch, lease_s=self.settings.timeout_s * 3,
                               options=(defer(MailMessage.attachment),))
        for row in rows:
            attempt = await self._send(row)
            async with self.db.session() as session:
                stored = await session.get(MailMessage, row.id)
                if stored is None:
                    continue
                stored.attempts += 1
                if attempt.ok:
                    stored.status = DeliveryStatus.DELIVERED
                    stored.sent_at = utcnow()
                    stored.last_error = None
                elif attempt.permanent or stored.attempts >= self.settings.max_attempts:
                    stored.status = DeliveryStatus.DEAD
                    stored.last_error = attempt.error
                    log.error("e-mail %d to %s gave up after %d attempts: %s", row.id, ", ".join(row.to_addrs),
                              stored.attempts, attempt.error)
                else:
                    stored.last_error = attempt.error
                    stored.next_attempt_at = now + timedelta(seconds=self.backoff_s(stored.attempts))
                    log.warning("e-mail %d not sent (attempt %d), retrying: %s", row.id, stored.attempts, attempt.error)
        return len(rows)

    async def _send(self, row: MailMessage) -> Attempt:
        settings = self.settings
        async with self.db.read_session() as session:
            attachment = await session.scalar(select(MailMessage.attachment).where(MailMessage.id == row.id))
        try:
            message = build_message(row, attachment, from_address=settings.from_address)
            await aiosmtplib.send(
                message,
                hostname=settings.host,
                port=settings.port,
                username=settings.username or None,
                password=self.password if settings.username else None,
                use_tls=settings.security == "tls",
                start_tls=True if settings.security == "starttls" else False,
                timeout=settings.timeout_s,
            )
            return Attempt(ok=True)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            permanent = all(r.code >= 500 for r in exc.recipients)
            return Attempt(ok=False, error=f"recipients refused: {exc}"[:500], permanent=permanent)
        except aiosmtplib.SMTPDataError as exc:  # the server refused this message's content
            return Attempt(ok=False, error=f"SMTP {exc.code}: {exc.message}"[:500], permanent=exc.code >= 500)
        except aiosmtplib.SMTPResponseException as exc:  # login, sender, ...: our configuration, fixable: try again
            return Attempt(ok=False, error=f"SMTP {exc.code}: {exc.message}"[:500])
        except (aiosmtplib.SMTPException, OSError, asyncio.TimeoutError) as exc:
            return Attempt(ok=False, error=f"{exc.__class__.__name__}: {exc}"[:500])
        except ValueError as exc:  # a header the email policy refuses: it would be refused on every try
            return Attempt(ok=False, error=f"message refused: {exc}"[:500], permanent=True)

    async def run(self, *, idle_s: float = 5.0) -> None:
        await run_until_cancelled(self.send_due, wakeup=self.wakeup, idle_s=idle_s, log=log, what="mail sender")
