"""Settings: defaults -> TOML file -> CALLCENTER_* environment, and bad values name their key."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.config import ConfigError, load_settings


def test_defaults_are_the_embedded_setup() -> None:
    settings = load_settings(environ={})
    assert settings.database.url.startswith("sqlite+aiosqlite:")
    assert settings.redis.url == "" and settings.ami.host == ""
    assert settings.agi.time_budget_ms == 300


def test_file_then_environment(tmp_path: Path) -> None:
    config = tmp_path / "cc.toml"
    config.write_text('[http]\nport = 9000\nhost = "0.0.0.0"\n[crm]\ncompany_numbers = ["+1 212 555 0100"]\ndefault_region = "de"\n')
    settings = load_settings(config, environ={"CALLCENTER_HTTP__PORT": "9100"})
    assert settings.http.port == 9100  # environment wins over the file
    assert settings.http.host == "0.0.0.0"  # the file wins over the default
    assert settings.crm.company_numbers == ["+1 212 555 0100"]
    assert settings.crm.default_region == "DE"
    env_file = load_settings(environ={"CALLCENTER_CONFIG": str(config)})
    assert env_file.http.port == 9000


def test_lists_from_environment_are_comma_separated() -> None:
    settings = load_settings(environ={"CALLCENTER_CRM__COMPANY_NUMBERS": "+1 212 555 0100, 8050,"})
    assert settings.crm.company_numbers == ["+1 212 555 0100", "8050"]


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"CALLCENTER_HTTP__PORT": "eighty"}, "CALLCENTER_HTTP__PORT"),
        ({"CALLCENTER_HTTP__PORT": "70000"}, "CALLCENTER_HTTP__PORT"),
        ({"CALLCENTER_AGI__TIME_BUDGET_MS": "0"}, "CALLCENTER_AGI__TIME_BUDGET_MS"),
        ({"CALLCENTER_CRM__DEFAULT_REGION": "XX"}, "CALLCENTER_CRM__DEFAULT_REGION"),
        ({"CALLCENTER_LOG__LEVEL": "loud"}, "CALLCENTER_LOG__LEVEL"),
        ({"CALLCENTER_HTTP__PROT": "1"}, "CALLCENTER_HTTP__PROT"),
        ({"CALLCENTER_DATABASE__ECHO": "maybe"}, "CALLCENTER_DATABASE__ECHO"),
        ({"CALLCENTER_HTTP": "x", "CALLCENTER_HTTP__PORT": "1"}, "CALLCENTER_HTTP__PORT"),
        ({"CALLCENTER___": "1"}, "malformed"),
    ],
)
def test_bad_values_name_the_key(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(environ=environ)


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", environ={})
    broken = tmp_path / "broken.toml"
    broken.write_text("[http\nport=")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(broken, environ={})
    typo = tmp_path / "typo.toml"
    typo.write_text("[http]\nport = 'x'\n")
    with pytest.raises(ConfigError, match=r"http\.port in .*typo\.toml"):
        load_settings(typo, environ={})
