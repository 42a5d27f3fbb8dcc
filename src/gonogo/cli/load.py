"""`gonogo load import-k6 SCRIPT`: a team's k6 script as a gonogo load plan (gonogo.load.k6).

The plan is printed as the env file writes it, ready to paste under the env; what did not
carry over is printed to stderr, one line each, and repeated as comments in the TOML.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gonogo.cli.common import EXIT_OK


def add_load(sub: Any) -> None:
    load = sub.add_parser("load", help="load plans: import a k6 script")
    commands = load.add_subparsers(dest="load_command", required=True, metavar="COMMAND")
    k6 = commands.add_parser(
        "import-k6",
        help="print a k6 script's options as [environments.ENV.load.plans.NAME] TOML",
        description="Read a k6 script's options (scenarios, executors, rates, durations, VUs, "
        "thresholds) with a JavaScript parser and print the equivalent gonogo plan; what cannot "
        "be carried over is listed, one line each, on stderr.",
    )
    k6.add_argument("script", help="the k6 script (.js)")
    k6.add_argument("--env", default="green", help="the env the plan goes under (default green)")
    k6.add_argument("--name", help="the plan's name (default: the script's file name)")
    k6.set_defaults(handler=import_k6)


def import_k6(args: argparse.Namespace) -> int:
    from gonogo.load import k6

    script = Path(args.script)
    imported = k6.import_k6(script)
    name = args.name or script.stem.replace(".", "-")
    sys.stdout.write(k6.to_toml(imported, args.env, name, script.name))
    for line in imported.left:
        print(f"gonogo load import-k6: {line}", file=sys.stderr)
    return EXIT_OK
