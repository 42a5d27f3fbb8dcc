"""`gonogo rollback`: the macro's steps, each verified."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gonogo.cli.common import (
    EXIT_BAD,
    EXIT_OK,
    add_option,
    command_bundle,
    env_settings,
    sandbox_faults,
)
from gonogo.options import ENV, ENV_FILE, EVIDENCE_DIR, FAULT


def add_rollback(sub: Any) -> None:
    rollback = sub.add_parser(
        "rollback",
        help="the rollback macro, each step verified: route to blue, freeze, notify, "
        "verify blue, unfreeze (exit 1: a step failed)",
    )
    add_option(rollback, ENV, dest="env", many=False, required=True)
    rollback.add_argument(
        "--to", default="blue", metavar="SLOT", help="the slot to send all traffic to (blue)"
    )
    rollback.add_argument(
        "--confirm", metavar="NAME", help="a production env's name again: the consent"
    )
    rollback.add_argument(
        "--dry-run", action="store_true", help="print the steps and their manual commands only"
    )
    add_option(rollback, ENV_FILE, dest="env_file")
    add_option(rollback, EVIDENCE_DIR, dest="evidence_dir")
    add_option(rollback, FAULT, dest="fault")
    rollback.set_defaults(handler=_rollback)


def _rollback(args: argparse.Namespace) -> int:
    """The macro, verified step by step, into a sealed bundle; exit 1 when a step failed."""
    from gonogo.day import rollback
    from gonogo.run.envs import opened

    settings = env_settings(args)
    chosen = sandbox_faults(settings, args.fault)
    rollback.target_weights(settings, args.to)  # an unknown slot, or no [edge]: said now
    if args.dry_run:
        print(f"gonogo rollback --dry-run: {args.env} to {args.to}; nothing is changed")
        public = settings.edge.public_url if settings.edge else None
        commands = rollback.manual_commands(settings, args.to, public)
        for number, step in enumerate(rollback.STEPS, 1):
            print(f"  {number}. {step:<9} {commands[step]}")
        return EXIT_OK
    rollback.check_consent(settings, args.confirm)
    bundle = command_bundle(settings, args.evidence_dir)
    result = None
    try:
        with opened(
            settings,
            faults=chosen,
            logs=bundle.root / "sandbox" / args.env,
            on_request=bundle.request_log(args.env),
            edge=True,
        ) as env:
            result = rollback.Rollback(env, args.to, bundle).run()
    except KeyboardInterrupt:
        print(
            "gonogo: rollback interrupted; the state is as the last step line says", file=sys.stderr
        )
    finally:
        bundle.seal(
            # No result: interrupted, or the env could not be opened (said on stderr).
            {"rollback": result.as_json() if result else {"env": args.env, "ended": False}}
        )
    if result is None:
        print(f"gonogo evidence bundle: {bundle.root}")
        return 130
    if result.ok:
        print(f"gonogo rollback: {args.env} on {args.to}, verified, in {result.seconds:.1f} s")
    else:
        print(f"gonogo rollback: STOPPED after {result.seconds:.1f} s; left: {result.left}")
        print("to finish by hand, in order:")
        for line in result.manual:
            print(f"  {line}")
    print(f"gonogo evidence bundle: {bundle.root}")
    return EXIT_OK if result.ok else EXIT_BAD
