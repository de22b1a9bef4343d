"""The outbound route's answer (pure): the team's region and caller id, a refusal for what cannot be dialled, and
settings that name themselves when wrong."""

from __future__ import annotations

import pytest

from callcenter.ami.channel_vars import CcAction
from callcenter.routing.directory import AgentInfo, StaticDirectory
from callcenter.routing.outbound import OutboundReason, decide_outbound
from callcenter.routing.settings import RoutingSettings

SETTINGS = RoutingSettings.model_validate({
    "default_team": "support",
    "teams": {
        "support": {"outbound_caller_id": "+12125550100"},
        "berlin": {"region": "de", "outbound_caller_id": "+49301234500"},
    },
})
DIRECTORY = StaticDirectory([AgentInfo(agent="1002", team="support"), AgentInfo(agent="2001", team="berlin")])


def decide(number: str, endpoint: str) -> tuple[str, str, str, str]:
    answer = decide_outbound(number=number, endpoint=endpoint, settings=SETTINGS, directory=DIRECTORY,
                             default_region="US")
    return answer.action.value, answer.dial_number, answer.presented_num, answer.reason


def test_the_number_is_read_in_the_teams_region_and_shown_with_its_caller_id() -> None:
    assert decide("2125550199", "1002") == ("dial", "+12125550199", "+12125550100", OutboundReason.DIAL)
    assert decide("0301234567", "2001") == ("dial", "+49301234567", "+49301234500", OutboundReason.DIAL)
    assert decide("+442071234567", "2001")[1] == "+442071234567"
    # a phone of no agent: the default team's policy, still dialled
    assert decide("2125550199", "1999")[:3] == ("dial", "+12125550199", "+12125550100")


@pytest.mark.parametrize("number", ["12", "", "*46", "212555019912345678901234567890123", "2125550199;x"])
def test_what_cannot_be_dialled_is_refused(number: str) -> None:
    assert decide(number, "1002") == ("hangup", "", "", OutboundReason.UNPARSABLE)


def test_the_answer_is_one_plan_with_every_field() -> None:
    answer = decide_outbound(number="12", endpoint="1002", settings=SETTINGS, directory=DIRECTORY, default_region="US")
    assert answer.action is CcAction.HANGUP
    assert answer.plan_command() == f'SET VARIABLE CC_PLAN "outbound1|hangup|||{OutboundReason.UNPARSABLE}"'


@pytest.mark.parametrize(("team", "field"), [({"region": "XX"}, "region"), ({"outbound_caller_id": "12ab"}, "outbound_caller_id")])
def test_bad_team_settings_name_their_field(team: dict[str, str], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        RoutingSettings.model_validate({"teams": {"support": team}})
