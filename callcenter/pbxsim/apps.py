"""The dialplan executor (pbx_spool's loop) and the small applications; Dial and Queue have their own modules.

Per executed priority: one Newexten with the substituted AppData, then the application's own events. The loop ends
when the dialplan runs out, an application hangs up, or the far end hung up; then the owning channel gets
SoftHangupRequest (Cause 16, as on every capture), its RTP statistics, and Hangup.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from callcenter.pbxsim.agi_client import run_fastagi
from callcenter.pbxsim.channels import BUSY, UP, Channel
from callcenter.pbxsim.chanspy import app_chanspy
from callcenter.pbxsim.dial import app_dial
from callcenter.pbxsim.dialplan import DialplanError, check_condition, split_args, substitute
from callcenter.pbxsim.flow import ENDING, Flow, pause
from callcenter.pbxsim.queue_app import app_queue
from callcenter.pbxsim.recordings import RecordingSpec

if TYPE_CHECKING:
    from callcenter.pbxsim.pbx import Pbx

__all__ = ["APPS", "finish", "run_dialplan", "substitute_for"]

log = logging.getLogger("callcenter.pbxsim.dialplan")

App = Callable[["Pbx", Channel, str], Awaitable[Flow]]


# == substitution ====================================================================================================


def substitute_for(pbx: Pbx, ch: Channel, text: str) -> str:
    def lookup(name: str) -> str | None:
        return pbx.get_var(ch, name)

    def call(func: str, arg: str) -> str:
        if func == "CALLERID":
            what = arg.lower()
            if what in ("num", "number"):
                return ch.caller_num or ""
            if what == "name":
                return ch.caller_name or ""
            return f'"{ch.caller_name or ""}" <{ch.caller_num or ""}>'
        if func == "CHANNEL":
            return {"linkedid": ch.linkedid, "uniqueid": ch.uniqueid, "name": ch.name, "context": ch.context,
                    "exten": ch.exten, "language": ch.language, "state": ch.state_desc,
                    # chan_pjsip's CHANNEL(endpoint): the PJSIP endpoint of the channel (none for Local)
                    "endpoint": ch.endpoint if ch.tech == "PJSIP" else ""}.get(arg.lower(), "")
        if func == "IF":
            cond, _, branches = arg.partition("?")
            yes, _, no = branches.partition(":")
            return yes if check_condition(cond) else no
        if func == "CUT":
            return _cut(pbx, ch, arg)
        if func == "FIELDQTY":
            return _fieldqty(pbx, ch, arg)
        if func == "LEN":
            return str(len(arg))
        if func == "ISNULL":
            return "1" if not arg else "0"
        if func == "EXISTS":
            return "1" if arg else "0"
        log.warning("dialplan function %s() not simulated; using ''", func)
        return ""

    return substitute(text, lookup, call)


def _delimiter(text: str) -> str:
    """app.c ast_get_encoded_char: the first character, a backslash escape decoded; an empty one fails (CUT then
    uses '-')."""
    if not text:
        raise DialplanError("empty delimiter")
    if text[0] != "\\":
        return text[0]
    escapes = {"n": "\n", "r": "\r", "t": "\t", "a": "\a", "b": "\b", "f": "\f", "v": "\v", "\\": "\\"}
    if len(text) > 1 and text[1] in escapes:
        return escapes[text[1]]
    if len(text) > 1:
        return text[1]
    raise DialplanError("backslash without a character as delimiter")


def _cut(pbx: Pbx, ch: Channel, arg: str) -> str:
    """func_cut.c CUT(varname,delimiter,fields): fields 'N', 'N-M', '-M' or 'N-', several joined with '&', in rising
    order; the fields kept are joined with the delimiter again. Missing arguments: an error, as Asterisk logs."""
    args = split_args(arg)
    if len(args) < 3:
        raise DialplanError(f"CUT({arg}): Syntax: CUT(<varname>,<char-delim>,<range-spec>) - missing argument")
    name, raw_delim, spec = args[0], args[1], args[2]
    try:
        delim = _delimiter(raw_delim)
    except DialplanError:
        delim = "-"
    value = pbx.get_var(ch, name) or ""
    if not value:
        return ""
    fields = value.split(delim)
    out: list[str] = []
    position = 1  # cut_internal walks forward only: a range before the current field yields nothing more
    for part in spec.split("&"):
        m = re.fullmatch(r"(\d*)(-?)(\d*)", part.strip())
        if m is None or (not m.group(1) and not m.group(3)):
            raise DialplanError(f"CUT({arg}): field spec {part!r} is not N, N-M, -M or N-")
        start = int(m.group(1)) if m.group(1) else 1
        stop = int(m.group(3)) if m.group(3) else (start if not m.group(2) else len(fields))
        position = max(position, start)
        while position <= stop and position <= len(fields):
            out.append(fields[position - 1])
            position += 1
    return delim.join(out)


def _fieldqty(pbx: Pbx, ch: Channel, arg: str) -> str:
    """func_strings.c FIELDQTY(varname,delimiter): 0 for an empty value, else the number of delimited fields."""
    args = split_args(arg)
    if len(args) < 2:
        return "1"
    value = pbx.get_var(ch, args[0]) or ""
    return str(len(value.split(_delimiter(args[1])))) if value else "0"


# == the executor ====================================================================================================


async def run_dialplan(pbx: Pbx, ch: Channel, context: str, exten: str, priority: int) -> None:
    ch.context, ch.exten, ch.priority = context, exten, priority
    ch.in_dialplan = True
    stale: tuple[str, str] | None = None
    try:
        while ch.alive:
            if any(ch.has(kind) for kind in ENDING):
                break
            target = ch.take("redirect")
            if isinstance(target, tuple):
                # AMI Redirect between applications: the first Newexten at the new place repeats the old app
                stale = (ch.application, ch.application_data)
                ch.context, ch.exten, ch.priority = target
            prio = pbx.dialplan.priority(ch.context, ch.exten, ch.priority)
            if prio is None:
                break
            try:
                data = substitute_for(pbx, ch, prio.data)
            except DialplanError as exc:
                log.error("%s %s,%s,%d: %s; hanging up", ch.name, ch.context, ch.exten, ch.priority, exc)
                break
            if ch.skip_newexten:
                ch.skip_newexten = False
            elif stale is not None:
                pbx.emit.newexten(ch, *stale)
                stale = None
            else:
                pbx.emit.newexten(ch, prio.app, data)
            ch.application, ch.application_data = prio.app, data
            app = APPS.get(prio.app.lower())
            if app is None:
                log.warning("application %s not simulated; skipped", prio.app)
                flow = Flow.NEXT
            else:
                flow = await app(pbx, ch, data)
            if flow is Flow.NEXT:
                ch.priority += 1
            elif flow is Flow.STOP:
                break
    finally:
        finish(pbx, ch)


def finish(pbx: Pbx, ch: Channel) -> None:
    """The dialplan is over for ``ch``: SoftHangupRequest, RTP statistics, Hangup."""
    if not ch.alive:
        return
    if not ch.soft_hangup_done:
        ch.soft_hangup_done = True
        pbx.emit.soft_hangup_request(ch, cause=16, tech_cause=ch.tech_cause)
    pbx.qos(ch)
    pbx.destroy(ch, cause=ch.hangup_cause, tech_cause=ch.tech_cause)


# == small applications ==============================================================================================


def _jump(pbx: Pbx, ch: Channel, target: str) -> Flow:
    """[[context,]exten,]priority-or-label, as Goto/GotoIf read it."""
    parts = [p.strip() for p in target.split(",")]
    context, exten = ch.context, ch.exten
    if len(parts) == 3:
        context, exten, where = parts
    elif len(parts) == 2:
        exten, where = parts
    else:
        where = parts[0]
    if where.isdigit():
        number = int(where)
    else:
        found = pbx.dialplan.label(context, exten, where)
        if found is None:
            log.error("%s: label %r not found in %s,%s; hanging up", ch.name, where, context, exten)
            return Flow.STOP
        number = found
    ch.context, ch.exten, ch.priority = context, exten, number
    return Flow.JUMP


async def app_noop(pbx: Pbx, ch: Channel, data: str) -> Flow:
    return Flow.NEXT


async def app_set(pbx: Pbx, ch: Channel, data: str) -> Flow:
    name, _, value = data.partition("=")
    pbx.set_var(ch, name.strip(), value)
    return Flow.NEXT


async def app_goto(pbx: Pbx, ch: Channel, data: str) -> Flow:
    return _jump(pbx, ch, data)


async def app_gotoif(pbx: Pbx, ch: Channel, data: str) -> Flow:
    cond, _, labels = data.partition("?")
    yes, _, no = labels.partition(":")
    branch = yes if check_condition(cond) else no
    return _jump(pbx, ch, branch) if branch.strip() else Flow.NEXT


async def app_gosub(pbx: Pbx, ch: Channel, data: str) -> Flow:
    label, _, args = data.partition("(")
    ch.gosub_stack.append((ch.context, ch.exten, ch.priority + 1))
    argv = [a for a in split_args(args.rstrip(")"))] if args else []
    ch.gosub_argv.append(argv)
    # app_stack gosub_exec sets the new frame's LOCAL(...) variables (frame_set_var publishes them) before
    # ast_explicit_goto: their VarSets still carry the Gosub's own place (api_blind_transfer.ami)
    for i, value in enumerate(argv, 1):
        pbx.emit.varset(ch, f"LOCAL(ARG{i})", value)
    pbx.emit.varset(ch, "LOCAL(ARGC)", str(len(argv)))
    return _jump(pbx, ch, label)


async def app_return(pbx: Pbx, ch: Channel, data: str) -> Flow:
    if not ch.gosub_stack:
        log.error("%s: Return without Gosub", ch.name)
        return Flow.STOP
    # app_stack return_exec frees the frame (its LOCAL variables deleted: a VarSet with an empty value for each one
    # that was not empty, newest first) and sets GOSUB_RETVAL, both still at the Return (api_blind_transfer.ami)
    argv = ch.gosub_argv.pop() if ch.gosub_argv else []
    for name, value in [("ARGC", str(len(argv))), *reversed([(f"ARG{i}", v) for i, v in enumerate(argv, 1)])]:
        if value:
            pbx.emit.varset(ch, name, "")
    pbx.set_var(ch, "GOSUB_RETVAL", data)
    ch.context, ch.exten, ch.priority = ch.gosub_stack.pop()
    return Flow.JUMP


async def app_mixmonitor(pbx: Pbx, ch: Channel, data: str) -> Flow:
    args = split_args(data)
    main = pbx.recorder.path(args[0].strip())
    options = args[1] if len(args) > 1 else ""
    legs = {}
    for flag in ("r", "t"):
        start = options.find(f"{flag}(")
        if start >= 0:
            legs[flag] = pbx.recorder.path(options[start + 2:options.index(")", start)])
    stereo = "D" in options.replace("r(", "").replace("t(", "")
    pbx.set_var(ch, "MIXMONITOR_FILENAME", str(main))
    pbx.emit.mixmonitor_start(ch)
    customer = pbx.customer_of(ch)
    pbx.recorder.start(
        ch,
        RecordingSpec(
            main=main,
            rx=legs.get("r"),
            tx=legs.get("t"),
            stereo=stereo,
            seed=ch.ssrc,
            customer_speech=customer.speech if customer else None,
            agent_speech=customer.agent_speech if customer else None,
        ),
    )
    return Flow.NEXT


async def app_agi(pbx: Pbx, ch: Channel, data: str) -> Flow:
    args = split_args(data)
    url = args[0].strip()
    if not url.startswith("agi://"):
        log.warning("%s: only FastAGI (agi://) is simulated, not %r", ch.name, url)
        pbx.set_var(ch, "AGISTATUS", "FAILURE")
        return Flow.NEXT
    status = await run_fastagi(pbx, ch, url, args[1:])
    if ch.alive:
        pbx.set_var(ch, "AGISTATUS", status)
    return Flow.NEXT


async def app_answer(pbx: Pbx, ch: Channel, data: str) -> Flow:
    if ch.state != UP:
        pbx.set_state(ch, UP)
        if not await pause(pbx, ch, pbx.config.answer_delay_s):
            return Flow.NEXT
    return Flow.NEXT


async def app_hangup(pbx: Pbx, ch: Channel, data: str) -> Flow:
    cause = data.strip()
    if cause.isdigit():
        ch.hangup_cause = int(cause)
    elif ch.hangup_cause == 0:
        ch.hangup_cause = 16
    return Flow.STOP


async def app_wait(pbx: Pbx, ch: Channel, data: str) -> Flow:
    try:
        seconds = float(data or 0)
    except ValueError:
        seconds = 0.0
    await pause(pbx, ch, seconds)
    return Flow.NEXT


async def app_playback(pbx: Pbx, ch: Channel, data: str) -> Flow:
    if ch.state != UP and "noanswer" not in data:
        pbx.set_state(ch, UP)
    available = pbx.config.sounds
    for name in (n.strip() for n in split_args(data)[0].split("&")):
        if available is not None and name not in available:
            # app_playback.c: a file that cannot be opened -> FAILED, nothing heard, the dialplan goes on (res 0)
            pbx.set_var(ch, "PLAYBACKSTATUS", "FAILED")
            return Flow.NEXT
        if not await pause(pbx, ch, 3.0):  # a short prompt; a hang-up during it still ends SUCCESS (as app_playback)
            break
    pbx.set_var(ch, "PLAYBACKSTATUS", "SUCCESS")
    return Flow.NEXT


async def app_voicemail(pbx: Pbx, ch: Channel, data: str) -> Flow:
    """The caller hears the greeting, leaves a message, hangs up."""
    if ch.state != UP:
        pbx.set_state(ch, UP)
    customer = pbx.customer_of(ch)
    message_s = min(20.0, customer.talk_s) if customer else 10.0
    if await pause(pbx, ch, 4.0 + message_s):
        pbx.set_var(ch, "VMSTATUS", "SUCCESS")
        pbx.remote_bye(ch)
    return Flow.STOP


async def app_read(pbx: Pbx, ch: Channel, data: str) -> Flow:
    args = split_args(data)
    if ch.state != UP:
        pbx.set_state(ch, UP)
    if not await pause(pbx, ch, 3.0):
        return Flow.NEXT
    customer = pbx.customer_of(ch)
    digit = customer.dtmf if customer else ""
    pbx.set_var(ch, args[0].strip(), digit)
    pbx.set_var(ch, "READSTATUS", "OK" if digit else "TIMEOUT")
    return Flow.NEXT


async def app_amd(pbx: Pbx, ch: Channel, data: str) -> Flow:
    """app_amd: listens to the answered callee (their model's amd_s), then AMDSTATUS / AMDCAUSE, each a VarSet.
    A callee who hangs up while it listens ends the analysis (AMDSTATUS HANGUP) and the channel's dialplan."""
    customer = pbx.customer_of(ch)
    status, cause, listen_s = ("NOTSURE", "TOOLONG-5000", 5.0) if customer is None else (
        customer.amd_status, customer.amd_cause, customer.amd_s)
    if not await pause(pbx, ch, listen_s):
        status, cause = "HANGUP", "HANGUP"
    if ch.alive:
        pbx.set_var(ch, "AMDSTATUS", status)
        pbx.set_var(ch, "AMDCAUSE", cause)
    return Flow.NEXT


async def app_waitforsilence(pbx: Pbx, ch: Channel, data: str) -> Flow:
    """app_waitforsilence on an answering machine: the rest of its greeting and the beep, then silence."""
    if await pause(pbx, ch, 2.0):
        pbx.set_var(ch, "WAITSTATUS", "SILENCE")
    return Flow.NEXT


async def app_userevent(pbx: Pbx, ch: Channel, data: str) -> Flow:
    args = split_args(data)
    fields = []
    for item in args[1:]:
        key, _, value = item.partition(":")
        fields.append((key.strip(), value.strip()))
    pbx.emit.user_event(ch, args[0].strip(), fields)
    return Flow.NEXT


async def app_congestion(pbx: Pbx, ch: Channel, data: str) -> Flow:
    """pbx_builtins.c indicate_congestion: an unanswered channel gets the congestion indication (chan_pjsip answers
    the INVITE with 503), hangup cause 34 and state Busy, and the dialplan ends; an answered one only hears the tone."""
    if ch.state != UP:
        ch.hangup_cause, ch.tech_cause = 34, 503
        pbx.set_state(ch, BUSY)
        # Asterisk 20.20.1 (tests/real_asterisk/test_deskphone_crm.py): Newstate Busy, HangupRequest 34/503 once the
        # phone has its 503, then SoftHangupRequest 16/503 and Hangup 34 as every dialplan end
        pbx.emit.hangup_request(ch, cause=34, tech_cause=503)
    return Flow.STOP


APPS: dict[str, App] = {
    "congestion": app_congestion,
    "noop": app_noop,
    "verbose": app_noop,
    "set": app_set,
    "goto": app_goto,
    "gotoif": app_gotoif,
    "gosub": app_gosub,
    "return": app_return,
    "mixmonitor": app_mixmonitor,
    "agi": app_agi,
    "answer": app_answer,
    "hangup": app_hangup,
    "wait": app_wait,
    "playback": app_playback,
    "voicemail": app_voicemail,
    "read": app_read,
    "userevent": app_userevent,
    "amd": app_amd,
    "waitforsilence": app_waitforsilence,
    "dial": app_dial,
    "queue": app_queue,
    "chanspy": app_chanspy,
}

