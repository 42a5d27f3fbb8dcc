"""The fixtures a check asks for: `env` (one per --env), its clients, evidence, release.

One root fixture, parametrized at collection (pytest-testinfra's `--hosts`):
the private `_gonogo_env_name` carries the env's name into every test id,
and `env` opens that env once per process through `Run.open`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gonogo.env import Environment
from gonogo.errors import NotApplicable
from gonogo.evidence import Captures
from gonogo.plugin import load
from gonogo.plugin.state import CAPTURES_KEY, ENV_PARAM, RUN


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """--env as every check's parameter: the env fixture below is opened once per value."""
    if ENV_PARAM not in metafunc.fixturenames:
        return
    names: list[str | None] = list(metafunc.config.stash[RUN].envs.names) or [None]
    if "threshold" in metafunc.fixturenames:
        load.parametrize_thresholds(metafunc, names)
        return
    metafunc.parametrize(
        ENV_PARAM, names, ids=[n or "no-env" for n in names], indirect=True, scope="session"
    )


@pytest.fixture(scope="session")
def _gonogo_env_name(request: pytest.FixtureRequest) -> str:
    name = getattr(request, "param", None)
    if not isinstance(name, str):
        pytest.fail("this check needs an environment: pass --env NAME", pytrace=False)
    return name


@pytest.fixture(scope="session")
def env(_gonogo_env_name: str, request: pytest.FixtureRequest) -> Iterator[Environment]:
    """The environment under test, one per --env; clients are created on first use."""
    run = request.config.stash[RUN]
    environment = run.envs.open(_gonogo_env_name, run.bundle)
    try:
        yield environment
    finally:
        environment.close()


@pytest.fixture(scope="session")
def env_evidence(env: Environment, request: pytest.FixtureRequest) -> Captures:
    """Captures that belong to the env's run rather than to one check (e.g. a first scrape)."""
    run = request.config.stash[RUN]
    return Captures(run.bundle, env.name if len(run.envs.all) > 1 else None, f"session[{env.name}]")


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
def policy_exceptions(request: pytest.FixtureRequest) -> list[Any]:
    """The run's policy exceptions (gonogo.run.verdict.PolicyException), valid or not."""
    return list(request.config.stash[RUN].outcomes.exceptions)


def _day_only(request: pytest.FixtureRequest, name: str, without: str) -> Any:
    """What a cutover step passes a day-only check (RunEnvs.<name>). Without it the check is
    n/a, not a skip: outside its steps nothing is anyone's to expect, and a healthy smoke run
    must not turn INCOMPLETE for it."""
    value = getattr(request.config.stash[RUN].envs, name)
    if value is None or value is False or value == {}:
        raise NotApplicable(without)
    return value


@pytest.fixture
def expected_weights(request: pytest.FixtureRequest) -> dict[str, float]:
    """The route weights expected now (--expect-weights): the cutover's T-10 and T-0."""
    weights: dict[str, float] = _day_only(
        request,
        "expected_weights",
        "no route weights expected now (pass --expect-weights blue=10,green=90; the "
        "cutover day's T-10 and T-0 steps pass theirs)",
    )
    return weights


@pytest.fixture
def expected_shadow(request: pytest.FixtureRequest) -> float:
    """The share the edge must mirror to green now (--expect-shadow): T-40 to the flip."""
    percent: float = _day_only(
        request,
        "expected_shadow",
        "no shadow traffic expected now (pass --expect-shadow 100; the cutover day's T-40 "
        "step passes its own)",
    )
    return percent


@pytest.fixture
def expected_operational(request: pytest.FixtureRequest) -> bool:
    """Whether the status page must read Operational now (--expect-operational): through the
    window the page says maintenance, on purpose."""
    expected: bool = _day_only(
        request,
        "expected_operational",
        "the status page is not expected Operational now (pass --expect-operational; the "
        "cutover day's T+30 step passes it)",
    )
    return expected


@pytest.fixture
def freeze_since(request: pytest.FixtureRequest) -> Any:
    """When the change freeze began (--freeze-since). Without it the freeze check is n/a: no
    freeze is on outside the cutover day, and a plain smoke run must not turn INCOMPLETE."""
    return _day_only(
        request,
        "freeze_since",
        "no change freeze is on (pass --freeze-since TIME; the cutover day's steps after "
        "T-60 pass the time T-60 began it)",
    )


@pytest.fixture
def release(env: Environment) -> Any:
    """The release's own files (gonogo.release.Release): skipped when the env names none."""
    return env.release
