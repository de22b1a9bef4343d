"""Fixtures for the AMI frame splitter and typed-event tests: the real Asterisk captures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# tests/ami_events/conftest.py -> repo root is parents[2]; the captures live beside the clone.
TRACES = (Path(__file__).resolve().parents[2] / ".." / "shared" / "ami-traces").resolve()


@pytest.fixture(scope="session")
def traces_dir() -> Path:
    """../shared/ami-traces; missing -> skip locally, fail when CI=true (the ground truth must be there)."""
    if not TRACES.is_dir():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{TRACES} is missing; CI must provide ../shared/ami-traces beside the clone")
        pytest.skip(f"{TRACES} is missing")
    return TRACES


@pytest.fixture(scope="session")
def trace_files(traces_dir: Path) -> list[Path]:
    files = sorted(traces_dir.glob("*.ami"))
    assert len(files) >= 20, files
    return files
