"""The email rule: a deal's stage change sends the templated letter to the deal's contact through the outbox and a
real SMTP server; a contact without an address gets nothing (logged); templates are checked when settings load."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from pydantic import TypeAdapter, ValidationError
from sqlalchemy import select

from callcenter.automation.engine import Automation
from callcenter.automation.facts import DealStageChanged
from callcenter.automation.rules import EmailRule, Rule, matches
from callcenter.config import ConfigError, load_settings
from callcenter.mail.sender import MailSender
from callcenter.mail.settings import MailSettings
from crm_core import deals, records
from crm_core.access import Principal
from crm_core.db import Database
from crm_core.mail_models import MailMessage
from crm_core.models import Deal, Entity, Role
from crm_core.records import PhoneRules
from crm_core.schemas import CompanyIn, ContactIn, DealIn, PipelineIn, StageIn, UserIn
from crm_core.users import create_user
from tests.mail.smtp import SmtpServer, smtp  # noqa: F401  (fixture)

OFFER = EmailRule(
    name="offer", when="deal.stage_changed", then="email", if_stage=["Offer"],
    subject="Our offer for $deal_title",
    body="Dear $contact_first_name $contact_last_name,\n\nhere is our offer for ${company_name}: "
         "$deal_amount $deal_currency.\n\n$manager_name\n",
)


async def seed(db: Database, *, email: str | None = "ann.zed@example.com") -> dict:
    system = Principal.system()
    rules = PhoneRules.build(region="US", own_numbers=[])
    async with db.session() as s:
        manager = await create_user(s, system, UserIn(name="Max Manager", role=Role.AGENT, email="max@example.com"))
        company = await records.create(s, system, rules, Entity.COMPANY, CompanyIn(name="Zed GmbH"))
        contact = await records.create(s, system, rules, Entity.CONTACT, ContactIn(
            first_name="Ann", last_name="Zed", company_id=company.id, emails=[email] if email else []))
        pipeline = await deals.create_pipeline(s, system, PipelineIn(
            name="Sales", is_default=True, stages=[StageIn(name="New"), StageIn(name="Offer"), StageIn(name="Won", kind="won")]))
        deal = await deals.create_deal(s, system, DealIn(
            title="Fleet licences", amount=Decimal("1200.50"), currency="EUR", contact_id=contact.id, responsible_id=manager.id))
        stages = {stage.name: stage.id for stage in pipeline.stages}
    return {"deal": deal.id, "stages": stages}


def moved(world: dict, to: str, *, change_id: int = 1, status: str = "open") -> DealStageChanged:
    return DealStageChanged(deal_id=world["deal"], from_stage_id=world["stages"]["New"], to_stage_id=world["stages"][to],
                            status=status, responsible_id=None, changed_by_id=None, change_id=change_id)


async def outbox(db: Database) -> list[MailMessage]:
    async with db.session() as s:
        return list(await s.scalars(select(MailMessage)))


async def test_stage_change_sends_the_filled_template_once(db: Database, smtp: SmtpServer) -> None:
    world = await seed(db)
    woken: list[bool] = []
    automation = Automation(db=db, rules=[OFFER], on_mail_queued=lambda: woken.append(True))
    await automation.handle(moved(world, "Won", change_id=1))  # not the offer stage: nothing
    assert await outbox(db) == []
    await automation.handle(moved(world, "Offer", change_id=2))
    await automation.handle(moved(world, "Offer", change_id=2))  # the same fact replayed
    assert len(await outbox(db)) == 1 and woken == [True]
    settings = MailSettings(host="127.0.0.1", port=smtp.port, security="none", from_address="sales@example.com")
    assert await MailSender(db=db, settings=settings).send_due() == 1
    [(envelope, message)] = smtp.inbox.messages
    assert envelope == ["ann.zed@example.com"]
    assert message["Subject"] == "Our offer for Fleet licences"
    body = message.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    assert body == "Dear Ann Zed,\n\nhere is our offer for Zed GmbH: 1200.50 EUR.\n\nMax Manager\n"


async def test_a_title_with_a_line_break_cannot_add_a_header(db: Database, smtp: SmtpServer) -> None:
    world = await seed(db)
    async with db.session() as s:  # the API refuses such a title; data from before that rule, or an import, may not
        deal = await s.get(Deal, world["deal"])
        assert deal is not None
        deal.title = "Fleet\r\nBcc: everyone@example.com"
    await Automation(db=db, rules=[OFFER]).handle(moved(world, "Offer"))
    [row] = await outbox(db)
    assert row.subject == "Our offer for Fleet Bcc: everyone@example.com"
    settings = MailSettings(host="127.0.0.1", port=smtp.port, security="none")
    await MailSender(db=db, settings=settings).send_due()
    [(envelope, message)] = smtp.inbox.messages
    assert envelope == ["ann.zed@example.com"] and message["Bcc"] is None


async def test_contact_without_an_address_is_logged_and_nothing_is_sent(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    world = await seed(db, email=None)
    with caplog.at_level(logging.INFO, logger="callcenter.automation"):
        await Automation(db=db, rules=[OFFER]).handle(moved(world, "Offer"))
    assert await outbox(db) == []
    assert f"deal {world['deal']}'s contact has no e-mail address" in caplog.text


def test_if_status_filters_without_the_database() -> None:
    thanks = EmailRule(name="thanks", when="deal.stage_changed", then="email", if_status=["won"],
                       subject="Thank you", body="Thank you, $contact_first_name.")

    def fact(status: str) -> DealStageChanged:
        return DealStageChanged(deal_id=1, from_stage_id=1, to_stage_id=2, status=status, responsible_id=None,
                                changed_by_id=None, change_id=1)

    assert matches(thanks, fact("won"), vip_numbers=frozenset())
    assert not matches(thanks, fact("open"), vip_numbers=frozenset())


@pytest.mark.parametrize(
    ("rule", "named"),
    [
        ({"subject": "Offer for $deal_titel"}, "unknown placeholder $deal_titel"),
        ({"body": "Hi ${first_name}"}, "unknown placeholder $first_name"),
        ({"body": "Costs $ 5"}, "malformed placeholder"),
        ({"subject": "Offer\nBcc: x@example.com"}, "no CR or LF"),
        ({"when": "lead.created"}, "runs on deal.stage_changed"),
    ],
)
def test_bad_email_rules_are_configuration_errors_naming_the_problem(rule: dict, named: str) -> None:
    values = {"name": "r", "when": "deal.stage_changed", "then": "email", "subject": "Offer", "body": "Hello"} | rule
    with pytest.raises(ValidationError, match=named.replace("$", r"\$")):
        TypeAdapter(Rule).validate_python(values)


def test_email_rule_in_the_config_file_names_the_key(tmp_path: pytest.TempPathFactory) -> None:
    config = tmp_path / "callcenter.toml"  # type: ignore[operator]
    config.write_text('[[automation.rules]]\nname = "offer"\nwhen = "deal.stage_changed"\nthen = "email"\n'
                      'subject = "Offer for $deal"\nbody = "Hello"\n')
    with pytest.raises(ConfigError, match=r"automation\.rules\.email\.subject.*unknown placeholder \$deal;"):
        load_settings(config, environ={})
