"""What the AMI actions do to the simulated PBX, and the list snapshots they answer with.

Each method returns ``None`` on success or the error message Asterisk 20 answers with (``Response: Error``); the AMI
server turns that into the reply. Event sequences follow the captures (originate_*, blind_transfer_redirect,
agent_pause_cycle, queue_*).
"""

from __future__ import annotations

import hashlib
import re
from typing import TYPE_CHECKING, Final

from callcenter.pbxsim.apps import APPS, finish
from callcenter.pbxsim.channels import DOWN, Channel, channel_block
from callcenter.pbxsim.dial import parse_target
from callcenter.pbxsim.flow import wait_signal
from callcenter.pbxsim.queues import Member
from callcenter.pbxsim.wire import Headers

if TYPE_CHECKING:
    from callcenter.pbxsim.pbx import Pbx

__all__ = ["Operations", "parse_caller_id"]

_CID = re.compile(r'^\s*(?:"([^"]*)"|([^<]*?))\s*<([^>]*)>\s*$')


def parse_caller_id(text: str | None) -> tuple[str | None, str | None]:
    """``"Acme Sales" <8005550100>`` -> (8005550100, Acme Sales); a bare number -> (number, None)."""
    if not text:
        return None, None
    m = _CID.match(text)
    if m:
        name = (m.group(1) if m.group(1) is not None else m.group(2) or "").strip()
        return m.group(3).strip() or None, name or None
    return text.strip() or None, None


# loader.c enum ast_module_reload_result, printed as the Reload event's Status
_RELOAD_SUCCESS = 0
_RELOAD_NOT_FOUND = 2

# Modules of the stock Asterisk 20 build the simulator stands in for, with (True) or without (False) a reload callback
# (their AST_MODULE_INFO .reload); any other name is "No such module" (resource_name_match ignores ".so").
_MODULES: Final = {
    "pbx_config": True, "app_queue": True, "res_pjsip": True, "res_musiconhold": True, "cdr_manager": True,
    "cel_manager": True, "cdr": True, "cel": True, "logger": True, "manager": True,
    "chan_pjsip": False, "app_dial": False, "app_mixmonitor": False, "app_chanspy": False, "res_agi": False,
    "res_manager_devicestate": False,
}
_RELOAD_NOT_IMPLEMENTED = 6


def _c_int(text: str) -> int | None:
    """sscanf("%30d"): an optional sign and leading digits (``3x`` is 3); None when there are none."""
    m = re.match(r"\s*([+-]?\d+)", text)
    return int(m.group(1)) if m else None


# manager.c originate_app_permissions[]: an Originate application (matched anywhere in its name, any case) or data
# (matched anywhere, case-sensitive) that needs the system class; Queue only with its AGI argument (agi or system)
_APP_NEEDS_SYSTEM: Final = ("agi", "dbdeltree", "exec", "externalivr", "mixmonitor", "originate", "reload", "system")
_DATA_NEEDS_SYSTEM: Final = ("CURL", "DB", "EVAL", "FILE", "ODBC", "REALTIME", "SHELL")


def originate_app_permitted(app: str, data: str, writeperm: int) -> bool:
    from callcenter.pbxsim.manager_conf import AGI, SYSTEM

    low = app.lower()
    for search in _APP_NEEDS_SYSTEM:
        if search in low:
            return bool(writeperm & SYSTEM)
    if "queue" in low and data:
        args = data.split(",")
        if len(args) > 5 and args[5]:
            return bool(writeperm & (AGI | SYSTEM))
    for search in _DATA_NEEDS_SYSTEM:
        if data and search in data:
            return bool(writeperm & SYSTEM)
    return True


def _module_base(name: str) -> str:
    name = name.strip()
    return name[:-3] if name.endswith(".so") else name


