"""The load engine's pytest side, without pytest: one Plan and one run per (env, plan).

A plan is built once per process (`PlanBook`): collection parametrizes its
threshold items from it, the announcement prints where its load goes, and the
run sends it. The xdist controller, which collects nothing, learns the plans
from node ids (`plans_in`).

Each threshold is its own pytest item, and under xdist those items can land
on different worker processes; the run must still happen once. The first
item to ask takes a file lock in the plan's evidence folder and runs the
plan; the others wait on the lock and read the summary it left. A failed
run is recorded there too, so it is reported by every item, not retried.
"""

from __future__ import annotations

import contextlib
import fcntl
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from gonogo.checks import says
from gonogo.config import EnvSettings
from gonogo.errors import ConfigError, GonogoError
from gonogo.evidence import Captures, cite
from gonogo.load.engine import (
    Engine,
    GeneratorSaturated,
    LoadError,
    LoadResult,
    Progress,
    read_summary,
    stderr_line,
)
from gonogo.load.plan import Plan, build_plan, plan_names
from gonogo.load.threshold import PlanError, Threshold

FAILED = "failed.txt"


class LoadRefused(ConfigError):
    """Load aimed at a production env without --allow-load."""


class GonogoLoadWarning(UserWarning):
    """A threshold judged on too few samples to mean what it says."""


def refuse_production(settings: EnvSettings, allow: bool) -> None:
    if settings.production and not allow:
        raise LoadRefused(
            f"env '{settings.name}' is production: gonogo sends no load to it unless "
            "--allow-load is given (and the plan's rates are what you intend)"
        )


def probe_refusal(env: str, check: str) -> str:
    """Why a probe that sends load (not a plan) is refused on production, and what to do."""
    return (
        f"{check} sends load or writes beyond the smoke's single requests to env '{env}', "
        "which is production; add --allow-load if that is really intended, or deselect "
        "it (-m 'slo and not load')"
    )


def target_of(settings: EnvSettings) -> dict[str, Any]:
    """What the children need to reach the env; names of secrets travel, never values."""
    assert settings.base_url is not None
    target: dict[str, Any] = {
        "base_url": settings.base_url,
        "graphql_path": settings.graphql_path,
        "persisted": settings.graphql.persisted,
        "operations": settings.operations.model_dump(),
        "verify_tls": settings.verify_tls,
        "timeout_s": settings.timeout_s,
    }
    if settings.graph is not None:
        target |= {
            "graph_uri": settings.graph.uri,
            "graph_user": settings.graph.user,
            "graph_database": settings.graph.database,
        }
    return target


class PlanBook:
    """Each (env, plan) built once in this process, from the env's settings as its checks
    see them and the load marker's overrides; a plan that cannot be built is kept as its
    error (NotConfigured: the items skip, naming the table; PlanError: collection fails)."""

    def __init__(self) -> None:
        self._built: dict[tuple[str, str], tuple[Plan | GonogoError, dict[str, Any]]] = {}

    def get(
        self, settings: EnvSettings, name: str, overrides: dict[str, Any] | None = None
    ) -> Plan:
        key = (settings.name, name)
        wanted = {k: v for k, v in (overrides or {}).items() if k in ("thresholds", "scenarios")}
        if key not in self._built:
            built: Plan | GonogoError
            try:
                built = build_plan(settings, name, **wanted)
            except GonogoError as exc:
                built = exc
            else:
                if settings.base_url is not None:
                    built.target = target_of(settings)
            self._built[key] = (built, wanted)
        plan, built_with = self._built[key]
        if overrides is not None and wanted != built_with:
            raise PlanError(
                f"load plan '{name}' of env '{settings.name}' is marked twice with different "
                "thresholds or scenarios, but runs once; give one of them a plan of its own"
            )
        if isinstance(plan, GonogoError):
            raise plan
        return plan


def plans_in(envs: list[EnvSettings], nodeids: list[str]) -> dict[tuple[str, str], int]:
    """(env, plan) -> threshold items, read from node ids (`...[ENV-PLAN-THRESHOLD]`), so the
    xdist controller, which collects nothing itself, knows them too."""
    prefixes = {f"[{s.name}-{plan}-": (s.name, plan) for s in envs for plan in plan_names(s)}
    plans: dict[tuple[str, str], int] = {}
    for nodeid in nodeids:
        at = nodeid.find("[")
        for prefix, key in prefixes.items():
            if at >= 0 and nodeid.startswith(prefix, at):
                plans[key] = plans.get(key, 0) + 1
    return plans


def refusal(env: str, plan: str, count: int) -> str:
    """Why load to a production env is refused before anything is sent, and what to do."""
    return (
        f"load plan '{plan}' ({count} threshold check(s)) targets env '{env}', which is "
        "production; add --allow-load if that load is really intended, or deselect "
        "it (-m 'slo and not load')"
    )


