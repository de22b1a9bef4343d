"""The simulator assembled: clock + PBX (the project's own dialplans/) + AMI server, started and stopped as one.

This is what the composition root, the demo and the e2e tests use. Point the service's AMI settings at
``simulator.ami_port`` and tell the simulator where the service's FastAGI listens (``set_agi_address``) once it is
up (the port may be 0 until then).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from callcenter.ami.channel_vars import DialplanGlobal
from callcenter.pbxsim.ami_server import AmiServer
from callcenter.pbxsim.atxfer import load_atxfer_code
from callcenter.pbxsim.callees import CalleeModel
from callcenter.pbxsim.channels import Channel
from callcenter.pbxsim.callmodel import AgentPhone, Caller
from callcenter.pbxsim.clock import RealtimeClock, SimClock, VirtualClock
from callcenter.pbxsim.dialplan import Dialplan
from callcenter.pbxsim.manager_conf import ManagerUser, load_manager_conf
from callcenter.pbxsim.pbx import Pbx, PbxConfig
from callcenter.pbxsim.queues import load_queues_conf, read_persistent_members

__all__ = ["DIALPLANS", "Simulator", "SimulatorSettings", "default_agents"]

log = logging.getLogger("callcenter.pbxsim")

# Package data, so the simulator finds them in a wheel install too (dialplans/ at the top is a link to them).
DIALPLANS: Final = Path(__file__).resolve().parents[1] / "dialplans"


def default_agents(count: int = 4, *, first: int = 1002) -> tuple[AgentPhone, ...]:
    """Desk phones that answer most calls after 2-6 s (a few ring out)."""
    return tuple(
        AgentPhone(extension=str(first + i), answer_probability=0.85, answer_delay_s=(2.0, 6.0)) for i in range(count)
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SimulatorSettings:
    dialplan: Path = DIALPLANS / "extensions.conf"
    queues_conf: Path = DIALPLANS / "queues.conf"
    # The AMI users' read/write classes and event filters (Asterisk's manager.conf). The login secret is the
    # deployment's (``secret`` below), not the file's placeholder; ``username`` must have a section there.
    manager_conf: Path | None = DIALPLANS / "manager.conf"
    features_conf: Path | None = DIALPLANS / "features.conf"  # its atxfer code is what AMI Atxfer queues
    phones: tuple[AgentPhone, ...] = field(default_factory=default_agents)
    seed: int = 0
    ami_host: str = "127.0.0.1"
    ami_port: int = 0
    username: str = "callcenter"
    secret: str = "callcenter"
    monitor_dir: Path = Path("var/monitor")
    record_audio: bool = True
    # None: virtual time (tests: runs as fast as the service keeps up); a number: wall clock times this factor
    speed: float | None = None
    start_epoch_s: float | None = None
    dialplan_globals: dict[str, str] = field(default_factory=dict)
    # the sound files Playback finds (e.g. the dialer's cc-dialer-info); None: every one (see PbxConfig.sounds)
    sounds: frozenset[str] | None = None


class Simulator:
    def __init__(self, *, settings: SimulatorSettings | None = None, clock: SimClock | None = None,
                 customers: dict[str, Caller] | None = None, callees: CalleeModel | None = None) -> None:
        """``customers``: fixed behaviour per number; ``callees``: a dialer campaign's seeded callee model for every
        other number (pbxsim.callees)."""
        self.settings = settings or SimulatorSettings()
        s = self.settings
        if clock is None:
            # Starts at the wall clock like a real Asterisk: the service dates its resyncs with its own clock.
            start = time.time() if s.start_epoch_s is None else s.start_epoch_s
            clock = (VirtualClock(start_epoch_s=start) if s.speed is None
                     else RealtimeClock(speed=s.speed, start_epoch_s=start))
        self.clock = clock
        known = dict(customers or {})
        self.callees = callees

        def customer(number: str) -> Caller:
            if number in known:
                return known[number]
            return callees.caller_for(number) if callees is not None else Caller(number=number)
        self.pbx = Pbx(
            clock=clock,
            dialplan=Dialplan.load(s.dialplan, globals_override=s.dialplan_globals),
            phones=list(s.phones),
            queues=load_queues_conf(s.queues_conf),
            seed=s.seed,
            config=PbxConfig(monitor_dir=s.monitor_dir.resolve(), record_audio=s.record_audio,
                             atxfer_code=load_atxfer_code(s.features_conf), sounds=s.sounds),
            customers=customer,
            persistent_members=read_persistent_members(s.queues_conf),
        )
        self.server = AmiServer(pbx=self.pbx, host=s.ami_host, port=s.ami_port, username=s.username, secret=s.secret,
                                users=_manager_users(s))

    @property
    def ami_port(self) -> int:
        return self.server.port

    async def start(self) -> None:
        await self.server.start()

    async def stop(self) -> None:
        await self.server.stop()
        cancel = getattr(self.clock, "cancel_all", None)
        if cancel is not None:
            await cancel()
        await self.pbx.recorder.flush()

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def set_agi_address(self, host: str, port: int) -> None:
        """Where the dialplan's AGI() connects; also what ${CC_AGI_HOSTPORT} says in Newexten AppData."""
        self.pbx.set_agi_address(host, port)
        # what the deployed extensions.conf [globals] would say: it survives a dialplan reload and a restart
        self.pbx.dialplan.overrides[DialplanGlobal.AGI_HOSTPORT.value] = f"{host}:{port}"
        self.pbx.dialplan.globals[DialplanGlobal.AGI_HOSTPORT.value] = f"{host}:{port}"

    def call(self, caller: Caller) -> None:
        self.pbx.incoming_call(caller)

    def dial_from_phone(self, extension: str, number: str) -> Channel:
        """The agent's desk phone dials ``number`` (a feature code, a colleague, 9<number>)."""
        return self.pbx.dial_from_phone(extension, number)


def _manager_users(s: SimulatorSettings) -> dict[str, ManagerUser] | None:
    if s.manager_conf is None:
        return None  # one user with every class, as the captures' manager.conf (read = all, write = all)
    users = load_manager_conf(s.manager_conf)
    if s.username in users:
        user = users[s.username]
        users[s.username] = dataclasses.replace(user, secret=s.secret)
    else:
        log.warning("pbxsim: AMI user %r has no section in %s; its logins will fail", s.username, s.manager_conf)
    return users
