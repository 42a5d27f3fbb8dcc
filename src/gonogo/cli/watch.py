"""`gonogo watch` and `gonogo rules`: the rollback triggers, evaluated or exported."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gonogo.cli.common import (
    EXIT_OK,
    add_option,
    command_bundle,
    env_settings,
    sandbox_faults,
)
from gonogo.errors import ConfigError
from gonogo.options import DIALECT, ENV, ENV_FILE, EVIDENCE_DIR, FAULT
from gonogo.vocabulary import parse_duration


def add_watch(sub: Any) -> None:
    watch = sub.add_parser(
        "watch", help="evaluate the rollback triggers every interval (exit 5: rollback)"
    )
    add_option(watch, ENV, dest="env", many=False, required=True)
    add_option(watch, ENV_FILE, dest="env_file")
    watch.add_argument(
        "--for",
        dest="duration",
        default="60m",
        metavar="DURATION",
        help="how long to watch, like 60m or 1h30m (default 60m)",
    )
    watch.add_argument(
        "--interval",
        default=None,
        metavar="DURATION",
        help="time between evaluations (default: [watch] interval_s, 30 s)",
    )
    add_option(watch, EVIDENCE_DIR, dest="evidence_dir")
    add_option(watch, FAULT, dest="fault")
    add_option(watch, DIALECT, dest="dialect")
    watch.set_defaults(handler=_watch)


def add_rules(sub: Any) -> None:
    rules = sub.add_parser(
        "rules", help="print the env's rollback triggers as Prometheus alerting rules (YAML)"
    )
    add_option(rules, ENV, dest="env", many=False, required=True)
    add_option(rules, ENV_FILE, dest="env_file")
    rules.set_defaults(handler=_rules)


def _watch(args: argparse.Namespace) -> int:
    from gonogo.run.envs import opened
    from gonogo.sandbox import dialects as dialect_registry
    from gonogo.watch.evaluate import RealClock
    from gonogo.watch.run import WatchRun

    duration = parse_duration(args.duration, "--for")
    interval = parse_duration(args.interval, "--interval") if args.interval else None
    settings = env_settings(args)
    chosen = sandbox_faults(settings, args.fault)
    dialects = dialect_registry.parse_all(args.dialect)
    if dialects and not settings.sandbox:
        raise ConfigError(f"--dialect applies only to a sandbox env; {args.env} is not one")
    bundle = command_bundle(settings, args.evidence_dir)
    try:
        with opened(
            settings,
            faults=chosen,
            logs=bundle.root / "sandbox" / args.env,
            on_request=bundle.request_log(args.env),
            dialects=dialects,
        ) as env:
            kind = "production" if env.production else "non-production"
            print(f"gonogo watch target: {env.base_url} ({kind})")
            code = WatchRun(env, bundle, RealClock(), duration, interval).run()
    except KeyboardInterrupt:
        print("gonogo: watch interrupted", file=sys.stderr)
        code = 130
    finally:
        bundle.seal({"watch": {"env": args.env, "for_s": duration}})
        print(f"gonogo evidence bundle: {bundle.root}")
    return code


def _rules(args: argparse.Namespace) -> int:
    import yaml

    from gonogo.watch.triggers import rules, triggers_for

    settings = env_settings(args)
    triggers = triggers_for(settings)
    print(f"# gonogo rollback triggers for {args.env}: the same definitions `gonogo watch` uses")
    released = _released(settings)
    if released is None:
        print("# not here: unsigned-image (it needs the env's release, with its manifest.json)")
    namespace = settings.cluster.namespace if settings.cluster is not None else None
    document = rules(args.env, triggers, released, namespace)
    print(yaml.safe_dump(document, sort_keys=False, width=120), end="")
    return EXIT_OK


def _released(settings: Any) -> list[str] | None:
    """The release's image digests, when the env names a release and unsigned-image is on."""
    from gonogo.supplychain import inputs

    override = settings.watch.triggers.get("unsigned-image")
    if not settings.release or (override is not None and not override.enabled):
        return None
    manifest = Path(settings.release) / "manifest.json"
    if not manifest.is_file():
        return None
    return sorted(set(inputs.image_digests(manifest).values()))