def announcement(book: PlanBook, settings: EnvSettings, plan_name: str) -> str:
    """Where a plan's requests go, said before any is sent, as the engine says it again."""
    try:
        where = book.get(settings, plan_name).destination()
    except GonogoError:
        where = str(settings.base_url)
    if settings.base_url is None:
        where = "None"
    return f"gonogo load: plan '{plan_name}' will send load to {where} (env {settings.name})"


def exclusive(folder: Path) -> contextlib.AbstractContextManager[None]:
    """Hold the env's load lock (`folder` = its captures/load) for a load-like probe."""
    return _locked(folder)


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_once(
    plan: Plan,
    folder: Path,
    engine: Callable[[], Engine],
    after: Callable[[LoadResult], None] | None = None,
) -> LoadResult:
    """The plan's result in `folder`: run now if no process of this gonogo run has.

    The env's load lock (the parent folder's) is held too: plans and the other load
    probes of one env never overlap, or each would measure the others' load.
    """
    with _locked(folder.parent), _locked(folder):
        failed = folder / FAILED
        if failed.is_file():
            raise LoadError(failed.read_text(encoding="utf-8").strip())
        if (folder / "summary.json").is_file():
            return read_summary(folder)
        try:
            result = engine().run(plan, folder)
        except GonogoError as exc:
            failed.write_text(f"{exc}\n", encoding="utf-8")
            raise
        if after is not None:
            after(result)
        return result


def judge_item(result: LoadResult, threshold: Threshold, evidence: Captures) -> tuple[bool, str]:
    """Every threshold item's body: judge, attach the evidence, and the failure message
    (measured value, limit, margin, samples, where the summary is)."""
    judgement = result.judge(threshold)
    saturated = result.saturation(threshold, judgement)
    for name in ("summary.json", "latency.png", "rate.png", "distribution.png", "locust.html"):
        path = result.folder / name
        if path.is_file() and (name != "distribution.png" or threshold.aggregation == "p"):
            evidence.attach(path)
    if judgement.note:
        warnings.warn(
            f"{threshold.id} in plan '{result.plan.name}': {judgement.note}",
            GonogoLoadWarning,
            stacklevel=2,
        )
    if judgement.value is not None:
        evidence.measured(judgement.value, threshold.limit, threshold.unit)
    got = judgement.said(result.summary, result.plan.max_requests)
    if saturated:  # after the evidence is attached: the report shows what was measured
        raise GeneratorSaturated(f"{saturated}; summary: {cite(result.summary_path)}")
    message = says(f"{threshold.id} (plan '{result.plan.name}')", got, result.summary_path)
    return judgement.ok, message


_RESULTS: dict[Path, LoadResult] = {}


def load_for(
    env: Any,
    plan: Plan,
    *,
    folder: Path,
    workers: int,
    allow: bool,
    say: Callable[[str], None] | None = None,
    progress: Progress | None = None,
    export: Path | None = None,
    testid: str,
) -> LoadResult:
    """The env's plan, run once into `folder` (gonogo.env.Environment as `env`); `export`:
    a folder for the result in k6's --summary-export shape too; `testid`: the run's name on
    the dashboards [load] remote_write feeds (the bundle's)."""
    from gonogo.load.plots import write_plots

    cached = _RESULTS.get(folder)
    if cached is not None:
        return cached
    settings: EnvSettings = env.settings
    refuse_production(settings, allow)

    def engine() -> Engine:
        kinds = plan.request_kinds()
        # An env without token_env (and not the sandbox) is called without a token.
        needs_token = env.sandbox is not None or settings.token_env is not None
        token = env.token() if kinds & {"http", "graphql"} and needs_token else None
        password = None
        if "cypher" in kinds and settings.graph is not None and settings.graph.password_env:
            password = settings.read_secret(
                settings.graph.password_env, "graph password", "graph.password_env"
            )
        from gonogo.load import remotewrite

        return Engine(
            workers=workers,
            token=token,
            graph_password=password,
            say=say,
            remote_workers=settings.load.remote_workers,
            master=settings.load.master,
            progress=progress,
            remote_write=remotewrite.for_plan(
                settings, plan, testid, say or stderr_line, env.on_request
            ),
        )

    def after(result: LoadResult) -> None:
        try:
            write_plots(result)
        except ImportError as exc:  # the [plots] extra is not installed
            warnings.warn(f"load plan '{plan.name}': {exc}", stacklevel=1)
        except Exception as exc:  # a plot is not worth failing a gate for
            warnings.warn(f"plots for load plan '{plan.name}' failed: {exc}", stacklevel=1)
        if export is not None:
            from gonogo.load import k6export

            try:
                written = k6export.write(result, export, env.name)
            except OSError as exc:
                raise ConfigError(
                    f"--load-summary-export {export}: cannot write there ({exc.strerror}); "
                    "give a folder this run may write"
                ) from None
            if say is not None:
                say(f"gonogo load: k6 summary export {written}")

    result = run_once(plan, folder, engine, after)
    _RESULTS[folder] = result
    return result
