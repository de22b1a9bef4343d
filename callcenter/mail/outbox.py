"""Putting an e-mail in the outbox: inside the caller's transaction, so it exists exactly when its cause does.

Addresses and the subject are checked here, once, for every writer (a schedule, a rule): a bad address or a line
break in a header value never reaches the table.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from callcenter.automation.outbox import insert_once
from callcenter.mail.addresses import check_address, check_header_value
from crm_core.mail_models import MailMessage

MAX_SUBJECT_LENGTH = 500


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


async def queue_mail(
    session: AsyncSession,
    *,
    source: str,
    dedupe_key: str,
    to: list[str],
    subject: str,
    body: str,
    attachment: Attachment | None = None,
    schedule_id: int | None = None,
) -> bool:
    """Add the e-mail unless one with this key exists (a replay); True when added. Raises AddressError."""
    recipients = [check_address(address) for address in to]
    if not recipients:
        raise ValueError("an e-mail needs at least one recipient")
    check_header_value(subject)
    if attachment is not None:
        check_header_value(attachment.filename)
    row = MailMessage(
        source=source,
        dedupe_key=dedupe_key[:200],
        schedule_id=schedule_id,
        to_addrs=recipients,
        subject=subject[:MAX_SUBJECT_LENGTH],
        body=body,
        attachment_name=attachment.filename if attachment else None,
        attachment_type=attachment.content_type if attachment else None,
        attachment=attachment.data if attachment else None,
    )
    return await insert_once(session, row, MailMessage.dedupe_key, dedupe_key[:200])
