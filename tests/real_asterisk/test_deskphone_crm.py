"""The desk phone and the CRM on a real Asterisk with sipp phones (issue 17): the shipped dialplans, the service's
route answers, and what went over SIP (each sipp's -trace_msg file).

* a known caller's name from the CRM is the display name of the INVITE the agent's phone gets (the caller's own
  "Customer" never shows), carried by the route answer's CC_PLAN into CALLERID(name); a name with quotes, a backslash,
  <>, CJK characters and accents arrives display-safe;
* a call dialled from the phone (9<number>, national digits) goes out through [cc-outbound]: the INVITE on the trunk
  is for the E.164 number with the team's caller id, the call is recorded (files in the monitor spool) and logged on
  the customer's record with the agent;
* a number that cannot be dialled is refused: the phone gets 503 (Congestion), nothing goes out, nothing recorded.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from callcenter.automation.facts import CallLogged
from callcenter.events import CallEnded, CallOutcome
from callcenter.demo.crm_seed import _CUSTOMERS, customer_number
from crm_core.models import Activity
from callcenter.app_keys import ROUTING
from tests.real_asterisk.conftest import DATABASE, WAIT_S, Site, login_all

TEAM_CALLER_ID = "+13125550100"
AGENT = "1003"


@pytest.fixture
def site_toml() -> str:
    # appended to conftest's [routing.teams.Sales] table (queue = "support")
    return f'outbound_caller_id = "{TEAM_CALLER_ID}"\n'


def crm_display_name(number: str) -> str:
    index = next(i for i in range(len(_CUSTOMERS)) if customer_number(i) == number)
    first, last, company = _CUSTOMERS[index]
    return f"{first} {last}, {company}"[:24].rstrip()


def invites(msg_file: Path) -> list[str]:
    """Every INVITE request sipp received or sent, as text (its -trace_msg file)."""
    text = msg_file.read_text(errors="replace") if msg_file.exists() else ""
    # the request line and its header lines, up to the blank line before the body
    return [m.group(0) for m in re.finditer(r"^INVITE sip:[^\n]*\n(?:[^\S\n]*\S[^\n]*\n)*", text, flags=re.M)]


def from_header(invite: str) -> str:
    match = re.search(r"^\s*From:\s*(.*)$", invite, flags=re.M)
    assert match, invite
    return match.group(1).strip()


async def test_a_known_callers_name_reaches_the_phone(site: Site) -> None:
    await login_all(site)
    number = next(n for n, ext in site.crm.customers.items() if ext == AGENT)  # the owner's phone gets the call
    proc = await site.sipp.call(caller=number, did="8001", talk_ms=1500)
    [ended] = await site.wait(lambda: [e for e in site.seen if isinstance(e, CallEnded) and e.caller == number],
                              "the customer's call to end")
    assert await asyncio.wait_for(proc.wait(), WAIT_S) == 0
    assert ended.answered_by == AGENT
    offered = [from_header(i) for i in invites(site.sipp.root / f"phone-{AGENT}.msg")]
    assert offered, "the agent's phone got no INVITE"
    # chan_pjsip writes the connected line Dial() copied from the customer's channel: the CRM's name, quoted
    assert offered[0].startswith(f'"{crm_display_name(number)}" <sip:{number}@'), offered


async def test_a_call_dialled_from_the_phone_is_presented_recorded_and_logged(site: Site) -> None:
    number = next(n for n, ext in site.crm.customers.items() if ext == "1002")  # someone else's customer
    (site.sipp.root / "quiet.ulaw").write_bytes(b"\xff" * 8000)  # one second of u-law silence
    await site.sipp.callee("callee_answers.xml", fill={"GREETING": "quiet.ulaw", "RING_MS": "500", "HOLD_MS": "2000"})
    # the agent dials 9 and the national number; the customer hangs up after 2 s, then Asterisk hangs up the phone
    proc = await site.sipp.second_line(AGENT, to="9" + number[2:], scenario="phone_dials_code.xml", hold_ms=20_000,
                                       keys={})
    assert await asyncio.wait_for(proc.wait(), WAIT_S) == 0, "the phone's outbound call failed (see line2-*.log/.msg)"
    [ended] = await site.wait(lambda: [e for e in site.seen if isinstance(e, CallEnded) and e.customer == number],
                              "the outbound call to end")
    assert (ended.direction, ended.outcome, ended.answered_by) == ("outbound", CallOutcome.ANSWERED, AGENT), ended
    # the customer's INVITE: the E.164 number, the team's caller id
    [out] = invites(site.sipp.root / "callee.msg")
    assert out.startswith(f"INVITE sip:{number}@"), out
    assert re.search(rf"<sip:{re.escape(TEAM_CALLER_ID)}@", from_header(out)), from_header(out)
    # recorded: the mixed file and both legs, named by role, in Asterisk's monitor spool
    names = sorted(Path(p).name for p in ended.recordings)
    main = min(names, key=len)
    assert names == sorted([main, main.replace(".wav", "-rx.wav"), main.replace(".wav", "-tx.wav")]), names
    assert all((site.pbx.monitor_dir / n).exists() for n in names), names
    [logged] = await site.wait(
        lambda: [e for e in site.seen if isinstance(e, CallLogged) and e.call_id == ended.call_id], "the CRM write")
    async with site.app[DATABASE].session() as s:
        activity = await s.get(Activity, logged.activity_id)
    assert activity is not None and activity.user_id == site.crm.agents[AGENT]
    assert (activity.to_e164, logged.entity) == (number, "contact")


async def test_a_number_that_cannot_be_dialled_is_refused(site: Site) -> None:
    proc = await site.sipp.second_line(AGENT, to="912", scenario="phone_dials_refused.xml", hold_ms=20_000, keys={})
    assert await asyncio.wait_for(proc.wait(), WAIT_S) == 0, "the phone did not get 503 (see line2-*.log/.msg)"
    [ended] = await site.wait(lambda: [e for e in site.seen if isinstance(e, CallEnded) and e.caller == AGENT],
                              "the refused call to end")
    assert (ended.recordings, ended.customer, ended.hangup_cause) == ((), None, 34), ended
    assert not list(site.pbx.monitor_dir.iterdir())
    assert not (site.sipp.root / "callee.msg").exists()  # nothing went out on the trunk


async def test_a_name_a_display_cannot_show_arrives_display_safe(site: Site) -> None:
    from sqlalchemy import select

    from crm_core.models import Contact, Phone

    await login_all(site)
    number = next(n for n, ext in site.crm.customers.items() if ext == AGENT)
    async with site.app[DATABASE].session() as s:
        contact = await s.scalar(select(Contact).join(Phone, Phone.contact_id == Contact.id).where(Phone.e164 == number))
        assert contact is not None
        contact.first_name, contact.last_name = 'Jürgen "JJ"', "Müller\\<王>\t"
    site.app[ROUTING].service.invalidate_caller(number)
    proc = await site.sipp.call(caller=number, did="8001", talk_ms=1000)
    await site.wait(lambda: [e for e in site.seen if isinstance(e, CallEnded) and e.caller == number], "the call to end")
    assert await asyncio.wait_for(proc.wait(), WAIT_S) == 0
    [offered] = [from_header(i) for i in invites(site.sipp.root / f"phone-{AGENT}.msg")]
    # accents folded, quotes / backslash / <> / the CJK characters / the tab gone; cut to 24 for small displays
    company = _CUSTOMERS[next(i for i in range(len(_CUSTOMERS)) if customer_number(i) == number)][2]
    assert offered.startswith(f'"{f"Jurgen JJ Muller, {company}"[:24].rstrip()}" <sip:{number}@'), offered
