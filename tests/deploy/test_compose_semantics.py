"""What docker-compose's own validation cannot see: that the processes of docker-compose.yml fit together.

The AMI host the services dial is a service whose manager.conf lets the compose network in; the FastAGI address in
the dialplan reaches every service instance; the shipped dialplan files are the ones Asterisk loads; every
CALLCENTER_* variable is a setting and its value passes the settings' validation; the volumes are shared where one
process reads what another writes; the migrations run once before the services start; no secret is committed.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
import tomllib
from fnmatch import fnmatch
from pathlib import PurePosixPath
from typing import Any

import pytest

from callcenter.config import ENV_NESTED, ENV_PREFIX, Settings, load_settings
from tests.deploy.compose import (
    ASTERISK_ETC,
    COMPOSE_FILE,
    DEPLOY_ASTERISK,
    ENV_EXAMPLE,
    REPO,
    SHIPPED,
    command,
    config_sections,
    includes,
    interpolate,
    load_compose,
    mounts,
    read_env_file,
    required_variables,
    services_running,
    settings_of,
)

# Written by deploy/asterisk/start.sh at container start (from the environment), so no repository file backs them.
WRITTEN_AT_START = {"manager_secret.conf", "pjsip_nat.conf"}
# The config files Asterisk itself opens by these names (the rest only through #include).
ASTERISK_READS = ("extensions.conf", "manager.conf", "pjsip.conf", "queues.conf", "features.conf", "amd.conf",
                  "rtp.conf")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    instances = services_running(compose, "callcenter", "serve")
    assert len(instances) >= 2, f"the multi-instance design needs two service instances, found {sorted(instances)}"
    return instances


def _ours(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The services that run the callcenter image."""
    return {name: s for name, s in compose["services"].items() if command(s)[:1] == ["callcenter"]}


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment as a mapping expected"
    return {key: str(value) for key, value in env.items()}


def _subnet(compose: dict[str, Any], network: str) -> ipaddress.IPv4Network:
    (config,) = compose["networks"][network]["ipam"]["config"]
    return ipaddress.ip_network(config["subnet"])


