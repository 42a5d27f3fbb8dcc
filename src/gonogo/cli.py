"""The `gonogo` command: the same core as the pytest plugin, for work outside a test run.

    gonogo envs [--env-file PATH]       list the environments and what each configures
    gonogo verify-bundle DIR            check every file of a bundle against bundle.json
    gonogo verdict DIR                  re-judge GO / NO-GO from a bundle (exit 0 GO, 1 NO-GO,
                                        2 INCOMPLETE, 3 usage error)
    gonogo sandbox up [--fault F]       run the local environment in the foreground
    gonogo sandbox faults               list the faults it can inject
    gonogo sandbox dialects             list the ways it can speak as another stack does
    gonogo watch --env NAME --for 60m   evaluate the rollback triggers every interval
                                        (exit 0 quiet, 5 a page trigger fired: roll back)
    gonogo rules --env NAME             the same triggers as Prometheus alerting rules

Exit codes: 0 success; 1 the thing checked is bad (a tampered bundle);
2 bad input (a usage error, an unreadable file), with one line saying why.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gonogo import __version__
from gonogo.config import load_env_file, resolve_env_file
from gonogo.errors import BundleError, ConfigError, GonogoError
from gonogo.evidence import verify_bundle
from gonogo.options import DIALECT, ENV, ENV_FILE, EVIDENCE_DIR, FAULT, Option
from gonogo.vocabulary import PACK_GATES, parse_duration

EXIT_OK = 0
EXIT_BAD = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    usage_exit = EXIT_USAGE

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(self.usage_exit, f"gonogo: {message} (see gonogo --help)\n")


def _add(
    parser: argparse.ArgumentParser,
    option: Option,
    *,
    dest: str,
    many: bool | None = None,
    required: bool = False,
) -> None:
    """One of the plugin's options (gonogo.options), as this command takes it."""
    parser.add_argument(option.flag, **option.arguments(many=many, required=required, dest=dest))


