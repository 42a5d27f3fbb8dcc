"""Configure a run: read --env into a `Run`, point a run that names no paths at the packs and
the project's checks, start the sandboxes, hand the bundle to workers.

On the controller (or a plain in-process run) the bundle is created here and
the controller-only writer (gonogo.plugin.reporting.Controller) is
registered; an xdist worker is told the bundle's folder, the env file and the
sandboxes' descriptions, and opens nothing of its own.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from gonogo import __version__
from gonogo.config import EnvFile, load_env_file, resolve_env_file
from gonogo.errors import ConfigError
from gonogo.evidence import Bundle
from gonogo.layout import SHIPPED_PACKS, checks_folders, nodeid_prefix, packs_folder
from gonogo.load.session import PlanBook
from gonogo.plugin.options import check_rootdir, load_workers
from gonogo.plugin.reporting import Controller
from gonogo.plugin.state import (
    LOAD_WORKERS,
    PLANS,
    RUN,
    WORKER_BUNDLE_KEY,
    WORKER_ENV_FILE_KEY,
    WORKER_SANDBOX_KEY,
)
from gonogo.run import Outcomes, Run, SandboxRun
from gonogo.run.verdict import given_table, load_exceptions
from gonogo.times import utcnow
from gonogo.vocabulary import DRILLS, EXCEPTIONS_FILE


def env_names(config: pytest.Config) -> list[str]:
    names: list[str] = []
    for value in config.getoption("gonogo_envs") or []:
        for name in str(value).split(","):
            name = name.strip()
            if not name:
                raise pytest.UsageError(
                    "--env needs a name, like --env green (or --env green,blue)"
                )
            if name not in names:
                names.append(name)
    return names


def env_file(config: pytest.Config) -> EnvFile:
    # Workers take the controller's resolved path: their rootdir can differ (a
    # `--evidence-dir DIR` value looks like a path argument once DIR exists).
    given = getattr(config, "workerinput", {}).get(WORKER_ENV_FILE_KEY)
    path = (
        Path(given)
        if given
        else resolve_env_file(config.getoption("gonogo_env_file"), config.rootpath)
    )
    return load_env_file(path.resolve())


def _collapse_tracebacks(config: pytest.Config) -> None:
    """pytest-html opens failed rows on their traceback; a gonogo run's rows show the rule,
    value and message in columns, so every row opens collapsed unless the project says
    otherwise (`render_collapsed` in its own ini, other than pytest-html's default). pytest
    has no API to default another plugin's ini, so the value is put where getini reads it."""
    try:
        current = config.getini("render_collapsed")
    except ValueError:  # pytest-html is not loaded (-p no:html)
        return
    if current == "passed":
        config._inicache["render_collapsed"] = "all"


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    check_rootdir(config)
    config.stash[LOAD_WORKERS] = load_workers(config.getoption("gonogo_load_workers"))
    config.stash[PLANS] = PlanBook()
    drills = config.getoption("gonogo_drills") or []
    unknown = [d for d in drills if d not in DRILLS]
    if unknown:
        raise pytest.UsageError(
            f"unknown drill {unknown[0]!r}; drills: {', '.join(DRILLS)} (like --drill write-freeze)"
        )

    names = env_names(config)
    packs = packs_folder(config.getini("gonogo_packs"))
    run = Run(outcomes=Outcomes(packs=packs, packs_prefix=nodeid_prefix(packs, config.rootpath)))
    config.stash[RUN] = run
    if not names:
        return
    _collect_packs(config, packs)
    _collapse_tracebacks(config)
    try:
        _read_envs(config, run, names)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    production = [s.name for s in run.envs.all if s.production]
    if drills and production and not config.getoption("gonogo_allow_drill"):
        raise pytest.UsageError(
            f"--drill {drills[0]} changes the environment and {', '.join(production)} is "
            "production; add --allow-drill if that is really intended"
        )
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        run.is_worker = True
        root = workerinput.get(WORKER_BUNDLE_KEY)
        if root:
            run.bundle = Bundle(Path(root), names)
        for name, text in (workerinput.get(WORKER_SANDBOX_KEY) or {}).items():
            run.envs.sandboxes[name] = SandboxRun.from_json(text)
        return
    if config.option.collectonly or config.option.help:
        return
    _open_bundle(config, run, names)


def _collect_packs(config: pytest.Config, packs: Path) -> None:
    """A run that names no paths runs the packs and the project's checks, not its testpaths
    (the team's unit tests) nor the rootdir: what a gonogo run is for."""
    if config.args_source == pytest.Config.ArgsSource.ARGS:
        return
    if not packs.is_dir():
        raise pytest.UsageError(
            f"gonogo_packs names {packs}, which is not a folder; point it at a folder of packs "
            "(smoke/, slo/ ...) or remove it to run the installed ones"
        )
    checks = checks_folders(config.getini("gonogo_checks"), config.rootpath)
    missing = [str(c) for c in checks if not c.is_dir()]
    if missing:
        raise pytest.UsageError(
            f"gonogo_checks names {missing[0]}, which is not a folder; create it or fix the "
            "ini's gonogo_checks"
        )
    config.args = [str(packs), *(str(c) for c in checks)]


def _read_envs(config: pytest.Config, run: Run, names: list[str]) -> None:
    """The env file's tables for --env, --release, the exceptions table, --fault, --dialect."""
    run.envs.env_file = env_file(config)
    run.envs.all = [run.envs.env_file.get(name) for name in names]
    release = config.getoption("gonogo_release")
    if release:
        resolved = str(Path(release).resolve())
        run.envs.all = [s.model_copy(update={"release": resolved}) for s in run.envs.all]
    run.announce = config.getoption("gonogo_announce")
    run.verdict_exit = bool(config.getoption("gonogo_verdict_exit"))
    for settings in run.envs.all:
        for warning in settings.register_secrets():
            sys.stderr.write(warning + "\n")
            run.warnings.append(warning)
        if settings.sandbox:
            from gonogo.sandbox import require

            require(settings.name)
        variable = settings.evidence.signing_key_env
        if variable:  # a key that cannot sign is said now, not after the whole run
            from gonogo.supplychain import signing

            pem = settings.read_secret(variable, "bundle signing key", "signing_key_env")
            signing.load_private_key(pem, variable)
    option = config.getoption("gonogo_exceptions_file")
    run.outcomes.exceptions_file = (
        given_table(option) if option else config.rootpath / EXCEPTIONS_FILE
    )
    run.outcomes.exceptions = load_exceptions(run.outcomes.exceptions_file, [], utcnow().date())
    faults = _sandbox_only("--fault", config.getoption("gonogo_faults") or [], run, names)
    if faults:
        from gonogo.sandbox.faults import parse_all

        run.envs.faults = parse_all(faults)
    dialects = _sandbox_only("--dialect", config.getoption("gonogo_dialects") or [], run, names)
    if dialects:
        from gonogo.sandbox import dialects as dialect_registry

        run.envs.dialects = dialect_registry.parse_all(dialects)
    weights = config.getoption("gonogo_expect_weights")
    if weights:
        from gonogo.day.edge import parse_expected

        run.envs.expected_weights = parse_expected(weights)
    run.envs.expected_operational = bool(config.getoption("gonogo_expect_operational"))
    shadow = config.getoption("gonogo_expect_shadow")
    if shadow:
        from gonogo.day.shadow import parse_percent

        run.envs.expected_shadow = parse_percent(shadow)
    since = config.getoption("gonogo_freeze_since")
    if since:
        from gonogo.freeze import parse_since

        run.envs.freeze_since = parse_since(since)


def _sandbox_only(flag: str, values: list[str], run: Run, names: list[str]) -> list[str]:
    """--fault and --dialect change the local environment, so they need one in the run."""
    if values and not any(s.sandbox for s in run.envs.all):
        raise ConfigError(
            f"{flag} applies only to the local sandbox env (like --env local); "
            f"{', '.join(names)} is not a sandbox"
        )
    return values


def _open_bundle(config: pytest.Config, run: Run, names: list[str]) -> None:
    """The run folder, with JUnit and the HTML report written into it (a user's own paths
    are copied in), and the controller-only writer registered."""
    evidence_option = config.getoption("gonogo_evidence_dir")
    evidence_dir = (
        Path(evidence_option).resolve() if evidence_option else config.rootpath / "reports"
    )
    try:
        run.bundle = Bundle.create(evidence_dir, names)
    except OSError as exc:
        raise pytest.UsageError(
            f"cannot create the evidence folder under {evidence_dir}: {exc.strerror}; "
            "pass --evidence-dir=DIR with a writable folder"
        ) from None
    root = run.bundle.root
    if config.option.xmlpath:
        run.user_junit = config.option.xmlpath
    else:
        config.option.xmlpath = str(root / "junit.xml")
    if getattr(config.option, "htmlpath", None):
        run.user_html = config.option.htmlpath
    else:
        config.option.htmlpath = str(root / "report.html")
        config.option.self_contained_html = True
    config.pluginmanager.register(Controller(run), "gonogo-controller")
    run.bundle.log(
        f"gonogo {__version__} run started: env(s) {', '.join(names)}; "
        f"env file {run.envs.env_file.path if run.envs.env_file else '?'}"
    )
    for warning in run.warnings:
        run.bundle.log(warning)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: tell each worker where the controller's bundle is."""
    run = node.config.stash[RUN]
    if run.bundle is not None:
        node.workerinput[WORKER_BUNDLE_KEY] = str(run.bundle.root)
    if run.envs.env_file is not None:
        node.workerinput[WORKER_ENV_FILE_KEY] = run.envs.env_file.path
    node.workerinput[WORKER_SANDBOX_KEY] = {n: r.to_json() for n, r in run.envs.sandboxes.items()}


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Start each sandbox env's stack once, before xdist starts its workers; the HTML
    report's header says which env, release and images (reporting.header_metadata)."""
    from gonogo.plugin.reporting import header_metadata

    run = session.config.stash[RUN]
    if run.is_worker or run.bundle is None:
        return
    run.envs.start_sandboxes(run.bundle)
    header_metadata(session)


def pytest_report_header(config: pytest.Config) -> list[str]:
    run = config.stash.get(RUN, None)
    if run is None or not run.envs.all:
        return []
    lines = []
    for settings in run.envs.all:
        where = "local sandbox" if settings.sandbox else settings.base_url
        sandbox = run.envs.sandboxes.get(settings.name)
        if sandbox is not None and sandbox.info is not None:
            up = sandbox.info.startup_s["total"]
            where = f"local sandbox at {sandbox.info.base_url} (up in {up:.1f} s)"
            if run.envs.faults:
                where += f", faults: {', '.join(sorted(run.envs.faults))}"
            if run.envs.dialects:
                where += f", dialects: {', '.join(run.envs.dialects)}"
        elif sandbox is not None and sandbox.error:
            where = f"local sandbox FAILED to start: {sandbox.error}"
        kind = "production" if settings.production else "non-production"
        lines.append(f"gonogo env {settings.name}: {where} ({kind})")
        for variable in settings.secret_variables():
            if not os.environ.get(variable):
                lines.append(
                    f"gonogo env {settings.name}: {variable} is not set; "
                    "checks that need it will error"
                )
    packs = run.outcomes.packs
    if packs is not None and packs != SHIPPED_PACKS:
        # A reviewer sees whose checks "required" was read from (bundle.json lists them too).
        lines.append(f"gonogo packs: {packs} (the ini's gonogo_packs, not the installed ones)")
    if run.bundle is not None:
        lines.append(f"gonogo evidence: {run.bundle.root}")
    return lines
