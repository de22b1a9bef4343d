"""The e-mail outbox against a real SMTP server: sent once, attachments intact, retried while the server is down,
given up after the configured attempts; bad addresses and header injection never reach the table."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from callcenter.config import ConfigError, load_settings
from callcenter.mail.addresses import AddressError
from callcenter.mail.outbox import Attachment, queue_mail
from callcenter.mail.sender import MailSender
from callcenter.mail.settings import MailSettings
from crm_core.db import Database
from crm_core.mail_models import MailMessage
from crm_core.models import DeliveryStatus
from crm_core.types import utcnow

from tests.mail.smtp import SmtpServer, attachments, smtp  # noqa: F401  (fixture)


def mail_settings(server: SmtpServer, **overrides: object) -> MailSettings:
    values: dict[str, object] = {"host": "127.0.0.1", "port": server.port, "security": "none",
                                 "from_address": "reports@example.com", "base_backoff_s": 60, "timeout_s": 5}
    return MailSettings.model_validate(values | overrides)


async def queue(db: Database, key: str = "k1", **overrides: object) -> bool:
    args: dict[str, object] = {"source": "test", "dedupe_key": key, "to": ["ops@example.com", "boss@example.org"],
                               "subject": "Weekly calls", "body": "Attached.\n",
                               "attachment": Attachment("calls.csv", "text/csv", b"a,b\r\n1,2\r\n")}
    async with db.session() as session:
        return await queue_mail(session, **(args | overrides))  # type: ignore[arg-type]


async def rows(db: Database) -> list[MailMessage]:
    async with db.session() as session:
        return list(await session.scalars(select(MailMessage).order_by(MailMessage.id)))


async def test_sent_once_with_its_attachment(db: Database, smtp: SmtpServer) -> None:
    assert await queue(db) is True
    assert await queue(db) is False  # a replay of the same cause
    sender = MailSender(db=db, settings=mail_settings(smtp))
    assert await sender.send_due() == 1
    assert await sender.send_due() == 0
    [(envelope, message)] = smtp.inbox.messages
    assert sorted(envelope) == ["boss@example.org", "ops@example.com"]
    assert (message["From"], message["To"], message["Subject"]) == (
        "reports@example.com", "ops@example.com, boss@example.org", "Weekly calls")
    assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Attached.\n"  # type: ignore[union-attr]
    assert attachments(message) == [("calls.csv", "text/csv", b"a,b\r\n1,2\r\n")]
    [row] = await rows(db)
    assert (row.status, row.attempts, row.last_error) == (DeliveryStatus.DELIVERED, 1, None)
    assert row.sent_at is not None


async def test_server_down_is_retried_with_backoff_and_nothing_is_lost(db: Database, smtp: SmtpServer) -> None:
    await queue(db)
    smtp.stop()
    sender = MailSender(db=db, settings=mail_settings(smtp))
    now = utcnow()
    assert await sender.send_due(now=now) == 1  # refused: connection fails
    [row] = await rows(db)
    assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 1)
    assert row.last_error and "onnect" in row.last_error
    assert row.next_attempt_at == now + timedelta(seconds=60)
    assert await sender.send_due(now=now + timedelta(seconds=59)) == 0  # not before its backoff
    assert await sender.send_due(now=now + timedelta(seconds=60)) == 1  # still down: backoff doubles
    [row] = await rows(db)
    assert (row.attempts, row.next_attempt_at) == (2, now + timedelta(seconds=60 + 120))
    smtp.start()
    assert await sender.send_due(now=now + timedelta(seconds=179)) == 0
    assert await sender.send_due(now=now + timedelta(seconds=180)) == 1
    assert len(smtp.inbox.messages) == 1
    [row] = await rows(db)
    assert (row.status, row.attempts, row.last_error) == (DeliveryStatus.DELIVERED, 3, None)


async def test_gives_up_after_max_attempts(db: Database, smtp: SmtpServer) -> None:
    await queue(db)
    smtp.stop()
    sender = MailSender(db=db, settings=mail_settings(smtp, max_attempts=2))
    now = utcnow()
    assert await sender.send_due(now=now) == 1
    assert await sender.send_due(now=now + timedelta(seconds=60)) == 1
    assert await sender.send_due(now=now + timedelta(days=1)) == 0
    [row] = await rows(db)
    assert (row.status, row.attempts) == (DeliveryStatus.DEAD, 2)


async def test_no_host_configured_keeps_mail_waiting(db: Database) -> None:
    await queue(db)
    sender = MailSender(db=db, settings=MailSettings())
    assert await sender.send_due() == 0
    [row] = await rows(db)
    assert (row.status, row.attempts) == (DeliveryStatus.PENDING, 0)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"to": ["not-an-address"]}, "not an e-mail address"),
        ({"to": ["ops@example.com\r\nBcc: all@example.com"]}, "CR or LF"),
        ({"to": ["Ops <ops@example.com>"]}, "bare e-mail address"),
        ({"subject": "Report\r\nBcc: all@example.com"}, "CR or LF"),
        ({"attachment": Attachment("a.csv\nX-Evil: 1", "text/csv", b"")}, "CR or LF"),
    ],
)
async def test_bad_address_or_header_injection_is_refused(db: Database, overrides: dict, message: str) -> None:
    with pytest.raises(AddressError, match=message):
        await queue(db, **overrides)
    assert await rows(db) == []


def test_password_comes_from_the_named_environment_variable() -> None:
    settings = load_settings(environ={"CALLCENTER_MAIL__PASSWORD_ENV": "SMTP_PASSWORD", "SMTP_PASSWORD": "pw"}).mail
    assert settings.password({"SMTP_PASSWORD": "pw"}) == "pw"
    with pytest.raises(LookupError, match="SMTP_PASSWORD"):
        settings.password({})
    assert MailSettings().password({}) is None


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"CALLCENTER_MAIL__PASSWORD": "hunter2"}, "unknown setting 'mail.password'"),
        ({"CALLCENTER_MAIL__PASSWORD_ENV": "hunter2 !"}, "CALLCENTER_MAIL__PASSWORD_ENV"),
        ({"CALLCENTER_MAIL__SECURITY": "ssl"}, "CALLCENTER_MAIL__SECURITY"),
        ({"CALLCENTER_MAIL__FROM_ADDRESS": "reports"}, "CALLCENTER_MAIL__FROM_ADDRESS"),
    ],
)
def test_bad_mail_settings_name_the_key(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(environ=environ)

