"""The Go/No-Go verdict: every rule, every exception rule, the plugin's use of them, the CLI."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from gonogo.cli import main as gonogo
from gonogo.run.verdict import (
    ENDED_EARLY,
    HOW_TO_WAIVE,
    gate_lines,
    judge,
    parse_exceptions,
    validate,
)
from tests.conftest import only_bundle, refused_table

TODAY = dt.date(2026, 11, 23)


def t(nodeid: str, outcome: str, gate: str = "smoke") -> dict[str, object]:
    return {"nodeid": nodeid, "outcome": outcome, "markers": [gate], "gate": None}


def rows(*lines: str) -> str:
    return (
        "| ID | Check | Owner | Rationale | Risk | Created | Expiry |\n|---|---|---|---|---|---|---|\n"
        + "\n".join(lines)
        + "\n"
    )


def exceptions(*lines: str, known: tuple[str, ...] = ("smoke/test_a.py::test_a[green]",)):
    return validate(parse_exceptions(rows(*lines), "docs/policy-exceptions.md"), known, TODAY)


# -- verdict rules ------------------------------------------------------------------


def test_go_when_every_required_gate_ran_and_passed() -> None:
    v = judge([t("a", "passed"), t("b", "passed", "slo")], ["smoke", "slo"], [], "now")
    assert v.decision == "GO" and v.exit_code == 0


def test_no_go_on_a_failure() -> None:
    v = judge([t("a", "failed"), t("b", "passed")], ["smoke"], [], "now")
    assert (v.decision, v.failing, v.exit_code) == ("NO-GO", ["a"], 1)


@pytest.mark.parametrize("outcome", ["deselected", "skipped", "error"])
def test_incomplete_when_a_required_check_did_not_run(outcome: str) -> None:
    v = judge([t("a", "passed"), t("b", outcome)], ["smoke"], [], "now")
    assert v.decision == "INCOMPLETE" and v.exit_code == 2
    assert [n["check"] for n in v.not_run] == ["b"]


def test_incomplete_when_a_required_gate_has_no_checks() -> None:
    v = judge([t("a", "passed")], ["smoke", "dataops"], [], "now")
    assert v.decision == "INCOMPLETE" and v.empty_required_gates == ["dataops"]


def test_checks_outside_the_required_gates_do_not_block() -> None:
    v = judge([t("a", "passed"), t("b", "skipped", "slo")], ["smoke"], [], "now")
    assert v.decision == "GO"


def test_no_go_beats_incomplete() -> None:
    assert judge([t("a", "failed"), t("b", "deselected")], ["smoke"], [], "now").decision == "NO-GO"


def test_an_explicit_gate_marker_wins_over_the_pack() -> None:
    test = {**t("a", "failed"), "gate": "A"}
    v = judge([test, t("b", "passed")], ["smoke"], [], "now")
    assert v.decision == "NO-GO" and set(v.gates) == {"A", "smoke"}


def test_go_with_exceptions_when_every_failure_is_waived() -> None:
    ex = exceptions("| PE-1 | test_a | sre | flaky upstream | low | 2026-11-20 | 2026-11-25 |")
    v = judge(
        [t("smoke/test_a.py::test_a[green]", "failed"), t("b", "passed")],
        ["smoke"],
        ex,
        "now",
    )
    assert v.decision == "GO-WITH-EXCEPTIONS" and v.exit_code == 0
    assert v.waived == [
        {
            "check": "smoke/test_a.py::test_a[green]",
            "exception": "PE-1",
            "link": "docs/policy-exceptions.md:3",
        }
    ]


# -- exception rules ----------------------------------------------------------------


def test_a_valid_row_is_parsed_with_its_file_and_line() -> None:
    (row,) = exceptions("| PE-1 | smoke/test_a.py::* | sre | why | low | 2026-11-20 | 2026-11-27 |")
    assert (
        row.valid
        and row.link == "docs/policy-exceptions.md:3"
        and row.covers("smoke/test_a.py::test_a[green]")
    )


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("| PE-1 | test_a |  | why | low | 2026-11-20 | 2026-11-25 |", "Owner is empty"),
        (
            "| PE-1 | test_a | sre | why | low | 2026-11-20 | 2026-11-28 |",
            "Expiry is 8 days after Created (at most 7)",
        ),
        ("| PE-1 | test_a | sre | why | low | 2026-11-10 | 2026-11-15 |", "expired on 2026-11-15"),
        (
            "| PE-1 | test_zzz | sre | why | low | 2026-11-20 | 2026-11-25 |",
            "Check 'test_zzz' matches no known check",
        ),
        (
            "| PE-1 | test_a | sre | why | low | 20-11-2026 | 2026-11-25 |",
            "Created '20-11-2026' is not a date (YYYY-MM-DD)",
        ),
        (
            "| PE-1 | test_a | sre | why | low | 2026-11-25 | 2026-11-24 |",
            "Expiry is before Created",
        ),
    ],
)
def test_an_invalid_row_says_why_and_waives_nothing(line: str, problem: str) -> None:
    (row,) = exceptions(line)
    assert problem in row.problems and not row.valid
    v = judge([t("smoke/test_a.py::test_a[green]", "failed")], ["smoke"], [row], "now")
    assert v.decision == "NO-GO" and v.invalid_exceptions[0]["problems"] == row.problems


def test_a_duplicate_id_is_invalid() -> None:
    a, b = exceptions(
        "| PE-1 | test_a | sre | why | low | 2026-11-20 | 2026-11-25 |",
        "| PE-1 | test_a | sre | why | low | 2026-11-21 | 2026-11-25 |",
    )
    # Both are void: a first row that still waived would let a duplicate hide a bypass.
    assert a.problems == b.problems == ["ID PE-1 is used 2 times; every row using it is void"]


# -- through the plugin -------------------------------------------------------------


PACKS = {
    "smoke/test_s.py": (
        "def test_ok(env):\n    pass\n\n"
        "def test_bad(env, evidence):\n"
        '    """Rule: one is one.\n\n    Fault: none\n    """\n'
        "    evidence.measured(2, 1, ' ms')\n"
        "    assert False, 'expected 1; got 2'\n"
    ),
    "slo/test_l.py": "def test_load(env):\n    pass\n",
}


@pytest.fixture
def project(pytester: pytest.Pytester, make_envs, monkeypatch) -> pytest.Pytester:
    monkeypatch.setenv("GONOGO_GREEN_TOKEN", "green-token-value-0001")
    make_envs("green", extra="")
    path = pytester.path / "environments.toml"
    path.write_text(
        path.read_text().replace(
            "timeout_s = 2\n", 'timeout_s = 2\nrequired_gates = ["smoke", "slo"]\n'
        )
    )
    for name, body in PACKS.items():
        (pytester.path / name).parent.mkdir(exist_ok=True)
        (pytester.path / name).write_text(body)
    (pytester.path / "docs").mkdir()
    return pytester


def write_exceptions(project: pytest.Pytester, *lines: str) -> None:
    (project.path / "docs" / "policy-exceptions.md").write_text(
        "# Policy exceptions\n\n" + rows(*lines)
    )


def verdict_of(project: pytest.Pytester) -> dict:
    return json.loads((only_bundle(project.path) / "verdict.json").read_text())


def test_plugin_no_go_says_how_to_waive_and_cli_agrees(project: pytest.Pytester, capsys) -> None:
    result = project.runpytest("--env", "green")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*gonogo verdict: NO-GO*",
            "NO-GO; 1 failing: smoke/test_s.py::test_bad[[]green[]]",
            "  smoke     FAILED         1/2  red: bad",
            "  slo       passed         1/1",
        ]
    )
    assert HOW_TO_WAIVE in result.stdout.str()
    assert verdict_of(project)["decision"] == "NO-GO"
    bundle = only_bundle(project.path)
    html = (bundle / "report.html").read_text()
    assert (
        'id="gonogo-verdict"' in html and "Verdict: NO-GO" in html and 'id="gonogo-gates"' in html
    )
    capsys.readouterr()  # the inner run's own output
    assert gonogo(["verdict", str(bundle)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "NO-GO; 1 failing: smoke/test_s.py::test_bad[green]",
        "  failing: smoke/test_s.py::test_bad[green]",
    ]


def test_plugin_waives_with_a_valid_row_and_links_it(project: pytest.Pytester, monkeypatch) -> None:
    today = dt.date.today()
    write_exceptions(
        project,
        f"| PE-7 | test_bad | sre | known issue | low | {today} | {today + dt.timedelta(days=7)} |",
    )
    result = project.runpytest("--env", "green", "-rx")
    result.assert_outcomes(passed=2, xfailed=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [
            "XFAIL *test_bad[[]green[]] - waived by PE-7 (*docs/policy-exceptions.md:5; owner sre,"
            " expires *): *expected 1; got 2*"
        ]
    )
    verdict = verdict_of(project)
    assert (
        verdict["decision"] == "GO-WITH-EXCEPTIONS" and verdict["waived"][0]["exception"] == "PE-7"
    )
    bundle = only_bundle(project.path)
    assert (bundle / "policy-exceptions.md").is_file()
    assert gonogo(["verdict", str(bundle)]) == 0


def test_plugin_waives_under_xdist_and_the_controller_judges_the_row_valid(
    project: pytest.Pytester,
) -> None:
    today = dt.date.today()
    write_exceptions(
        project,
        f"| PE-9 | test_bad | sre | known issue | low | {today} | {today + dt.timedelta(days=1)} |",
    )
    result = project.runpytest_subprocess("--env", "green", "-n", "2")
    result.assert_outcomes(passed=2, xfailed=1)
    verdict = verdict_of(project)
    assert verdict["decision"] == "GO-WITH-EXCEPTIONS"
    assert verdict["invalid_exceptions"] == []
    assert "invalid policy exception" not in result.stdout.str()


def test_plugin_reports_an_invalid_row_and_it_waives_nothing(project: pytest.Pytester) -> None:
    write_exceptions(
        project, "| PE-8 | test_bad | sre | known issue | low | 2020-01-01 | 2020-01-05 |"
    )
    result = project.runpytest("--env", "green")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        ["invalid policy exception PE-8 (*policy-exceptions.md:5): expired on 2020-01-05"]
    )


def test_plugin_incomplete_when_a_required_pack_is_deselected_even_under_xdist(
    project: pytest.Pytester,
) -> None:
    (project.path / "smoke" / "test_s.py").write_text("def test_ok(env):\n    pass\n")
    result = project.runpytest_subprocess("--env", "green", "-m", "smoke", "-n", "2")
    result.assert_outcomes(passed=1)
    verdict = verdict_of(project)
    assert verdict["decision"] == "INCOMPLETE"
    assert verdict["not_run"] == [{"check": "slo/test_l.py::test_load[green]", "why": "deselected"}]
    bundle = only_bundle(project.path)
    assert not (bundle / ".gonogo-collection.jsonl").exists()
    manifest = json.loads((bundle / "bundle.json").read_text())
    assert {t["outcome"] for t in manifest["tests"]} == {"passed", "deselected"}
    assert gonogo(["verdict", str(bundle)]) == 2


def test_plugin_go(project: pytest.Pytester) -> None:
    (project.path / "smoke" / "test_s.py").write_text("def test_ok(env):\n    pass\n")
    project.runpytest("--env", "green").assert_outcomes(passed=2)
    assert verdict_of(project)["decision"] == "GO"
    assert gonogo(["verdict", str(only_bundle(project.path))]) == 0


def test_the_bundle_carries_an_in_toto_test_result_statement(project: pytest.Pytester) -> None:
    from gonogo.evidence import sha256_file, verify_bundle

    project.runpytest("--env", "green").assert_outcomes(passed=2, failed=1)
    bundle = only_bundle(project.path)
    statement = json.loads((bundle / "attestation.intoto.json").read_text())
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://in-toto.io/attestation/test-result/v0.1"
    assert {s["name"]: s["digest"]["sha256"] for s in statement["subject"]} == {
        name: sha256_file(bundle / name) for name in ("junit.xml", "report.html", "verdict.json")
    }
    predicate = statement["predicate"]
    assert predicate["result"] == "fail"
    assert predicate["failedTests"] == ["smoke/test_s.py::test_bad[green]"]
    assert len(predicate["passedTests"]) == 2
    assert predicate["configuration"][0]["name"] == "environments.toml"
    assert verify_bundle(bundle).ok  # sealed with the rest


def test_the_report_shows_the_verdict_in_chromium(project: pytest.Pytester, monkeypatch) -> None:
    from gonogo.evidence import verify_bundle
    from gonogo.run.report import CHROMIUM_ARGS, chromium

    playwright = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if chromium() is None:
        pytest.skip("no chromium on PATH (apt-get install chromium): the report is not rendered")
    monkeypatch.setenv("GONOGO_REPORT_PNG", "1")
    project.runpytest("--env", "green").assert_outcomes(passed=2, failed=1)
    bundle = only_bundle(project.path)
    png = (bundle / "report.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 10_000
    assert "report.png rendered" in (bundle / "steps.log").read_text()
    assert verify_bundle(bundle).ok
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto((bundle / "report.html").as_uri())
            banner = page.locator("#gonogo-verdict")
            assert banner.is_visible() and "Verdict: NO-GO" in banner.inner_text()
            rows = page.locator("#gonogo-gates tr").all_inner_texts()
            # The failing check by name in its gate's row, visible without expanding anything.
            assert any(
                r.startswith("smoke") and "FAILED 1/2" in r and "red: bad" in r for r in rows
            ), rows
            assert any(r.startswith("slo") and "required" in r for r in rows), rows
            # The name links to the check's row.
            target = page.locator("#gonogo-gates a", has_text="bad").get_attribute("href")
            assert target is not None and page.locator(target).count() == 1
            assert "expected 1; got 2" in page.locator(target).inner_text()
            assert page.title() == "gonogo release verification: green"
            # The failing row says its rule, value, limit and message as it opens; the
            # traceback is there, collapsed, for the engineer.
            row = page.locator("tbody.results-table-row", has_text="test_bad")
            assert row.locator(".col-rule").inner_text() == "one is one."
            assert row.locator(".col-measured").inner_text() == "2 ms (1 ms)"
            assert "expected 1; got 2" in row.locator(".col-message").inner_text()
            log = row.locator(".extras-row .logwrapper")
            assert not log.is_visible()
            row.locator(".col-result").click()
            assert log.is_visible() and "assert False" in log.inner_text()
            header = page.locator("#environment").inner_text()
            assert "Env green: base URL" in header and "Run by" in header
        finally:
            browser.close()


def test_cli_verdict_usage_errors_exit_3(tmp_path: Path, capsys) -> None:
    assert gonogo(["verdict", str(tmp_path / "missing")]) == 3
    assert "not a folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        gonogo(["verdict"])
    assert exc.value.code == 3


def test_not_applicable_is_accounted_for_never_missing() -> None:
    v = judge([t("a", "passed"), t("b", "n/a")], ["smoke"], [], "now")
    assert v.decision == "GO" and v.not_run == []
    assert [c["outcome"] for c in v.gates["smoke"]] == ["passed", "n/a"]


NOT_APPLICABLE_CHECK = """
from gonogo.errors import NotApplicable

