"""`gonogo sandbox`: the local reference environment in the foreground, its faults and dialects."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gonogo.cli.common import (
    EXIT_OK,
    Parser,
    add_option,
    interrupt,
)
from gonogo.options import DIALECT, FAULT


def add_sandbox(sub: Any) -> None:
    sandbox = sub.add_parser("sandbox", help="the local reference environment")
    actions = sandbox.add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=Parser
    )
    up = actions.add_parser("up", help="start the stack in the foreground until Ctrl-C")
    add_option(up, FAULT, dest="fault")
    add_option(up, DIALECT, dest="dialect")
    up.add_argument(
        "--for",
        dest="seconds",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop by itself after this long (default: run until Ctrl-C)",
    )
    actions.add_parser("faults", help="list the faults the sandbox can inject")
    actions.add_parser("dialects", help="list the ways the sandbox can speak as another stack")
    sandbox.set_defaults(handler=_sandbox)


def _sandbox(args: argparse.Namespace) -> int:
    from gonogo.sandbox import dialects, faults

    if args.action == "faults":
        print("faults (--fault NAME[=VALUE], or POST /api/admin/faults at run time):")
        for line in faults.describe():
            print(f"  {line}")
        return EXIT_OK
    if args.action == "dialects":
        print("dialects (--dialect NAME; healthy either way, the env's settings follow):")
        for line in dialects.describe():
            print(f"  {line}")
        return EXIT_OK
    chosen = dialects.parse_all(args.dialect)
    return _sandbox_up(faults.parse_all(args.fault), args.seconds, chosen)


def _sandbox_up(
    chosen: dict[str, str | None], seconds: float | None, dialects: list[str] | None = None
) -> int:
    import signal

    from gonogo.config import EnvSettings
    from gonogo.run.envs import opened
    from gonogo.sandbox import require

    require("local")  # before anything is said: nothing starts without the sandbox extra
    local = EnvSettings(name="local", sandbox=True, production=False)
    # SIGTERM ends the wait like Ctrl-C does, so every child is stopped on the way out.
    signal.signal(signal.SIGTERM, interrupt)
    try:
        with opened(local, faults=chosen, dialects=dialects, edge=True) as env:
            _serve(env, chosen, seconds)
    except KeyboardInterrupt:
        pass
    finally:
        print("gonogo sandbox stopped", flush=True)
    return EXIT_OK


def _serve(env: Any, chosen: dict[str, str | None], seconds: float | None) -> None:
    """Say where everything is (tokens as files, never printed), then wait."""
    import time

    from gonogo.sandbox.tokens import ROLES

    info = env.sandbox
    folder = Path(info.workdir)
    for role in ROLES:
        path = folder / f"token-{role}"
        path.write_text(info.token(role))
        path.chmod(0o600)
    names = ", ".join(chosen) or "none"
    print(f"gonogo sandbox up in {info.startup_s['total']:.1f} s (faults: {names})")
    print(f"  gateway     {info.base_url}  (/healthz /readyz /api/ping /graphql /metrics)")
    if info.dialects:
        print(f"  dialects    {', '.join(info.dialects)}")
    if info.metrics_url:
        print(f"  metrics     {info.metrics_url}")
    if info.public_url:
        print(
            f"  edge        {info.public_url}  (Traefik: blue {info.blue_url}, green the gateway;"
            f" its API and /metrics at {info.edge_internal_url})"
        )
    print(f"  graph       {info.bolt_uri}  (user falkordb, database falkordb)")
    topics = f"{info.ingest_topic}, {info.canary_topic}"
    print(f"  kafka       {info.kafka_bootstrap}  (topics {topics})")
    print(f"  postgres    {info.postgres_dsn}")
    if info.prometheus_url:
        print(f"  prometheus  {info.prometheus_url}")
    print(f"  logs        {info.logs}")
    print(f"  tokens      {folder}/token-{{{','.join(ROLES)}}}  (files, mode 0600; never printed)")
    print(
        f'  try: curl -H "Authorization: Bearer $(cat {folder}/token-analyst)" '
        f"{info.base_url}/api/ping"
    )
    print("Ctrl-C stops everything.", flush=True)
    deadline = None if seconds is None else time.monotonic() + seconds
    while deadline is None or time.monotonic() < deadline:
        time.sleep(0.2)
