"""`callcenter serve` with no Asterisk configured: the built-in simulator stands in, on loopback, in real time.

The service then runs exactly as beside Asterisk (AMI session, FastAGI routing, recordings from the simulator's
spool), so a newcomer can try the API, click-to-call and the wallboard without a PBX. It places no calls by itself;
`callcenter simulate` or the API drive it.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from callcenter.pbxsim.simulator import Simulator, SimulatorSettings

__all__ = ["embed_simulator", "with_simulator_settings"]

log = logging.getLogger("callcenter.pbxsim")


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def with_simulator_settings(settings: Any, *, monitor_dir: Path) -> tuple[Any, SimulatorSettings]:
    """The service settings pointed at a simulator on a free loopback port, and that simulator's settings."""
    sim = SimulatorSettings(ami_port=_free_port("127.0.0.1"), monitor_dir=monitor_dir.resolve(), speed=1.0)
    spool = str(sim.monitor_dir)
    service = settings.model_copy(
        update={
            "ami": settings.ami.model_copy(
                update={"host": sim.ami_host, "port": sim.ami_port, "username": sim.username, "secret": sim.secret}
            ),
            "recording": settings.recording.model_copy(update={"spool_dir": spool, "asterisk_spool_dir": spool}),
        }
    )
    return service, sim


def embed_simulator(
    app: web.Application, sim_settings: SimulatorSettings, *, agi_port: Callable[[web.Application], int | None]
) -> Simulator:
    """Start the simulator before anything connects to it, and point its dialplan at the app's FastAGI port.

    ``agi_port`` reads that port from the started app (None: FastAGI is off). The caller passes it because only the
    service knows where its FastAGI server lives; the simulator knows AMI and FastAGI, not the service's app keys."""
    sim = Simulator(settings=sim_settings)

    async def simulator_ctx(_app: web.Application) -> AsyncIterator[None]:
        await sim.start()
        log.warning("no Asterisk configured: built-in PBX simulator on 127.0.0.1:%d (AMI)", sim.ami_port)
        yield
        await sim.stop()

    async def point_agi(app: web.Application) -> None:
        # on_startup handlers added after build_app run once every cleanup context is up, FastAGI included.
        port = agi_port(app)
        if port is not None:
            sim.set_agi_address("127.0.0.1", port)

    app.cleanup_ctx.insert(0, simulator_ctx)
    app.on_startup.append(point_agi)
    return sim
