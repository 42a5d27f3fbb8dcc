"""`gonogo cutover plan|run|status`: the day's timeline, a step run and recorded, the day's seal."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from gonogo.cli.common import (
    EXIT_BAD,
    EXIT_OK,
    add_option,
)
from gonogo.config import load_env_file, resolve_env_file
from gonogo.errors import BundleError
from gonogo.options import ENV, ENV_FILE, FAULT


def add_cutover(sub: Any) -> None:
    cutover = sub.add_parser(
        "cutover", help="the cutover day: plan the timeline, run a step, show where it stands"
    )
    steps = cutover.add_subparsers(dest="cutover_command", metavar="plan|run|status")
    steps.required = True
    plan = steps.add_parser("plan", help="record the day's plan and print it (T-0's time zone)")
    add_option(plan, ENV, dest="env", many=False, required=True)
    plan.add_argument("--blue", metavar="NAME", help="blue: the previous release (rollback)")
    plan.add_argument(
        "--t0", required=True, help="the flip, with its offset: 2026-12-01T02:00-07:00"
    )
    plan.add_argument("--timeline", metavar="FILE", help="cutover.toml (default: gonogo's own)")
    run = steps.add_parser("run", help="run one step (T-45) and record it in the day")
    run.add_argument("at", metavar="STEP", help="the step's time, like T-45 or T+5")
    run.add_argument(
        "--force",
        action="store_true",
        help="run although an earlier step has not passed (recorded)",
    )
    run.add_argument("--note", help="a manual step: what was seen (recorded)")
    run.add_argument(
        "--present",
        action="append",
        default=[],
        metavar="ROLE=NAME",
        help="the roll-call of a step with roles (T-60): who is present for each (repeat)",
    )
    add_option(run, FAULT, dest="fault")
    status = steps.add_parser("status", help="each step: passed, failed, due or pending")
    status.add_argument("--now", help="as it would stand at this time (a rehearsal)")
    for each in (plan, run, status):
        each.add_argument("--reports", default="reports", metavar="DIR", help="default: reports")
        add_option(each, ENV_FILE, dest="env_file")
    for each in (run, status):
        each.add_argument("--day", metavar="YYYY-MM-DD", help="default: the newest planned day")
    cutover.set_defaults(handler=_cutover)


def _cutover(args: argparse.Namespace) -> int:
    """The day's timeline: plan it, run a step through pytest, show where it stands."""
    import datetime as dt

    from gonogo.day import cutover, pages, steps

    reports = Path(args.reports)
    if args.cutover_command == "plan":
        path = resolve_env_file(args.env_file, Path.cwd())
        if args.env_file or path.exists() or os.environ.get("GONOGO_ENV_FILE"):
            env_file = load_env_file(path)
            for name in (args.env, args.blue):
                if name:
                    env_file.get(name)  # an unknown env is one line now, not at T-45
        timeline = Path(args.timeline) if args.timeline else cutover.DEFAULT_TIMELINE
        cutover.load_timeline(timeline)
        day = cutover.Day.plan(reports, timeline, args.env, args.blue, cutover.parse_t0(args.t0))
        key = _day_key(args.env_file, day)
        if (day.root / "bundle.json").exists():  # planned before: read only as it was sealed
            _verify_day_signature(day, key)
        _seal_day(day, key)
        print("\n".join(pages.plan_lines(day)))
        return EXIT_OK
    day = (
        cutover.Day.open(reports / "cutover" / args.day)
        if args.day
        else cutover.Day.latest(reports)
    )
    key = _day_key(args.env_file, day)
    _verify_day_signature(day, key)
    tz = day.t0.tzinfo

    def now() -> dt.datetime:
        return dt.datetime.now(tz)

    if args.cutover_command == "status":
        at = cutover.parse_t0(args.now) if args.now else now()
        print("\n".join(pages.status_lines(day, at)))
        return EXIT_OK
    run = steps.run_step(
        day,
        args.at,
        runner=_pytest_step(args.env_file, args.fault, day.freeze_since()),
        now=now,
        force=args.force,
        note=args.note,
        rehearsal={"faults": args.fault} if args.fault else None,
        present=args.present,
        watcher=_watcher(args.env_file, args.fault, reports),
    )
    _seal_day(day, key)
    said = f"{run['at']} {run['outcome']}" + (" (forced)" if run["forced"] else "")
    where = run.get("bundle") or run.get("verdict") or run.get("note") or ""
    print(f"gonogo cutover: {said}: {where}; day record {day.root}")
    if run.get("bundle") and run.get("note"):
        print(f"gonogo cutover: {run['at']} checks: {run['note']}")
    if run.get("decision"):  # a verdict step: the day judged as a run, each reason a line
        print(f"gonogo cutover: {run['at']} the day is {run['note']}")
        print("\n".join(run.get("lines") or []))
    if run.get("watch_error"):
        print(f"gonogo cutover: {run['watch_error']}", file=sys.stderr)
    if watch := run.get("watch"):
        how = "still running" if watch.get("already_running") else "started"
        print(
            f"gonogo cutover: heightened watch of {watch['env']} for {watch['for']} {how}: "
            f"PID {watch['pid']}, log {watch['log']}, evidence {watch['evidence_dir']}; "
            f"stop it with {watch['stop']}"
        )
    return EXIT_OK if run["outcome"] == "passed" else EXIT_BAD


