"""Reports: one-line outcomes, waivers, redaction, attachments, and the end of the run.

gonogo's own errors become one-line outcomes (a skip for a component the env
does not describe, `n/a` for a check that cannot apply), never tracebacks;
every report is redacted before pytest, JUnit or the HTML report can print
it. The bundle is sealed by `Controller`, registered only where the run is
written: in-process runs and the xdist controller (pytest-html's way).
"""

from __future__ import annotations

import base64
import dataclasses
import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

from gonogo.errors import GonogoError, NotApplicable, NotConfigured
from gonogo.evidence import CURRENT_TEST, Bundle, Captures
from gonogo.load.engine import LoadError
from gonogo.plugin.state import CAPTURES_KEY, RUN, item_env
from gonogo.redact import REDACTOR
from gonogo.run import Run, message
from gonogo.run.report import row_anchor
from gonogo.run.verdict import EXIT_CODES, HOW_TO_WAIVE, gate_lines
from gonogo.run.writers import finish


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    run = item.config.stash[RUN]
    item.stash[CAPTURES_KEY] = Captures(
        run.bundle, item_env(item), item.nodeid, item.user_properties
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
        if call.when == "call" and isinstance(excinfo.value, LoadError):
            # The instrument failed, not the service: recorded as an error (INCOMPLETE).
            report.user_properties.append(("inconclusive", True))

    if call.when == "call" or report.outcome != "passed":
        rule = _rule(item)
        if rule and ("rule", rule) not in report.user_properties:
            report.user_properties.append(("rule", rule))
    captures = item.stash.get(CAPTURES_KEY, None)
    run = item.config.stash.get(RUN, None)
    if run is not None and run.envs.all and report.failed and call.when == "call":
        _waive_or_explain(run, item, report)
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


def _waive_or_explain(run: Run, item: pytest.Item, report: pytest.TestReport) -> None:
    """A valid policy exception turns a failure into a waiver (xfail, naming the row);
    any other failure says how to file one."""
    cover = next((e for e in run.outcomes.exceptions if e.valid and e.covers(item.nodeid)), None)
    if cover is None:
        addsection = getattr(report.longrepr, "addsection", None)
        if callable(addsection):
            addsection("gonogo policy exceptions", HOW_TO_WAIVE)
        return
    why = message(report) or "failed"
    report.outcome = "skipped"
    report.wasxfail = (
        f"waived by {cover.id} ({cover.link}; owner {cover.owner}, expires {cover.expiry}): {why}"
    )
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


# -- the end of the run --------------------------------------------------------------


class Controller:
    """Registered only where the bundle is sealed: in-process runs and the xdist controller.

    xdist sends every worker's reports here, so the outcomes in bundle.json
    are complete however the run was distributed.
    """

    def __init__(self, run: Run) -> None:
        self.run = run

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self.run.outcomes.record(report, self.run.bundle)

    @pytest.hookimpl(wrapper=True)
    def pytest_sessionfinish(
        self, session: pytest.Session, exitstatus: int
    ) -> Generator[None, None, None]:
        # Before the other sessionfinish hooks: the verdict is judged, for the HTML banner.
        try:
            if self.run.bundle is not None:
                self.run.outcomes.fold_deselected(self.run.bundle)
            self.run.outcomes.fold_uncollected(self.run.envs.all)
            self.run.outcomes.judge(self.run.envs.required_gates, int(exitstatus))
        except Exception:  # judged again in finish(), which logs the error and seals
            self.run.outcomes.verdict = None
        verdict = self.run.outcomes.verdict
        if self.run.verdict_exit and verdict is not None and self.run.bundle is not None:
            self.run.bundle.log(
                f"--verdict-exit: the run exits {verdict.exit_code} ({verdict.decision}); "
                f"pytest's own exit status was {int(exitstatus)}"
            )
        # After them: JUnit and HTML are written by then.
        result = yield
        finish(
            self.run,
            session.config.rootpath,
            list(session.config.invocation_params.args),
            int(exitstatus),
        )
        if self.run.verdict_exit:
            # 0 GO, 1 NO-GO, 2 INCOMPLETE (as `gonogo verdict`): CI gates on one command.
            verdict = self.run.outcomes.verdict
            session.exitstatus = (
                verdict.exit_code if verdict is not None else EXIT_CODES["INCOMPLETE"]
            )
        return result


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    run = config.stash.get(RUN, None)
    if run is None or run.outcomes.verdict is None:
        return
    verdict = run.outcomes.verdict
    terminalreporter.write_sep(
        "=",
        f"gonogo verdict: {verdict.decision}",
        bold=True,
        red=verdict.decision == "NO-GO",
        green=verdict.decision.startswith("GO"),
        yellow=verdict.decision == "INCOMPLETE",
    )
    terminalreporter.write_line(verdict.summary())
    for line in gate_lines(verdict):
        text = f"  {line.gate:<9} {line.status:<10} {line.counts:>7}"
        if line.red:
            text += f"  red: {', '.join(line.red[:4])}" + (" ..." if len(line.red) > 4 else "")
        elif line.numbers:
            text += f"  {'; '.join(line.numbers)}"
        terminalreporter.write_line(
            text, red=line.status == "FAILED", green=line.status == "passed"
        )
    for row in verdict.invalid_exceptions:
        problems = "; ".join(row["problems"])
        terminalreporter.write_line(
            f"invalid policy exception {row['id'] or '?'} ({row['link']}): {problems}"
        )
    if run.verdict_exit:
        terminalreporter.write_line(
            f"exit code {verdict.exit_code} ({verdict.decision}; --verdict-exit: 0 GO, 1 NO-GO, "
            "2 INCOMPLETE)"
        )


@pytest.hookimpl(optionalhook=True)
def pytest_html_report_title(report: Any) -> None:
    run = report._config.stash.get(RUN, None) if hasattr(report, "_config") else None
    envs = ", ".join(run.envs.names) if run is not None and run.envs.all else "no env"
    report.title = f"gonogo release verification: {envs}"


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_summary(prefix: list[str], session: pytest.Session) -> None:
    """The verdict banner and the per-gate table, at the top of the HTML report."""
    run = session.config.stash.get(RUN, None)
    if run is None or run.outcomes.verdict is None:
        return
    from gonogo.run.report import verdict_banner

    prefix.append(verdict_banner(run.outcomes.verdict))


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(RUN, None)
    if run is None:
        return
    run.envs.stop_sandboxes(
        run.bundle
    )  # a safety net: normally stopped before the bundle is sealed
    if run.sealed is None:
        return
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    line = f"gonogo evidence bundle: {run.sealed}"
    if run.signed:
        line += f" ({run.signed})"
    if reporter is not None:
        reporter.write_line(line)
    else:
        print(line, file=sys.stderr)


def _who() -> str:
    """Who ran it: the CI job's URL when CI says so, else the user."""
    import os

    if os.environ.get("GONOGO_RUN_URL"):
        return os.environ["GONOGO_RUN_URL"]
    if os.environ.get("GITHUB_RUN_ID") and os.environ.get("GITHUB_REPOSITORY"):
        server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
        return (
            f"{server}/{os.environ['GITHUB_REPOSITORY']}/actions/runs/{os.environ['GITHUB_RUN_ID']}"
        )
    for variable in ("CI_JOB_URL", "BUILD_URL"):  # GitLab, Jenkins
        if os.environ.get(variable):
            return os.environ[variable]
    return os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"


def header_metadata(session: pytest.Session) -> None:
    """The report's header says what QA asks first: which env, where, which release and
    images, which suite, when and by whom; Python and the plugins come after."""
    run = session.config.stash.get(RUN, None)
    if run is None or not run.envs.all or run.is_worker:
        return
    try:
        from pytest_metadata.plugin import metadata_key
    except ImportError:  # pragma: no cover - pytest-html depends on it
        return
    from gonogo.day import comms
    from gonogo.run.writers import git

    ours: dict[str, Any] = {}
    for settings in (run.envs.settings(e.name) for e in run.envs.all):  # a sandbox's filled in
        label = f"Env {settings.name}"
        ours[label] = settings.description or ("production" if settings.production else "")
        ours[f"{label}: base URL"] = settings.base_url or "the local sandbox"
        release = settings.release
        ours[f"{label}: release"] = Path(release).name if release else "none named"
        ours[f"{label}: images"] = comms.digests(release).strip()
    ours["Suite commit"] = git(session.config.rootpath, "rev-parse", "HEAD") or "unknown"
    ours["Started"] = run.started.isoformat(timespec="seconds")
    ours["Run by"] = _who()
    metadata: dict[str, Any] = session.config.stash.get(metadata_key, {})
    session.config.stash[metadata_key] = {**REDACTOR.obj(ours), **metadata}


def _rule(item: pytest.Item) -> str | None:
    """The check's rule: its docstring's first paragraph, without the "Rule:" label."""
    function = getattr(item, "function", None)
    doc = (getattr(function, "__doc__", None) or "").strip()
    if not doc:
        return None
    first = " ".join(doc.split("\n\n", 1)[0].split())
    return first.removeprefix("Rule: ")


def _property(report: pytest.TestReport | pytest.CollectReport, key: str) -> str:
    # A collection report (an error collecting a file) has no user_properties.
    properties = getattr(report, "user_properties", None) or []
    return next((str(v) for k, v in properties if k == key), "")


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_header(cells: list[str]) -> None:
    """QA's columns beside the check's name: its rule, what was measured, and the one line
    that says why (the traceback stays in the row's collapsed details)."""
    cells[2:2] = ["<th>Rule</th>", "<th>Measured (limit)</th>", "<th>Message</th>"]


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_row(
    report: pytest.TestReport | pytest.CollectReport, cells: list[str]
) -> None:
    from html import escape

    value, limit = _property(report, "value"), _property(report, "limit")
    measured = f"{value} ({limit})" if value and limit else value
    lines = ([] if report.passed else (message(report) or "").splitlines()) or [""]
    said = lines[0].removeprefix("AssertionError: ")  # pytest's own detail stays in the log
    if getattr(report, "wasxfail", None):
        said = str(report.wasxfail)
    cells[2:2] = [
        f'<td class="col-rule">{escape(_property(report, "rule"))}</td>',
        f'<td class="col-measured">{escape(measured)}</td>',
        f'<td class="col-message" id="{row_anchor(report.nodeid)}">{escape(said)}</td>',
    ]


@pytest.hookimpl(optionalhook=True)
def pytest_html_results_table_html(
    report: pytest.TestReport | pytest.CollectReport, data: list[str]
) -> None:
    """A skip or n/a says why in a sentence, not as pytest's (path, line, reason) tuple."""
    from html import escape

    if report.skipped and not getattr(report, "wasxfail", None):
        data[:] = [escape(message(report) or "skipped") + "\n"]
