"""The release commit's CI, judged as Gate A asks: every required check green, coverage held.

Two sources, one judgement per required name:

- GitHub (`[ci] provider = "github"`): the commit's check runs (the newest run of
  each name) and its commit statuses (by context). A run that is not completed is
  running; a completed one is green only with conclusion `success`; a status only
  with state `success`. A name found in neither is missing.
- Files (`provider = "files"`): `ci/checks/NAME.xml` in the release folder, JUnit
  XML as CI wrote it; green when it has tests and no failure or error.

`terraform-validate` (`[ci] infra_check`) is required only when the release
changes infrastructure: a file under `infra_paths` differs between `previous_ref`
and the release commit. Where that cannot be told, it is not applicable, and the
reason says why. Coverage is read from the Cobertura report CI produced
(`ci/coverage.xml`: coverage.py's `coverage xml`, and most other tools).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from gonogo.release import ReleaseError

CHECKS_FOLDER = "ci/checks"
COVERAGE_REPORT = "ci/coverage.xml"


@dataclass(frozen=True)
class CheckState:
    """One required check as CI left it: `state` is "success" or what keeps it from being."""

    name: str
    state: str  # success, failure, running, missing, cancelled, skipped, neutral, ...
    url: str | None = None
    source: str = ""  # "check run", "status", "JUnit ci/checks/NAME.xml", ...
    detail: str = ""

    @property
    def green(self) -> bool:
        return self.state == "success"

    def said(self) -> str:
        where = f" ({self.url})" if self.url else ""
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.name} {self.state}{detail}{where}"

    def as_capture(self) -> dict[str, Any]:
        return asdict(self)


def of_commit(
    sha: str, runs: list[dict[str, Any]], combined: dict[str, Any]
) -> tuple[list[dict[str, Any]], dict[str, Any], list[str]]:
    """Only the check runs and statuses of exactly this commit count; the rest is set aside,
    each with a line (a run of another head_sha says nothing about the release commit)."""
    kept = [r for r in runs if r.get("head_sha") == sha]
    ignored = [
        f"check run {r.get('name')} ignored: head_sha {str(r.get('head_sha'))[:12]}... is "
        f"not the release commit {sha[:12]}..."
        for r in runs
        if r.get("head_sha") != sha
    ]
    if combined.get("sha") not in (None, sha):
        ignored.append(
            f"{len(combined.get('statuses') or [])} status(es) ignored: the combined status is "
            f"of {str(combined.get('sha'))[:12]}..., not the release commit {sha[:12]}..."
        )
        combined = {**combined, "statuses": []}
    return kept, combined, ignored


def from_github(
    required: list[str], runs: list[dict[str, Any]], combined: dict[str, Any]
) -> dict[str, CheckState]:
    """Each required name from the commit's check runs, else its statuses, else missing
    (give it what `of_commit` kept)."""
    newest: dict[str, dict[str, Any]] = {}
    for each in runs:
        name = str(each.get("name"))
        if name not in newest or _order(each) > _order(newest[name]):
            newest[name] = each
    statuses = {
        str(s.get("context")): s for s in combined.get("statuses") or [] if isinstance(s, dict)
    }
    out: dict[str, CheckState] = {}
    for name in required:
        run = newest.get(name)
        status = statuses.get(name)
        if run is not None:
            if run.get("status") != "completed":
                state = "running"
                detail = f"status {run.get('status')}"
            else:
                state = str(run.get("conclusion") or "unknown")
                detail = ""
            url = run.get("html_url") or run.get("details_url")
            out[name] = CheckState(name, state, url, "check run", detail)
        elif status is not None:
            raw = str(status.get("state"))
            state = {"success": "success", "pending": "running"}.get(raw, raw)
            detail = str(status.get("description") or "")
            out[name] = CheckState(name, state, status.get("target_url"), "status", detail)
        else:
            seen = sorted({*newest, *statuses})
            detail = f"no check run or status of that name; seen: {', '.join(seen) or 'none'}"
            out[name] = CheckState(name, "missing", None, "", detail)
    return out


def _order(run: dict[str, Any]) -> tuple[str, int]:
    started = str(run.get("started_at") or "")
    run_id = run.get("id")
    return started, run_id if isinstance(run_id, int) else 0


def from_junit(release: Path, required: list[str]) -> dict[str, CheckState]:
    """Each required name from ci/checks/NAME.xml: JUnit XML with tests and none failed."""
    out: dict[str, CheckState] = {}
    for name in required:
        path = release / CHECKS_FOLDER / f"{name}.xml"
        source = f"JUnit {CHECKS_FOLDER}/{name}.xml"
        if not path.is_file():
            out[name] = CheckState(name, "missing", None, source, f"no {path}")
            continue
        tests, failed, skipped = _junit_counts(path)
        if failed:
            state, detail = "failure", f"{failed} of {tests} failed"
        elif tests == 0 or skipped == tests:
            state, detail = "skipped", f"{tests} test(s), {skipped} skipped"
        else:
            state, detail = "success", f"{tests} passed"
        out[name] = CheckState(name, state, None, source, detail)
    return out


def _junit_counts(path: Path) -> tuple[int, int, int]:
    """(tests, failures + errors, skipped), from <testsuites> or <testsuite> as written."""
    root = _xml(path, "a JUnit XML report")
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    if root.tag not in ("testsuite", "testsuites"):
        raise ReleaseError(f"{path}: <{root.tag}> is not JUnit XML (<testsuites> or <testsuite>)")
    tests = failed = skipped = 0
    for suite in suites:
        cases = list(suite.iter("testcase"))
        tests += _int(suite, "tests", len(cases))
        counted = _int(suite, "failures", 0) + _int(suite, "errors", 0)
        found = sum(
            1 for c in cases if c.find("failure") is not None or c.find("error") is not None
        )
        failed += max(counted, found)
        skipped += _int(suite, "skipped", sum(1 for c in cases if c.find("skipped") is not None))
    return tests, failed, skipped


def _failed(case: ET.Element) -> bool:
    return case.find("failure") is not None or case.find("error") is not None


@dataclass(frozen=True)
class Coverage:
    line: float
    branch: float | None  # None when the report measured no branches


def coverage(path: Path) -> Coverage:
    """line-rate and branch-rate of a Cobertura report (coverage.py's `coverage xml`)."""
    root = _xml(path, "a Cobertura coverage report")
    if root.tag != "coverage" or root.get("line-rate") is None:
        raise ReleaseError(
            f"{path}: not a Cobertura report (a <coverage line-rate=...> root, as "
            "`coverage xml` writes it)"
        )
    line = _rate(path, root, "line-rate")
    # A branch-rate is a figure unless the report says it measured no branches
    # (branches-valid="0", coverage.py without --branch); cover2cover writes branch-rate
    # and no branches-valid at all, and its figure counts.
    measured = root.get("branch-rate") is not None and root.get("branches-valid") != "0"
    return Coverage(line, _rate(path, root, "branch-rate") if measured else None)


def coverage_shortfalls(report: Coverage, line: float, branch: float | None) -> list[str]:
    """What keeps the report from the thresholds. A threshold the report cannot give a
    figure for is a shortfall too, naming the missing figure: a configured rule never
    passes unjudged."""
    low = []
    if report.line < line:
        low.append(f"line {report.line:.1%} < {line:.1%}")
    if branch is not None and report.branch is None:
        low.append(
            'no branch figure in the report (no branch-rate, or branches-valid="0"): '
            "measure branches (coverage run --branch) or drop [ci] min_coverage.branch"
        )
    elif branch is not None and report.branch is not None and report.branch < branch:
        low.append(f"branch {report.branch:.1%} < {branch:.1%}")
    return low


def _rate(path: Path, root: ET.Element, name: str) -> float:
    try:
        value = float(root.get(name) or "")
    except ValueError:
        raise ReleaseError(f"{path}: {name}={root.get(name)!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise ReleaseError(f"{path}: {name}={value} is not a fraction from 0 to 1")
    return value


def _xml(path: Path, what: str) -> ET.Element:
    try:
        return ET.parse(path).getroot()  # noqa: S314 - the release's own CI output
    except FileNotFoundError:
        raise ReleaseError(f"{path} is missing ({what})") from None
    except ET.ParseError as exc:
        raise ReleaseError(f"{path}: does not parse as XML ({exc}); {what} is expected") from None


def _int(element: ET.Element, name: str, default: int) -> int:
    value = element.get(name)
    try:
        return int(float(value)) if value is not None else default
    except ValueError:
        return default


def infra_changed(files: list[str], infra_paths: list[str]) -> list[str]:
    """The changed files under any of the infrastructure paths."""
    prefixes = [p if p.endswith("/") else f"{p}/" for p in infra_paths]
    return [f for f in files if any(f.startswith(p) or f == p.rstrip("/") for p in prefixes)]
