"""Load plans in pytest: threshold items, the announcement before any load, and the fixtures.

The logic lives in gonogo.load.session (plans built once per process, node
ids read back into plans, the lines said); this module only parametrizes,
raises pytest's usage errors and writes to the terminal.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from gonogo.env import Environment
from gonogo.errors import NotConfigured
from gonogo.evidence import Bundle
from gonogo.load import session
from gonogo.load.engine import Progress
from gonogo.load.threshold import PlanError
from gonogo.plugin.state import ENV_PARAM, LOAD_WORKERS, PLANS, RUN


def parametrize_thresholds(metafunc: pytest.Metafunc, names: list[str | None]) -> None:
    """One item per (env, threshold) of the check's load plan: each its own JUnit testcase.

    A threshold that names an unknown metric, tag or value fails collection here,
    before any load is sent; a plan the env cannot run (no [graph]) becomes one
    skipped item saying why.
    """
    marker = metafunc.definition.get_closest_marker("load")
    if marker is None or not marker.args:
        pytest.fail(
            f"{metafunc.definition.nodeid}: a check taking `threshold` needs "
            "@pytest.mark.load('PLAN')",
            pytrace=False,
        )
    plan_name = str(marker.args[0])
    run = metafunc.config.stash[RUN]
    values: list[tuple[str | None, Any]] = []
    ids: list[str] = []
    for name in names:
        if name is None:
            values.append((None, None))
            ids.append("no-env")
            continue
        try:
            plan = metafunc.config.stash[PLANS].get(
                run.envs.settings(name), plan_name, dict(marker.kwargs)
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
        [ENV_PARAM, "threshold"], values, ids=ids, indirect=[ENV_PARAM], scope="session"
    )


def probes(items: list[pytest.Item]) -> list[tuple[str, str]]:
    """(env, check) of each item marked `load` without a plan: a probe that sends load."""
    found = []
    for item in items:
        marker = item.get_closest_marker("load")
        callspec = getattr(item, "callspec", None)
        if marker is not None and not marker.args and callspec is not None:
            env = callspec.params.get(ENV_PARAM)
            if isinstance(env, str):
                found.append((env, item.name))
    return found


def announce(
    config: pytest.Config,
    nodeids: list[str],
    *,
    can_stop: bool,
    probes: Sequence[tuple[str, str]] = (),
) -> None:
    """Before any load: refuse production without --allow-load; print every target.

    Under xdist the items are already on their workers; there each refused item
    errors with the same line (the `load_result` and `load_slot` fixtures), and no load
    is sent. In one process, a refused plan or probe stops the run before anything runs.
    """
    run = config.stash[RUN]
    if run.load_announced:
        return
    run.load_announced = True
    allow = bool(config.getoption("gonogo_allow_load"))
    if can_stop and not allow:
        for env, check in probes:
            if run.envs.settings(env).production:
                raise pytest.UsageError(session.probe_refusal(env, check))
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    for (env, plan), count in sorted(session.plans_in(run.envs.all, nodeids).items()):
        settings = run.envs.settings(env)
        if settings.production and not allow:
            line = session.refusal(env, plan, count)
            if can_stop:
                raise pytest.UsageError(line)
            line = f"gonogo load: refused: {line}"
        else:
            line = session.announcement(config.stash[PLANS], settings, plan)
        if run.bundle is not None:
            run.bundle.log(line)
        if reporter is not None:
            reporter.write_line(line)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node: Any, ids: list[str]) -> None:
    """xdist: the controller learns the items from its workers; announce load once."""
    if node.config.stash[RUN].envs.all:
        announce(node.config, list(ids), can_stop=False)


def _load_dir(bundle: Bundle, env: str) -> Path:
    """The env's load folder: its plans' evidence, and the lock they and the probes share."""
    return bundle.captures_dir(env) / "load"


@pytest.fixture
def load_result(env: Environment, request: pytest.FixtureRequest) -> Any:
    """The check's load plan, run once per env for the whole gonogo run (all its threshold
    items share it, whichever xdist worker they land on): gonogo.load.engine.LoadResult."""
    threshold = request.node.callspec.params.get("threshold")
    if isinstance(threshold, NotConfigured):
        raise threshold  # the plan cannot run here (a skip naming the missing table)
    marker = request.node.get_closest_marker("load")
    run = request.config.stash[RUN]
    if run.bundle is None:
        pytest.skip("load plans run only with an evidence bundle (not under --collect-only)")
    bundle = run.bundle
    plan = request.config.stash[PLANS].get(env.settings, str(marker.args[0]), dict(marker.kwargs))

    def say(line: str) -> None:
        bundle.log(line)
        sys.stderr.write(line + "\n")

    return session.load_for(
        env,
        plan,
        folder=_load_dir(bundle, env.name) / plan.name,
        workers=request.config.stash[LOAD_WORKERS] or env.settings.load.workers,
        allow=bool(request.config.getoption("gonogo_allow_load")),
        say=say,
        progress=_progress(request.config),
        export=_export_dir(request.config),
        testid=bundle.root.name,
    )


def _export_dir(config: pytest.Config) -> Path | None:
    """--load-summary-export, relative to where pytest was started (like --junitxml)."""
    value = config.getoption("gonogo_load_summary_export")
    return Path(config.invocation_params.dir, value) if value else None


def _progress(config: pytest.Config) -> Progress | None:
    """The plan's live line on the terminal, past pytest's capture (as -s would show it);
    none with -q -q."""
    if config.get_verbosity() <= -2:
        return None
    capture = config.pluginmanager.getplugin("capturemanager")

    def write(text: str) -> None:
        disabled = capture.global_and_fixture_disabled() if capture else contextlib.nullcontext()
        with disabled:
            sys.stderr.write(text)
            sys.stderr.flush()

    return Progress(write, tty=bool(sys.__stderr__ and sys.__stderr__.isatty()))


@pytest.fixture
def progress(request: pytest.FixtureRequest) -> Iterator[Callable[[str], None]]:
    """A long probe's live line (the stream end to end, the fan-out), shown like a load
    plan's: in place on a terminal at most once a second, every 10 s in CI logs, nothing
    with -q -q."""
    shown = _progress(request.config)
    if shown is None:
        yield lambda _line: None
        return
    try:
        yield shown.line
    finally:
        shown.done()


@pytest.fixture
def load_slot(env: Environment, request: pytest.FixtureRequest) -> Iterator[None]:
    """Hold the env's load lock for this check: no load plan (or other probe holding it)
    runs against the env meanwhile, whichever xdist worker it is on. A probe marked `load`
    is refused on a production env without --allow-load, before it sends anything."""
    marker = request.node.get_closest_marker("load")
    if (
        marker is not None
        and env.settings.production
        and not request.config.getoption("gonogo_allow_load")
    ):
        raise session.LoadRefused(session.probe_refusal(env.name, request.node.name))
    run = request.config.stash[RUN]
    if run.bundle is None:
        yield
        return
    with session.exclusive(_load_dir(run.bundle, env.name)):
        yield
