"""docker-compose's own validation of the repository's compose file (Debian's docker-compose 1.29, or the
`docker compose` plugin where there is one). Outside CI a machine without either skips; in CI (CI=true) it fails:
.ci/run installs Debian's docker-compose. Neither needs a Docker daemon for `config`."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.deploy.compose import COMPOSE_FILE, ENV_EXAMPLE, REPO

IN_CI = os.environ.get("CI", "").lower() == "true"


def _compose_command() -> list[str]:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    message = "neither `docker compose` nor `docker-compose` is installed (apt-get install docker-compose)"
    if IN_CI:
        pytest.fail(message + "; CI=true: the compose file must be validated")
    pytest.skip(message)


def _config(env_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # the variables come from env_file only: none of the machine's own, nor a developer's .env
    environ = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL")}
    return subprocess.run(
        [*_compose_command(), "--env-file", str(env_file), "--project-directory", str(REPO), "-f", str(COMPOSE_FILE),
         "config", *args],
        cwd=REPO, env=environ, capture_output=True, text=True, timeout=120, check=False,
    )


def test_compose_config_is_valid_with_the_example_environment() -> None:
    result = _config(ENV_EXAMPLE, "-q")
    assert result.returncode == 0, result.stderr
    services = _config(ENV_EXAMPLE, "--services")
    assert services.returncode == 0, services.stderr
    assert {"asterisk", "callcenter-1", "callcenter-2", "worker", "migrate", "postgres", "redis"} <= set(
        services.stdout.split())


def test_compose_refuses_to_start_without_the_secrets(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("")
    result = _config(empty, "-q")
    assert result.returncode != 0
    assert "POSTGRES_PASSWORD" in result.stderr or "CALLCENTER_AMI_SECRET" in result.stderr, result.stderr