def _networks(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    value = service.get("networks", {})
    return {name: {} for name in value} if isinstance(value, list) else {k: v or {} for k, v in value.items()}


def _asterisk_files(asterisk: dict[str, Any]) -> dict[PurePosixPath, Any]:
    """Container path -> repository file, for every file mounted into the asterisk container."""
    return {m.target: m.host_path() for m in mounts(asterisk) if m.is_bind}


def test_every_service_is_on_the_one_network_with_a_fixed_subnet(compose: dict[str, Any]) -> None:
    (network,) = compose["networks"]
    assert _subnet(compose, network).is_private
    for name, service in compose["services"].items():
        assert "network_mode" not in service, f"{name}: all on the bridge network, reached by service name"
        assert set(_networks(service)) == {network}, name


def test_the_ami_host_is_the_asterisk_service_and_its_manager_conf_lets_the_services_in(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    asterisk = compose["services"]["asterisk"]
    files = _asterisk_files(asterisk)
    manager = files[ASTERISK_ETC / "manager.conf"]
    subnet = _subnet(compose, *compose["networks"])
    shipped_user = next(s for s, _ in config_sections(SHIPPED / "manager.conf") if s != "general")
    for name, service in services.items():
        env = _env(service)
        assert env["CALLCENTER_AMI__HOST"] == "asterisk", name
        assert env["CALLCENTER_AMI__USERNAME"] == shipped_user, name
        assert env.get("CALLCENTER_AMI__PORT", "5038") == settings_of(SHIPPED / "manager.conf", "general", "port")[-1]
    # manager.c applies every line of a section in order: the last bindaddr wins, permits add to the shipped ACL
    assert settings_of(manager, "general", "bindaddr")[-1] == "0.0.0.0"
    permits = [ipaddress.ip_network(p) for p in settings_of(manager, shipped_user, "permit")]
    assert subnet in permits, f"manager.conf permits {permits}, the compose network is {subnet}"
    assert "5038" not in str(asterisk.get("ports", [])), "AMI is clear text: never published"


def test_the_dialplans_fastagi_address_reaches_every_service_instance(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    files = _asterisk_files(compose["services"]["asterisk"])
    entry = files[ASTERISK_ETC / "extensions.conf"]
    # pbx_config sets the variables of every [globals] section in file order: the entry's come after the include
    hostport = settings_of(entry, "globals", "CC_AGI_HOSTPORT")[-1]
    host, _, port = hostport.partition(":")
    (network,) = compose["networks"]
    for name, service in services.items():
        env = _env(service)
        assert env["CALLCENTER_AGI__HOST"] == "0.0.0.0", name
        assert env["CALLCENTER_AGI__PORT"] == port, name
        assert host in _networks(service)[network].get("aliases", []), f"{name} does not answer for {host}"


def test_asterisk_loads_the_shipped_files_and_nothing_else_of_the_dialplans(compose: dict[str, Any]) -> None:
    files = _asterisk_files(compose["services"]["asterisk"])
    for target, source in files.items():
        assert source.is_file(), f"{target} is mounted from {source}, which does not exist"
        assert source.parent in (SHIPPED, DEPLOY_ASTERISK), f"{target}: from {source}"
    # follow what Asterisk opens and every #include, resolved as Asterisk does: from its config directory
    reached, missing = set(), set()
    todo = [ASTERISK_ETC / name for name in ASTERISK_READS]
    while todo:
        target = todo.pop()
        if target not in files:
            missing.add(target.name)
            continue
        if files[target] in reached:
            continue
        reached.add(files[target])
        todo += [ASTERISK_ETC / path for path in includes(files[target])]
    assert missing == WRITTEN_AT_START
    start = (DEPLOY_ASTERISK / "start.sh").read_text()
    assert all(f'"$etc/{name}"' in start for name in WRITTEN_AT_START)
    shipped = {p.resolve() for p in SHIPPED.glob("*.conf")}
    assert shipped <= reached, f"shipped but never loaded: {sorted(p.name for p in shipped - reached)}"
    assert reached <= shipped | {p.resolve() for p in DEPLOY_ASTERISK.glob("*.conf")}


def test_the_deploy_overrides_change_only_what_compose_needs() -> None:
    """The compose entries add to the shipped files; the AMI classes and the queues stay the shipped ones."""
    manager = DEPLOY_ASTERISK / "manager.conf"
    assert {k for _, lines in config_sections(manager) for k, _ in lines} == {"bindaddr", "permit"}
    assert {k for _, lines in config_sections(DEPLOY_ASTERISK / "extensions.conf") for k, _ in lines} == {
        "CC_AGI_HOSTPORT"}
    assert includes(manager)[0] == "callcenter/manager.conf"
    assert includes(DEPLOY_ASTERISK / "extensions.conf") == ["callcenter/extensions.conf"]
    assert includes(DEPLOY_ASTERISK / "pjsip.conf")[0] == "callcenter/pjsip.conf"


def test_sip_and_the_whole_rtp_range_are_published(compose: dict[str, Any]) -> None:
    asterisk = compose["services"]["asterisk"]
    published = {str(p).split(":")[-1] for p in asterisk["ports"]}
    bind = settings_of(SHIPPED / "pjsip.conf", "transport-udp", "bind")[-1]
    assert f"{bind.rpartition(':')[2]}/udp" in published
    rtp = DEPLOY_ASTERISK / "rtp.conf"
    start, end = settings_of(rtp, "general", "rtpstart")[-1], settings_of(rtp, "general", "rtpend")[-1]
    assert f"{start}-{end}/udp" in published
    # the NAT settings: the local net start.sh writes is the compose network
    assert asterisk["environment"]["ASTERISK_LOCAL_NET"] == str(_subnet(compose, *compose["networks"]))


def _setting_exists(path: tuple[str, ...]) -> bool:
    model: Any = Settings
    for part in path:
        fields = getattr(model, "model_fields", None)
        if fields is None or part not in fields:
            return False
        model = fields[part].annotation
    return getattr(model, "model_fields", None) is None  # a value, not a whole section


def test_every_callcenter_variable_is_a_setting_and_its_value_is_valid(compose: dict[str, Any]) -> None:
    for name, service in _ours(compose).items():
        env = {k: v for k, v in _env(service).items() if k.startswith(ENV_PREFIX)}
        assert env, name
        for variable in env:
            path = tuple(part.lower() for part in variable[len(ENV_PREFIX):].split(ENV_NESTED))
            assert _setting_exists(path), f"{name}: {variable} is no setting of callcenter/config.py"
        load_settings(environ=env)  # raises ConfigError naming the variable when a value is bad


def test_the_services_read_asterisks_spool_where_asterisk_writes_it(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    asterisk_spool = next(m for m in mounts(compose["services"]["asterisk"]) if not m.is_bind)
    assert asterisk_spool.target == PurePosixPath("/var/spool/asterisk"), "the image's astspooldir"
    assert asterisk_spool.source in compose["volumes"]
    for name, service in services.items():
        settings = load_settings(environ=_env(service))
        spool = PurePosixPath(settings.recording.spool_dir)
        assert spool == PurePosixPath(settings.recording.asterisk_spool_dir) == asterisk_spool.target / "monitor"
        (mount,) = [m for m in mounts(service) if m.source == asterisk_spool.source]
        assert mount.target == asterisk_spool.target, name
        assert settings.recording.delete_from_spool or mount.read_only, name


def test_the_recording_store_is_one_volume_for_the_services_and_the_workers(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    workers = services_running(compose, "callcenter", "worker")
    assert workers
    volumes = set()
    for name, service in {**services, **workers}.items():
        store = PurePosixPath(load_settings(environ=_env(service)).recording.store_dir)
        (mount,) = [m for m in mounts(service) if m.target == store]
        assert not mount.is_bind and not mount.read_only, name
        volumes.add(mount.source)
    assert len(volumes) == 1 and volumes <= set(compose["volumes"])
    postgres = compose["services"]["postgres"]
    assert any(not m.is_bind and m.target == PurePosixPath("/var/lib/postgresql/data") for m in mounts(postgres))


def test_migrations_run_once_before_the_services_and_workers_start(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    (migrate,) = services_running(compose, "callcenter", "migrate")
    assert compose["services"][migrate].get("restart") == "no"
    for name, service in {**services, **services_running(compose, "callcenter", "worker")}.items():
        assert load_settings(environ=_env(service)).database.migrate_on_start is False, name
        depends = service["depends_on"]
        assert depends[migrate] == {"condition": "service_completed_successfully"}, name
        assert depends["postgres"] == {"condition": "service_healthy"}, name
    for name, service in services.items():
        assert service["depends_on"]["redis"] == {"condition": "service_healthy"}, name
        port = load_settings(environ=_env(service)).http.port
        assert f"127.0.0.1:{port}/healthz" in " ".join(service["healthcheck"]["test"]), name
        assert all(str(p).endswith(f":{port}") for p in service["ports"]), name
    for name in ("postgres", "redis"):
        assert compose["services"][name]["healthcheck"]["test"], name


def test_no_secret_is_committed() -> None:
    text = COMPOSE_FILE.read_text()
    raw = load_compose(env={name: f"<{name}>" for name in required_variables(text)})
    for name, service in raw["services"].items():
        for key, value in _env(service).items():
            if re.search(r"SECRET|PASSWORD", key):
                assert re.fullmatch(r"<[A-Z_]+>", value), f"{name}: {key} must come from the environment"
    # every variable compose requires is in .env.example, and nothing starts without it
    example = read_env_file(ENV_EXAMPLE)
    assert required_variables(text) >= {"POSTGRES_PASSWORD", "CALLCENTER_AMI_SECRET"}
    for variable in required_variables(text):
        assert example.get(variable), f"{variable} is missing from .env.example"
        with pytest.raises(KeyError, match=variable):
            interpolate(text, {k: v for k, v in example.items() if k != variable})
    # .env itself is never committed
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO, check=False)
    assert ignored.returncode == 0, ".env must be in .gitignore"


def test_the_image_holds_every_file_the_package_needs() -> None:
    """Every tracked file of the packages that is not Python is package data (pyproject.toml), so `pip install .`
    in the Dockerfile installs it; and the Dockerfile copies what pyproject.toml's build reads."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    globs = [f"{package.replace('.', '/')}/{pattern}"
             for package, patterns in pyproject["tool"]["setuptools"]["package-data"].items() for pattern in patterns]
    tops = [pattern.rstrip("*") for pattern in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]]
    tracked = subprocess.run(["git", "ls-files", *tops], cwd=REPO, check=True, capture_output=True, text=True)
    data = [path for path in tracked.stdout.split() if not path.endswith(".py")]
    assert data, "no package data found: is this a git checkout?"
    missing = [path for path in data if not any(fnmatch(path, pattern) for pattern in globs)]
    assert not missing, f"not package data in pyproject.toml, so not in the image: {missing}"
    dockerfile = (REPO / "Dockerfile").read_text()
    for top in tops:
        assert re.search(rf"^COPY {top} {top}$", dockerfile, re.MULTILINE), top
    assert re.search(r"^COPY pyproject.toml README.md ", dockerfile, re.MULTILINE)
    assert "pip install --no-cache-dir ." in dockerfile and "-e ." not in dockerfile
