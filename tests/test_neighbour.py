"""gonogo in the team's own repository (#31): a plugin that costs other runs nothing, options
that give way to the project's own, and a run that collects the packs and checks/ only."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import only_bundle

PING = """
def test_ping(env, evidence):
    r = env.http.get("/api/ping")
    evidence.save("api_ping.json", {"status": r.status_code})
    assert r.status_code == 200
"""

# A project that declares its own --env, as many do, and a unit test that reads it.
OWN_ENV = """
def pytest_addoption(parser):
    parser.addoption("--env", default="dev", help="the project's own: which stage to test")
"""
UNIT = """
def test_reads_its_own_env(request):
    assert request.config.getoption("env") == "qa"
"""


@pytest.fixture
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GONOGO_GREEN_TOKEN", "green-token-value-0001")
    monkeypatch.delenv("GONOGO_ENV_FILE", raising=False)


def test_a_project_with_its_own_env_option_runs_unaffected(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(OWN_ENV)
    pytester.makepyfile(test_unit=UNIT)
    result = pytester.runpytest("--env", "qa")
    result.assert_outcomes(passed=1)
    # The one line: whose --env it is, and gonogo's name for its own.
    result.stdout.fnmatch_lines(
        ["gonogo: this project declares --env (gonogo's is --gonogo-env) itself; gonogo read*"]
    )
    assert "gonogo verdict" not in result.stdout.str()


@pytest.mark.usefixtures("_token")
def test_the_prefixed_option_runs_gonogo_beside_the_projects_own(
    pytester: pytest.Pytester, make_envs
) -> None:
    make_envs("green")
    pytester.makeconftest(OWN_ENV)
    (pytester.path / "smoke").mkdir()
    (pytester.path / "smoke" / "test_ping.py").write_text(PING)
    result = pytester.runpytest("--gonogo-env", "green", "smoke")
    result.assert_outcomes(passed=1)
    # Packs other than the installed ones are said where the run starts.
    result.stdout.fnmatch_lines(
        [f"gonogo packs: {pytester.path} (the ini's gonogo_packs, not the installed ones)"]
    )
    manifest = json.loads((only_bundle(pytester.path) / "bundle.json").read_text())
    assert [t["nodeid"] for t in manifest["tests"]] == ["smoke/test_ping.py::test_ping[green]"]


def test_a_run_without_gonogo_gets_none_of_its_fixtures_or_hooks(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(
        "def pytest_sessionfinish(session):\n"
        "    pm = session.config.pluginmanager\n"
        "    print('HOOKS', pm.has_plugin('gonogo-run'), 'LOCUST', pm.has_plugin('locust'))\n"
    )
    pytester.makepyfile(
        "import pytest\n\n"
        "def test_names_are_the_projects(request):\n"
        "    for name in ('env', 'http', 'release', 'metrics', 'database', 'progress'):\n"
        "        assert name not in request.fixturenames\n"
        "        try:\n"
        "            request.getfixturevalue(name)\n"
        "        except pytest.FixtureLookupError:\n"
        "            continue\n"
        "        raise AssertionError(name + ' is defined')\n"
    )
    result = pytester.runpytest("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*HOOKS False LOCUST True"])


@pytest.mark.usefixtures("_token")
def test_a_gonogo_run_blocks_locusts_plugin(pytester: pytest.Pytester, make_envs) -> None:
    make_envs("green")
    pytester.makeconftest(
        "def pytest_sessionfinish(session):\n"
        "    pm = session.config.pluginmanager\n"
        "    print('HOOKS', pm.has_plugin('gonogo-run'), 'LOCUST', pm.has_plugin('locust'))\n"
    )
    (pytester.path / "smoke").mkdir()
    (pytester.path / "smoke" / "test_ping.py").write_text(PING)
    result = pytester.runpytest("-s", "--gonogo-env", "green")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*HOOKS True LOCUST False"])


@pytest.mark.usefixtures("_token")
def test_a_run_naming_no_paths_collects_the_packs_and_checks_not_the_repo(
    pytester: pytest.Pytester, make_envs
) -> None:
    make_envs("green")
    pytester.makeini("[pytest]\ngonogo_packs = packs\ntestpaths = tests\n")
    for folder in ("packs/smoke", "checks", "tests"):
        (pytester.path / folder).mkdir(parents=True)
        (pytester.path / folder / f"test_{folder.replace('/', '_')}.py").write_text(PING)
    result = pytester.runpytest("--gonogo-env", "green", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*smoke/test_packs_smoke.py::test_ping?green? PASSED*", "*checks/test_checks.py::*"]
    )
    assert "tests/test_tests.py" not in result.stdout.str()
    # Without gonogo, the project's testpaths are its own.
    plain = pytester.runpytest("-p", "no:gonogo", "--co", "-q")
    plain.stdout.fnmatch_lines(["tests/test_tests.py::test_ping"])


@pytest.mark.usefixtures("_token")
def test_a_gonogo_checks_folder_that_is_missing_is_one_line(
    pytester: pytest.Pytester, make_envs
) -> None:
    make_envs("green")
    pytester.makeini("[pytest]\ngonogo_packs = .\ngonogo_checks = our-checks\n")
    result = pytester.runpytest("--gonogo-env", "green")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: gonogo_checks names */our-checks, which is not a folder; create it or fix *"]
    )


def test_the_entry_point_imports_nothing_heavy() -> None:
    """pytest imports the entry point into every run of the venv: it brings pytest and
    gonogo's bottom layer, never a client, pydantic or the run's machinery."""
    done = subprocess.run(
        [sys.executable, "-c",
         "import sys, json, gonogo.plugin; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    modules = set(json.loads(done.stdout))
    ours = {m for m in modules if m == "gonogo" or m.startswith("gonogo.")}
    assert ours == {
        "gonogo",
        "gonogo.errors",
        "gonogo.layout",
        "gonogo.options",
        "gonogo.plugin",
        "gonogo.plugin.options",
        "gonogo.vocabulary",
    }
    heavy = ("neo4j", "confluent_kafka", "kubernetes", "matplotlib", "httpx", "pydantic")
    assert not [m for m in modules if m.split(".")[0] in heavy]