def _duration(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


class Operations:
    def __init__(self, pbx: Pbx) -> None:
        self.pbx = pbx

    # -- calls --------------------------------------------------------------------------------------------------

    def originate(
        self,
        *,
        action_id: str,
        channel: str,
        context: str | None,
        exten: str | None,
        priority: int,
        application: str | None,
        data: str,
        caller_id: str | None,
        timeout_ms: int,
        variables: list[tuple[str, str]],
    ) -> str | None:
        if not channel:
            return "Channel not specified"
        self.pbx.stats.originates += 1
        self.pbx.clock.spawn(
            self._originate(action_id=action_id, dial=channel, context=context, exten=exten, priority=priority,
                            application=application, data=data, caller_id=caller_id, timeout_ms=timeout_ms,
                            variables=variables),
            name=f"originate-{action_id}",
        )
        return None

    def _response(self, *, action_id: str, ok: bool, channel: str, context: str | None, exten: str | None,
                  reason: int, uniqueid: str | None, cid: tuple[str | None, str | None]) -> None:
        self.pbx.emit.originate_response([
            ("ActionID", action_id),
            ("Response", "Success" if ok else "Failure"),
            ("Channel", channel),
            ("Context", context or ""),
            ("Exten", exten or ""),
            ("Reason", str(reason)),
            ("Uniqueid", uniqueid or "<unknown>"),
            ("CallerIDNum", cid[0] or "<unknown>"),
            ("CallerIDName", cid[1] or "<unknown>"),
        ])

    async def _originate(self, *, action_id: str, dial: str, context: str | None, exten: str | None, priority: int,
                         application: str | None, data: str, caller_id: str | None, timeout_ms: int,
                         variables: list[tuple[str, str]]) -> None:
        pbx = self.pbx
        cid = parse_caller_id(caller_id)
        parsed = parse_target(dial)
        if parsed is None or parsed[0].upper() != "PJSIP" or not pbx.endpoint_reachable(parsed[1]):
            # Local/... and endpoints without a contact: no channel; Reason 0 as for a failed request
            self._response(action_id=action_id, ok=False, channel=dial, context=context, exten=exten, reason=0,
                           uniqueid=None, cid=cid)
            return
        _, endpoint, number = parsed
        phone = pbx.phones.get(endpoint)
        leg = pbx.new_channel(
            endpoint=endpoint, state=DOWN, caller_num=None, caller_name=None,
            context=phone.config.context if phone else "from-trunk", exten="s",
        )
        leg.dialed = number
        pbx.emit.newexten(leg, "AppDial2", "(Outgoing Line)")
        # manager.c action_originate reads the Variable headers with astman_get_variables (ORDER_REVERSE): the channel
        # announces them last one first (seen on Asterisk 20.20.1: tests/real_asterisk/test_dialer_campaign.py)
        for name, value in reversed(variables):
            pbx.set_var(leg, name, value)
        if cid != (None, None):
            leg.caller_num, leg.caller_name = cid
            pbx.emit.newcallerid(leg)
            leg.connected_num, leg.connected_name = cid
            pbx.emit.new_connected_line(leg)
        pbx.emit.dial_begin(None, leg, dial.partition("/")[2])
        pbx.offer(leg, caller=None)
        deadline = pbx.clock.now_s() + timeout_ms / 1000
        while True:
            got = await wait_signal(pbx, [leg], max(0.0, deadline - pbx.clock.now_s()))
            if got is None:
                # nobody answered within Timeout: Reason 3 and no DialEnd (captures: originate_noanswer)
                self._response(action_id=action_id, ok=False, channel=dial, context=context, exten=exten, reason=3,
                               uniqueid=None, cid=cid)
                leg.signal("cancel")
                pbx.destroy(leg, cause=19, tech_cause=480)
                return
            _, kind, _ = got
            if kind == "ringing":
                pbx.emit.dial_state(None, leg, "RINGING")
            elif kind in ("busy", "congestion", "bye", "ami_hangup"):
                pbx.emit.dial_end(None, leg, {"busy": "BUSY", "congestion": "CONGESTION"}.get(kind, "CANCEL"))
                # busy is Reason 0, not 5 (captures: originate_busy)
                self._response(action_id=action_id, ok=False, channel=dial, context=context, exten=exten, reason=0,
                               uniqueid=None, cid=cid)
                pbx.destroy(leg, cause=leg.hangup_cause or 16, tech_cause=leg.tech_cause)
                return
            elif kind == "restart":
                return
            elif kind == "answer":
                pbx.emit.dial_end(None, leg, "ANSWER")
                leg.hangup_cause = 16
                break
        if application is not None:
            pbx.clock.spawn(self._run_application(leg, application, data), name=f"app-{leg.name}")
        else:
            pbx.start_dialplan(leg, context or "default", exten or "s", priority)
        callee = pbx.customer_of(leg)
        if callee is not None and callee.silence_patience_s is not None:
            pbx.clock.spawn(self._silence(leg, callee.silence_patience_s), name=f"silence-{leg.uniqueid}")
        await pbx.clock.sleep(0)  # the response leaves after the dialplan thread started (same burst, captures)
        self._response(action_id=action_id, ok=True, channel=leg.name, context=context, exten=exten, reason=4,
                       uniqueid=leg.uniqueid, cid=cid)

    async def _silence(self, leg: Channel, patience_s: float) -> None:
        """A called person nobody speaks to (no agent connected) hangs up after ``patience_s``."""
        await self.pbx.clock.sleep(patience_s)
        if leg.alive and not leg.connected and not leg.has("bye"):
            self.pbx.remote_bye(leg)

    def check_originate(self, *, channel: str, context: str, exten: str, priority: str, timeout: str,
                        application: str, data: str, writeperm: int) -> tuple[str | None, int]:
        """manager.c action_originate's checks before anything is dialled, in its order: (error, priority)."""
        if not channel:
            return "Channel not specified", 0
        pi = 0
        if priority:
            pi = _c_int(priority) if _c_int(priority) is not None else self._label(context, exten, priority)
            if pi < 1 and _c_int(priority) is None:
                return "Invalid priority", 0
        if timeout and _c_int(timeout) is None:
            return "Invalid timeout", 0
        if "/" not in channel:
            return "Invalid channel", 0
        if application and not originate_app_permitted(application, data, writeperm):
            return "Originate Access Forbidden: app or data blacklisted", 0
        if exten and context and pi and self.pbx.dialplan.priority(context, exten, pi) is None:
            return "Extension does not exist.", 0  # ast_exists_extension, checked early
        if not application and not (exten and context and pi):
            # the synchronous branch's words; an Async originate without a dialplan target fails later instead,
            # which the simulator does not model
            return "Originate with 'Exten' requires 'Context' and 'Priority'", 0
        return None, pi

    def check_redirect(self, *, channel: str, context: str, exten: str, priority: str) -> tuple[str | None, int]:
        """manager.c action_redirect's checks: (error, priority). The target itself is not checked: a channel sent
        to a missing extension is redirected, then hangs up there."""
        for value, name in ((channel, "Channel"), (context, "Context"), (exten, "Exten"), (priority, "Priority")):
            if not value:
                return f"{name} not specified", 0
        pi = _c_int(priority)
        if pi is None:
            pi = self._label(context, exten, priority)
        if pi < 1:
            return "Priority is invalid", 0
        if self.pbx.find_channel(channel) is None:
            return f"Channel does not exist: {channel}", 0
        return None, pi

    def _label(self, context: str, exten: str, label: str) -> int:
        """ast_findlabel_extension: the priority a label names, -1 when there is none."""
        found = self.pbx.dialplan.label(context, exten, label) if context and exten else None
        return -1 if found is None else found

    async def _run_application(self, ch: Channel, application: str, data: str) -> None:
        app = APPS.get(application.lower())
        ch.in_dialplan = True
        # pbx_exec publishes the channel's snapshot with the application set: a Newexten at the channel's place
        ch.application, ch.application_data = application, data
        self.pbx.emit.newexten(ch, application, data)
        try:
            if app is not None:
                await app(self.pbx, ch, data)
        finally:
            finish(self.pbx, ch)

    def redirect(self, *, channel: str, context: str, exten: str, priority: int) -> str | None:
        ch = self.pbx.find_channel(channel)
        if ch is None:
            return f"Channel does not exist: {channel}"  # manager.c action_redirect
        if not ch.alive:
            return "Redirect failed, channel not up."
        if not (ch.in_dialplan or ch.bridge):
            return "Redirect failed"  # a leg still ringing (no dialplan and no bridge to leave): not modelled
        # async_goto does not look at the target: a missing extension ends the channel's dialplan there (hangup)
        ch.signal("redirect", (context, exten, priority))
        return None

    def blind_transfer(self, *, channel: str, exten: str, context: str) -> str | None:
        """manager.c action_blind_transfer -> bridge.c ast_bridge_transfer_blind(is_external=1): the transferer's
        bridge peer goes to exten@context, the transferer leaves the bridge and hangs up. No transfer rights are
        needed (only a bridge flag Dial never sets could forbid it). Returns the error text Asterisk answers with."""
        if not channel:
            return "No channel specified"
        if not exten:
            return "No extension specified"
        pbx = self.pbx
        ch = pbx.find_channel(channel)
        if ch is None:
            return "Channel specified does not exist"
        context = context or ch.context
        bridge = ch.bridge
        peers = [c for c in bridge.channels if c is not ch] if bridge is not None else []
        if bridge is None or not peers:
            # ast_bridge_transfer_acquire_bridge found none, or nobody to transfer: published all the same
            pbx.emit.blind_transfer(result="Invalid", transferer=ch, transferee=None, bridge=bridge,
                                    num_channels=len(bridge.channels) if bridge else 0, context=context, exten=exten)
            return "Transfer invalid"
        # ast_bridge_channel_write_unhold, then set_transfer_variables_all: the others get the transferer's name,
        # the transferer its BRIDGEPEER (api_blind_transfer.ami)
        pbx.emit.unhold(ch)
        for peer in peers:
            pbx.set_var(peer, "BLINDTRANSFER", ch.name)
        pbx.set_var(ch, "BLINDTRANSFER", ",".join(p.name for p in peers))
        ch.signal("blind_transfer", (context, exten, 1))
        return None

    def atxfer(self, *, channel: str, exten: str, context: str) -> str | None:
        """manager.c action_atxfer: TRANSFER_CONTEXT, then the features.conf atxfer code and the extension queued as
        DTMF on the channel; the answer says nothing about what the digits do (pbxsim/atxfer.py)."""
        if not channel:
            return "No channel specified"
        if not exten:
            return "No extension specified"
        ch = self.pbx.find_channel(channel)
        if ch is None:
            return "Channel specified does not exist"
        if not self.pbx.config.atxfer_code:
            return "No attended transfer feature code found"
        if context:
            self.pbx.set_var(ch, "TRANSFER_CONTEXT", context)
        ch.signal("atxfer", (exten, context or ch.context))
        return None

    def hangup(self, *, channel: str, cause: int) -> str | None:
        pbx = self.pbx
        ch = pbx.find_channel(channel)
        if ch is None:
            return "No such channel"
        ch.hangup_cause = cause
        ch.soft_hangup_done = True
        pbx.emit.soft_hangup_request(ch, cause=cause)
        peer = next((c for c in ch.bridge.channels if c is not ch), None) if ch.bridge else None
        pbx.qos(ch, peer)
        ch.signal("ami_hangup", cause)
        return None

    def setvar(self, *, channel: str | None, variable: str, value: str) -> str | None:
        if not channel and self.pbx.hints.is_device_state(variable):
            return self.pbx.hints.write(variable, value)
        if not channel:
            # manager.c action_setvar -> pbx_builtin_setvar_helper(NULL, ...): a global, announced as VarSet
            # with Channel: none
            self.pbx.set_global(variable, value)
            return None
        ch = self.pbx.find_channel(channel)
        if ch is None:
            return "No such channel"
        self.pbx.set_var(ch, variable, value)
        return None

    # -- reloads -------------------------------------------------------------------------------------------------

    def module_reload(self, module: str | None) -> str | None:
        """loader.c ast_module_reload (AMI Reload, CLI ``module reload [name]``): the modules reload, then one
        ``Reload`` event with the name asked for (``All`` without one) and the result code as Status, whatever it is.
        Returns manager.c action_reload's error text, None when reloaded."""
        pbx = self.pbx
        base = _module_base(module) if module else None
        pbx.reload_s = pbx.clock.now_s()  # ast_lastreloadtime is set before the modules are walked
        if base is not None and base not in _MODULES:
            pbx.emit.reload(module or "All", status=_RELOAD_NOT_FOUND)
            return "No such module"
        if base is not None and not _MODULES[base]:
            pbx.emit.reload(module or "All", status=_RELOAD_NOT_IMPLEMENTED)
            return "Module does not support reload"
        if base is None or base == "pbx_config":
            self.dialplan_reload()
        pbx.emit.reload(module or "All", status=_RELOAD_SUCCESS)
        return None

    def dialplan_reload(self) -> None:
        """pbx_config's reload (CLI ``dialplan reload`` runs it alone, with no Reload event): every [globals] line
        set again, one VarSet (Channel: none) each."""
        for name, value in self.pbx.dialplan.reload():
            self.pbx.emit.varset_global(name, value)

    # -- queues -------------------------------------------------------------------------------------------------

    def queue_add(self, *, queue: str, interface: str, member_name: str | None, state_interface: str | None,
                  penalty: int, paused: bool, reason: str) -> str | None:
        pbx = self.pbx
        q = pbx.queues.queues.get(queue)
        if q is None:
            return "Unable to add interface to queue: No such queue"
        if interface in q.members:
            return "Unable to add interface: Already there"
        now = int(pbx.clock.now_s())
        member = Member(interface=interface, name=member_name or interface, state_interface=state_interface or interface,
                        penalty=penalty, paused=paused, reason=reason if paused else "", login_s=now,
                        last_pause_s=now if paused else 0, added_seq=pbx.queues.next_seq())
        q.members[interface] = member
        pbx.refresh_device(member.state_interface)  # known before the member event: Status is the device state
        pbx._set_pseudo_device(f"Queue:{queue}_pause_{interface}", "INUSE" if paused else "NOT_INUSE")
        pbx.queue_member_event("QueueMemberAdded", q, member)
        pbx.refresh_queue_devices(q)
        pbx.wake_queue(q)
        return None

    def queue_remove(self, *, queue: str, interface: str) -> str | None:
        pbx = self.pbx
        q = pbx.queues.queues.get(queue)
        if q is None:
            return "Unable to remove interface from queue: No such queue"
        member = q.members.pop(interface, None)
        if member is None:
            return "Unable to remove interface: Not there"
        pbx.queue_member_event("QueueMemberRemoved", q, member)
        pbx._set_pseudo_device(f"Queue:{queue}_pause_{interface}", "NOT_INUSE")
        pbx.refresh_queue_devices(q)
        return None

    def queue_pause(self, *, interface: str, paused: bool, queue: str | None, reason: str) -> str | None:
        pbx = self.pbx
        found = False
        for q in pbx.queues.queues.values():
            if queue and q.name != queue:
                continue
            member = q.members.get(interface)
            if member is None:
                continue
            found = True
            member.paused = paused
            member.reason = reason if paused else ""
            if paused:
                member.last_pause_s = int(pbx.clock.now_s())
            pbx._set_pseudo_device(f"Queue:{q.name}_pause_{interface}", "INUSE" if paused else "NOT_INUSE")
            pbx.refresh_queue_devices(q)
            pbx.queue_member_event("QueueMemberPause", q, member)
            if not paused:
                pbx.wake_queue(q)
        return None if found else "Interface not found"

    # -- snapshots ----------------------------------------------------------------------------------------------

    def core_show_channels(self, action_id: str) -> list[Headers]:
        now = self.pbx.clock.now_s()
        items: list[Headers] = []
        for ch in self.pbx.live_channels():
            items.append([
                ("Event", "CoreShowChannel"),
                ("ActionID", action_id),
                *channel_block(ch),
                ("Application", ch.application),
                ("ApplicationData", ch.application_data),
                ("Duration", _duration(now - ch.created_s)),
                ("BridgeId", ch.bridge.uniqueid if ch.bridge else ""),
            ])
        return items

    def queue_status(self, *, action_id: str, queue: str | None, member: str | None) -> list[Headers]:
        pbx = self.pbx
        items: list[Headers] = []
        now = pbx.clock.now_s()
        for q in pbx.queues.queues.values():
            if queue and q.name != queue:
                continue
            items.append(q.params(action_id))
            for m in q.members.values():
                if member and m.interface != member:
                    continue
                items.append([
                    ("Event", "QueueMember"),
                    ("Queue", q.name),
                    ("Name", m.name),
                    ("Location", m.interface),
                    ("StateInterface", m.state_interface),
                    ("Membership", "dynamic"),
                    ("Penalty", str(m.penalty)),
                    ("CallsTaken", str(m.calls_taken)),
                    ("LastCall", str(m.last_call_s)),
                    ("LastPause", str(m.last_pause_s)),
                    ("LoginTime", str(m.login_s)),
                    ("InCall", "1" if m.in_call else "0"),
                    ("Status", str(pbx.member_status(m))),
                    ("Paused", "1" if m.paused else "0"),
                    ("PausedReason", m.reason if m.paused else ""),
                    ("Wrapuptime", "0"),
                    ("ActionID", action_id),
                ])
            if member:
                continue
            for position, entry in enumerate(q.entries, 1):
                ch = entry.channel
                items.append([
                    ("Event", "QueueEntry"),
                    ("Queue", q.name),
                    ("Position", str(position)),
                    ("Channel", ch.name),
                    ("Uniqueid", ch.uniqueid),
                    ("CallerIDNum", ch.caller_num or "<unknown>"),
                    ("CallerIDName", ch.caller_name or "<unknown>"),
                    ("ConnectedLineNum", ch.connected_num or "<unknown>"),
                    ("ConnectedLineName", ch.connected_name or "<unknown>"),
                    ("Wait", str(int(now - entry.joined_s))),
                    ("Priority", "0"),
                    ("ActionID", action_id),
                ])
        return items

    def device_state_list(self, action_id: str) -> list[Headers]:
        pbx = self.pbx
        for ext in pbx.phones:
            pbx.devices.setdefault(f"PJSIP/{ext}", pbx.device_state(f"PJSIP/{ext}"))
        return [[("Event", "DeviceStateChange"), ("ActionID", action_id), ("Device", device), ("State", state)]
                for device, state in sorted(pbx.devices.items())]

    def pjsip_show_contacts(self, action_id: str) -> list[Headers]:
        pbx = self.pbx
        items: list[Headers] = []
        for ext, phone in pbx.phones.items():
            if not phone.registered:
                continue
            uri = pbx.contact_uri(ext)
            items.append([
                ("Event", "ContactList"),
                ("ActionID", action_id),
                ("ObjectType", "contact"),
                ("ObjectName", f"{ext}@@{hashlib.md5(uri.encode()).hexdigest()}"),
                ("ViaAddr", ""),
                ("QualifyTimeout", "3.000000"),
                ("CallId", ""),
                ("RegServer", ""),
                ("PruneOnBoot", "no"),
                ("Path", ""),
                ("Endpoint", ext),
                ("ViaPort", "0"),
                ("AuthenticateQualify", "no"),
                ("Uri", uri),
                ("QualifyFrequency", "0"),
                ("UserAgent", ""),
                ("ExpirationTime", "0"),
                ("OutboundProxy", ""),
                ("Status", "NonQualified"),
                ("RoundtripUsec", "N/A"),
            ])
        return items
