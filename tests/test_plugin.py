"""The pytest plugin, driven through pytester against a real local HTTP target."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import bundles, only_bundle

pytestmark = pytest.mark.usefixtures("_token")


@pytest.fixture
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GONOGO_GREEN_TOKEN", "green-token-value-0001")
    monkeypatch.setenv("GONOGO_BLUE_TOKEN", "blue-token-value-0002")
    monkeypatch.delenv("GONOGO_ENV_FILE", raising=False)


PING = """
def test_ping(env, evidence):
    r = env.http.get("/api/ping")
    evidence.save("api_ping.json", {"status": r.status_code})
    assert r.status_code == 200
"""


def test_options_are_in_a_named_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "gonogo release verification:",
            "*--env=NAME*",
            "*--env-file=PATH*",
            "*--evidence-dir=DIR*",
        ]
    )


def test_markers_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(
        [
            "@pytest.mark.smoke: *",
            "@pytest.mark.slo: *",
            "@pytest.mark.security: *",
            "@pytest.mark.dataops: *",
        ]
    )


def test_pack_folders_get_their_marker(pytester: pytest.Pytester, make_envs) -> None:
    make_envs("green")
    for pack in ("smoke", "slo", "security", "dataops"):
        pytester.mkdir(pack)
        (pytester.path / pack / f"test_{pack}.py").write_text("def test_it(env):\n    pass\n")
    result = pytester.runpytest(
        "-m", "smoke", "--env", "green", "--strict-markers", "--strict-config"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*1 passed, 3 deselected*"])


def test_runs_once_per_env_with_the_name_in_the_id(pytester: pytest.Pytester, make_envs) -> None:
    make_envs("green", "blue")
    pytester.makepyfile(PING)
    result = pytester.runpytest("-v", "--env", "green", "--env", "blue")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_ping[[]green[]] PASSED*", "*test_ping[[]blue[]] PASSED*"])
    bundle = only_bundle(pytester.path)
    assert bundle.parent.name == "green+blue"
    assert (bundle / "captures" / "green" / "api_ping.json").is_file()
    assert (bundle / "captures" / "blue" / "api_ping.json").is_file()


def test_comma_separated_envs(pytester: pytest.Pytester, make_envs) -> None:
    make_envs("green", "blue")
    pytester.makepyfile(PING)
    pytester.runpytest("--env", "green,blue").assert_outcomes(passed=2)


def test_env_file_option_and_variable(pytester: pytest.Pytester, make_envs, monkeypatch) -> None:
    path = make_envs("green")
    moved = pytester.path / "elsewhere.toml"
    path.rename(moved)
    pytester.makepyfile(PING)
    pytester.runpytest("--env", "green", "--env-file", str(moved)).assert_outcomes(passed=1)
    monkeypatch.setenv("GONOGO_ENV_FILE", str(moved))
    pytester.runpytest("--env", "green").assert_outcomes(passed=1)


def test_unknown_env_is_one_line_with_a_suggestion(pytester: pytest.Pytester, make_envs) -> None:
    make_envs("green", "blue")
    pytester.makepyfile(PING)
    result = pytester.runpytest("--env", "gren")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: unknown env 'gren' in *environments.toml: did you mean 'green'? known envs: blue, green"
        ]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
    assert bundles(pytester.path) == []


def test_malformed_toml_is_one_line_with_the_line(pytester: pytest.Pytester) -> None:
    (pytester.path / "environments.toml").write_text("[environments.green]\nbase_url = 'x\n")
    pytester.makepyfile(PING)
    result = pytester.runpytest("--env", "green")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: *environments.toml:2: malformed TOML: Expected * (unclosed at the end of the file); fix the syntax there"
        ]
    )
    assert "Traceback" not in result.stderr.str()


def test_missing_env_when_a_check_needs_one(pytester: pytest.Pytester, make_envs) -> None:
    """Packs' and the project's checks collected without gonogo asked for: one line, not one
    "fixture 'env' not found" per check."""
    make_envs("green")
    for folder in ("smoke", "checks"):
        (pytester.path / folder).mkdir()
        (pytester.path / folder / f"test_{folder}_ping.py").write_text(PING)
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: 2 selected check(s) need an environment (*test_ping*); pass --gonogo-env NAME (known: green)"
        ]
    )


def test_checks_without_env_run_without_one(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_plain():\n    pass\n")
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)
    assert bundles(pytester.path) == []


def test_missing_token_variable_is_an_error_naming_it(
    pytester: pytest.Pytester, make_envs, monkeypatch
) -> None:
    monkeypatch.delenv("GONOGO_GREEN_TOKEN")
    make_envs("green")
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture
        def ping(env):
            return env.http.get("/api/ping")

        def test_ping(ping):
            pass
        """
    )
    result = pytester.runpytest("--env", "green")
    result.assert_outcomes(errors=1)
    out = result.stdout.str()
    assert "env 'green': the bearer token variable GONOGO_GREEN_TOKEN is not set" in out
    assert "Traceback" not in out and "gonogo/config/" not in out
    result.stdout.fnmatch_lines(["*GONOGO_GREEN_TOKEN is not set; checks that need it will error*"])


def test_unreachable_host_names_url_timeout_and_cause(
    pytester: pytest.Pytester, make_envs, closed_port, monkeypatch
) -> None:
    make_envs("green", base_url=f"http://127.0.0.1:{closed_port}")
    pytester.makepyfile(PING)
    monkeypatch.setenv("COLUMNS", "300")
    result = pytester.runpytest("--env", "green")
    result.assert_outcomes(failed=1)
    cause = f"cannot reach http://127.0.0.1:{closed_port}/api/ping within 2 s (ConnectError: *"
    result.stdout.fnmatch_lines(
        [
            "*_ test_ping[[]green[]] _*",
            cause,
            "*short test summary*",
            f"FAILED *test_ping[[]green[]] - *Unreachable: {cause}",
        ]
    )
    assert "httpx/_transports" not in result.stdout.str()


