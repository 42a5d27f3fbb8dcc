"""The pytest plugin: options, markers, fixtures and hooks. Thin on purpose.

It wires the package's machinery into pytest and holds no logic a CLI
could not reuse:

- `--env NAME` (repeatable) parametrizes every check that uses the `env`
  fixture once per environment, with the name in the test id, the way
  pytest-testinfra parametrizes `--hosts`;
- checks in `tests_smoke/`, `tests_slo/`, `tests_security/`, `tests_dataops/`
  get the matching marker, so `-m smoke` selects the pack;
- gonogo's own errors become one-line outcomes (a skip for a component the
  env does not describe), never tracebacks, and every report is redacted
  before pytest, JUnit or the HTML report can print it;
- the evidence bundle is created and sealed on the controller only; xdist
  workers write their captures into the controller's folder.
"""

from __future__ import annotations

import base64
import dataclasses
import os
import sys
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from gonogo import __version__
from gonogo.config import EnvFile, load_env_file, resolve_env_file
from gonogo.env import Environment
from gonogo.errors import ConfigError, GonogoError, NotApplicable, NotConfigured
from gonogo.evidence import CURRENT_TEST, Bundle, Captures, utcnow
from gonogo.redact import REDACTOR
from gonogo.run import Run, SandboxRun, message
from gonogo.verdict import (
    EXCEPTIONS_FILE,
    GATES,
    HOW_TO_WAIVE,
    load_exceptions,
    validate,
)

PACKS: dict[str, tuple[str, str]] = {
    "tests_smoke": ("smoke", "cutover smoke and functional smokes (pytest -m smoke --env=NAME)"),
    "tests_slo": ("slo", "load canaries and SLO thresholds (pytest -m slo --env=NAME)"),
    "tests_security": ("security", "signatures, attestations, pinning, scans, guards"),
    "tests_dataops": ("dataops", "migrations, graph schema, recovery markers, stream integrity"),
}
PACK_MARKERS = {marker for marker, _ in PACKS.values()}
DRILLS = {"write-freeze": "freeze writes, prove CreateNote is refused, lift the freeze"}


WORKER_BUNDLE_KEY = "gonogo_bundle"
WORKER_SANDBOX_KEY = "gonogo_sandbox"
WORKER_ENV_FILE_KEY = "gonogo_env_file"


STATE = pytest.StashKey[Run]()
CAPTURES_KEY = pytest.StashKey[Captures]()
LOAD_WORKERS = pytest.StashKey[int | None]()


# -- options and configuration ---------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gonogo", "gonogo release verification")
    group.addoption(
        "--env",
        action="append",
        dest="gonogo_envs",
        default=[],
        metavar="NAME",
        help="environment to verify, from the env file; repeat (or comma-separate) "
        "to run every check once per env",
    )
    group.addoption(
        "--env-file",
        dest="gonogo_env_file",
        default=None,
        metavar="PATH",
        help="environments file (default: $GONOGO_ENV_FILE, else environments.toml in the rootdir)",
    )
    group.addoption(
        "--fault",
        action="append",
        dest="gonogo_faults",
        default=[],
        metavar="NAME[=VALUE]",
        help="sandbox envs only: start the local environment with this fault; repeatable "
        "(list them with `gonogo sandbox faults`)",
    )
    group.addoption(
        "--drill",
        action="append",
        dest="gonogo_drills",
        default=[],
        metavar="NAME",
        help=f"run an opt-in drill ({', '.join(DRILLS)}); never part of a default run",
    )
    group.addoption(
        "--allow-drill",
        action="store_true",
        dest="gonogo_allow_drill",
        help="allow --drill against an env with production = true",
    )
    group.addoption(
        "--exceptions-file",
        dest="gonogo_exceptions_file",
        default=None,
        metavar="PATH",
        help=f"policy exceptions table (default: {EXCEPTIONS_FILE} in the rootdir)",
    )
    group.addoption(
        "--release",
        dest="gonogo_release",
        default=None,
        metavar="DIR",
        help="the release's evidence folder (migrations/, data-ops.md, graph-schema.json, ...); "
        "overrides the env's `release`",
    )
    group.addoption(
        "--announce",
        dest="gonogo_announce",
        default=None,
        choices=["go-no-go", "post-deploy"],
        help="post that message (rendered into the bundle's comms/ every run) to the env's "
        "webhook ([comms] webhook_env) when the run ends",
    )
    group.addoption(
        "--load-workers",
        dest="gonogo_load_workers",
        default=None,
        metavar="N",
        help="local Locust worker processes per load plan (default: the env's [load] workers, 1)",
    )
    group.addoption(
        "--allow-load",
        action="store_true",
        dest="gonogo_allow_load",
        help="allow load plans (-m slo) against an env with production = true",
    )
    group.addoption(
        "--evidence-dir",
        dest="gonogo_evidence_dir",
        default=None,
        metavar="DIR",
        help="where run folders are written (default: reports/ in the rootdir)",
    )