def _signature_options(parser: argparse.ArgumentParser, when: str) -> None:
    """--key, --identity and --issuer: the run's signature, checked the same way by
    verify-bundle and verdict."""
    parser.add_argument(
        "--key",
        metavar="PUB",
        help=f"verify the run's signature (attestation.intoto.dsse.json) with this PEM ECDSA "
        f"P-256 public key, and that it covers this bundle.json, {when}",
    )
    parser.add_argument("--identity", help="keyless: the signer's identity (with --issuer)")
    parser.add_argument("--issuer", help="keyless: the signer's OIDC issuer (with --identity)")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gonogo", description="Release verification for IntelGraph.")
    parser.add_argument("--version", action="version", version=f"gonogo {__version__}")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )

    envs = sub.add_parser("envs", help="list the environments in the env file")
    _add(envs, ENV_FILE, dest="env_file")

    verify = sub.add_parser("verify-bundle", help="check a bundle's files against its bundle.json")
    verify.add_argument(
        "bundle", metavar="DIR", help="a run folder, like reports/green/20261123T010203Z"
    )
    _signature_options(verify, "too")

    verdict = sub.add_parser(
        "verdict", help="re-judge a bundle's GO / NO-GO from its recorded results, offline"
    )
    # 0, 1 and 2 are verdicts (GO, NO-GO, INCOMPLETE); a usage error must not look like one.
    verdict.usage_exit = 3
    verdict.add_argument("bundle", metavar="DIR", help="a run folder with bundle.json")
    verdict.add_argument(
        "--exceptions-file",
        metavar="PATH",
        help="judge with this exceptions table instead of the bundle's copy",
    )
    _signature_options(verdict, "before the verdict is read (a signed bundle needs one)")

    sandbox = sub.add_parser("sandbox", help="the local reference environment")
    actions = sandbox.add_subparsers(
        dest="action", required=True, metavar="ACTION", parser_class=_Parser
    )
    up = actions.add_parser("up", help="start the stack in the foreground until Ctrl-C")
    _add(up, FAULT, dest="fault")
    _add(up, DIALECT, dest="dialect")
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

    watch = sub.add_parser(
        "watch", help="evaluate the rollback triggers every interval (exit 5: rollback)"
    )
    _add(watch, ENV, dest="env", many=False, required=True)
    _add(watch, ENV_FILE, dest="env_file")
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
    _add(watch, EVIDENCE_DIR, dest="evidence_dir")
    _add(watch, FAULT, dest="fault")
    _add(watch, DIALECT, dest="dialect")

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

    rollback = sub.add_parser(
        "rollback",
        help="the rollback macro, each step verified: route to blue, freeze, notify, "
        "verify blue, unfreeze (exit 1: a step failed)",
    )
    _add(rollback, ENV, dest="env", many=False, required=True)
    rollback.add_argument(
        "--to", default="blue", metavar="SLOT", help="the slot to send all traffic to (blue)"
    )
    rollback.add_argument(
        "--confirm", metavar="NAME", help="a production env's name again: the consent"
    )
    rollback.add_argument(
        "--dry-run", action="store_true", help="print the steps and their manual commands only"
    )
    _add(rollback, ENV_FILE, dest="env_file")
    _add(rollback, EVIDENCE_DIR, dest="evidence_dir")
    _add(rollback, FAULT, dest="fault")

    cutover = sub.add_parser(
        "cutover", help="the cutover day: plan the timeline, run a step, show where it stands"
    )
    steps = cutover.add_subparsers(dest="cutover_command", metavar="plan|run|status")
    steps.required = True
    plan = steps.add_parser("plan", help="record the day's plan and print it (T-0's time zone)")
    _add(plan, ENV, dest="env", many=False, required=True)
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
    _add(run, FAULT, dest="fault")
    status = steps.add_parser("status", help="each step: passed, failed, due or pending")
    status.add_argument("--now", help="as it would stand at this time (a rehearsal)")
    for each in (plan, run, status):
        each.add_argument("--reports", default="reports", metavar="DIR", help="default: reports")
        _add(each, ENV_FILE, dest="env_file")
    for each in (run, status):
        each.add_argument("--day", metavar="YYYY-MM-DD", help="default: the newest planned day")

    rules = sub.add_parser(
        "rules", help="print the env's rollback triggers as Prometheus alerting rules (YAML)"
    )
    _add(rules, ENV, dest="env", many=False, required=True)
    _add(rules, ENV_FILE, dest="env_file")
    return parser


def _envs(args: argparse.Namespace) -> int:
    env_file = load_env_file(resolve_env_file(args.env_file, Path.cwd()))
    print(f"{env_file.path}:")
    for name in env_file.names:
        s = env_file.get(name)
        where = "local sandbox" if s.sandbox else s.base_url
        parts = [
            t for t in ("graph", "stream", "cluster", "prometheus") if getattr(s, t) is not None
        ]
        kind = "production" if s.production else "non-production"
        tables = ", ".join(parts) if parts else "http only"
        print(f"  {name:<10} {where}  [{kind}; {tables}]")
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    """Files against bundle.json; with --key (or --identity/--issuer), the run's signature
    over bundle.json first, so a consistent rewrite of both is caught."""
    from gonogo.evidence import load_manifest

    root = Path(args.bundle)
    load_manifest(root)  # a folder that is no bundle is said first, whatever else was asked
    try:
        signed = _signature(root, args)
    except BundleError as exc:
        print(f"signature: {exc}")
        print(f"bundle NOT intact: its signature does not hold in {args.bundle}", file=sys.stderr)
        return EXIT_BAD
    if not signed:
        present = _signed_with(root)
        signed = (
            f"; signed ({present}): pass --key PUB or --identity/--issuer to check it"
            if present
            else "; unsigned"
        )
    result = verify_bundle(root)
    if result.ok:
        print(f"bundle intact: {result.checked} files match {args.bundle}/bundle.json{signed}")
        return EXIT_OK
    for line in result.lines():
        print(line)
    print(f"bundle NOT intact: {result.problems} problem(s) in {args.bundle}", file=sys.stderr)
    return EXIT_BAD


