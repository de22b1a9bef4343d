"""AMI BlindTransfer and Atxfer where the captures do not go: what Asterisk 20 answers (main/manager.c
action_blind_transfer / action_atxfer, main/bridge.c ast_bridge_transfer_blind) when the request cannot work, and
an Atxfer on a leg without transfer rights (Dial without t: the digits only pass through). The successful transfers
are compared with the real captures in test_fidelity.py (api_*)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from callcenter.pbxsim.callmodel import Caller, PhoneAnswer
from callcenter.pbxsim.scenarios import TRACE_SCENARIOS
from tests.pbxsim.harness import RawAmiClient, frames_of, simulated

Headers = tuple[tuple[str, str], ...]


class Floor:
    def __init__(self, pbx, clock, client: RawAmiClient) -> None:  # type: ignore[no-untyped-def]
        self.pbx, self.clock, self.client = pbx, clock, client
        self.sent = 0

    async def action(self, name: str, **headers: str) -> dict[str, str]:
        self.sent += 1
        action_id = f"t-{self.sent}"
        await self.client.send((("Action", name), ("ActionID", action_id), *headers.items()))
        await self.clock.settle()
        return next(m for m in self.messages() if m.get("ActionID") == action_id and "Response" in m)

    def messages(self) -> list[dict[str, str]]:
        return [dict(f) for f in frames_of(bytes(self.client.data))]

    def events(self, name: str) -> list[dict[str, str]]:
        return [m for m in self.messages() if m.get("Event") == name]

    def channel(self, endpoint: str) -> str:
        return next(c.name for c in self.pbx.live_channels() if c.endpoint == endpoint)


async def _floor(traces_dir: Path, tmp_path: Path, scenario: str, *, answer_s: float) -> AsyncIterator[Floor]:
    """The capture PBX of ``scenario`` (its dialplan, its FastAGI answers: the customer is dialled to 1002), the
    customer calling; 1002 answers after ``answer_s``."""
    async with simulated(traces_dir, TRACE_SCENARIOS[scenario], tmp_path) as (pbx, server, clock, _agi):
        client = RawAmiClient()
        await client.connect(server.port)
        await client.wait_for(b"Event: SuccessfulAuth")
        pbx.phones["1002"].scripted.append(PhoneAnswer(action="answer", delay_s=answer_s))
        pbx.incoming_call(Caller(number="+12125550130", did="8030", talk_s=60.0, patience_s=600.0))
        await clock.advance(1.0)
        yield Floor(pbx, clock, client)
        await client.close()


@pytest.fixture
async def talking(traces_dir: Path, tmp_path: Path) -> AsyncIterator[Floor]:
    """Shipped dialplans: 1002 talks with the customer, with transfer rights (Dial t)."""
    async for floor in _floor(traces_dir, tmp_path, "api_blind_transfer", answer_s=0.1):
        yield floor


@pytest.fixture
async def ringing(traces_dir: Path, tmp_path: Path) -> AsyncIterator[Floor]:
    """Shipped dialplans: 1002's phone still rings."""
    async for floor in _floor(traces_dir, tmp_path, "api_blind_transfer", answer_s=30.0):
        yield floor


@pytest.fixture
async def no_rights(traces_dir: Path, tmp_path: Path) -> AsyncIterator[Floor]:
    """The older captures' dialplan: Dial(PJSIP/1002,20,) gives 1002 no transfer rights."""
    async for floor in _floor(traces_dir, tmp_path, "blind_transfer_redirect", answer_s=0.1):
        yield floor


async def test_atxfer_and_blindtransfer_name_what_is_missing(talking: Floor) -> None:
    agent = talking.channel("1002")
    for name in ("Atxfer", "BlindTransfer"):
        assert (await talking.action(name, Exten="1003"))["Message"] == "No channel specified"
        assert (await talking.action(name, Channel=agent))["Message"] == "No extension specified"
        missing = await talking.action(name, Channel="PJSIP/1002-000000ff", Exten="1003")
        assert (missing["Response"], missing["Message"]) == ("Error", "Channel specified does not exist")


async def test_atxfer_without_a_features_code_is_refused(talking: Floor) -> None:
    """features.conf without [featuremap] atxfer (Asterisk's default is none): nothing is queued."""
    talking.pbx.config = dataclasses.replace(talking.pbx.config, atxfer_code="")
    reply = await talking.action("Atxfer", Channel=talking.channel("1002"), Exten="1003", Context="cc-agents")
    assert (reply["Response"], reply["Message"]) == ("Error", "No attended transfer feature code found")
    assert not talking.events("DTMFEnd")
    assert "TRANSFER_CONTEXT" not in talking.pbx.find_channel(talking.channel("1002")).variables


async def test_a_blind_transfer_of_a_channel_in_no_bridge_is_invalid(ringing: Floor) -> None:
    """The customer still in Dial (1002 rings): no bridge to transfer from; the failure is published too."""
    reply = await ringing.action("BlindTransfer", Channel=ringing.channel("trunk"), Exten="1003", Context="cc-agents")
    assert (reply["Response"], reply["Message"]) == ("Error", "Transfer invalid")
    await ringing.client.wait_for(b"Event: BlindTransfer\r\n")
    [event] = ringing.events("BlindTransfer")
    assert event["Result"] == "Invalid" and event["TransfererChannel"] == ringing.channel("trunk")
    assert "TransfereeChannel" not in event and "BridgeUniqueid" not in event
    assert any(c.endpoint == "1002" for c in ringing.pbx.live_channels())  # the Dial goes on


async def test_atxfer_on_a_leg_without_transfer_rights_only_reads_the_digits(no_rights: Floor) -> None:
    agent = no_rights.channel("1002")
    reply = await no_rights.action("Atxfer", Channel=agent, Exten="1003", Context="cc-agents")
    assert (reply["Response"], reply["Message"]) == ("Success", "Atxfer successfully queued")
    await no_rights.clock.advance(2.0)
    await no_rights.client.wait_for(b"Digit: 3\r\nDurationMs: 100\r\n")  # the last digit reached the client
    customer = no_rights.channel("trunk")
    ends = [(e["Channel"], e["Digit"], e["Direction"]) for e in no_rights.events("DTMFEnd")]
    # read on the agent's channel, played to the customer (api_atxfer_no_rights.ami is the real sequence)
    assert ends == [x for d in "*21003" for x in ((agent, d, "Received"), (customer, d, "Sent"))]
    assert not no_rights.events("Hold") and not no_rights.events("LocalBridge")
    assert sorted(c.endpoint for c in no_rights.pbx.live_channels()) == ["1002", "trunk"]
    assert no_rights.pbx.find_channel(agent).bridge is not None  # still with the customer
