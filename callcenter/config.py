"""Typed settings, loaded defaults -> TOML config file -> CALLCENTER_* environment variables.

Nested keys use a double underscore in the environment: ``database.url`` is ``CALLCENTER_DATABASE__URL``.
A bad value is reported with the key that carried it, so an operator knows what to fix.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from callcenter.automation.rules import Rule
from callcenter.mail.settings import MailSettings
from callcenter.recording.settings import RecordingSettings
from callcenter.reports.settings import ReportSettings
from callcenter.routing.settings import RoutingSettings
from callcenter.wallboard.settings import WallboardSettings

ENV_PREFIX = "CALLCENTER_"
ENV_NESTED = "__"
CONFIG_FILE_ENV = ENV_PREFIX + "CONFIG"


class ConfigError(Exception):
    """A setting has a bad value or the config file cannot be read; the message names the key."""


def _split_csv(value: Any) -> Any:
    # Environment variables carry lists as "a,b,c"; a TOML file gives a real list.
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///var/callcenter.sqlite3"
    echo: bool = False
    pool_size: int = Field(default=10, ge=1, le=500)
    # Convenient for the embedded default; production runs `callcenter migrate` as a deploy step instead.
    migrate_on_start: bool = True


class RedisSettings(_Section):
    # Empty means "one process": live state stays in memory.
    url: str = ""


class HttpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    shutdown_timeout_s: float = Field(default=10.0, gt=0)


class AmiSettings(_Section):
    # Empty host means "no Asterisk configured": the built-in simulator stands in.
    host: str = ""
    port: int = Field(default=5038, ge=1, le=65535)
    username: str = "callcenter"
    secret: str = ""
    ping_interval_s: float = Field(default=10.0, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)


class AgiSettings(_Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(default=4573, ge=0, le=65535)
    time_budget_ms: int = Field(default=300, ge=10, le=10_000)
    default_queue: str = "support"
    queue_timeout_s: int = Field(default=300, ge=1)


class DialerConfig(_Section):
    """The campaign runner (callcenter/dialer/runner.py); runs whenever an AMI session is configured."""

    enabled: bool = True
    tick_s: float = Field(default=1.0, gt=0, le=60)
    lease_ttl_s: float = Field(default=10.0, ge=2, le=600)
    trunk: str = Field(default="trunk", pattern=r"^[A-Za-z0-9_.-]{1,64}$")  # the PJSIP endpoint customers are dialled on
    agent_ring_s: int = Field(default=2, ge=1, le=30)
    lost_grace_s: float = Field(default=60.0, ge=5, le=3600)


class WorkerSettings(_Section):
    """The CRM writer, recording ingest, agent log and automation, fed from the durable outbox (docs/architecture.md
    "Processes"). ``in_process``: `callcenter serve` runs them too (the embedded default, one command); false: run
    `callcenter crm-worker` processes beside it (production)."""

    in_process: bool = True
    lease_s: float = Field(default=15.0, gt=0, le=600)  # a worker silent this long hands the outbox to another
    poll_s: float = Field(default=0.2, gt=0, le=60)  # how often a worker in another process looks for new rows


class CallSettings(_Section):
    # After-call work: the agent is offered no new call for this long after hanging up.
    wrapup_s: float = Field(default=0.0, ge=0, le=3600)


class DeskPhoneSettings(_Section):
    """Agents' desk phones (callcenter/deskphone): the pause reason codes dialled as *46<code>."""

    # code (1-4 digits) -> reason text, as shown on the agent page and the wallboard; *46 alone pauses without one
    pause_reasons: dict[str, str] = Field(default_factory=lambda: {"1": "lunch", "2": "training", "3": "break"})

    @field_validator("pause_reasons")
    @classmethod
    def _reasons(cls, value: dict[str, str]) -> dict[str, str]:
        from callcenter.deskphone.features import parse_pause_reasons

        return parse_pause_reasons(value)


class CrmSettings(_Section):
    default_region: str = "US"
    # The company's own numbers (DIDs, switchboard, agent extensions) never become CRM records.
    company_numbers: list[str] = Field(default_factory=list)

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str) -> str:
        import phonenumbers

        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown region {value!r}; use an ISO 3166 code such as DE, GB or US")
        return region

    # Calls from unknown numbers become leads: on every call, only on missed ones, or never (per DID overrides).
    lead_on_unknown: Literal["all", "missed", "never"] = "all"
    lead_policy_by_did: dict[str, Literal["all", "missed", "never"]] = Field(default_factory=dict)
    lead_exclude_numbers: list[str] = Field(default_factory=list)
    outbound_leads: bool = False
    # A missed call's callback is due this long after the call.
    callback_sla_s: float = Field(default=900.0, gt=0)

    _csv = field_validator("company_numbers", "lead_exclude_numbers", mode="before")(_split_csv)