def _signed_with(root: Path) -> str | None:
    """The bundle's signature file, if it has one."""
    from gonogo import signing

    present = [f for f in (signing.KEYED_FILE, signing.KEYLESS_FILE) if (root / f).is_file()]
    return present[0] if present else None


def _signature(root: Path, args: argparse.Namespace) -> str:
    """Check the bundle's signature as --key or --identity/--issuer ask; what was checked
    ("" when nothing was asked). BundleError when it does not hold."""
    from gonogo import signing

    if bool(args.identity) != bool(args.issuer):
        raise ConfigError("--identity and --issuer go together (the keyless signer's identity)")
    if args.key:
        signing.verify_keyed(root, Path(args.key))
        return f"; signature verified with {args.key}"
    if args.identity:
        from gonogo.supplychain.signatures import verify_bundle_keyless

        verify_bundle_keyless(root, args.identity, args.issuer)
        return f"; signature verified for {args.identity}"
    return ""


EXIT_VERDICT_USAGE = 3  # gonogo verdict: 0, 1 and 2 are verdicts; every other outcome is 3


def _verdict(args: argparse.Namespace) -> int:
    """Exit 0/1/2 only for a verdict; a damaged bundle, a bad option or a recomputed verdict
    that contradicts the recorded one is 3, with one line (never the NO-GO code)."""
    try:
        return _judge_bundle(args)
    except GonogoError as exc:
        print(f"gonogo: {exc}", file=sys.stderr)
        return EXIT_VERDICT_USAGE


def _judge_bundle(args: argparse.Namespace) -> int:
    import datetime as dt
    import json

    from gonogo.evidence import load_manifest
    from gonogo.verdict import given_table, judge, load_exceptions

    root = Path(args.bundle)
    manifest = load_manifest(root)
    # A verdict is read only from a bundle that verifies: its files, then its signature.
    intact = verify_bundle(root)
    if not intact.ok:
        raise BundleError(
            f"{root} does not match its bundle.json ({'; '.join(intact.lines()[:3])}); its "
            f"verdict cannot be trusted (gonogo verify-bundle {root} lists every change)"
        )
    signed_with = _signed_with(root)
    if not _signature(root, args) and signed_with:
        raise BundleError(
            f"{root} is signed ({signed_with}): pass --key PUB (or --identity and --issuer) so "
            "the signature is checked before its verdict is trusted"
        )
    tests = manifest.get("tests")
    run = manifest.get("run")
    if not isinstance(tests, list) or not all(
        isinstance(t, dict) and isinstance(t.get("nodeid"), str) and "outcome" in t for t in tests
    ):
        raise BundleError(
            f"{root}/bundle.json: 'tests' is not a list of results with nodeid and outcome; "
            "the bundle is damaged (gonogo verify-bundle says what changed)"
        )
    finished = str(run.get("finished") or "") if isinstance(run, dict) else ""
    try:
        run_day = dt.datetime.fromisoformat(finished.replace("Z", "+00:00")).date()
    except ValueError:
        raise BundleError(f"{root}/bundle.json has no valid run.finished time") from None
    # The bundle's copy of the table as the run judged with it, unless another is given.
    copy = root / "policy-exceptions.md"
    table = given_table(args.exceptions_file) if args.exceptions_file else copy
    packs = manifest.get("packs") or []
    if not isinstance(packs, list) or not all(isinstance(p, str) for p in packs):
        raise BundleError(f"{root}/bundle.json: 'packs' is not a list of check names")
    exceptions = load_exceptions(table, [*(t["nodeid"] for t in tests), *packs], run_day)
    required = manifest.get("required_gates") or list(PACK_GATES)
    if not isinstance(required, list) or not all(isinstance(g, str) for g in required):
        raise BundleError(f"{root}/bundle.json: 'required_gates' is not a list of gate names")
    status = run.get("exit_status") if isinstance(run, dict) else None
    verdict = judge(
        tests, required, exceptions, finished, status if isinstance(status, int) else None
    )
    recorded = None
    if args.exceptions_file is None and (root / "verdict.json").exists():
        try:
            recorded = json.loads((root / "verdict.json").read_text()).get("decision")
        except (OSError, ValueError, AttributeError):
            raise BundleError(
                f"{root}/verdict.json is not the verdict a run writes (unreadable JSON); "
                "the bundle is damaged (gonogo verify-bundle says what changed)"
            ) from None
    print(verdict.summary())
    for item in verdict.not_run[:20]:
        print(f"  not run: {item['check']} ({item['why']})")
    for nodeid in verdict.failing[:20]:
        print(f"  failing: {nodeid}")
    for row in verdict.invalid_exceptions:
        print(
            f"  invalid exception {row['id'] or '?'} ({row['link']}): {'; '.join(row['problems'])}"
        )
    if recorded is not None and recorded != verdict.decision:
        raise BundleError(
            f"the run recorded {recorded}, but its recorded results judge {verdict.decision}: "
            f"the bundle changed after the run (gonogo verify-bundle {root})"
        )
    return verdict.exit_code


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


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


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
    signal.signal(signal.SIGTERM, _interrupt)
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
            f"  edge        {info.public_url}  (HAProxy: blue {info.blue_url}, green the gateway)"
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


