"""The agent page shows the call's script beside the card (issue 15), the customer's fields filled in and put in as
text; a campaign call (CC_CAMPAIGN set on the customer's channel, as the dialer's Originate does) shows the
campaign's script and its own disposition codes, and a callback can be left for the team's pool."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import select

from callcenter.ami.channel_vars import ChannelVar
from callcenter.ami import actions
from callcenter.app_keys import AMI, DATABASE, LIVE
from callcenter.dialer.campaign import parse_campaign
from callcenter.events import AgentState
from crm_core.dialer_models import Campaign
from crm_core.models import Activity, Contact, Deal, Phone, Task, User
from crm_core.script_models import CallScript
from tests.browser.conftest import login_url, screenshot_path
from tests.floor import ANSWER, running_floor

WAIT_MS = 10_000
AGENT = "1003"


async def test_the_script_beside_the_card_then_a_campaigns_script_codes_and_a_pool_callback(browser: Any, tmp_path: Path) -> None:
    from playwright.async_api import expect

    async with running_floor(tmp_path) as floor:
        await floor.all_available()
        number = floor.customer_of(AGENT)
        async with floor.app[DATABASE].session() as s:
            contact = await s.scalar(select(Contact).join(Phone, Phone.contact_id == Contact.id).where(Phone.e164 == number))
            contact.last_name = "<i>Bold</i>"  # markup in a name must show as typed
            deal = await s.scalar(select(Deal).where(Deal.contact_id == contact.id))
            agent = await s.scalar(select(User).where(User.extension == AGENT))
            s.add(CallScript(team_id=agent.team_id, name="Renewals", stage_id=deal.stage_id,
                             body="Hello {contact.name}, I am {agent.first_name}. Your role: {contact.position}"))
            definition = parse_campaign({
                "name": "Win-back", "saved_report_id": 1, "team_id": agent.team_id, "caller_id": "+442079460000",
                "mode": "preview", "script": "Campaign hello {contact.first_name}",
                "dispositions": {"call_later": {"label": "Call me later", "counts_as": "callback"}},
            })
            campaign = Campaign(name="Win-back", team_id=agent.team_id, mode=definition.mode, priority=5,
                                definition=definition.to_json())
            s.add(campaign)
            await s.flush()
            first_name, campaign_id, team_id = contact.first_name, campaign.id, agent.team_id

        floor.sim.clock.auto = False  # the call stays up until the test moves time on
        floor.sim.pbx.phones[AGENT].scripted.append(ANSWER)
        async with floor.http_as(floor.crm.agents[AGENT]) as http:
            page = await browser.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            await page.goto(await login_url(http, "agent", floor.port))
            await expect(page.locator("#link")).to_have_text("connected", timeout=WAIT_MS)

            # The pop: the deal stage's script, filled in, beside the card.
            await floor.call(number, talk_s=600.0)
            await floor.sim.clock.advance(2)
            await expect(page.locator("#script")).to_be_visible(timeout=WAIT_MS)
            await expect(page.locator("#script-name")).to_have_text("Renewals")
            await expect(page.locator("#script-text")).to_contain_text(f"Hello {first_name} <i>Bold</i>, I am ")
            assert await page.locator("#script-text i").count() == 0  # text, never markup
            await expect(page.locator("#script-text .missing")).to_have_text("[contact.position]")
            await expect(page.locator("#campaign-codes")).to_be_hidden()
            live = floor.app[LIVE].tracker
            await floor.wait(lambda: live.agents.agents[AGENT].state is AgentState.TALKING, "the answer")
            await page.screenshot(path=str(screenshot_path("agent-view-call-script")), full_page=True)

            # The same call as a campaign's: the dialer's Originate sets CC_CAMPAIGN on the customer's channel.
            [call] = live.open_calls()
            customer = next(ch for ch in floor.sim.pbx.channels.values()
                            if ch.linkedid == call.call_id and ch.caller_num and number.endswith(ch.caller_num.lstrip("+")))
            await floor.app[AMI].send(actions.setvar(channel=customer.name, variable=ChannelVar.CAMPAIGN.value,
                                                     value=str(campaign_id)))
            await floor.app[AMI].send(actions.ping())  # its answer comes after the VarSet on the one ordered stream
            assert call.variables.get(ChannelVar.CAMPAIGN.value) == str(campaign_id)
            await page.reload()  # opened during the call: the page reads the call's script again
            await expect(page.locator("#script-name")).to_have_text("Win-back", timeout=WAIT_MS)
            await expect(page.locator("#script-text")).to_have_text(f"Campaign hello {first_name}")
            await expect(page.locator("#campaign-codes")).to_contain_text("Call me later")

            await floor.sim.clock.advance(700)  # the customer hangs up
            await expect(page.locator("#call")).to_have_attribute("data-phase", "ended", timeout=WAIT_MS)
            await page.check("#campaign-code-call_later")
            await expect(page.locator("#callback-row")).to_be_visible()
            await page.select_option("#callback-for", "team")
            await page.click("#wrap-save")
            await expect(page.locator("#wrap-result")).to_contain_text("Saved: call later", timeout=WAIT_MS)
            await expect(page.locator("#wrap-result")).to_contain_text("(my team)")
            assert errors == []

        async with floor.app[DATABASE].session() as s:
            activity = await s.scalar(select(Activity).where(Activity.call_id == call.call_id))
            task = await s.scalar(select(Task).where(Task.source_key == f"disposition:{call.call_id}"))
        assert activity.call_meta["campaign_disposition"] == "call_later"
        assert (task.assignee_id, task.team_id, task.contact_id, task.campaign_id) == (None, team_id, contact.id, campaign_id)
