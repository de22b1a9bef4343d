"""The `callcenter` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from callcenter import __version__
from callcenter.config import ConfigError, Settings, load_settings
from callcenter.recording.cli import add_commands as add_recording_commands


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def cmd_version(_args: argparse.Namespace) -> int:
    print(__version__)
    return 0


def _busy_ports(checks: list[tuple[str, str, int, str]]) -> bool:
    """Print one line per busy port (what, host, port, the flag that moves it); True when any is busy."""
    from callcenter.ports import in_use, in_use_message

    busy = [check for check in checks if in_use(check[1], check[2])]
    for what, host, port, flag in busy:
        print(in_use_message(what, host, port, flag), file=sys.stderr)
    return bool(busy)


def _address_in_use(exc: OSError) -> bool:
    import errno

    return exc.errno == errno.EADDRINUSE or "address already in use" in str(exc).lower()


def cmd_serve(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.agi_port is not None:
        settings = settings.model_copy(update={"agi": settings.agi.model_copy(update={"port": args.agi_port})})
    host = args.host or settings.http.host
    port = settings.http.port if args.port is None else args.port
    checks = [("HTTP", host, port, "--port")]
    if settings.agi.enabled:
        checks.append(("FastAGI", settings.agi.host, settings.agi.port, "--agi-port"))
    if _busy_ports(checks):
        return 1
    from aiohttp import web
    from sqlalchemy.engine import make_url

    from callcenter import logs
    from callcenter.app import build_app

    logs.setup(settings.log.level, as_json=settings.log.is_json)
    sim_settings = None
    if not settings.ami.host and not args.no_simulator:
        from callcenter.pbxsim.embedded import with_simulator_settings

        settings, sim_settings = with_simulator_settings(settings, monitor_dir=Path(args.simulator_spool))
    app = build_app(settings)
    if sim_settings is not None:
        from callcenter.app_keys import AGI
        from callcenter.pbxsim.embedded import embed_simulator

        # the simulator's dialplan reaches the FastAGI port the app bound (it knows no app keys: it is told)
        embed_simulator(app, sim_settings, agi_port=lambda started: started[AGI].port if AGI in started else None)
    # Which database this is matters: a token made by `add-user` or a demo works only against its own database.
    database = make_url(settings.database.url).render_as_string(hide_password=True)
    agi = f"FastAGI on {settings.agi.host}:{settings.agi.port}, " if settings.agi.enabled else ""
    try:
        # run_app handles SIGINT and SIGTERM: it stops accepting, drains requests, then runs the cleanup contexts.
        web.run_app(
            app,
            host=host,
            port=port,
            shutdown_timeout=settings.http.shutdown_timeout_s,
            print=lambda _msg: print(f"callcenter {__version__} serving on http://{host}:{port} ({agi}database "
                                     f"{database}; Ctrl-C stops)", flush=True),
        )
    except OSError as exc:
        if not _address_in_use(exc):
            raise
        # taken between the check and the bind: still one line, not a traceback
        print(f"callcenter: {exc.strerror or exc}: a port is in use (HTTP {port}, FastAGI {settings.agi.port}): "
              "stop what uses it or pass --port N / --agi-port N", file=sys.stderr)
        return 1
    print("callcenter stopped", flush=True)
    return 0


def cmd_crm_worker(args: argparse.Namespace) -> int:
    """The workers alone (CRM writer, recording ingest, agent log, automation), fed from the outbox that `serve`
    processes with ``workers.in_process = false`` write. Several may run: one holds each feed, the others take over."""
    settings = _settings(args)
    host = args.host or settings.http.host
    if _busy_ports([("HTTP", host, args.port, "--port")]):
        return 1
    from aiohttp import web

    from callcenter import logs
    from callcenter.app import build_worker_app

    logs.setup(settings.log.level, as_json=settings.log.is_json)
    web.run_app(build_worker_app(settings), host=host, port=args.port, shutdown_timeout=settings.http.shutdown_timeout_s,
                print=lambda _msg: print(f"callcenter {__version__} crm-worker (health and metrics on "
                                         f"http://{host}:{args.port}; Ctrl-C stops)", flush=True))
    print("callcenter crm-worker stopped", flush=True)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from crm_core import migrate

    settings = _settings(args)
    if args.revision.startswith("-") or args.down:
        migrate.downgrade(settings.database.url, args.revision)
    else:
        migrate.upgrade(settings.database.url, args.revision)
    print(f"database at {args.revision}")
    return 0


def cmd_admin(args: argparse.Namespace) -> int:
    """Create the first admin (or any user) and print an API token for them."""
    from crm_core.access import Principal
    from crm_core.db import Database
    from crm_core.migrate import upgrade
    from crm_core.models import Role
    from crm_core.schemas import TokenIn, UserIn
    from crm_core.users import create_metrics_token, create_token, create_user

    settings = _settings(args)
    upgrade(settings.database.url)

    async def run() -> dict[str, object]:
        db = Database.from_url(settings.database.url)
        try:
            async with db.session() as session:
                system = Principal.system()
                user = await create_user(session, system, UserIn(name=args.name, email=args.email, role=Role(args.role)))
                if args.metrics_only:
                    token, secret = await create_metrics_token(session, system, user_id=user.id, name="metrics")
                else:
                    token, secret = await create_token(session, system, TokenIn(user_id=user.id, name="cli"))
                return {"user_id": user.id, "role": user.role.value, "token": secret, "scope": token.scope}
        finally:
            await db.dispose()

    print(json.dumps(asyncio.run(run())))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """The whole system on this machine: sample CRM, the service, and the PBX simulator making calls."""
    import logging
    from pathlib import Path

    from callcenter import logs
    from callcenter.demo.run import DemoError, run_demo

    if _busy_ports([("HTTP", "127.0.0.1", args.port, "--port")]):
        return 1
    logs.setup("WARNING" if not args.verbose else "INFO")
    logging.getLogger("callcenter.pbxsim").setLevel(logging.INFO)
    try:
        asyncio.run(
            run_demo(
                duration_s=args.duration,
                seed=args.seed,
                data_dir=Path(args.data_dir),
                http_port=args.port,
                out=sys.stdout,
                speed=args.speed,
                rate_per_s=args.rate,
            )
        )
    except DemoError as exc:
        print(f"callcenter: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if not _address_in_use(exc):
            raise
        print(f"callcenter: port {args.port} is in use: stop what uses it or pass --port N", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        pass  # run_demo printed its summary on the way out
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """The simulator alone, against any running service (load-test routing without Asterisk)."""
    from pathlib import Path

    from callcenter.pbxsim.simulate import run_simulate

    try:
        asyncio.run(
            run_simulate(
                ami_port=args.ami_port,
                agi_host=args.agi_host,
                agi_port=args.agi_port,
                rate_per_s=args.rate,
                duration_s=args.duration,
                seed=args.seed,
                speed=args.speed,
                monitor_dir=Path(args.monitor_dir),
                secret=args.secret,
            )
        )
    except KeyboardInterrupt:
        pass
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from callcenter.calls.replay import main as replay_main

    return replay_main(args.files)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="callcenter", description="Contact-center server beside Asterisk.")
    top.add_argument("--config", help="TOML config file (else $CALLCENTER_CONFIG); environment CALLCENTER_* wins")
    sub = top.add_subparsers(dest="command", required=True)

    sub.add_parser("version", help="print the version").set_defaults(func=cmd_version)

    serve = sub.add_parser("serve", help="run the service (HTTP API, health)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int, help="HTTP port (else http.port, 8080)")
    serve.add_argument("--agi-port", type=int, help="FastAGI port (else agi.port, 4573; 0: any free port)")
    serve.add_argument("--no-simulator", action="store_true",
                       help="without ami.host, run without telephony instead of the built-in PBX simulator")
    serve.add_argument("--simulator-spool", default="var/monitor", help="where the simulator writes recordings")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("crm-worker", help="the CRM writer, recording ingest, agent log and automation, fed from "
                            "the outbox (beside `serve` processes run with workers.in_process = false)")
    worker.add_argument("--host")
    worker.add_argument("--port", type=int, default=8090, help="HTTP port of its /healthz, /readyz and /metrics")
    worker.set_defaults(func=cmd_crm_worker)

    mig = sub.add_parser("migrate", help="migrate the database schema (default: to the newest)")
    mig.add_argument("revision", nargs="?", default="head")
    mig.add_argument("--down", action="store_true", help="downgrade to REVISION (e.g. base)")
    mig.set_defaults(func=cmd_migrate)

    admin = sub.add_parser("add-user", help="create a user and print an API token")
    admin.add_argument("name")
    admin.add_argument("--email")
    admin.add_argument("--role", choices=["agent", "supervisor", "campaign_manager", "admin"], default="admin")
    admin.add_argument("--metrics-only", action="store_true",
                       help="the token reads GET /metrics and nothing else (scope metrics:read), for Prometheus")
    admin.set_defaults(func=cmd_admin)

    demo = sub.add_parser("demo", help="sample CRM + service + PBX simulator making calls (Ctrl-C stops)")
    demo.add_argument("--duration", type=float,
                      help="place calls for this many seconds, then wind down (about 15 s at most) and print the summary")
    demo.add_argument("--seed", type=int, default=1)
    demo.add_argument("--data-dir", default="var/demo", help="the demo's folder, replaced at each run")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--speed", type=float, default=1.0,
                      help="simulated seconds per wall second (above 1 the wallboard's clocks lag the calls)")
    demo.add_argument("--rate", type=float,
                      help="new calls per simulated second (default: the rate that keeps the agents 75%% busy)")
    demo.add_argument("--verbose", action="store_true")
    demo.set_defaults(func=cmd_demo)

    sim = sub.add_parser("simulate", help="run only the PBX simulator against a running service")
    sim.add_argument("--ami-port", type=int, default=5038)
    sim.add_argument("--agi-host", default="127.0.0.1")
    sim.add_argument("--agi-port", type=int, default=4573)
    sim.add_argument("--rate", type=float, default=1.0, help="calls per simulated second")
    sim.add_argument("--duration", type=float)
    sim.add_argument("--seed", type=int, default=1)
    sim.add_argument("--speed", type=float, default=1.0)
    sim.add_argument("--monitor-dir", default="var/recordings")
    sim.add_argument("--secret", default="callcenter")
    sim.set_defaults(func=cmd_simulate)

    replay = sub.add_parser("replay", help="replay a recorded AMI stream through the parser and call tracker")
    replay.add_argument("files", nargs="+")
    replay.set_defaults(func=cmd_replay)

    add_recording_commands(sub)  # worker, transcribe
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"callcenter: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
