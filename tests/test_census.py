"""Required means required, whatever selects the checks (issue: hardening, second round, 1).

The verdict learns "required" from the packs' files (gonogo.run.census), not from what a
session collected: node ids, paths, -k, -m, --deselect, --lf and a plugin that drops
items silently all leave a required check not run, and the verdict INCOMPLETE.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gonogo.cli import main as gonogo
from gonogo.layout import SHIPPED_PACKS, nodeid_prefix
from gonogo.run.census import census
from gonogo.vocabulary import PACKS
from tests.conftest import only_bundle
from tests.packs import REPO

PACK_FOLDERS = tuple(f"src/gonogo/packs/{pack}" for pack in PACKS)

PROBE = """
import json, os

def pytest_collection_finish(session):
    out = []
    for item in session.items:
        gate = item.get_closest_marker("gate")
        drill = item.get_closest_marker("drill")
        out.append([item.nodeid.split("[")[0], gate.args[0] if gate else None,
                    drill.args[0] if drill else None])
    with open(os.environ["CENSUS_OUT"], "w") as handle:
        json.dump(out, handle)
"""


def test_the_census_is_what_pytest_collects_from_the_packs(tmp_path: Path) -> None:
    """Static reading of the packs equals pytest's own collection of them: every check,
    its gate marker and its drill (a check added later is in the census by construction)."""
    (tmp_path / "census_probe.py").write_text(PROBE)
    out = tmp_path / "collected.json"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "-p", "no:gonogo", "-p", "census_probe", "-o", "addopts=", "-o", "filterwarnings=",
         *PACK_FOLDERS],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(tmp_path), "CENSUS_OUT": str(out)},
    )  # fmt: skip
    assert out.is_file(), done.stdout[-2000:] + done.stderr[-2000:]
    # A check's gate is its gate marker, else its pack (the folder's marker).
    collected = {(n, g or PACKS[n.split("/")[3]][0], d) for n, g, d in json.loads(out.read_text())}
    read = census(SHIPPED_PACKS, nodeid_prefix(SHIPPED_PACKS, REPO))
    assert {(c.nodeid, c.gate, c.drill) for c in read} == collected
    assert len(read) == len(collected) > 40


SMOKE = {
    "smoke/test_a.py": "def test_one(env):\n    pass\n\ndef test_two(env):\n    pass\n",
    "smoke/test_b.py": "def test_three(env):\n    pass\n",
    "slo/test_l.py": (
        "import pytest\n\n@pytest.mark.gate('C')\ndef test_budget(env):\n    pass\n\n"
        "@pytest.mark.drill('write-freeze')\ndef test_drill(env):\n    pass\n"
    ),
}
# A plugin that drops items without telling pytest_deselected (as some do).
SILENT_DROP = "def pytest_collection_modifyitems(items):\n    del items[1:]\n"


@pytest.fixture
def smoke_project(pytester: pytest.Pytester, make_envs, monkeypatch) -> pytest.Pytester:
    monkeypatch.setenv("GONOGO_GREEN_TOKEN", "green-token-value-0001")
    path = make_envs("green")
    path.write_text(
        path.read_text().replace(
            "timeout_s = 2\n", 'timeout_s = 2\nrequired_gates = ["smoke", "C"]\n'
        )
    )
    for name, body in SMOKE.items():
        (pytester.path / name).parent.mkdir(exist_ok=True)
        (pytester.path / name).write_text(body)
    return pytester


def _verdict(project: pytest.Pytester) -> dict:
    return json.loads((only_bundle(project.path) / "verdict.json").read_text())


@pytest.mark.parametrize(
    ("args", "missing"),
    [
        (["smoke/test_a.py::test_one"], {"test_a.py::test_two", "test_b.py::test_three", "test_l.py::test_budget"}),
        (["smoke/test_a.py"], {"test_b.py::test_three", "test_l.py::test_budget"}),
        (["smoke"], {"test_l.py::test_budget"}),
        (["-k", "one or budget"], {"test_a.py::test_two", "test_b.py::test_three"}),
        (["-m", "smoke"], {"test_l.py::test_budget"}),
        (["--deselect", "smoke/test_b.py::test_three[green]"], {"test_b.py::test_three"}),
        (["-p", "silent_drop"], {"test_a.py::test_one", "test_a.py::test_two", "test_b.py::test_three"}),
    ],
    ids=["node-id", "file-path", "folder", "-k", "-m", "--deselect", "plugin"],
)  # fmt: skip
def test_every_selection_that_leaves_a_required_check_out_is_incomplete(
    smoke_project: pytest.Pytester, args: list[str], missing: set[str], capsys
) -> None:
    (smoke_project.path / "silent_drop.py").write_text(SILENT_DROP)
    smoke_project.syspathinsert()
    result = smoke_project.runpytest("--env", "green", *args)
    assert result.ret == 0, result.stdout.str()[-2000:]
    verdict = _verdict(smoke_project)
    assert verdict["decision"] == "INCOMPLETE", verdict
    not_run = {n["check"].split("/")[-1].split("[")[0] for n in verdict["not_run"]}
    assert not_run == missing, verdict["not_run"]
    # The drill is never required, and the bundle says the same offline.
    assert not any("test_drill" in n["check"] for n in verdict["not_run"])
    capsys.readouterr()
    assert gonogo(["verdict", str(only_bundle(smoke_project.path))]) == 2
    assert "required not run" in capsys.readouterr().out


def test_last_failed_selection_is_incomplete(smoke_project: pytest.Pytester) -> None:
    (smoke_project.path / "smoke/test_b.py").write_text(
        "import os\n\ndef test_three(env):\n    assert os.environ.get('FIXED')\n"
    )
    first = smoke_project.runpytest_subprocess("--env", "green", "-p", "cacheprovider")
    first.assert_outcomes(passed=3, failed=1)
    os.environ["FIXED"] = "1"
    try:
        again = smoke_project.runpytest_subprocess("--env", "green", "--lf")
    finally:
        del os.environ["FIXED"]
    again.assert_outcomes(passed=1)
    latest = sorted((smoke_project.path / "reports").glob("green/*/verdict.json"))[-1]
    verdict = json.loads(latest.read_text())
    assert verdict["decision"] == "INCOMPLETE"
    assert {n["check"].split("::")[-1] for n in verdict["not_run"]} == {
        "test_one[green]", "test_two[green]", "test_budget[green]"
    }  # fmt: skip


def test_the_whole_selection_is_go(smoke_project: pytest.Pytester) -> None:
    smoke_project.runpytest("--env", "green").assert_outcomes(passed=4)
    assert _verdict(smoke_project)["decision"] == "GO"


def test_a_star_row_is_void_in_a_run_that_collected_one_file(
    smoke_project: pytest.Pytester,
) -> None:
    """A `*` Check is judged against the packs, not the run: one file collected, still void."""
    import datetime as dt

    today = dt.date.today()
    (smoke_project.path / "smoke/test_a.py").write_text(
        "def test_one(env):\n    assert False, 'expected 1; got 2'\n"
    )
    (smoke_project.path / "docs").mkdir()
    (smoke_project.path / "docs/policy-exceptions.md").write_text(
        "| ID | Check | Owner | Rationale | Risk | Created | Expiry |\n|---|---|---|---|---|---|---|\n"
        f"| PE-1 | * | sre | known | low | {today} | {today + dt.timedelta(days=2)} |\n"
    )
    result = smoke_project.runpytest("--env", "green", "smoke/test_a.py")
    result.assert_outcomes(failed=1)
    verdict = _verdict(smoke_project)
    assert verdict["decision"] == "NO-GO"
    (row,) = verdict["invalid_exceptions"]
    assert "matches checks in 3 files" in row["problems"][0]


def test_the_census_reads_module_marks_classes_and_the_closest_gate(tmp_path: Path) -> None:
    (tmp_path / "security").mkdir()
    (tmp_path / "security" / "test_x.py").write_text(
        "import pytest\nfrom pytest import mark\n\npytestmark = [pytest.mark.gate('A')]\n\n"
        "def test_a(env):\n    pass\n\n@mark.gate('B')\ndef test_b(env):\n    pass\n\n"
        "@pytest.mark.gate('C')\nclass TestGroup:\n    def test_c(self, env):\n        pass\n\n"
        "    def helper(self):\n        pass\n\nasync def test_d(env):\n    pass\n"
    )
    (tmp_path / "smoke").mkdir()
    (tmp_path / "smoke" / "test_broken.py").write_text("def test_(:\n")
    found = {(c.nodeid, c.gate) for c in census(tmp_path)}
    assert found == {
        ("security/test_x.py::test_a", "A"),
        ("security/test_x.py::test_b", "B"),
        ("security/test_x.py::TestGroup::test_c", "C"),
        ("security/test_x.py::test_d", "A"),
        ("smoke/test_broken.py::(the whole file: it does not parse)", "smoke"),
    }
