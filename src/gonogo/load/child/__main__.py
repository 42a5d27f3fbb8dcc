"""python -m gonogo.load.child master|worker: the two roles' command line."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from gonogo.load.child.master import master
from gonogo.load.child.worker import worker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gonogo.load.child")
    sub = parser.add_subparsers(dest="role", required=True)
    m = sub.add_parser("master")
    m.add_argument("--plan", type=Path, required=True)
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--bind", default="127.0.0.1")
    m.add_argument("--port", type=int, required=True)
    m.add_argument("--workers", type=int, default=1)
    m.add_argument("--k6-series", action="store_true", help="k6's series in progress.json")
    w = sub.add_parser("worker")
    w.add_argument("--master-host", default="127.0.0.1")
    w.add_argument("--master-port", type=int, default=5557)
    w.add_argument("--connect-timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    if args.role == "master":
        return master(args.plan, args.out, args.bind, args.port, args.workers, args.k6_series)
    return worker(args.master_host, args.master_port, args.connect_timeout)


if __name__ == "__main__":
    sys.exit(main())