class AutomationSettings(_Section):
    """Rules "when <fact> [if ...] then webhook | task | notify"; see README for examples."""

    rules: list[Rule] = Field(default_factory=list)
    # Numbers that get VIP treatment (rules' if_vip, and routing's queue priority).
    vip_numbers: list[str] = Field(default_factory=list)
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=120)
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    webhook_base_backoff_s: float = Field(default=10.0, gt=0)
    overdue_scan_interval_s: float = Field(default=30.0, gt=0)

    _csv = field_validator("vip_numbers", mode="before")(_split_csv)

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: list[Rule]) -> list[Rule]:
        names = [r.name for r in rules]
        if len(set(names)) != len(names):
            raise ValueError("rule names must be unique (they key what each rule already did)")
        return rules


class LogSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # "json": one JSON object per line (time, level, logger, message, call_id, exception) for a log shipper.
    format: Literal["text", "json"] = "text"
    as_json: bool = False  # the older spelling of format = "json"

    @property
    def is_json(self) -> bool:
        return self.format == "json" or self.as_json

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


class Settings(_Section):
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    redis: RedisSettings = Field(default_factory=RedisSettings)
    http: HttpSettings = Field(default_factory=HttpSettings)
    ami: AmiSettings = Field(default_factory=AmiSettings)
    agi: AgiSettings = Field(default_factory=AgiSettings)
    dialer: DialerConfig = Field(default_factory=DialerConfig)
    calls: CallSettings = Field(default_factory=CallSettings)
    workers: WorkerSettings = Field(default_factory=WorkerSettings)
    deskphone: DeskPhoneSettings = Field(default_factory=DeskPhoneSettings)
    crm: CrmSettings = Field(default_factory=CrmSettings)
    automation: AutomationSettings = Field(default_factory=AutomationSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    recording: RecordingSettings = Field(default_factory=RecordingSettings)
    reports: ReportSettings = Field(default_factory=ReportSettings)
    mail: MailSettings = Field(default_factory=MailSettings)
    wallboard: WallboardSettings = Field(default_factory=WallboardSettings)
    log: LogSettings = Field(default_factory=LogSettings)


def _env_layer(environ: Mapping[str, str]) -> tuple[dict[str, Any], dict[tuple[str, ...], str]]:
    """Nested dict from CALLCENTER_* variables, and which variable set each key path."""
    layer: dict[str, Any] = {}
    origin: dict[tuple[str, ...], str] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == CONFIG_FILE_ENV:
            continue
        path = tuple(part.lower() for part in name[len(ENV_PREFIX):].split(ENV_NESTED))
        if not all(path):
            raise ConfigError(f"{name}: malformed variable name (use CALLCENTER_SECTION__KEY)")
        node = layer
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{name}: {'.'.join(path[:-1])} is a value, not a section")
            node = child
        node[path[-1]] = value
        origin[path] = name
    return layer, origin


def _merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _read_file(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc.strerror}") from None


def load_settings(
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    environ = os.environ if environ is None else environ
    file_name = config_file or environ.get(CONFIG_FILE_ENV) or None
    file_layer = _read_file(Path(file_name)) if file_name else {}
    env_layer, env_origin = _env_layer(environ)
    try:
        return Settings.model_validate(_merge(file_layer, env_layer))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, env_origin, file_name)) from None


def _describe(exc: ValidationError, env_origin: Mapping[tuple[str, ...], str], file_name: Any) -> str:
    lines = []
    for error in exc.errors():
        path = tuple(str(part) for part in error["loc"] if not isinstance(part, int))
        key = ".".join(path)
        source = env_origin.get(path) or (f"{key} in {file_name}" if file_name else key)
        if error["type"] == "extra_forbidden":
            lines.append(f"{source}: unknown setting {key!r}")
        else:
            shown = json.dumps(error.get("input"), default=str)[:80]
            lines.append(f"{source}: {error['msg']} (got {shown})")
    return "bad configuration: " + "; ".join(lines)