def test_neo4j_only(env):
    raise NotApplicable("the graph is FalkorDB")
"""


def test_plugin_records_not_applicable_as_n_a_with_its_reason(
    project: pytest.Pytester,
) -> None:
    (project.path / "smoke" / "test_s.py").write_text(NOT_APPLICABLE_CHECK)
    (project.path / "slo" / "test_l.py").write_text(NOT_APPLICABLE_CHECK)
    result = project.runpytest("--env", "green", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*not applicable: the graph is FalkorDB*"])
    verdict = verdict_of(project)
    assert verdict["decision"] == "GO", verdict
    outcomes = [c["outcome"] for gate in verdict["gates"].values() for c in gate]
    assert outcomes == ["n/a", "n/a"]
    junit = (only_bundle(project.path) / "junit.xml").read_text()
    assert junit.count("<skipped") == 2 and "not applicable: the graph is FalkorDB" in junit


# -- the bypasses a hostile or careless row tried (issue: no input turns a failure into GO) --

KNOWN = (
    "smoke/test_health.py::test_readyz[local]",
    "smoke/test_health.py::test_healthz[local]",
    "smoke/test_stream.py::test_kafka_canary[local]",
)


def row_problems(line: str, text: str | None = None) -> list[list[str]]:
    parsed = parse_exceptions(text if text is not None else rows(line), "docs/policy-exceptions.md")
    return [r.problems for r in validate(parsed, KNOWN, TODAY)]


@pytest.mark.parametrize(
    ("line", "says"),
    [
        ("| PE-1 | test_readyz | sre | why | low | 2099-01-01 | 2099-01-07 |", "Created 2099-01-01 is after the run's date"),
        ("| PE-1 | * | sre | why | low | 2026-11-20 | 2026-11-25 |", "matches checks in 2 files"),
        ("| PE-1 | test_* | sre | why | low | 2026-11-20 | 2026-11-25 |", "matches checks in 2 files"),
        ("| PE-1 | `s*/*` | sre | why | low | 2026-11-20 | 2026-11-25 |", "matches checks in 2 files"),
        # Unquoted, GitHub renders *...* as emphasis: the row reads (and is judged) as shown.
        ("| PE-1 | s_*/* | sre | why | low | 2026-11-20 | 2026-11-25 |", "Check 's_/' matches no known check"),
        ("| PE-1 | test_readyz | - | why | low | 2026-11-20 | 2026-11-25 |", "Owner '-' says nothing"),
        ("| PE-1 | test_readyz | sre | - | low | 2026-11-20 | 2026-11-25 |", "Rationale '-' says nothing"),
        ("| PE-1 | test_readyz | sre | why | low | 20261120 | 2026-11-25 |", "Created '20261120' is not a date (YYYY-MM-DD)"),
        ("| PE-1 | test_readyz | sre | why | low | 2026-11-20 | 2026-W48-3 |", "Expiry '2026-W48-3' is not a date (YYYY-MM-DD)"),
        ("| PE-1 | test_readyz[t] | sre | why | low | 2026-11-20 | 2026-11-25 |", "matches no known check"),
    ],
)  # fmt: skip
def test_a_row_that_would_bypass_the_rules_is_void(line: str, says: str) -> None:
    (problems,) = row_problems(line)
    assert any(says in p for p in problems), problems


def test_rows_a_reviewer_cannot_see_waive_nothing() -> None:
    head = "| ID | Check | Owner | Rationale | Risk | Created | Expiry |\n|---|---|---|---|---|---|---|\n"
    visible = "| PE-1 | test_healthz | sre | why | low | 2026-11-20 | 2026-11-25 |\n"
    hidden = "| PE-2 | test_readyz | sre | why | low | 2026-11-20 | 2026-11-25 |\n"
    for wrapped in (f"<!--\n{hidden}-->\n", f"```\n{hidden}```\n", f"<!-- {hidden.strip()} -->\n"):
        parsed = validate(
            parse_exceptions(head + visible + wrapped, "docs/policy-exceptions.md"), KNOWN, TODAY
        )
        waiving = [r.id for r in parsed if r.valid]
        assert waiving == ["PE-1"], wrapped
        assert any("not rendered" in " ".join(r.problems) for r in parsed), wrapped


HEAD = (
    "| ID | Check | Owner | Rationale | Risk | Created | Expiry |\n|---|---|---|---|---|---|---|\n"
)
VISIBLE = "| PE-1 | test_healthz | sre | why | low | 2026-11-20 | 2026-11-25 |\n"
HIDDEN = "| PE-2 | test_readyz | sre | why | low | 2026-11-20 | 2026-11-25 |\n"


@pytest.mark.parametrize(
    "wrapped",
    [
        f"```\n{HIDDEN}```\n",
        f"~~~\n{HIDDEN}~~~\n",
        f"~~~\n```\n{HIDDEN}~~~\n",  # a ``` line does not close a ~~~ fence
        f"```\n~~~\n{HIDDEN}```\n",
        f"````\n```\n{HIDDEN}````\n",  # a shorter fence does not close a longer one
        f"```python\n{HIDDEN}```\n",
        f"```\n{HIDDEN}",  # an unclosed fence runs to the end of the document
        f"  ```\n{HIDDEN}  ```\n",  # indented up to three spaces: still a fence
        f"\n    {HIDDEN}",  # an indented code block
        f"\n\t{HIDDEN}",
        f"\n{HIDDEN}",  # a lone row after a blank line: a paragraph, not a table
        f"<!--\n{HIDDEN}-->\n",
        f"<!-- {HIDDEN.strip()} -->\n",
        f"<details>\n{HIDDEN}</details>\n",  # an HTML block: its lines are not a table
    ],
    ids=["backticks", "tildes", "tilde-closed-by-backticks", "backticks-closed-by-tildes",
         "longer-fence", "info-string", "unclosed", "indented-fence", "indented-code",
         "tab-code", "paragraph", "comment", "inline-comment", "html-block"],
)  # fmt: skip
def test_a_row_in_any_commonmark_code_or_html_block_waives_nothing(wrapped: str) -> None:
    """Rows are read as GitHub renders them (CommonMark + GFM tables, markdown-it-py); a
    table-looking line it does not render as a table row is named and never honoured."""
    parsed = validate(parse_exceptions(HEAD + VISIBLE + wrapped, "x.md"), KNOWN, TODAY)
    assert [r.id for r in parsed if r.valid] == ["PE-1"], wrapped
    (hidden,) = [r for r in parsed if not r.valid]
    assert hidden.problems[0].startswith("not rendered as a table row"), hidden.problems
    lines = (HEAD + VISIBLE + wrapped).splitlines()
    assert hidden.line == next(n for n, line in enumerate(lines, 1) if "PE-2" in line)


@pytest.mark.parametrize("invisible", ["\u200b", "\u200c", "\u2060", "\ufeff", "\u00ad", "\u200e"])
@pytest.mark.parametrize("column", ["Owner", "Rationale", "Risk"])
def test_a_placeholder_behind_an_invisible_character_is_still_a_placeholder(
    invisible: str, column: str
) -> None:
    cells = {"Owner": "sre", "Rationale": "why", "Risk": "low", column: f"-{invisible}"}
    line = (
        f"| PE-1 | test_readyz | {cells['Owner']} | {cells['Rationale']} | {cells['Risk']} "
        "| 2026-11-20 | 2026-11-25 |"
    )
    (problems,) = row_problems(line)
    assert f"{column} '-' says nothing" in " ".join(problems), problems
    (blank,) = row_problems(line.replace(f"-{invisible}", invisible + "\u00a0"))
    assert f"{column} is empty" in blank, blank


def test_an_escaped_pipe_stays_in_its_cell_and_short_separators_are_read() -> None:
    text = (
        "| ID | Check | Owner | Rationale | Risk | Created | Expiry |\n|--|--|--|--|--|--|--|\n"
        "| PE-1 | test_readyz | sre | a \\| b | low | 2026-11-20 | 2026-11-25 |\n"
    )
    (row,) = validate(parse_exceptions(text, "x.md"), KNOWN, TODAY)
    assert row.valid and row.rationale == "a | b" and row.covers(KNOWN[0])


def test_a_run_in_which_no_check_ran_is_never_go() -> None:
    v = judge([t("a", "deselected")], [], [], "now")
    assert v.decision == "INCOMPLETE" and v.exit_code == 2
    assert {"check": "(every check)", "why": "no check ran"} in v.not_run


def test_required_gates_cannot_be_empty(tmp_path: Path) -> None:
    message = refused_table(tmp_path, "", "required_gates = []")
    assert "required_gates: must name at least one gate" in message


def test_cli_verdict_damaged_or_contradicted_bundles_exit_3(
    project: pytest.Pytester, capsys: pytest.CaptureFixture[str]
) -> None:
    """0, 1 and 2 are verdicts: nothing else may exit with them, least of all a GO bundle
    whose files were damaged or a NO-GO whose results were edited to passed."""
    project.runpytest("--env", "green").assert_outcomes(passed=2, failed=1)
    bundle = only_bundle(project.path)
    assert gonogo(["verdict", str(bundle)]) == 1
    capsys.readouterr()

    def damaged(change: Any) -> str:
        copy = bundle.parent / f"copy-{len(list(bundle.parent.iterdir()))}"
        shutil.copytree(bundle, copy)
        change(copy)
        assert gonogo(["verdict", str(copy)]) == 3
        err = capsys.readouterr().err.strip()
        assert "Traceback" not in err and len(err.splitlines()) == 1
        return err

    def flip(copy: Path) -> None:
        manifest = json.loads((copy / "bundle.json").read_text())
        for test in manifest["tests"]:
            if test["outcome"] == "failed":
                test["outcome"] = "passed"
        (copy / "bundle.json").write_text(json.dumps(manifest))

    assert "the run recorded NO-GO, but its recorded results judge GO" in damaged(flip)
    # A damaged file is found by the bundle's own check before any verdict is read.
    said = damaged(lambda c: (c / "verdict.json").write_text("{not json"))
    assert "does not match its bundle.json (changed: verdict.json" in said
    assert "its verdict cannot be trusted (gonogo verify-bundle" in said

    def bad_tests(copy: Path) -> None:
        manifest = json.loads((copy / "bundle.json").read_text())
        manifest["tests"] = {"x": 1}
        (copy / "bundle.json").write_text(json.dumps(manifest))

    assert "'tests' is not a list of results" in damaged(bad_tests)
    assert gonogo(["verdict", str(bundle), "--exceptions-file", str(bundle)]) == 3
    assert "is a folder" in capsys.readouterr().err
    assert gonogo(["verdict", str(bundle), "--bogus"]) == 3
    assert "unrecognized arguments: --bogus" in capsys.readouterr().err


def test_a_missing_exceptions_file_is_refused_in_one_line(project: pytest.Pytester) -> None:
    result = project.runpytest_subprocess("--env", "green", "--exceptions-file=nowhere.md")
    assert result.ret == 4
    assert [line for line in result.stderr.lines if line.strip()][-1] == (
        "ERROR: --exceptions-file=nowhere.md does not exist; pass the policy exceptions "
        "table's path (like --exceptions-file=docs/policy-exceptions.md)"
    )


@pytest.mark.parametrize("status", [2, 3], ids=["interrupted", "internal-error"])
def test_a_run_that_stopped_early_is_never_go(status: int) -> None:
    passed = [{"nodeid": "smoke/test_a.py::test_a[g]", "outcome": "passed",
               "markers": ["smoke"]}]  # fmt: skip
    assert judge(passed, ["smoke"], [], "2026-11-26T00:00:00Z").decision == "GO"
    verdict = judge(passed, ["smoke"], [], "2026-11-26T00:00:00Z", status)
    assert verdict.decision == "INCOMPLETE"
    assert verdict.not_run[-1]["why"] == ENDED_EARLY[status]


def test_gate_lines_put_the_red_and_the_numbers_first() -> None:
    tests = [
        {"nodeid": "smoke/test_health.py::test_healthz[g]", "outcome": "failed",
         "markers": ["smoke"]},
        {"nodeid": "smoke/test_gateway.py::test_gateway_spot_latency[g]",
         "outcome": "passed", "markers": ["smoke"], "value": "12 ms", "limit": "150 ms"},
        {"nodeid": "slo/test_load_plans.py::test_canary[g-canary-http_req_failed: rate<0.001]",
         "outcome": "passed", "markers": ["slo"], "gate": "C", "value": "0", "limit": "0.001"},
        {"nodeid": "security/test_x.py::test_x[g]", "outcome": "deselected",
         "markers": ["security"]},
    ]  # fmt: skip
    lines = gate_lines(judge(tests, ["smoke", "slo", "security"], [], "2026-11-26T00:00:00Z"))
    assert [(g.gate, g.status, g.counts, g.red, g.numbers) for g in lines] == [
        ("smoke", "FAILED", "1/2", ["healthz"], ["gateway_spot_latency 12 ms (limit 150 ms)"]),
        ("slo", "no checks", "0", [], []),
        ("security", "not run", "0/1", [], []),
        ("C", "passed", "1/1", [], ["canary http_req_failed: rate<0.001 -> 0"]),
    ]


def test_verdict_exit_makes_pytests_exit_code_the_verdicts(project: pytest.Pytester) -> None:
    """--verdict-exit: one command for CI. NO-GO exits 1; a failing check waived is GO (0); a
    run that leaves a required check out is INCOMPLETE: 2, where pytest alone says 0. Each
    says so on the terminal and in steps.log."""
    no_go = project.runpytest("--env", "green", "--verdict-exit")
    assert no_go.ret == 1
    no_go.stdout.fnmatch_lines(["exit code 1 (NO-GO; --verdict-exit: 0 GO, 1 NO-GO, 2 INCOMPLETE)"])

    today = dt.date.today()
    until = today + dt.timedelta(days=7)
    write_exceptions(project, f"| PE-7 | test_bad | sre | known | low | {today} | {until} |")
    assert project.runpytest("--env", "green", "--verdict-exit").ret == 0

    plain = project.runpytest("--env", "green", "smoke")
    assert plain.ret == 0  # pytest: nothing failed; the verdict: slo did not run
    incomplete = project.runpytest("--env", "green", "smoke", "--verdict-exit")
    assert incomplete.ret == 2
    incomplete.stdout.fnmatch_lines(["exit code 2 (INCOMPLETE; --verdict-exit: *"])
    steps = (sorted((project.path / "reports" / "green").iterdir())[-1] / "steps.log").read_text()
    assert "--verdict-exit: the run exits 2 (INCOMPLETE); pytest's own exit status was 0" in steps
