"""The repository's docker-compose deployment read as data: the compose file (PyYAML, merge keys resolved), its
variables filled from .env.example as docker-compose fills them, and the Asterisk config files it mounts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DEPLOY_ASTERISK = REPO / "deploy" / "asterisk"
SHIPPED = REPO / "callcenter" / "dialplans"
ASTERISK_ETC = PurePosixPath("/etc/asterisk")

# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}; $$ is a literal dollar
_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")
_INCLUDE = re.compile(r'^\s*#(?:try)?include\s+"?(?P<path>[^"\s]+)"?', re.MULTILINE)


def read_env_file(path: Path) -> dict[str, str]:
    values = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable substitution on every string of a loaded compose document."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        present = name in env and (env[name] != "" or op is None or not op.startswith(":"))
        if present:
            return env[name]
        if op is not None and op.endswith("?"):
            raise KeyError(f"{name} is required: {arg}")
        return arg if op is not None else ""

    return _VARIABLE.sub(one, value)


def required_variables(text: str) -> set[str]:
    return {m.group("name") for m in _VARIABLE.finditer(text) if m.group("op") and m.group("op").endswith("?")}


@dataclass(frozen=True)
class Mount:
    source: str  # a named volume, or a host path relative to the repository
    target: PurePosixPath
    read_only: bool

    @property
    def is_bind(self) -> bool:
        return self.source.startswith((".", "/"))

    def host_path(self) -> Path:
        return (REPO / self.source).resolve()


def mounts(service: dict[str, Any]) -> list[Mount]:
    result = []
    for entry in service.get("volumes", []):
        assert isinstance(entry, str), f"short volume syntax expected, got {entry!r}"
        source, target, *mode = entry.split(":")
        result.append(Mount(source, PurePosixPath(target), "ro" in mode))
    return result


def load_compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    """docker-compose.yml with merge keys resolved and variables filled (from .env.example by default)."""
    document = yaml.safe_load(COMPOSE_FILE.read_text())
    return interpolate(document, read_env_file(ENV_EXAMPLE) if env is None else env)


def command(service: dict[str, Any]) -> list[str]:
    value = service.get("command", [])
    return value.split() if isinstance(value, str) else list(value)


def services_running(compose: dict[str, Any], *argv: str) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in compose["services"].items() if command(s)[: len(argv)] == list(argv)}


def config_sections(path: Path) -> list[tuple[str, list[tuple[str, str]]]]:
    """An Asterisk config file's sections in order ([name] and [name](+) alike), each with its name = value lines."""
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    for raw in path.read_text().splitlines():
        line = raw.split(";", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            sections.append((line[1: line.index("]")], []))
        elif sections and "=" in line:
            name, _, value = line.partition("=")
            sections[-1][1].append((name.strip().rstrip(">").strip(), value.strip()))
    return sections


def settings_of(path: Path, section: str, name: str) -> list[str]:
    """Every value of `name` in every `[section]` of the file, in order (the last one is what Asterisk keeps)."""
    return [value for sec, lines in config_sections(path) if sec == section for key, value in lines if key == name]


def includes(path: Path) -> list[str]:
    return [m.group("path") for m in _INCLUDE.finditer(path.read_text())]
