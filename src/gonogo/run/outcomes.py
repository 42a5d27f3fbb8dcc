"""The run's outcomes: each report folded into its test's entry, what the selection left
out, and the verdict judged from them.

Nothing here imports pytest: reports are read by the attributes pytest's TestReport has,
so `gonogo verdict` and the tests can feed it too.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

from gonogo.config import EnvSettings
from gonogo.evidence import Bundle, _append
from gonogo.run.census import PackCheck, base, census
from gonogo.run.verdict import PolicyException, Verdict, judge, validate
from gonogo.times import iso, utcnow
from gonogo.vocabulary import PACK_GATES

COLLECTION_FILE = ".gonogo-collection.jsonl"  # workers' deselections; folded into bundle.json
NOT_COLLECTED = (
    "not collected: this run's selection (node ids, paths, --lf or a plugin) left it out; "
    "run the packs whole (pytest -m PACK --env NAME) to judge it"
)


def message(report: Any) -> str | None:
    """The one line that says why: a skip's reason, or a failure's crash message."""
    longrepr = report.longrepr
    if longrepr is None:
        return None
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        # gonogo's own errors are a cause and a fix already; their class path is noise.
        return _OWN_ERROR.sub("", str(crash.message))
    text = str(longrepr).strip().splitlines()
    return _OWN_ERROR.sub("", text[-1]) if text else None


_OWN_ERROR = re.compile(r"^gonogo(\.\w+)+: ")


@dataclasses.dataclass
class Outcomes:
    """Every check's entry (by node id), the exceptions they are judged with, the verdict."""

    # Where the packs are, and what pytest puts before their files' names in node ids:
    # "required" is every check they hold (gonogo.run.census).
    packs: Path | None = None
    packs_prefix: str = ""
    results: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    exceptions_file: Path | None = None
    exceptions: list[PolicyException] = dataclasses.field(default_factory=list)
    deselected_items: list[Any] = dataclasses.field(default_factory=list)  # pytest items
    verdict: Verdict | None = None
    _pack_checks: list[PackCheck] | None = dataclasses.field(default=None, repr=False)

    @property
    def tests(self) -> list[dict[str, Any]]:
        return list(self.results.values())

    def record(self, report: Any, bundle: Bundle | None) -> None:
        """Fold one phase's report into the test's entry (called on the controller)."""
        props = dict(report.user_properties)
        entry = self.results.setdefault(
            report.nodeid,
            {
                "nodeid": report.nodeid,
                "env": props.get("env"),
                "markers": sorted(k for k in report.keywords if k in PACK_GATES),
                "outcome": None,
                "duration_s": 0.0,
                "message": None,
                "captures": [],
            },
        )
        entry["duration_s"] = round(entry["duration_s"] + report.duration, 6)
        # Each phase's report carries all captures so far; the latest is complete.
        entry["captures"] = [v for k, v in report.user_properties if k == "capture"]
        entry["gate"] = props.get("gate")
        if "value" in props:
            entry["value"], entry["limit"] = props["value"], props.get("limit")
        if "exception" in props:
            entry["exception"] = props["exception"]
            entry["exception_link"] = props["exception_link"]
        if report.when == "setup":
            _setup(entry, report, props)
        elif report.when == "call":
            _call(entry, report, props)
        elif report.when == "teardown":
            if report.failed:
                entry["outcome"], entry["message"] = "error", message(report)
            if bundle is not None:
                outcome, took = str(entry["outcome"]).upper(), entry["duration_s"]
                bundle.log(f"{outcome} {report.nodeid} ({took:.2f} s)")

    def note_deselected(self, bundle: Bundle | None, records: list[dict[str, Any]]) -> None:
        """Keep what -m/-k dropped; under xdist only workers collect, so it goes to a file."""
        if bundle is not None and records:
            lines = "".join(json.dumps(r) + "\n" for r in records)
            _append(bundle.root / COLLECTION_FILE, lines)

    def fold_deselected(self, bundle: Bundle) -> None:
        path = bundle.root / COLLECTION_FILE
        if not path.exists():
            return
        for line in path.read_text().splitlines():
            record = json.loads(line)
            self.results.setdefault(
                record["nodeid"],
                {
                    **record,
                    "outcome": "deselected",
                    "duration_s": 0.0,
                    "message": "deselected (-m/-k)",
                    "captures": [],
                },
            )
        path.unlink()

    def pack_checks(self) -> list[PackCheck]:
        """The packs' checks, read once a run (collection, the verdict, the fold and
        bundle.json all ask; the files do not change under a run)."""
        if self._pack_checks is None:
            self._pack_checks = (
                census(self.packs, self.packs_prefix) if self.packs is not None else []
            )
        return self._pack_checks

    def known_checks(self, nodeids: list[str]) -> list[str]:
        """What a policy exception's Check is judged against: the run's checks and every
        check of the packs, so a `*` is as wide in a one-file run as in a whole one."""
        return [*nodeids, *(c.nodeid for c in self.pack_checks())]

    def fold_uncollected(self, envs: list[EnvSettings]) -> None:
        """Each required pack check this run has no outcome for, as "not collected": a node
        id, a path, --lf or a plugin left it out without telling pytest_deselected."""
        seen = {(base(r["nodeid"]), r.get("env")) for r in self.results.values()}
        checks = [c for c in self.pack_checks() if c.drill is None]
        for settings in envs:
            for check in checks:
                if check.gate not in settings.required_gates:
                    continue
                if (check.nodeid, settings.name) in seen or (check.nodeid, None) in seen:
                    continue
                nodeid = f"{check.nodeid}[{settings.name}]"
                self.results.setdefault(
                    nodeid,
                    {
                        "nodeid": nodeid,
                        "env": settings.name,
                        "markers": [check.pack],
                        "gate": check.gate,
                        "outcome": "not collected",
                        "duration_s": 0.0,
                        "message": NOT_COLLECTED,
                        "captures": [],
                    },
                )

    def judge(self, required_gates: list[str], exit_status: int | None = None) -> Verdict:
        # Validate the rows against every check this run recorded: under xdist the
        # controller never collects, so rows checked at configure knew no checks yet.
        validate(self.exceptions, self.known_checks(list(self.results)), utcnow().date())
        self.verdict = judge(
            self.tests, required_gates, self.exceptions, iso(utcnow()), exit_status
        )
        return self.verdict


def _setup(entry: dict[str, Any], report: Any, props: dict[str, Any]) -> None:
    if report.failed:
        entry["outcome"], entry["message"] = "error", message(report)
    elif report.skipped:
        xfail = hasattr(report, "wasxfail")
        na = "not_applicable" in props
        entry["outcome"] = "n/a" if na else "xfailed" if xfail else "skipped"
        entry["message"] = message(report)


def _call(entry: dict[str, Any], report: Any, props: dict[str, Any]) -> None:
    waived = "exception" in props
    if "not_applicable" in props:
        entry["outcome"], entry["message"] = "n/a", message(report)
    elif "inconclusive" in props:
        entry["outcome"], entry["message"] = "error", message(report)
    elif waived:
        entry["outcome"], entry["message"] = "waived", str(getattr(report, "wasxfail", ""))
    elif hasattr(report, "wasxfail"):
        entry["outcome"] = "xfailed" if report.skipped else "xpassed"
    else:
        entry["outcome"] = report.outcome
    if not report.passed and not waived and "not_applicable" not in props:
        entry["message"] = message(report)
