"""docker-compose's Asterisk configuration on a real Asterisk: the files mounted into /etc/asterisk (docker-compose.yml)
laid out the same way, deploy/asterisk/start.sh run as the container runs it, and Asterisk asked what it loaded.

Asterisk cannot run here in the andrius/asterisk image (no image registry), so this runs the installed one with the
same /etc/asterisk contents. Two lines are added to the copies so that nothing listens beyond loopback during the
test (manager.conf's bindaddr, pjsip's bind): Asterisk keeps the last value of each, as it does for the compose ones.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from pathlib import Path

from tests.deploy.compose import ASTERISK_ETC, DEPLOY_ASTERISK, ENV_EXAMPLE, load_compose, mounts, read_env_file
from tests.real_asterisk.pbx import AMI_PORT, RealAsterisk, binaries

SECRET = "compose-test-secret"
EXTERNAL = "203.0.113.10"


def _lay_out(etc: Path) -> dict[str, str]:
    """Copies what docker-compose.yml mounts under /etc/asterisk into `etc`; the asterisk service's environment."""
    asterisk = load_compose({**read_env_file(ENV_EXAMPLE), "CALLCENTER_AMI_SECRET": SECRET,
                             "ASTERISK_EXTERNAL_ADDRESS": EXTERNAL})["services"]["asterisk"]
    for mount in mounts(asterisk):
        if mount.is_bind and mount.target.is_relative_to(ASTERISK_ETC):
            dest = etc / mount.target.relative_to(ASTERISK_ETC)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(mount.host_path(), dest)
    return {k: str(v) for k, v in asterisk["environment"].items()}


async def _ami_login(secret: str) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", AMI_PORT)
    try:
        await reader.readline()  # Asterisk Call Manager/x.y
        writer.write(f"Action: Login\r\nUsername: callcenter\r\nSecret: {secret}\r\n\r\n".encode())
        await writer.drain()
        return (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)).decode()
    finally:
        writer.close()


async def test_compose_asterisk_loads_our_dialplan_with_the_compose_settings(tmp_path: Path) -> None:
    binary, _ = binaries()
    assert binary is not None
    pbx = RealAsterisk(binary=binary, root=tmp_path / "pbx", phones={})
    pbx.write_configs()  # asterisk.conf (this run's folders), modules.conf, logger.conf: what the image brings
    environment = _lay_out(pbx.etc)
    # the container's entry, with the image's entrypoint replaced by `true`
    subprocess.run(["sh", str(DEPLOY_ASTERISK / "start.sh")], check=True, timeout=30,
                   env={"PATH": os.environ["PATH"], **environment, "ASTERISK_CONFIG_DIR": str(pbx.etc),
                        "IMAGE_ENTRYPOINT": "true"})
    with (pbx.etc / "manager.conf").open("a") as fh:
        fh.write("\n[general](+)\nbindaddr = 127.0.0.1\n")
    with (pbx.etc / "pjsip.conf").open("a") as fh:
        fh.write("\n[transport-udp](+)\nbind = 127.0.0.1:5060\n")
    pbx.write_configs = lambda: None  # type: ignore[method-assign]  # start() must not lay it out again
    await pbx.start()
    try:
        globals_ = await pbx.cli("dialplan show globals")
        assert "CC_AGI_HOSTPORT=callcenter-agi:4573" in globals_, globals_
        assert "CC_FALLBACK_QUEUE=support" in globals_  # the shipped globals are there too
        for context in ("cc-inbound", "cc-campaign", "from-trunk", "from-internal"):
            assert f"'{context}'" in await pbx.cli(f"dialplan show {context}"), context
        assert "support" in await pbx.cli("queue show support")
        assert "app_amd.so" in await pbx.cli("module show like app_amd")  # amd.conf mounted: it loads

        user = await pbx.cli("manager show user callcenter")
        assert "172.30.0.0/255.255.255.0" in user, user
        assert "Response: Success" in await _ami_login(SECRET)
        assert "Response: Error" in await _ami_login("change-me")  # the shipped sample secret no longer works

        transport = await pbx.cli("pjsip show transport transport-udp")
        assert transport.count(EXTERNAL) == 2, transport  # media and signalling address
        assert "local_net" in transport and "172.30.0.0" in transport, transport
        rtp = await pbx.cli("rtp show settings")
        assert "10000" in rtp and "10199" in rtp, rtp
    finally:
        await pbx.stop()