def _load_workers(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        workers = int(value)
        if not 1 <= workers <= 64:
            raise ValueError
    except ValueError:
        raise pytest.UsageError(
            f"--load-workers takes a number of processes from 1 to 64, like --load-workers 2 "
            f"(got {value!r})"
        ) from None
    return workers


def _env_names(config: pytest.Config) -> list[str]:
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


def _load(config: pytest.Config) -> EnvFile:
    # Workers take the controller's resolved path: their rootdir can differ (a
    # `--evidence-dir DIR` value looks like a path argument once DIR exists).
    given = getattr(config, "workerinput", {}).get(WORKER_ENV_FILE_KEY)
    path = (
        Path(given)
        if given
        else resolve_env_file(config.getoption("gonogo_env_file"), config.rootpath)
    )
    return load_env_file(path.resolve())


def _rootdir_without_our_values(config: pytest.Config) -> Path | None:
    """The rootdir pytest would have chosen had it known our options take values."""
    try:
        from _pytest.config.findpaths import determine_setup
    except ImportError:  # pragma: no cover - a pytest without it: skip the check
        return None
    user_paths = list(config.args) if config.args_source == pytest.Config.ArgsSource.ARGS else []
    try:
        rootpath = determine_setup(
            inifile=config.option.inifilename,
            override_ini=config.option.override_ini,
            args=user_paths,
            rootdir_cmd_arg=config.option.rootdir or None,
            invocation_dir=config.invocation_params.dir,
        )[0]
    except Exception:  # pragma: no cover - a changed private API: skip the check
        return None
    return Path(rootpath)


def _check_rootdir(config: pytest.Config) -> None:
    """Refuse the one way a path option silently breaks a run.

    pytest picks its rootdir (and so its config file) before plugins add their
    options, so in `--evidence-dir DIR` the DIR looks like a test path; if it
    exists outside the project, the rootdir moves and the project's settings are
    not loaded. `--evidence-dir=DIR` is read correctly.
    """
    args = list(config.invocation_params.args)
    separate = [
        (flag, args[i + 1])
        for i, flag in enumerate(args[:-1])
        if flag in ("--evidence-dir", "--env-file", "--release") and not args[i + 1].startswith("-")
    ]
    if not separate:
        return
    expected = _rootdir_without_our_values(config)
    if expected is None or expected == config.rootpath:
        return
    flag, value = separate[0]
    raise pytest.UsageError(
        f"pytest took its rootdir from {flag}'s value ({value}), because it "
        f"reads gonogo's options only after choosing one; write {flag}={value}"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    _check_rootdir(config)
    for marker, description in PACKS.values():
        config.addinivalue_line("markers", f"{marker}: {description}")
    config.addinivalue_line(
        "markers", "drill(name): an opt-in drill, run only with --drill NAME (it changes the env)"
    )
    config.addinivalue_line(
        "markers",
        "gate(name): the Go/No-Go gate a check belongs to (" + ", ".join(GATES) + "); "
        "default: its pack",
    )
    config.addinivalue_line(
        "markers",
        "load(plan, thresholds=None, scenarios=None): judge the `threshold` items of this "
        "load plan (the env's [load.plans], else a built-in: canary, api, graph)",
    )
    config.stash[LOAD_WORKERS] = _load_workers(config.getoption("gonogo_load_workers"))
    drills = config.getoption("gonogo_drills") or []
    unknown = [d for d in drills if d not in DRILLS]
    if unknown:
        raise pytest.UsageError(
            f"unknown drill {unknown[0]!r}; drills: {', '.join(DRILLS)} (like --drill write-freeze)"
        )

    names = _env_names(config)
    state = Run(envs=[])
    config.stash[STATE] = state
    if not names:
        return
    try:
        env_file = _load(config)
        state.env_file = env_file
        state.envs = [env_file.get(name) for name in names]
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    release = config.getoption("gonogo_release")
    if release:
        resolved = str(Path(release).resolve())
        state.envs = [s.model_copy(update={"release": resolved}) for s in state.envs]
    state.announce = config.getoption("gonogo_announce")
    for settings in state.envs:
        settings.register_secrets()
    option = config.getoption("gonogo_exceptions_file")
    state.exceptions_file = Path(option).resolve() if option else config.rootpath / EXCEPTIONS_FILE
    try:
        state.exceptions = load_exceptions(state.exceptions_file, [], utcnow().date())
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    production = [s.name for s in state.envs if s.production]
    if drills and production and not config.getoption("gonogo_allow_drill"):
        raise pytest.UsageError(
            f"--drill {drills[0]} changes the environment and {', '.join(production)} is "
            "production; add --allow-drill if that is really intended"
        )
    fault_specs = config.getoption("gonogo_faults") or []
    if fault_specs:
        if not any(s.sandbox for s in state.envs):
            raise pytest.UsageError(
                "--fault applies only to the local sandbox env (like --env local); "
                f"{', '.join(names)} is not a sandbox"
            )
        from gonogo.sandbox.faults import parse_all

        try:
            state.faults = parse_all(fault_specs)
        except ConfigError as exc:
            raise pytest.UsageError(str(exc)) from None

    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        state.is_worker = True
        root = workerinput.get(WORKER_BUNDLE_KEY)
        if root:
            state.bundle = Bundle(Path(root), names)
        for name, text in (workerinput.get(WORKER_SANDBOX_KEY) or {}).items():
            state.sandboxes[name] = SandboxRun.from_json(text)
        return
    if config.option.collectonly or config.option.help:
        return

    evidence_option = config.getoption("gonogo_evidence_dir")
    evidence_dir = (
        Path(evidence_option).resolve() if evidence_option else config.rootpath / "reports"
    )
    try:
        state.bundle = Bundle.create(evidence_dir, names)
    except OSError as exc:
        raise pytest.UsageError(
            f"cannot create the evidence folder under {evidence_dir}: {exc.strerror}; "
            "pass --evidence-dir=DIR with a writable folder"
        ) from None
    root = state.bundle.root
    # The bundle always holds the JUnit and HTML files; a user's own paths are copied in.
    if config.option.xmlpath:
        state.user_junit = config.option.xmlpath
    else:
        config.option.xmlpath = str(root / "junit.xml")
    if getattr(config.option, "htmlpath", None):
        state.user_html = config.option.htmlpath
    else:
        config.option.htmlpath = str(root / "report.html")
        config.option.self_contained_html = True
    config.pluginmanager.register(_Controller(state), "gonogo-controller")
    state.bundle.log(
        f"gonogo {__version__} run started: env(s) {', '.join(names)}; "
        f"env file {state.env_file.path if state.env_file else '?'}"
    )


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist: tell each worker where the controller's bundle is."""
    state = node.config.stash[STATE]
    if state.bundle is not None:
        node.workerinput[WORKER_BUNDLE_KEY] = str(state.bundle.root)
    if state.env_file is not None:
        node.workerinput[WORKER_ENV_FILE_KEY] = state.env_file.path
    node.workerinput[WORKER_SANDBOX_KEY] = {n: r.to_json() for n, r in state.sandboxes.items()}


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    """Start each sandbox env's stack once, before xdist starts its workers."""
    state = session.config.stash[STATE]
    if state.is_worker or state.bundle is None:
        return
    state.start_sandboxes()


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash.get(STATE, None)
    if state is None or not state.envs:
        return []
    lines = []
    for settings in state.envs:
        where = "local sandbox" if settings.sandbox else settings.base_url
        run = state.sandboxes.get(settings.name)
        if run is not None and run.info is not None:
            where = (
                f"local sandbox at {run.info.base_url} (up in {run.info.startup_s['total']:.1f} s)"
            )
            if state.faults:
                where += f", faults: {', '.join(sorted(state.faults))}"
        elif run is not None and run.error:
            where = f"local sandbox FAILED to start: {run.error}"
        kind = "production" if settings.production else "non-production"
        lines.append(f"gonogo env {settings.name}: {where} ({kind})")
        for variable in settings.secret_variables():
            if not os.environ.get(variable):
                lines.append(
                    f"gonogo env {settings.name}: {variable} is not set; "
                    "checks that need it will error"
                )
    if state.bundle is not None:
        lines.append(f"gonogo evidence: {state.bundle.root}")
    return lines


# -- collection -----------------------------------------------------------------------


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "_gonogo_env_name" not in metafunc.fixturenames:
        return
    names: list[str | None] = list(metafunc.config.stash[STATE].env_names) or [None]
    if "threshold" in metafunc.fixturenames:
        _parametrize_thresholds(metafunc, names)
        return
    metafunc.parametrize(
        "_gonogo_env_name",
        names,
        ids=[n or "no-env" for n in names],
        indirect=True,
        scope="session",
    )


def _parametrize_thresholds(metafunc: pytest.Metafunc, names: list[str | None]) -> None:
    """One item per (env, threshold) of the check's load plan: each its own JUnit testcase.

    A threshold that names an unknown metric, tag or value fails collection here,
    before any load is sent; a plan the env cannot run (no [graph]) becomes one
    skipped item saying why.
    """
    from gonogo.load.plan import PlanError, build_plan

    marker = metafunc.definition.get_closest_marker("load")
    if marker is None or not marker.args:
        pytest.fail(
            f"{metafunc.definition.nodeid}: a check taking `threshold` needs "
            "@pytest.mark.load('PLAN')",
            pytrace=False,
        )
    plan_name = str(marker.args[0])
    state = metafunc.config.stash[STATE]
    values: list[tuple[str | None, Any]] = []
    ids: list[str] = []
    for name in names:
        if name is None:
            values.append((None, None))
            ids.append("no-env")
            continue
        settings = next(s for s in state.envs if s.name == name)
        try:
            plan = build_plan(
                settings,
                plan_name,
                thresholds=marker.kwargs.get("thresholds"),
                scenarios=marker.kwargs.get("scenarios"),
            )
        except NotConfigured as exc:
            values.append((name, exc))
            ids.append(f"{name}-{plan_name}")
            continue
        except PlanError as exc:
            pytest.fail(f"{metafunc.definition.nodeid}: {exc}", pytrace=False)
        if not plan.thresholds:
            pytest.fail(
                f"{metafunc.definition.nodeid}: load plan '{plan_name}' of env '{name}' has no "
                "thresholds, so nothing would be judged; add [load.plans.NAME.thresholds]",
                pytrace=False,
            )
        for threshold in plan.thresholds:
            values.append((name, threshold))
            ids.append(f"{name}-{plan_name}-{threshold.id}")
    metafunc.parametrize(
        ["_gonogo_env_name", "threshold"],
        values,
        ids=ids,
        indirect=["_gonogo_env_name"],
        scope="session",
    )


def pytest_deselected(items: list[pytest.Item]) -> None:
    if not items:
        return
    state = items[0].config.stash.get(STATE, None)
    if state is not None and state.envs:
        # Only checks of an env count for the verdict, not other tests in the tree,
        # and not opt-in drills, which are left out by design.
        checks = [
            i for i in items if _item_env(i) is not None and not i.get_closest_marker("drill")
        ]
        state.deselected_items += checks


def _gate_of(item: pytest.Item) -> str | None:
    gate = item.get_closest_marker("gate")
    return str(gate.args[0]) if gate is not None and gate.args else None


def _note_deselected(state: Run) -> None:
    """What -m/-k dropped, for the verdict's "required but not run"."""
    state.note_deselected(
        [
            {
                "nodeid": item.nodeid,
                "env": _item_env(item),
                "markers": sorted(m.name for m in item.iter_markers() if m.name in PACK_MARKERS),
                "gate": _gate_of(item),
            }
            for item in state.deselected_items
        ]
    )


def _pack_marker(item: pytest.Item) -> str | None:
    for part in item.path.parts:
        if part in PACKS:
            return PACKS[part][0]
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark pack checks before -m deselects anything; drop drills nobody asked for."""
    chosen = set(config.getoption("gonogo_drills") or [])
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        marker = _pack_marker(item)
        if marker and not item.get_closest_marker(marker):
            item.add_marker(marker)
        drill = item.get_closest_marker("drill")
        (dropped if drill is not None and drill.args[0] not in chosen else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def _item_env(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    value = callspec.params.get("_gonogo_env_name")
    return value if isinstance(value, str) else None


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """After -m/-k deselection, a selected check that needs an env when none is given
    is a usage error: one line, before anything runs."""
    state = session.config.stash[STATE]
    if state.envs:
        for item in session.items:
            env = _item_env(item)
            if env:
                item.user_properties.append(("env", env))
            gate = _gate_of(item)
            if gate is not None:
                item.user_properties.append(("gate", gate))
        nodeids = [i.nodeid for i in (*session.items, *state.deselected_items)]
        validate(state.exceptions, nodeids, utcnow().date())
        _note_deselected(state)
        if not state.is_worker and not hasattr(session.config, "workerinput") and session.items:
            nodeids = [i.nodeid for i in session.items]
            _announce_load(session.config, state, nodeids, can_stop=True)
        return
    needing = [
        item.nodeid
        for item in session.items
        if "_gonogo_env_name" in getattr(item, "fixturenames", ())
    ]
    if not needing or state.is_worker or hasattr(session.config, "workerinput"):
        # On an xdist worker a UsageError would read as a crash; the `env`
        # fixture fails each such check with the same one-line cause instead.
        return
    try:
        known = ", ".join(_load(session.config).names)
    except ConfigError:
        known = "see your environments.toml"
    shown = ", ".join(needing[:3]) + (f" and {len(needing) - 3} more" if len(needing) > 3 else "")
    raise pytest.UsageError(
        f"{len(needing)} selected check(s) need an environment ({shown}); "
        f"pass --env NAME (known: {known})"
    )


def _load_plans_in(state: Run, nodeids: list[str]) -> dict[tuple[str, str], int]:
    """(env, plan) -> threshold items, read from node ids (`...[ENV-PLAN-THRESHOLD]`), so the
    xdist controller, which collects nothing itself, knows them too."""
    from gonogo.load.plan import plan_names

    prefixes = {f"[{s.name}-{plan}-": (s.name, plan) for s in state.envs for plan in plan_names(s)}
    plans: dict[tuple[str, str], int] = {}
    for nodeid in nodeids:
        at = nodeid.find("[")
        for prefix, key in prefixes.items():
            if at >= 0 and nodeid.startswith(prefix, at):
                plans[key] = plans.get(key, 0) + 1
    return plans


def _announce_load(
    config: pytest.Config, state: Run, nodeids: list[str], *, can_stop: bool
) -> None:
    """Before any load: refuse production without --allow-load; print every target.

    Under xdist the items are already on their workers; there each refused item
    errors with the same line (the `load_result` fixture), and no load is sent.
    """
    if state.load_announced:
        return
    state.load_announced = True
    allow = bool(config.getoption("gonogo_allow_load"))
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    for (env, plan), count in sorted(_load_plans_in(state, nodeids).items()):
        settings = next(s for s in state.envs if s.name == env)
        if settings.production and not allow:
            line = (
                f"load plan '{plan}' ({count} threshold check(s)) targets env '{env}', which is "
                "production; add --allow-load if that load is really intended, or deselect "
                "it (-m 'slo and not load')"
            )
            if can_stop:
                raise pytest.UsageError(line)
            line = f"gonogo load: refused: {line}"
        else:
            run = state.sandboxes.get(env)
            if run is not None and run.info is not None:
                settings = run.info.env_settings(settings)
            line = f"gonogo load: plan '{plan}' will send load to {_load_target(settings, plan)}"
        if state.bundle is not None:
            state.bundle.log(line)
        if reporter is not None:
            reporter.write_line(line)


def _load_target(settings: Any, plan_name: str) -> str:
    """Where a plan's requests go, as the engine will say it again when it starts."""
    from gonogo.load.plan import build_plan
    from gonogo.load.session import target_of

    try:
        plan = build_plan(settings, plan_name)
    except GonogoError:
        plan = None
    if plan is None or settings.base_url is None:
        return f"{settings.base_url} (env {settings.name})"
    plan.target = target_of(settings)
    return f"{plan.destination()} (env {settings.name})"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """xdist: the controller learns the items from its workers; announce load once."""
    state = node.config.stash[STATE]
    if state.envs:
        _announce_load(node.config, state, list(ids), can_stop=False)


# -- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _gonogo_env_name(request: pytest.FixtureRequest) -> str:
    name = getattr(request, "param", None)
    if not isinstance(name, str):
        pytest.fail("this check needs an environment: pass --env NAME", pytrace=False)
    return name


@pytest.fixture(scope="session")
def env(_gonogo_env_name: str, request: pytest.FixtureRequest) -> Iterator[Environment]:
    """The environment under test, one per --env; clients are created on first use."""
    state = request.config.stash[STATE]
    settings = next(s for s in state.envs if s.name == _gonogo_env_name)
    token = None
    sandbox = None
    if settings.sandbox:
        from gonogo.errors import SandboxError

        run = state.sandboxes.get(settings.name)
        if run is None or run.info is None:
            cause = run.error if run is not None else "it was not started for this run"
            raise SandboxError(f"env '{settings.name}': the local environment is not up: {cause}")
        sandbox = run.info
        settings = sandbox.env_settings(settings)
        minted = sandbox.token("analyst")
        token = lambda: minted  # noqa: E731
    bundle = state.bundle

    def on_request(record: Any) -> None:
        if bundle is not None:
            bundle.append_jsonl(settings.name, "requests.jsonl", record.as_dict())

    if token is None and settings.token_env:
        settings.token()  # a missing token is every check's setup error, named once per check
    environment = Environment(settings, token=token, on_request=on_request, sandbox=sandbox)
    try:
        yield environment
    finally:
        environment.close()


@pytest.fixture(scope="session")
def env_evidence(env: Environment, request: pytest.FixtureRequest) -> Captures:
    """Captures that belong to the env's run rather than to one check (e.g. a first scrape)."""
    state = request.config.stash[STATE]
    return Captures(state.bundle, env.name if len(state.envs) > 1 else None, f"session[{env.name}]")


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Captures:
    """Save what a check saw into the bundle: `evidence.save("healthz.json", body)`."""
    captures: Captures = request.node.stash[CAPTURES_KEY]
    return captures


def _client_fixture(component: str) -> Any:
    """`http`, `graph`, ... as fixtures: the env's client, created on first use.

    As fixtures, a missing secret or an unreachable server is the check's setup
    error (a configuration problem), not its failure (a finding about the target).
    """

    def fixture(env: Environment) -> Any:
        client = getattr(env, component)
        verify = getattr(client, "verify", None)
        if callable(verify):
            verify()
        return client

    fixture.__doc__ = f"The env's {component} client (skipped if the env does not configure it)."
    return pytest.fixture(name=component)(fixture)


http = _client_fixture("http")
graphql = _client_fixture("graphql")
graph = _client_fixture("graph")
stream = _client_fixture("stream")
cluster = _client_fixture("cluster")
metrics = _client_fixture("metrics")
database = _client_fixture("database")


@pytest.fixture
def load_result(env: Environment, request: pytest.FixtureRequest) -> Any:
    """The check's load plan, run once per env for the whole gonogo run (all its threshold
    items share it, whichever xdist worker they land on): gonogo.load.engine.LoadResult."""
    from gonogo.load import session

    threshold = request.node.callspec.params.get("threshold")
    if isinstance(threshold, GonogoError):
        raise threshold  # the plan cannot run here (a skip naming the missing table)
    marker = request.node.get_closest_marker("load")
    state = request.config.stash[STATE]
    if state.bundle is None:
        pytest.skip("load plans run only with an evidence bundle (not under --collect-only)")
    workers = request.config.stash[LOAD_WORKERS] or env.settings.load.workers

    bundle = state.bundle

    def say(line: str) -> None:
        bundle.log(line)
        sys.stderr.write(line + "\n")

    return session.load_for(
        env,
        str(marker.args[0]),
        dict(marker.kwargs),
        folder=_load_dir(state.bundle, env.name) / str(marker.args[0]),
        workers=workers,
        allow=bool(request.config.getoption("gonogo_allow_load")),
        say=say,
    )


@pytest.fixture
def load_slot(env: Environment, request: pytest.FixtureRequest) -> Iterator[None]:
    """Hold the env's load lock for this check: no load plan (or other probe holding it)
    runs against the env meanwhile, whichever xdist worker it is on."""
    from gonogo.load import session

    state = request.config.stash[STATE]
    if state.bundle is None:
        yield
        return
    with session.exclusive(_load_dir(state.bundle, env.name)):
        yield


def _load_dir(bundle: Bundle, env: str) -> Path:
    """The env's load folder: its plans' evidence, and the lock they and the probes share."""
    return bundle.captures_dir(env) / "load"


@pytest.fixture
def policy_exceptions(request: pytest.FixtureRequest) -> list[Any]:
    """The run's policy exceptions (gonogo.verdict.PolicyException), valid or not."""
    return list(request.config.stash[STATE].exceptions)


@pytest.fixture
def release(env: Environment) -> Any:
    """The release's own files (gonogo.release.Release): skipped when the env names none."""
    return env.release


# -- running --------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    state = item.config.stash[STATE]
    item.stash[CAPTURES_KEY] = Captures(
        state.bundle, _item_env(item), item.nodeid, item.user_properties
    )
    token = CURRENT_TEST.set(item.nodeid)
    try:
        return (yield)
    finally:
        CURRENT_TEST.reset(token)


def _html_extras(bundle: Bundle, paths: list[Path]) -> list[dict[str, Any]]:
    try:
        from pytest_html import extras
    except ImportError:  # pragma: no cover - pytest-html is a dependency
        return []
    out = []
    for path in paths:
        rel = bundle.relative(path)
        size = path.stat().st_size
        if size <= 64 * 1024 and path.suffix in {".json", ".txt", ".log", ".prom", ".lat", ".code"}:
            out.append(extras.text(path.read_text(encoding="utf-8", errors="replace"), name=rel))
        elif size <= 512 * 1024 and path.suffix == ".png":
            # Embedded, so the self-contained report shows the plot wherever it is opened.
            out.append(extras.png(base64.b64encode(path.read_bytes()).decode("ascii"), name=rel))
        else:
            out.append(extras.url(rel, name=rel))
    return out


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    excinfo = call.excinfo
    if excinfo is not None and isinstance(excinfo.value, NotConfigured | NotApplicable):
        report.outcome = "skipped"
        report.longrepr = (str(item.path), (item.location[1] or 0) + 1, f"Skipped: {excinfo.value}")
        if isinstance(excinfo.value, NotApplicable):
            report.user_properties.append(("not_applicable", True))
    elif excinfo is not None and isinstance(excinfo.value, GonogoError):
        # One line: what happened and what to do, not a stack of gonogo internals.
        report.longrepr = excinfo.getrepr(style="value", chain=False)

    captures = item.stash.get(CAPTURES_KEY, None)
    state = item.config.stash.get(STATE, None)
    if state is not None and state.envs and report.failed and call.when == "call":
        _waive_or_explain(state, item, report)
    attach = call.when == "call" or report.failed
    if attach and captures is not None and captures.bundle is not None and captures.saved:
        extras = _html_extras(captures.bundle, captures.saved)
        # pytest-html reads `report.extras`; its own wrapper merges these in.
        report.extras = [*getattr(report, "extras", []), *extras]  # type: ignore[attr-defined]
        captures.saved = []
    _redact_report(report)
    return report


@dataclasses.dataclass
class _Crash:
    path: str
    lineno: int
    message: str


class _RedactedRepr:
    """A failure's text with secrets masked, keeping the one-line crash message
    that the short summary and JUnit's message attribute read."""

    def __init__(self, text: str, crash: _Crash | None) -> None:
        self.text = text
        self.reprcrash = crash

    def toterminal(self, tw: Any) -> None:
        for line in self.text.splitlines():
            tw.line(line)

    def __str__(self) -> str:
        return self.text


def _waive_or_explain(state: Run, item: pytest.Item, report: pytest.TestReport) -> None:
    """A valid policy exception turns a failure into a waiver (xfail, naming the row);
    any other failure says how to file one."""
    cover = next((e for e in state.exceptions if e.valid and e.covers(item.nodeid)), None)
    if cover is None:
        addsection = getattr(report.longrepr, "addsection", None)
        if callable(addsection):
            addsection("gonogo policy exceptions", HOW_TO_WAIVE)
        return
    why = message(report) or "failed"
    report.outcome = "skipped"
    report.wasxfail = f"waived by {cover.id} ({cover.link}): {why}"
    report.user_properties += [("exception", cover.id), ("exception_link", cover.link)]


def _redact_report(report: pytest.TestReport) -> None:
    if report.longrepr is not None:
        text = str(report.longrepr)
        cleaned = REDACTOR.text(text)
        if cleaned != text:
            crash = getattr(report.longrepr, "reprcrash", None)
            report.longrepr = _RedactedRepr(  # type: ignore[assignment]
                cleaned,
                _Crash(str(crash.path), int(crash.lineno), REDACTOR.text(str(crash.message)))
                if crash is not None
                else None,
            )
    report.sections = [(title, REDACTOR.text(content)) for title, content in report.sections]
    report.user_properties = [(k, REDACTOR.text(str(v))) for k, v in report.user_properties]


# -- the end of the run ---------------------------------------------------------------


class _Controller:
    """Registered only where the bundle is sealed: in-process runs and the xdist controller.

    xdist sends every worker's reports here, so the outcomes in bundle.json
    are complete however the run was distributed.
    """

    def __init__(self, state: Run) -> None:
        self.state = state

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.state.record(report)

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(
        self, session: pytest.Session, exitstatus: int
    ) -> Generator[None, None, None]:
        # Before the other sessionfinish hooks: the verdict is judged, for the HTML banner.
        self.state.fold_deselected()
        self.state.judge()
        # After them: JUnit and HTML are written by then.
        result = yield
        self.state.finish(
            session.config.rootpath, list(session.config.invocation_params.args), int(exitstatus)
        )
        return result


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None or state.verdict is None:
        return
    verdict = state.verdict
    terminalreporter.write_sep(
        "=",
        f"gonogo verdict: {verdict.decision}",
        bold=True,
        red=verdict.decision == "NO-GO",
        green=verdict.decision.startswith("GO"),
        yellow=verdict.decision == "INCOMPLETE",
    )
    terminalreporter.write_line(verdict.summary())
    for row in verdict.invalid_exceptions:
        problems = "; ".join(row["problems"])
        terminalreporter.write_line(
            f"invalid policy exception {row['id'] or '?'} ({row['link']}): {problems}"
        )


@pytest.hookimpl(optionalhook=True)
def pytest_html_report_title(report: Any) -> None:
    state = report._config.stash.get(STATE, None) if hasattr(report, "_config") else None
    envs = ", ".join(state.env_names) if state is not None and state.envs else "no env"
    report.title = f"gonogo release verification: {envs}"


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_summary(prefix: list[str], session: pytest.Session) -> None:
    """The verdict banner and the per-gate table, at the top of the HTML report."""
    state = session.config.stash.get(STATE, None)
    if state is None or state.verdict is None:
        return
    from gonogo.report import verdict_banner

    prefix.append(verdict_banner(state.verdict))


def pytest_unconfigure(config: pytest.Config) -> None:
    state = config.stash.get(STATE, None)
    if state is None:
        return
    state.stop_sandboxes()  # a safety net: normally stopped before the bundle is sealed
    if state.sealed is None:
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    line = f"gonogo evidence bundle: {state.sealed}"
    if reporter is not None:
        reporter.write_line(line)
    else:
        print(line, file=sys.stderr)