def _cutover(args: argparse.Namespace) -> int:
    """The day's timeline: plan it, run a step through pytest, show where it stands."""
    import datetime as dt

    from gonogo import cutover

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
        print("\n".join(cutover.plan_lines(day)))
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
        print("\n".join(cutover.status_lines(day, at)))
        return EXIT_OK
    run = cutover.run_step(
        day,
        args.at,
        runner=_pytest_step(args.env_file, args.fault),
        now=now,
        force=args.force,
        note=args.note,
        rehearsal={"faults": args.fault} if args.fault else None,
    )
    _seal_day(day, key)
    said = f"{run['at']} {run['outcome']}" + (" (forced)" if run["forced"] else "")
    where = run.get("bundle") or run.get("note") or ""
    print(f"gonogo cutover: {said}: {where}; day record {day.root}")
    if run.get("bundle") and run.get("note"):
        print(f"gonogo cutover: {run['at']} checks: {run['note']}")
    return EXIT_OK if run["outcome"] == "passed" else EXIT_BAD


STEP_LIMIT_S = 3 * 3600  # a cutover step's checks, load included, are bounded well below


def _pytest_step(env_file: str | None, faults: list[str]) -> Any:
    """Run a step's selection the way a person would: pytest, in this folder, its output
    on the terminal, its bundle in the day's steps/ folder."""
    import subprocess

    from gonogo import cutover

    def run(step: Any, env: str, folder: Path) -> tuple[int, Path | None]:
        argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-m", step.marker,
                "--env", env, f"--evidence-dir={folder}"]  # fmt: skip
        if step.keyword:
            argv += ["-k", step.keyword]
        if step.weights:
            argv += ["--expect-weights", step.expect_weights]
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
    from gonogo import signing

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
    from gonogo import signing
    from gonogo.cutover import CutoverError

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

    from gonogo import signing
    from gonogo.cutover import statement
    from gonogo.evidence import Bundle, sha256_file

    manifest = Bundle(day.root, [day.data["envs"]["green"]]).seal(
        {"run": {"cutover_day": day.data["t0"]}, "tests": []}
    )
    if key is not None:
        envelope = signing.sign_keyed(statement(day, sha256_file(manifest)), key)
        (day.root / signing.KEYED_FILE).write_text(json.dumps(envelope, indent=2) + "\n")


