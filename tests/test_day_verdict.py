"""The day's Go/No-Go is the same rule as a run's (issue #32, 1).

Each step's bundle here is sealed as a run seals it (tests, required_gates, the packs'
census, the exceptions table's copy); the verdict steps read them back. The real day,
its steps run by pytest on the local env, is tests/test_cutover.py and
benchmarks/cutover_day.py.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from gonogo.day import cutover, pages, steps
from gonogo.errors import ConfigError
from gonogo.evidence import Bundle

DAY = """
[[steps]]
at = "T-45"
owner = "SRE-API"
action = "Health"
exit = "healthy"
marker = "smoke"

[[steps]]
at = "T-30"
owner = "DB/Graph"
action = "Migrations"
exit = "checksums pass"
marker = "dataops"

[[steps]]
at = "T-15"
owner = "IC"
action = "Final Go/No-Go checkpoint"
exit = "Approved to proceed"
kind = "verdict"

[[steps]]
at = "T+55"
owner = "IC"
action = "Blue hot"
exit = "blue healthy"
env = "blue"
marker = "smoke"

[[steps]]
at = "T+60"
owner = "IC"
action = "Sign-off"
exit = "Handoff to BAU"
kind = "verdict"
"""
TZ = dt.timezone(dt.timedelta(hours=-7))
T0 = dt.datetime(2026, 12, 1, 2, 0, tzinfo=TZ)
PACKS = ["smoke/test_h.py::test_healthz", "dataops/test_m.py::test_forward", "dataops/test_m.py::test_idem"]  # fmt: skip
EXCEPTIONS = (
    "| ID | Check | Owner | Rationale | Risk | Created | Expiry |\n|---|---|---|---|---|---|---|\n"
    "| PE-7 | test_idem | db | replica rebuilt tonight | low | 2026-11-29 | 2026-12-04 |\n"
)


def t(nodeid: str, outcome: str, env: str = "local") -> dict[str, Any]:
    pack = nodeid.split("/")[0]
    return {"nodeid": nodeid, "env": env, "outcome": outcome, "markers": [pack], "gate": None}


@pytest.fixture
def day(tmp_path: Path) -> cutover.Day:
    (tmp_path / "cutover.toml").write_text(DAY)
    return cutover.Day.plan(tmp_path / "r", tmp_path / "cutover.toml", "local", "local-blue", T0)


def step(
    day: cutover.Day, at: str, tests: list[dict[str, Any]], outcome: str = "passed", table: str = ""
) -> None:
    """A step as `gonogo cutover run` leaves it: its sealed bundle under steps/, its run."""
    root = day.root / "steps" / at / "local" / "20261201T0800Z"
    root.mkdir(parents=True)
    if table:
        (root / "policy-exceptions.md").write_text(table)
    Bundle(root, ["local"]).seal(
        {"tests": tests, "required_gates": ["smoke", "dataops"], "packs": PACKS}
    )
    day.record(
        {"at": at, "outcome": outcome, "forced": False, "finished": "2026-12-01T01:50:00-07:00",
         "bundle": str(root.relative_to(day.root))}
    )  # fmt: skip


def go_no_go(day: cutover.Day, at: str = "T-15", force: bool = False) -> dict[str, Any]:
    def clock() -> dt.datetime:
        return dt.datetime(2026, 12, 1, 1, 45, tzinfo=TZ)

    return steps.run_step(day, at, runner=None, now=clock, force=force)  # type: ignore[arg-type]


def healthy(day: cutover.Day) -> None:
    step(day, "T-45", [t("smoke/test_h.py::test_healthz[local]", "passed"),
                       t("dataops/test_m.py::test_forward[local]", "deselected"),
                       t("dataops/test_m.py::test_idem[local]", "not collected")])  # fmt: skip
    step(day, "T-30", [t("smoke/test_h.py::test_healthz[local]", "deselected"),
                       t("dataops/test_m.py::test_forward[local]", "passed"),
                       t("dataops/test_m.py::test_idem[local]", "passed")])  # fmt: skip


def test_every_required_check_run_somewhere_in_the_day_is_go(day: cutover.Day) -> None:
    healthy(day)
    run = go_no_go(day)
    assert (run["outcome"], run["decision"], run["lines"]) == ("passed", "GO", [])
    written = json.loads((day.root / run["verdict"]).read_text())
    assert written["decision"] == "GO" and written["step"] == "T-15"
    assert {g: len(e) for g, e in written["gates"].items()} == {"smoke": 1, "dataops": 2}
    page = (day.root / "timeline.html").read_text()
    assert (
        '<table class="gates">' in page and "<td>dataops</td><td>required</td><td>2 passed" in page
    )


def test_a_required_check_no_step_selects_makes_the_day_incomplete_naming_it(
    day: cutover.Day,
) -> None:
    # Every step passed, as before this rule; the migrations' idempotence never ran.
    step(day, "T-45", [t("smoke/test_h.py::test_healthz[local]", "passed"),
                       t("dataops/test_m.py::test_idem[local]", "not collected")])  # fmt: skip
    step(day, "T-30", [t("dataops/test_m.py::test_forward[local]", "passed"),
                       t("dataops/test_m.py::test_idem[local]", "deselected")])  # fmt: skip
    run = go_no_go(day)
    assert (run["outcome"], run["decision"]) == ("incomplete", "INCOMPLETE")
    assert run["note"] == "INCOMPLETE; 1 required not run"
    assert run["lines"] == [
        "  not run: dataops/test_m.py::test_idem[local] (no step before T-15 selected it: "
        "add it to a step's marker or keyword in the timeline)"
    ]


def test_a_check_its_step_skipped_names_that_step(day: cutover.Day) -> None:
    step(day, "T-45", [t("smoke/test_h.py::test_healthz[local]", "passed")])
    step(day, "T-30", [t("dataops/test_m.py::test_forward[local]", "passed"),
                       t("dataops/test_m.py::test_idem[local]", "skipped")], "incomplete")  # fmt: skip
    with pytest.raises(cutover.CutoverError, match="T-30 incomplete"):
        go_no_go(day)
    run = go_no_go(day, force=True)
    assert run["decision"] == "INCOMPLETE" and run["forced"]
    assert run["note"].startswith("INCOMPLETE; steps not passed: T-30 incomplete")
    assert "  not run: dataops/test_m.py::test_idem[local] (skipped in T-30)" in run["lines"]


def test_a_failed_step_makes_the_day_no_go(day: cutover.Day) -> None:
    step(day, "T-45", [t("smoke/test_h.py::test_healthz[local]", "failed")], "failed")
    step(day, "T-30", [t("dataops/test_m.py::test_forward[local]", "passed"),
                       t("dataops/test_m.py::test_idem[local]", "passed")])  # fmt: skip
    run = go_no_go(day, force=True)
    assert (run["outcome"], run["decision"]) == ("failed", "NO-GO")
    assert "  failing: smoke/test_h.py::test_healthz[local]" in run["lines"]


def test_a_waiver_in_the_steps_exceptions_table_is_go_with_exceptions(day: cutover.Day) -> None:
    step(day, "T-45", [t("smoke/test_h.py::test_healthz[local]", "passed")])
    step(day, "T-30", [t("dataops/test_m.py::test_forward[local]", "passed"),
                       t("dataops/test_m.py::test_idem[local]", "failed")], table=EXCEPTIONS)  # fmt: skip
    run = go_no_go(day)
    assert (run["outcome"], run["decision"]) == ("passed", "GO-WITH-EXCEPTIONS")
    assert "1 waived (PE-7)" in run["note"]


def test_a_check_one_step_did_not_collect_and_another_ran_with_parameters_ran(
    day: cutover.Day,
) -> None:
    # The census names a check it found uncollected by [env] only; pytest names it in full.
    step(day, "T-45", [t("smoke/test_h.py::test_healthz[local]", "passed"),
                       t("dataops/test_m.py::test_forward[local]", "not collected"),
                       t("dataops/test_m.py::test_idem[local]", "not collected")])  # fmt: skip
    step(day, "T-30", [t("dataops/test_m.py::test_forward[v1-local]", "passed"),
                       t("dataops/test_m.py::test_idem[v1-local]", "passed")])  # fmt: skip
    assert go_no_go(day)["decision"] == "GO"


def test_the_blue_steps_checks_are_not_greens(day: cutover.Day) -> None:
    healthy(day)
    assert go_no_go(day)["decision"] == "GO"
    step(day, "T+55", [t("smoke/test_h.py::test_healthz[local-blue]", "failed", "local-blue")],
         "failed")  # fmt: skip
    run = go_no_go(day, "T+60", force=True)
    # Blue's failure stops the sign-off as a step that did not pass, not as a green check.
    assert run["decision"] == "NO-GO" and run["lines"] == []
    assert run["note"] == "NO-GO; steps not passed: T+55 failed"


def test_status_names_the_required_checks_the_day_has_not_run_yet(day: cutover.Day) -> None:
    step(day, "T-45", [t("smoke/test_h.py::test_healthz[local]", "passed"),
                       t("dataops/test_m.py::test_forward[local]", "deselected"),
                       t("dataops/test_m.py::test_idem[local]", "not collected")])  # fmt: skip
    lines = pages.status_lines(day, T0)
    assert lines[-3:] == [
        "required checks the day has not run yet: 2",
        "  dataops/test_m.py::test_forward[local] (no step run so far selected it)",
        "  dataops/test_m.py::test_idem[local] (no step run so far selected it)",
    ]
    healthy_day = [t("dataops/test_m.py::test_forward[local]", "passed"),
                   t("dataops/test_m.py::test_idem[local]", "passed")]  # fmt: skip
    step(day, "T-30", healthy_day)
    assert pages.status_lines(day, T0)[-1] == "required checks the day has not run yet: none"


ROLL_CALL_DAY = """
[[steps]]
at = "T-60"
owner = "RM/IC"
action = "Announce change window; freeze non-cutover deploys; roll-call"
exit = "War room active"
kind = "manual"
roles = ["IC", "RM", "SecOps"]
"""


def _roll_call_day(tmp_path: Path) -> cutover.Day:
    (tmp_path / "cutover.toml").write_text(ROLL_CALL_DAY)
    return cutover.Day.plan(tmp_path / "r", tmp_path / "cutover.toml", "local", None, T0)


def _run(day: cutover.Day, *present: str) -> dict[str, Any]:
    def clock() -> dt.datetime:
        return dt.datetime(2026, 12, 1, 1, 0, tzinfo=TZ)

    return steps.run_step(
        day, "T-60", runner=None, now=clock, note="window announced", present=list(present)
    )  # type: ignore[arg-type]


def test_a_roll_call_with_a_role_left_empty_names_it_and_does_not_pass(tmp_path: Path) -> None:
    day = _roll_call_day(tmp_path)
    run = _run(day, "IC=Dana Ruiz", "RM=Lee Park")
    assert run["outcome"] == "incomplete" and run["roll_call"] == {
        "IC": "Dana Ruiz",
        "RM": "Lee Park",
    }
    assert run["note"].startswith("roll-call: no one present for SecOps (name each with --present")
    run = _run(day, "IC=Dana Ruiz", "RM=Lee Park", "SecOps=Sam Ode")
    assert (run["outcome"], run["note"]) == ("passed", "window announced")
    page = (day.root / "timeline.html").read_text()
    assert "present: IC: Dana Ruiz, RM: Lee Park, SecOps: Sam Ode" in page


@pytest.mark.parametrize(
    ("present", "says"),
    [
        ("IC", "--present 'IC': give ROLE=NAME, like --present 'IC=Dana Ruiz'"),
        ("QA=Kim", "--present 'QA=Kim': T-60 calls no role 'QA'; its roles: IC, RM, SecOps"),
    ],
)
def test_a_roll_call_entry_that_cannot_be_read_is_one_line(
    tmp_path: Path, present: str, says: str
) -> None:
    day = _roll_call_day(tmp_path)
    with pytest.raises(cutover.CutoverError) as caught:
        _run(day, present)
    assert str(caught.value) == says
    assert day.data["runs"] == []


def test_a_watch_that_cannot_start_leaves_the_go_recorded_and_says_how(tmp_path: Path) -> None:
    (tmp_path / "cutover.toml").write_text(
        DAY.replace('kind = "verdict"\n', 'kind = "verdict"\nwatch = true\n', 1)
    )
    signed_off = cutover.Day.plan(tmp_path / "r", tmp_path / "cutover.toml", "local", None, T0)
    healthy(signed_off)

    def broken(env: str, earlier: dict[str, Any] | None) -> dict[str, Any]:
        raise ConfigError("envs.toml: no env 'local'")

    run = steps.run_step(
        signed_off, "T-15", runner=None,  # type: ignore[arg-type]
        now=lambda: dt.datetime(2026, 12, 1, 1, 45, tzinfo=TZ), watcher=broken,
    )  # fmt: skip
    assert (run["outcome"], run["decision"]) == ("passed", "GO")
    assert signed_off.last_run("T-15") == run  # recorded, the GO standing
    assert run["watch_error"] == (
        "the heightened watch did not start: envs.toml: no env 'local'; start it by hand: "
        "gonogo watch --env local --for 24h"
    )
