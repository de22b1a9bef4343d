"""The opt-in tier against a real Asterisk: runs when an `asterisk` binary (or CALLCENTER_TEST_ASTERISK) and `sipp`
(or CALLCENTER_TEST_SIPP) are found, otherwise every test here is skipped with the reason. Never required in CI: a CI
machine has no Asterisk, and building one is not the project's business (see README, "A real Asterisk")."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web

from callcenter.app import build_app
from callcenter.app_keys import AMI, BUS, DATABASE, ROUTING
from callcenter.config import load_settings
from callcenter.demo.crm_seed import TEAM, SeededCrm, seed_crm
from crm_core.access import Principal
from crm_core.db import Database
from crm_core.migrate import upgrade_async
from crm_core.models import Role
from crm_core.schemas import TokenIn, UserIn
from crm_core.users import create_token, create_user
from tests.floor import BusWatch
from tests.real_asterisk.pbx import AGI_PORT, AMI_PORT, AMI_SECRET, AmiTap, RealAsterisk, Sipp, binaries

WAIT_S = 30.0
PHONES = {"1002": 5072, "1003": 5073}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    asterisk, sipp = binaries()
    if asterisk is not None and sipp is not None:
        return
    missing = " and ".join(n for n, b in (("asterisk (or CALLCENTER_TEST_ASTERISK)", asterisk), ("sipp", sipp)) if b is None)
    skip = pytest.mark.skip(reason=f"real-Asterisk tier: {missing} not found (opt-in, never required in CI)")
    for item in items:
        if "real_asterisk" in str(item.fspath):
            item.add_marker(skip)


@dataclass(eq=False)
class Site(BusWatch):
    """A real Asterisk with the shipped configs, sipp desk phones, and the whole service beside it."""

    wait_s = WAIT_S
    pbx: RealAsterisk
    sipp: Sipp
    app: web.Application
    crm: SeededCrm
    port: int
    admin_token: str

    def __post_init__(self) -> None:
        BusWatch.__init__(self)

    @asynccontextmanager
    async def http(self) -> AsyncIterator[ClientSession]:
        headers = {"Authorization": f"Bearer {self.admin_token}"}
        async with ClientSession(f"http://127.0.0.1:{self.port}", headers=headers) as client:
            yield client


@pytest.fixture
def site_toml() -> str:
    """More service settings (TOML) for one test: override the fixture in a test module."""
    return ""


@pytest.fixture
def phone_scenarios() -> dict[str, tuple[str, int | None]]:
    """Desk phones that behave otherwise for one test: extension -> (scenario file in sipp/, the ms that fill its
    @HOLD_MS@ or None); the others are sipp's built-in UAS. Override (or parametrize) the fixture in a test module."""
    return {}


@pytest.fixture
async def site(tmp_path: Path, site_toml: str, phone_scenarios: dict[str, tuple[str, int | None]]) -> AsyncIterator[Site]:
    asterisk_bin, sipp_bin = binaries()
    assert asterisk_bin is not None and sipp_bin is not None
    pbx = RealAsterisk(binary=asterisk_bin, root=tmp_path / "asterisk", phones=PHONES)
    sipp = Sipp(binary=sipp_bin, root=tmp_path)
    url = f"sqlite+aiosqlite:///{tmp_path / 'cc.sqlite3'}"
    await upgrade_async(url)
    db = Database.from_url(url)
    crm = await seed_crm(db, extensions=list(PHONES), seed=7)
    async with db.session() as s:
        admin = await create_user(s, Principal.system(), UserIn(name="Ada Admin", role=Role.ADMIN))
        _, admin_token = await create_token(s, Principal.system(), TokenIn(user_id=admin.id, name="tier"))
    await db.dispose()
    config = tmp_path / "callcenter.toml"
    # The sample CRM's agents are in team "Sales"; that routing team uses the shipped dialplan's queue.
    config.write_text(f'[routing]\ndefault_team = "{TEAM}"\n\n[routing.teams.{TEAM}]\nqueue = "support"\n\n{site_toml}')
    await pbx.start()
    tap = AmiTap(tmp_path / "ami.log")  # what Asterisk published, for reading after a failure
    await tap.start()
    for ext, port in PHONES.items():
        scenario, hold_ms = phone_scenarios.get(ext, ("uas", None))
        await sipp.phone(ext, port, scenario=scenario, hold_ms=hold_ms)
    settings = load_settings(config, environ={
        "CALLCENTER_DATABASE__URL": url,
        "CALLCENTER_AMI__HOST": "127.0.0.1",
        "CALLCENTER_AMI__PORT": str(AMI_PORT),
        "CALLCENTER_AMI__USERNAME": "callcenter",
        "CALLCENTER_AMI__SECRET": AMI_SECRET,
        "CALLCENTER_AGI__PORT": str(AGI_PORT),
        "CALLCENTER_RECORDING__SPOOL_DIR": str(pbx.monitor_dir),
        "CALLCENTER_RECORDING__ASTERISK_SPOOL_DIR": str(pbx.monitor_dir),
        "CALLCENTER_RECORDING__STORE_DIR": str(tmp_path / "store"),
    })
    app = build_app(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    http = web.TCPSite(runner, "127.0.0.1", 0)
    await http.start()
    port = http._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    site = Site(pbx=pbx, sipp=sipp, app=app, crm=crm, port=port, admin_token=admin_token)
    app[BUS].subscribe(site.on_event)
    try:
        await app[AMI].wait_live(WAIT_S)
        yield site
    finally:
        await runner.cleanup()
        await tap.stop()
        await sipp.stop()
        await pbx.stop()


async def login_all(site: Site) -> None:
    async with site.http() as http:
        for ext in PHONES:
            async with http.post(f"/api/v1/agents/{ext}/login", json={}) as resp:
                assert resp.status == 200, await resp.text()
    await site.app[ROUTING].follower.join()


def now() -> float:
    return time.time()


__all__ = ["DATABASE", "PHONES", "Site", "WAIT_S", "login_all", "now"]