def _rules(args: argparse.Namespace) -> int:
    import yaml

    from gonogo.watch import rules, triggers_for

    settings = load_env_file(resolve_env_file(args.env_file, Path.cwd())).get(args.env)
    print(f"# gonogo rollback triggers for {args.env}: the same definitions `gonogo watch` uses")
    if settings.cluster is not None:
        print("# not here: unsigned-image (the watch reads the cluster and the release itself)")
    print(
        yaml.safe_dump(rules(args.env, triggers_for(settings)), sort_keys=False, width=120), end=""
    )
    return EXIT_OK


def _sandbox_faults(settings: Any, values: list[str]) -> dict[str, str | None]:
    """--fault for a command that opens one env: parsed, and only for the local one."""
    from gonogo.sandbox import faults as fault_registry

    chosen = fault_registry.parse_all(values)
    if chosen and not settings.sandbox:
        raise ConfigError(f"--fault applies only to a sandbox env; {settings.name} is not one")
    return chosen


def _command_bundle(settings: Any, evidence_dir: str | None) -> Any:
    """The run folder of a command that opens one env (watch, rollback): the secrets'
    warnings on stderr and in steps.log, and SIGTERM ending it as Ctrl-C does, so the
    stack stops and the bundle is sealed."""
    import signal

    from gonogo.evidence import Bundle

    warnings = settings.register_secrets()
    for warning in warnings:
        print(warning, file=sys.stderr)
    bundle = Bundle.create(Path(evidence_dir or "reports"), [settings.name])
    for warning in warnings:
        bundle.log(warning)
    signal.signal(signal.SIGTERM, _interrupt)
    return bundle


def _watch(args: argparse.Namespace) -> int:
    from gonogo.run.envs import opened
    from gonogo.sandbox import dialects as dialect_registry
    from gonogo.watch import RealClock
    from gonogo.watchrun import WatchRun

    duration = parse_duration(args.duration, "--for")
    interval = parse_duration(args.interval, "--interval") if args.interval else None
    env_file = load_env_file(resolve_env_file(args.env_file, Path.cwd()))
    settings = env_file.get(args.env)
    chosen = _sandbox_faults(settings, args.fault)
    dialects = dialect_registry.parse_all(args.dialect)
    if dialects and not settings.sandbox:
        raise ConfigError(f"--dialect applies only to a sandbox env; {args.env} is not one")
    bundle = _command_bundle(settings, args.evidence_dir)
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


def _rollback(args: argparse.Namespace) -> int:
    """The macro, verified step by step, into a sealed bundle; exit 1 when a step failed."""
    from gonogo import rollback
    from gonogo.run.envs import opened

    settings = load_env_file(resolve_env_file(args.env_file, Path.cwd())).get(args.env)
    chosen = _sandbox_faults(settings, args.fault)
    rollback.target_weights(settings, args.to)  # an unknown slot, or no [edge]: said now
    if args.dry_run:
        print(f"gonogo rollback --dry-run: {args.env} to {args.to}; nothing is changed")
        public = settings.edge.public_url if settings.edge else None
        commands = rollback.manual_commands(settings, args.to, public)
        for number, step in enumerate(rollback.STEPS, 1):
            print(f"  {number}. {step:<9} {commands[step]}")
        return EXIT_OK
    rollback.check_consent(settings, args.confirm)
    bundle = _command_bundle(settings, args.evidence_dir)
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if extra:
        code = EXIT_VERDICT_USAGE if args.command == "verdict" else EXIT_USAGE
        unknown = " ".join(extra)
        print(f"gonogo: unrecognized arguments: {unknown} (see gonogo --help)", file=sys.stderr)
        return code
    handlers = {
        "envs": _envs,
        "verify-bundle": _verify,
        "sandbox": _sandbox,
        "verdict": _verdict,
        "watch": _watch,
        "rules": _rules,
        "cutover": _cutover,
        "rollback": _rollback,
        "load-worker": _load_worker,
    }
    try:
        return handlers[args.command](args)
    except GonogoError as exc:
        print(f"gonogo: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("gonogo: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