def _watcher(env_file: str | None, faults: list[str], reports: Path) -> Any:
    """The sign-off's heightened watch: the green env's [cutover] watch_for, detached."""
    from gonogo.day import watching

    def start(env: str, earlier: dict[str, Any] | None) -> dict[str, Any]:
        settings = load_env_file(resolve_env_file(env_file, Path.cwd())).get(env)
        extra = [f"--env-file={env_file}"] if env_file else []
        extra += [f"--fault={fault}" for fault in faults]
        return watching.start(
            env, settings.cutover.watch_for, reports.resolve() / "watch", extra, earlier
        )

    return start


STEP_LIMIT_S = 3 * 3600  # a cutover step's checks, load included, are bounded well below


def _pytest_step(env_file: str | None, faults: list[str], freeze_since: str | None) -> Any:
    """Run a step's selection the way a person would: pytest, in this folder, its output
    on the terminal, its bundle in the day's steps/ folder."""
    import subprocess

    from gonogo.day import cutover

    def run(step: Any, env: str, folder: Path) -> tuple[int, Path | None]:
        argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-m", step.marker,
                "--env", env, f"--evidence-dir={folder}"]  # fmt: skip
        if step.keyword:
            argv += ["-k", step.keyword]
        if step.weights:
            argv += ["--expect-weights", step.expect_weights]
        if step.shadow:
            argv.append(f"--expect-shadow={step.shadow:g}")
        if step.operational:
            argv.append("--expect-operational")
        if freeze_since and not step.freeze:
            argv.append(f"--freeze-since={freeze_since}")
        if env_file:
            argv.append(f"--env-file={env_file}")
        argv += [f"--fault={fault}" for fault in faults]
        print(f"gonogo cutover {step.at}: {' '.join(argv[1:])}", flush=True)
        try:
            done = subprocess.run(argv, check=False, timeout=STEP_LIMIT_S)
        except subprocess.TimeoutExpired:
            raise cutover.CutoverError(
                f"{step.at} ran past {STEP_LIMIT_S // 3600} h and was stopped; see "
                f"{folder} (nothing was recorded for the step)"
            ) from None
        bundles = sorted(folder.glob("*/*/bundle.json"))
        return done.returncode, bundles[-1].parent if bundles else None

    return run


def _day_key(env_file: str | None, day: Any) -> Any:
    """The private key the day's green env signs its bundles with ([evidence]
    signing_key_env), or None: the day record is signed with it too."""
    from gonogo.supplychain import signing

    path = resolve_env_file(env_file, Path.cwd())
    if not (env_file or path.exists() or os.environ.get("GONOGO_ENV_FILE")):
        return None
    settings = load_env_file(path).get(day.data["envs"]["green"])
    variable = settings.evidence.signing_key_env
    if not variable:
        return None
    pem = settings.read_secret(variable, "bundle signing key", "signing_key_env")
    return signing.load_private_key(pem, variable)


def _verify_day_signature(day: Any, key: Any) -> None:
    """A signed day is read only when its signature holds with the env's key; an env that
    signs never reads an unsigned day (someone could have re-sealed an edited one)."""
    from gonogo.day.cutover import CutoverError
    from gonogo.supplychain import signing

    signed = (day.root / signing.KEYED_FILE).is_file()
    if key is None and not signed:
        return
    if key is None:
        raise CutoverError(
            f"the day record {day.root} is signed ({signing.KEYED_FILE}) and the green env "
            "names no signing key; set its [evidence] signing_key_env so the signature is checked"
        )
    if not signed:
        raise CutoverError(
            f"the day record {day.root} has no signature ({signing.KEYED_FILE}), and the green "
            "env signs its bundles: it was not sealed by gonogo with that key; plan the day "
            "again in a new --reports folder"
        )
    try:
        signing.verify_keyed_with(day.root, key.public_key(), "the green env's signing key")
    except BundleError as exc:
        raise CutoverError(f"the day record cannot be trusted: {exc}") from None


def _seal_day(day: Any, key: Any) -> None:
    import json

    from gonogo.day.cutover import statement
    from gonogo.evidence import Bundle, sha256_file
    from gonogo.supplychain import signing

    manifest = Bundle(day.root, [day.data["envs"]["green"]]).seal(
        {"run": {"cutover_day": day.data["t0"]}, "tests": []}
    )
    if key is not None:
        envelope = signing.sign_keyed(statement(day, sha256_file(manifest)), key)
        (day.root / signing.KEYED_FILE).write_text(json.dumps(envelope, indent=2) + "\n")
