"""The shipped dialplan passes asterisklint and speaks the same CC_* names as callcenter/ami/channel_vars.py."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from callcenter.ami.events import EVENT_CLASSES
from callcenter.ami.permissions import REQUIRED_ACTIONS, check_permissions
from callcenter.calls.tracker import CallTracker
from callcenter.ami.agi import RouteDecision
from callcenter.ami.channel_vars import (
    AGI_ROUTE_CAMPAIGN,
    AGI_ROUTE_FEATURE,
    AGI_ROUTE_OUTBOUND,
    OutboundAgiArg,
    ALL_CC_NAMES,
    DEFAULT_INFO_MESSAGE,
    NO_AGENT,
    USER_EVENT_DIALER_AMD,
    USER_EVENT_DIALER_RESULT,
    CampaignAgiArg,
    Context,
    NO_DIAL_STATUS,
    RECORDING_RX_SUFFIX,
    RECORDING_STEREO_SUFFIX,
    RECORDING_TX_SUFFIX,
    USER_EVENT_CALLBACK_REQUESTED,
    AgiArg,
    AgiRoute,
    CcAction,
    ChannelVar,
    DialplanGlobal,
    PLAN_DELIMITER,
    PLAN_FIELDS,
    PlanTag,
)

REPO = Path(__file__).resolve().parents[2]
DIALPLANS = REPO / "dialplans"
EXTENSIONS = DIALPLANS / "extensions.conf"
CC_CONTEXTS = DIALPLANS / "extensions_callcenter.conf"
IN_CI = os.environ.get("CI", "").lower() == "true"

_LINT_LINE = re.compile(r"^(?P<file>.+?):(?P<line>\d+) (?P<code>[A-Z]_[A-Z0-9_]+): (?P<message>.*)$")
_CC_NAME = re.compile(r"\bCC_[A-Z0-9_]+\b")
# ${CC_X} / ${CC_X:...}, or a function reading the variable by name (CUT(CC_PLAN,|,2), FIELDQTY(CC_PLAN,|))
_CC_READ = re.compile(r"\$\{(CC_[A-Z0-9_]+)[}:]|(?:CUT|FIELDQTY)\((CC_[A-Z0-9_]+),")


def _require_asterisklint() -> None:
    try:
        import asterisklint  # noqa: F401
    except ImportError:
        message = "asterisklint is not installed (pip install 'asterisklint==0.4.3')"
        if IN_CI:
            pytest.fail(message + "; CI=true: the dialplan lint must run")
        pytest.skip(message)


def run_asterisklint(extensions_conf: Path, home: Path) -> list[tuple[str, str, str]]:
    """(file name:line, code, message) of every issue asterisklint reports for extensions_conf and its includes."""
    _require_asterisklint()
    env = {key: value for key, value in os.environ.items() if key != "ALINT_IGNORE"}
    env["HOME"] = str(home)  # asterisklint loads overrides from ~/.asterisklint: keep the user's out
    completed = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys; from asterisklint.main import main; sys.exit(main(sys.argv[1:], os.environ))",
            "dialplan-check",
            str(extensions_conf),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=extensions_conf.parent,
        check=False,
    )
    issues = []
    for line in completed.stderr.splitlines():
        match = _LINT_LINE.match(line)
        if match:
            issues.append((f"{Path(match['file']).name}:{match['line']}", match["code"], match["message"]))
        elif line.strip() and not line.startswith("  "):
            raise AssertionError(f"asterisklint failed to run:\n{completed.stderr}")
    if completed.returncode not in (0, 1) or (completed.returncode == 1 and not issues):
        raise AssertionError(f"asterisklint exited {completed.returncode}:\n{completed.stdout}\n{completed.stderr}")
    return issues


def dialplan_text() -> str:
    """Both shipped dialplan files, comments removed (';' starts a comment in Asterisk config files)."""
    text = EXTENSIONS.read_text() + "\n" + CC_CONTEXTS.read_text()
    return "\n".join(line.split(";", 1)[0] for line in text.splitlines())


def split_app_args(data: str) -> list[str]:
    """Split application data on the commas Asterisk splits on (not inside ${...}, $[...] or (...))."""
    args, depth, current = [], 0, ""
    for ch in data:
        if ch in "{[(":
            depth += 1
        elif ch in "}])":
            depth -= 1
        if ch == "," and depth == 0:
            args.append(current)
            current = ""
        else:
            current += ch
    return [*args, current]


# Applications Asterisk 20 ships that asterisklint 0.4.3's table lacks (it reports E_APP_MISSING for them), with the
# Asterisk source that defines them. Only these names are let through; a typo (Queeue) still fails below.
ASTERISK_APPS_UNKNOWN_TO_ASTERISKLINT = {
    "AMD": "apps/app_amd.c",  # [cc-campaign]: answering-machine detection
    "WaitForSilence": "apps/app_waitforsilence.c",  # [cc-campaign]: leave the message after a machine's greeting
}


def test_shipped_dialplan_passes_asterisklint(tmp_path: Path) -> None:
    issues = run_asterisklint(EXTENSIONS, tmp_path)
    # H_ messages are hints about style; E_ (Asterisk would stop or misparse) and W_ (e.g. a Goto to a label
    # that does not exist) are bugs
    known_apps = [
        issue for issue in issues
        if issue[1] == "E_APP_MISSING" and any(f"'{app}'" in issue[2] for app in ASTERISK_APPS_UNKNOWN_TO_ASTERISKLINT)
    ]
    assert {app for app in ASTERISK_APPS_UNKNOWN_TO_ASTERISKLINT if any(f"'{app}'" in i[2] for i in known_apps)} == set(
        ASTERISK_APPS_UNKNOWN_TO_ASTERISKLINT
    ), "an allowed application is no longer used or now known to asterisklint: shrink the list"
    # asterisklint 0.4.3 reads hint lines but does not check them (I_NOTIMPL_HINT): [cc-features]' BLF hints;
    # test_blf_hints_cover_the_shipped_agents checks them instead
    assert [issue for issue in issues
            if not issue[1].startswith("H_") and issue[1] != "I_NOTIMPL_HINT" and issue not in known_apps] == []


def test_asterisklint_catches_errors_in_the_included_contexts(tmp_path: Path) -> None:
    broken = tmp_path / "dialplans"
    shutil.copytree(DIALPLANS, broken)
    contexts = broken / CC_CONTEXTS.name
    text = contexts.read_text()
    assert "Goto(overflow)" in text and "Queue(${CC_QUEUE}" in text
    contexts.write_text(
        text.replace("Goto(overflow)", "Goto(overflw)").replace("Queue(${CC_QUEUE}", "Queeue(${CC_QUEUE}")
    )

    codes = {code for _, code, _ in run_asterisklint(broken / EXTENSIONS.name, tmp_path)}

    assert "E_APP_MISSING" in codes  # Queeue()
    assert "W_DP_GOTO_CONTEXT_NOEXTEN" in codes  # Goto(overflw)


def _read_names(text: str) -> set[str]:
    return {plain or by_function for plain, by_function in _CC_READ.findall(text)}


def test_every_cc_name_in_the_dialplan_is_defined_in_channel_vars() -> None:
    undefined = set(_CC_NAME.findall(dialplan_text())) - ALL_CC_NAMES
    assert undefined == set(), "define these in callcenter/ami/channel_vars.py"


def test_every_name_in_channel_vars_is_read_by_the_dialplan() -> None:
    read = _read_names(dialplan_text())
    names = {str(v) for v in ChannelVar} | {str(v) for v in DialplanGlobal}
    assert names - read == set(), "defined in channel_vars.py but never read by the dialplan"


def test_every_decision_fills_every_field_of_the_inbound_plan() -> None:
    decisions = [
        RouteDecision.for_dial(["PJSIP/1002"], ring_timeout_s=20, reason="x"),
        RouteDecision.for_queue("sales", reason="x"),
        RouteDecision.for_hangup(reason="x"),
        RouteDecision.for_voicemail("8001@default", reason="x"),
        RouteDecision.for_callback(reason="x"),
    ]
    assert {d.action for d in decisions} == set(CcAction)
    for decision in decisions:
        fields = decision.channel_variables(default_queue="sales", default_queue_timeout_s=9)
        assert tuple(fields) == PLAN_FIELDS[PlanTag.INBOUND], decision.action


# which context unpacks which route's plan
PLAN_CONTEXTS = {
    PlanTag.INBOUND: "cc-inbound",
    PlanTag.OUTBOUND: "cc-outbound",
    PlanTag.FEATURE: "cc-feature",
    PlanTag.CAMPAIGN: "cc-campaign",
}


def _context_body(name: str) -> str:
    return dialplan_text().split(f"[{name}]", 1)[1].split("\n[", 1)[0]


@pytest.mark.parametrize("tag", list(PlanTag))
def test_the_dialplan_unpacks_each_plan_field_where_channel_vars_puts_it(tag: PlanTag) -> None:
    """Field N of CC_PLAN is ${CUT(CC_PLAN,|,N)}: the tag is field 1, PLAN_FIELDS[tag][i] field i + 2."""
    body = _context_body(PLAN_CONTEXTS[tag])
    cut = f"CUT({ChannelVar.PLAN},{PLAN_DELIMITER},"
    # cleared before the AGI, unpacked only after checking the tag and the field count
    assert body.index(f"Set({ChannelVar.PLAN}=)") < body.index("AGI(") < body.index(cut)
    guard = f'$["${{{cut}1)}}" = "{tag}" & ${{FIELDQTY({ChannelVar.PLAN},{PLAN_DELIMITER})}} = {len(PLAN_FIELDS[tag]) + 1}]'
    assert guard in body
    unpacked = dict(re.findall(r"Set\(([A-Za-z_()]+)=\$\{CUT\(CC_PLAN,\|,(\d+)\)\}\)", body))
    assert unpacked == {str(name): str(i + 2) for i, name in enumerate(PLAN_FIELDS[tag])}
    # every field read is one of the tag's (no stray index)
    assert {int(n) for n in re.findall(r"CUT\(CC_PLAN,\|,(\d+)\)", body)} <= set(range(1, len(PLAN_FIELDS[tag]) + 2))
    assert body.index(guard) < min(body.index(f"Set({name}=${{{cut}") for name in PLAN_FIELDS[tag])


def test_every_action_has_a_branch() -> None:
    text = dialplan_text()
    for action in CcAction:
        assert f'$["${{{ChannelVar.ACTION}}}" = "{action}"]' in text, action


def test_globals_define_every_dialplan_setting() -> None:
    globals_section = re.split(r"^\[globals\]$", EXTENSIONS.read_text(), flags=re.MULTILINE)[1].split("\n[", 1)[0]
    defined = dict(re.findall(r"^(CC_[A-Z0-9_]+)=(.+)$", globals_section, flags=re.MULTILINE))
    assert set(defined) == {str(v) for v in DialplanGlobal}
    assert int(defined[DialplanGlobal.MAX_ATTEMPTS]) >= 1
    queues = re.findall(r"^\[([a-z0-9_-]+)\]", (DIALPLANS / "queues.conf").read_text(), flags=re.MULTILINE)
    assert defined[DialplanGlobal.FALLBACK_QUEUE] in queues


def _agi_calls() -> dict[str, list[str]]:
    """Every AGI() in the dialplan by its FastAGI script name: {script: [url, args...]}."""
    calls = {}
    for data in re.findall(r",AGI\((.*)\)\s*$", dialplan_text(), flags=re.MULTILINE):
        url, *args = split_app_args(data)
        calls[url.rsplit("/", 1)[1]] = [url, *args]
    return calls


def test_agi_call_matches_the_request_parser() -> None:
    calls = _agi_calls()
    assert set(calls) == {AgiRoute.INBOUND.value, AGI_ROUTE_CAMPAIGN, AGI_ROUTE_FEATURE, AGI_ROUTE_OUTBOUND}
    agi_data = ",".join(calls[AgiRoute.INBOUND])
    url, *args = split_app_args(agi_data)
    assert url == f"agi://${{{DialplanGlobal.AGI_HOSTPORT}}}/{AgiRoute.INBOUND}"
    assert args[AgiArg.ATTEMPT - 1] == f"${{{ChannelVar.ATTEMPT}}}"
    assert "${DIALSTATUS}" in args[AgiArg.LAST_DIAL_STATUS - 1]
    assert NO_DIAL_STATUS in args[AgiArg.LAST_DIAL_STATUS - 1]
    assert args[AgiArg.LINKEDID - 1] == "${CHANNEL(linkedid)}"
    assert len(args) == max(AgiArg)


def test_outbound_agi_call_passes_number_and_endpoint() -> None:
    url, *args = _agi_calls()[AGI_ROUTE_OUTBOUND]
    assert url == f"agi://${{{DialplanGlobal.AGI_HOSTPORT}}}/{AGI_ROUTE_OUTBOUND}"
    assert args[OutboundAgiArg.NUMBER - 1] == "${EXTEN}"
    assert args[OutboundAgiArg.ENDPOINT - 1] == "${CHANNEL(endpoint)}"
    assert len(args) == max(OutboundAgiArg)
    # 9<number> reaches it, and a service that does not answer still lets the call out over the trunk as before
    assert "exten => _9X.,1,Goto(cc-outbound,${EXTEN:1},1)" in dialplan_text()
    body = dialplan_text().split("[cc-outbound]", 1)[1].split("\n[", 1)[0]
    assert 'same => n,GotoIf($["${CC_ACTION}" = "hangup"]?refused)\n same => n,Dial(PJSIP/${EXTEN}@trunk,30,T)' in body


def test_campaign_agi_call_passes_campaign_and_attempt() -> None:
    url, *args = _agi_calls()[AGI_ROUTE_CAMPAIGN]
    assert url == f"agi://${{{DialplanGlobal.AGI_HOSTPORT}}}/{AGI_ROUTE_CAMPAIGN}"
    assert args[CampaignAgiArg.CAMPAIGN - 1] == f"${{{ChannelVar.CAMPAIGN}}}"
    assert args[CampaignAgiArg.DIAL_ATTEMPT - 1] == f"${{{ChannelVar.DIAL_ATTEMPT}}}"
    assert len(args) == max(CampaignAgiArg)


def test_campaign_context_reports_what_the_dialer_reads() -> None:
    """[cc-campaign] raises the UserEvents callcenter.dialer.originate types, with the attempt id in each, and runs
    AMD() before it asks for an agent."""
    body = CC_CONTEXTS.read_text().split(f"[{Context.CAMPAIGN}]", 1)[1].split("\n[", 1)[0]
    assert f"UserEvent({USER_EVENT_DIALER_AMD},Attempt: ${{{ChannelVar.DIAL_ATTEMPT}}}," in body
    assert body.count(f"UserEvent({USER_EVENT_DIALER_RESULT},Attempt: ${{{ChannelVar.DIAL_ATTEMPT}}},") == 2
    assert body.index("AMD()") < body.index("AGI(") < body.index("Dial(PJSIP/${CC_AGENT}")
    assert f'"${{{ChannelVar.AGENT}}}" = "{NO_AGENT}"' in body
    assert DEFAULT_INFO_MESSAGE in body


def test_shared_names_outside_channel_variables_appear_in_the_dialplan() -> None:
    text = dialplan_text()
    assert f"UserEvent({USER_EVENT_CALLBACK_REQUESTED}," in text
    for suffix in (RECORDING_RX_SUFFIX, RECORDING_TX_SUFFIX, RECORDING_STEREO_SUFFIX):
        assert f"${{UNIQUEID}}{suffix}." in text, suffix


def test_dialplan_keeps_the_capture_dialplans_names(traces_dir: Path) -> None:
    """Same story as the traces: every CC_* name the capture dialplan used is still used, with the same meaning."""
    capture = (traces_dir / "config" / "extensions.conf").read_text()
    capture = "\n".join(line.split(";", 1)[0] for line in capture.splitlines())
    capture_names = set(_CC_NAME.findall(capture))
    assert capture_names, "the capture dialplan uses CC_* variables"
    assert capture_names - set(_CC_NAME.findall(dialplan_text())) == set()
    assert capture_names <= ALL_CC_NAMES


def _manager_user() -> dict[str, str]:
    manager = (DIALPLANS / "manager.conf").read_text()
    user = manager.split("[callcenter]", 1)[1]
    return dict(re.findall(r"^(\w+)\s*=\s*(.+?)\s*$", user, flags=re.MULTILINE))


def test_manager_user_may_send_exactly_what_the_service_sends() -> None:
    """The shipped manager.conf once lacked the class of an action the service sent, and Asterisk refused it."""
    settings = _manager_user()
    write = set(settings["write"].split(","))
    needed = {name: classes for name, (classes, _why) in REQUIRED_ACTIONS.items()}
    assert all(not classes or write & set(classes) for classes in needed.values()), (write, needed)
    # Nothing beyond: every granted class is the only way to one of the actions the service sends.
    assert all(any(classes and set(classes) & write == {cls} for classes in needed.values()) for cls in write), write
    assert check_permissions(
        [name for name, (classes, _) in REQUIRED_ACTIONS.items() if not classes or write & set(classes)]
    ).complete
    assert "127.0.0.1" in settings["permit"]


def test_manager_user_reads_the_class_of_every_event_the_service_types(traces_dir: Path) -> None:
    """Asterisk sends an event only to sessions whose `read` has its class: the class of every event the live model
    uses (as the real captures show it, `Privilege: <class>,all`) must be granted, and blanket `all` is not."""
    read = set(_manager_user()["read"].split(","))
    assert "all" not in read
    classes: dict[str, set[str]] = {}
    for path in traces_dir.glob("*.ami"):
        for name, privilege in re.findall(r"Event: (\w+)\r\nPrivilege: (\w+),all", path.read_bytes().decode(errors="replace")):
            classes.setdefault(name, set()).add(privilege)
    used = {name for name, cls in EVENT_CLASSES.items() if cls in CallTracker()._handlers}
    typed = {name: found for name, found in classes.items() if name in used}
    assert len(typed) >= 25, sorted(typed)
    missing = {name: found for name, found in typed.items() if not found <= read}
    assert missing == {}, missing


def _features_section(name: str) -> dict[str, str]:
    """``key = value`` / ``key => value`` pairs of one [section] of the shipped features.conf (comments dropped)."""
    text = (DIALPLANS / "features.conf").read_text()
    body = text.split(f"[{name}]", 1)[1].split("\n[", 1)[0]
    lines = (line.split(";", 1)[0].strip() for line in body.splitlines())
    return {k.strip(): v.strip() for k, _, v in (re.split(r"(=>?)", line, maxsplit=1) for line in lines if "=" in line)}


def test_attended_transfers_need_no_sound_files() -> None:
    """AMI Atxfer (the transfer API's attended mode) keys the atxfer code and the extension; Asterisk then plays
    features.conf's transferannouncesound (default pbx-transfer) before it reads the extension, and on an Asterisk
    without the sound packages it gave the transfer up ("Unable to acquire target extension"): seen on a real
    Asterisk 20 (tests/real_asterisk/test_transfers.py). Empty plays nothing."""
    general = _features_section("general")
    assert general.get("transferannouncesound") == "", general
    assert _features_section("featuremap")["atxfer"]  # what Atxfer keys: Asterisk 20 has no default


def test_a_blind_transferred_customer_nobody_takes_waits_in_the_queue() -> None:
    """[cc-agents] hung up after its Dial whatever happened, so a customer blind-transferred to a busy or absent
    colleague heard a BYE (seen on a real Asterisk 20: tests/real_asterisk/test_transfers.py). Asterisk marks the
    transferred customer's channel with BLINDTRANSFER; such a customer must reach a Queue after a failed Dial."""
    body = CC_CONTEXTS.read_text().split("[cc-agents]", 1)[1].split("\n[", 1)[0]
    steps = re.findall(r"^\s*(?:exten => _10XX,1|same => n(?:\(\w+\))?),(\w+)\((.*)\)\s*$", body, flags=re.MULTILINE)
    apps = [app for app, _ in steps]
    dial = apps.index("Dial")
    branch_app, branch_args = steps[dial + 1]
    assert branch_app == "GotoIf" and "BLINDTRANSFER" in branch_args and "ANSWER" in branch_args, steps
    assert "Queue" in apps[dial + 1:], steps


def test_amd_is_shipped_with_the_settings_the_dialer_assumes() -> None:
    """app_amd declines to load without amd.conf ("Configuration file amd.conf missing"), and then [cc-campaign]'s
    AMD() does not exist: seen on a real Asterisk 20.20.1 (tests/real_asterisk/test_dialer_campaign.py). The values are
    the ones docs/dialer.md and the simulator's callees (HUMAN-800-800 ...) are written for."""
    assert "AMD(" in CC_CONTEXTS.read_text()
    text = (DIALPLANS / "amd.conf").read_text()
    body = text.split("[general]", 1)[1]
    lines = (line.split(";", 1)[0].strip() for line in body.splitlines())
    settings = {k.strip(): v.strip() for k, _, v in (line.partition("=") for line in lines if "=" in line)}
    assert settings == {
        "total_analysis_time": "5000", "silence_threshold": "256", "initial_silence": "2500",
        "after_greeting_silence": "800", "greeting": "1500", "min_word_length": "100", "maximum_word_length": "5000",
        "between_words_silence": "50", "maximum_number_of_words": "2",
    }
