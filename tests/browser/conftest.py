"""Real headless Chromium (Debian's package, driven by Playwright) for tests that assert what a person sees.

Screenshots go to test-artifacts/screenshots/ at the repository root so CI keeps them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import IN_CI, REPO

SCREENSHOTS = REPO / "test-artifacts" / "screenshots"


def chromium_path() -> str | None:
    wanted = os.environ.get("CALLCENTER_TEST_CHROMIUM")
    if wanted:
        return wanted
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
async def browser() -> AsyncIterator[object]:
    """A fresh Chromium per test. Outside CI a missing Chromium skips (apt install chromium); in CI it fails."""
    executable = chromium_path()
    if executable is None:
        message = "Chromium is not installed (apt install chromium, or set CALLCENTER_TEST_CHROMIUM)"
        if IN_CI:
            pytest.fail(message + " (CI=true: browser tests must run)")
        pytest.skip(message)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            await chromium.close()


def screenshot_path(name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS / f"{name}.png"


async def login_url(http: object, page: str, port: int) -> str:
    """A one-time login link for the client's own token (tokens never go in URLs): ``page`` is "agent" or
    "wallboard"."""
    async with http.post("/api/v1/auth/login-link") as resp:  # type: ignore[attr-defined]
        assert resp.status == 201, await resp.text()
        link = await resp.json()
    return f"http://127.0.0.1:{port}{link[page + '_url']}"
