"""`gonogo load-worker`: a load worker on another machine, for a run's master."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from gonogo.errors import ConfigError
from gonogo.vocabulary import parse_duration


def add_worker(sub: Any) -> None:
    worker = sub.add_parser(
        "load-worker",
        help="run a load worker for a master on another machine ([load] remote_workers)",
    )
    worker.add_argument(
        "--master",
        required=True,
        metavar="HOST:PORT",
        help="the gonogo run's load master ([load] master); the bearer token comes from "
        "$GONOGO_LOAD_TOKEN, a graph password from $GONOGO_LOAD_GRAPH_PASSWORD",
    )
    worker.add_argument(
        "--connect-timeout",
        default="60s",
        metavar="DURATION",
        help="give up when the master cannot be reached within this (default 60s; the worker "
        "may start before the master)",
    )
    worker.set_defaults(handler=_load_worker)


def _load_worker(args: argparse.Namespace) -> int:
    """Locust's worker in this process's place (exec): it patches everything with gevent.

    The master must answer first, within --connect-timeout: Locust's worker would otherwise
    retry for five minutes, silently, and a wrong address looks like a hang.
    """
    host, _, port = str(args.master).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"--master {args.master}: give HOST:PORT, like --master 10.0.0.5:5557")
    deadline_s = parse_duration(args.connect_timeout, "--connect-timeout")
    print(f"gonogo load-worker: connecting to the load master at {host}:{port}", flush=True)
    _reach(host, int(port), deadline_s)
    argv = [sys.executable, "-m", "gonogo.load.child", "worker", "--master-host", host,
            "--master-port", port, "--connect-timeout", str(deadline_s)]  # fmt: skip
    os.execv(sys.executable, argv)  # noqa: S606 - our own module, fixed arguments


def _reach(host: str, port: int, deadline_s: float) -> None:
    """Wait until HOST:PORT accepts a connection, or say in one line why it did not."""
    import socket
    import time

    from gonogo.errors import TargetError

    end = time.monotonic() + deadline_s
    while True:
        left = end - time.monotonic()
        try:
            socket.create_connection((host, port), timeout=max(0.1, min(2.0, left))).close()
            return
        except socket.gaierror as exc:
            raise ConfigError(
                f"--master {host}:{port}: cannot resolve {host} ({exc.strerror}); check the name"
            ) from None
        except OSError as exc:
            if time.monotonic() + 0.5 >= end:
                raise TargetError(
                    f"cannot reach the load master at {host}:{port} within {deadline_s:g} s "
                    f"({exc.strerror or type(exc).__name__}); start the gonogo run first "
                    '([load] remote_workers, master = "HOST:PORT") or check --master'
                ) from None
            time.sleep(0.5)