def test_missing_table_is_a_skip_naming_it(pytester: pytest.Pytester, make_envs) -> None:
    make_envs("green")
    pytester.makepyfile(
        """
        def test_graph(env):
            env.graph.query("RETURN 1")

        def test_stream_fixture(stream):
            pass
        """
    )
    result = pytester.runpytest("--env", "green", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(
        [
            "SKIPPED *env 'green' has no [[]graph[]] table: the graph (Bolt) not checked*",
            "SKIPPED *env 'green' has no [[]stream[]] table: the Kafka stream not checked*",
        ]
    )


def test_bundle_contents(pytester: pytest.Pytester, make_envs, target) -> None:
    make_envs("green")
    pytester.makepyfile(
        PING
        + """
def test_fails(env, evidence):
    path = evidence.save("healthz.json", env.http.get("/healthz").json())
    assert False, f"expected ok=false; capture: {evidence.cite(path)}"

def test_skipped(env):
    import pytest
    pytest.skip("not today")
"""
    )
    result = pytester.runpytest("--env", "green")
    result.assert_outcomes(passed=1, failed=1, skipped=1)
    bundle = only_bundle(pytester.path)
    assert bundle.parent.name == "green"
    assert result.stdout.lines[-1] == f"gonogo evidence bundle: {bundle}"
    for name in (
        "junit.xml",
        "report.html",
        "steps.log",
        "bundle.json",
        "captures/api_ping.json",
        "captures/healthz.json",
        "captures/requests.jsonl",
    ):
        assert (bundle / name).is_file(), name
    manifest = json.loads((bundle / "bundle.json").read_text())
    assert manifest["schema"] == "gonogo.bundle/v1"
    listed = {f["path"] for f in manifest["files"]}
    assert {"junit.xml", "report.html", "steps.log", "captures/healthz.json"} <= listed
    assert all(len(f["sha256"]) == 64 and f["size"] > 0 for f in manifest["files"])
    assert manifest["envs"]["green"]["base_url"] == target
    assert manifest["envs"]["green"]["token_env"] == "GONOGO_GREEN_TOKEN"
    assert manifest["suite"]["gonogo"] and "pytest" in manifest["suite"]["packages"]
    assert manifest["run"]["started"] <= manifest["run"]["finished"]
    outcomes = {t["nodeid"].split("::")[-1]: t for t in manifest["tests"]}
    assert outcomes["test_ping[green]"]["outcome"] == "passed"
    assert outcomes["test_ping[green]"]["captures"] == ["captures/api_ping.json"]
    assert outcomes["test_fails[green]"]["outcome"] == "failed"
    assert "capture: reports/green/" in outcomes["test_fails[green]"]["message"]
    assert outcomes["test_skipped[green]"] == {
        **outcomes["test_skipped[green]"],
        "outcome": "skipped",
        "message": "not today",
    }
    assert manifest["summary"] == {"passed": 1, "failed": 1, "skipped": 1}
    assert outcomes["test_ping[green]"]["env"] == "green"
    requests = [
        json.loads(line) for line in (bundle / "captures/requests.jsonl").read_text().splitlines()
    ]
    assert {r["url"].removeprefix(target) for r in requests} == {"/api/ping", "/healthz"}
    assert all(r["elapsed_ms"] > 0 and r["test"] for r in requests)
    steps = (bundle / "steps.log").read_text()
    assert "PASSED " in steps and "FAILED " in steps and steps.startswith("[20")
    junit = (bundle / "junit.xml").read_text()
    assert 'name="test_ping[green]"' in junit and 'value="captures/api_ping.json"' in junit
    html = (bundle / "report.html").read_text()
    assert "captures/healthz.json" in html


def test_runs_never_overwrite_each_other(pytester: pytest.Pytester, make_envs) -> None:
    make_envs("green")
    pytester.makepyfile(PING)
    for _ in range(3):
        pytester.runpytest("--env", "green").assert_outcomes(passed=1)
    assert len(bundles(pytester.path)) == 3


def test_evidence_dir_option(pytester: pytest.Pytester, make_envs, tmp_path: Path) -> None:
    make_envs("green")
    pytester.makepyfile(PING)
    out = tmp_path / "evidence"
    pytester.runpytest("--env", "green", "--evidence-dir", str(out)).assert_outcomes(passed=1)
    assert len(list(out.glob("green/*/bundle.json"))) == 1


def test_user_junit_path_is_kept_and_copied_in(pytester: pytest.Pytester, make_envs) -> None:
    make_envs("green")
    pytester.makepyfile(PING)
    pytester.runpytest("--env", "green", "--junitxml", "ci.xml").assert_outcomes(passed=1)
    bundle = only_bundle(pytester.path)
    assert (pytester.path / "ci.xml").read_bytes() == (bundle / "junit.xml").read_bytes()


def test_captures_with_the_same_name_never_overwrite(pytester: pytest.Pytester, make_envs) -> None:
    make_envs("green")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("n", range(3))
        def test_many(env, evidence, n):
            evidence.save("metrics.prom", f"n {n}\\n")
        """
    )
    pytester.runpytest("--env", "green").assert_outcomes(passed=3)
    bundle = only_bundle(pytester.path)
    names = sorted(p.name for p in (bundle / "captures").glob("metrics*.prom"))
    assert names == ["metrics-2.prom", "metrics-3.prom", "metrics.prom"]
