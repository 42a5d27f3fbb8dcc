"""Gates, policy exceptions and the GO / NO-GO verdict.

A release manager needs one decision, and it must account for every required
check, not only for the ones that happened to run:

    NO-GO               a check failed (or errored on the target) and no valid exception waives it
    INCOMPLETE          nothing failed, but a required check did not run (deselected,
                        not collected, skipped, errored in setup) or a required gate has
                        no checks at all

A check that cannot apply to the env by its nature (a Neo4j-only check on
FalkorDB) is recorded as "n/a" with its reason: accounted for, never a pass.
    GO-WITH-EXCEPTIONS  everything required ran; failures are all waived by valid exceptions
    GO                  everything required ran and passed

The verdict is judged from recorded results only (bundle.json), so `gonogo
verdict BUNDLE` gives the same answer later, offline, with the exceptions
file as it was at the run (a copy travels in the bundle) and the run's time.

Policy exceptions live in a Markdown table (docs/policy-exceptions.md):
ID | Check | Owner | Rationale | Risk | Created | Expiry. A row waives nothing
unless every field is set, Expiry is at most 7 days after Created and not
before the run's date, and Check matches at least one known check (or is a
CVE/GHSA id, which the vulnerability gate honours for that finding alone).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from gonogo import markdown
from gonogo.errors import ConfigError
from gonogo.supplychain.signing import TEST_RESULT_PREDICATE
from gonogo.vocabulary import EXCEPTIONS_FILE, PACK_GATES

Decision = Literal["GO", "GO-WITH-EXCEPTIONS", "NO-GO", "INCOMPLETE"]

EXIT_CODES: dict[Decision, int] = {"GO": 0, "GO-WITH-EXCEPTIONS": 0, "NO-GO": 1, "INCOMPLETE": 2}
MAX_EXCEPTION_DAYS = 7
# pytest's exit statuses for a run that stopped before its checks were done: whatever had
# passed by then, the rest never ran, so such a run is never GO.
ENDED_EARLY = {2: "the run was interrupted", 3: "the run ended with an internal error"}
COLUMNS = ("ID", "Check", "Owner", "Rationale", "Risk", "Created", "Expiry")
# A Check that is a vulnerability id waives that finding in the vulnerability gate (the
# check itself still runs), so it need not match a test's node id.
VULNERABILITY_ID = re.compile(r"^(CVE-\d{4}-\d{4,}|GHSA(-[23456789cfghjmpqrvwx]{4}){3})$")
HOW_TO_WAIVE = (
    f"no valid policy exception covers this check; to waive it, add a row to {EXCEPTIONS_FILE} "
    f"({' | '.join(COLUMNS)}; Expiry at most {MAX_EXCEPTION_DAYS} days after Created)"
)


@dataclass
class PolicyException:
    id: str
    check: str
    owner: str
    rationale: str
    risk: str
    created: str
    expiry: str
    file: str
    line: int
    problems: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.problems

    @property
    def link(self) -> str:
        return f"{self.file}:{self.line}"

    def covers(self, nodeid: str) -> bool:
        return covers(self.check, nodeid)


def covers(pattern: str, nodeid: str) -> bool:
    """A row's Check matches a node id exactly, by glob (`*` and `?` only: brackets are the
    node id's own, `test_readyz[green]`, never a character class), or by the bare name."""
    bare = nodeid.split("::")[-1]
    glob = pattern.replace("[", "\0").replace("]", "[]]").replace("\0", "[[]")
    return (
        pattern == nodeid
        or fnmatch.fnmatchcase(nodeid, glob)
        or pattern == bare.split("[")[0]
        or fnmatch.fnmatchcase(bare, glob)
    )


def parse_exceptions(text: str, file: str) -> list[PolicyException]:
    """Every rendered row of the first table whose header is the exception columns, then
    every table-looking line not rendered as a table row, as an invalid one (so it is said)."""
    hidden = [
        PolicyException(
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            file,
            number,
            [
                "not rendered as a table row (in a code block, an HTML comment, or outside "
                "the table): reviewers cannot see it as a row, so it waives nothing"
            ],
        )
        for number in markdown.hidden(text)
    ]
    return hidden + [
        PolicyException(
            row["id"],
            row["check"],
            row["owner"],
            row["rationale"],
            row["risk"],
            row["created"],
            row["expiry"],
            file,
            number,
        )
        for number, row in markdown.table(text, COLUMNS)
    ]


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# Cells that say nothing: a row needs a real owner and a real reason.
PLACEHOLDERS = {"-", "--", chr(0x2014), chr(0x2013), "n/a", "na", "tbd", "todo", "none", "?", "..."}


def _date(value: str) -> dt.date | None:
    """YYYY-MM-DD only: Python also reads 20261125 and 2026-W48-3, which the rule does not."""
    if not _ISO_DATE.match(value.strip()):
        return None
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError:
        return None


def validate(
    rows: Sequence[PolicyException], known_checks: Iterable[str], today: dt.date
) -> list[PolicyException]:
    """Fill each row's `problems`; returns the rows (valid ones have none)."""
    known = list(known_checks)
    ids = Counter(row.id for row in rows)
    for row in rows:
        if row.problems and row.problems[0].startswith("not rendered"):
            continue  # a hidden row keeps its one reason
        values = asdict(row).values()
        problems = [
            f"{name} is empty"
            if not str(value).strip()
            else f"{name} {str(value).strip()!r} says nothing (give a real {name.lower()})"
            for name, value in zip(COLUMNS, values, strict=False)
            if not str(value).strip() or str(value).strip().lower() in PLACEHOLDERS
        ]
        created, expiry = _date(row.created), _date(row.expiry)
        if row.created and created is None:
            problems.append(f"Created {row.created!r} is not a date (YYYY-MM-DD)")
        if row.expiry and expiry is None:
            problems.append(f"Expiry {row.expiry!r} is not a date (YYYY-MM-DD)")
        if created and expiry:
            if expiry < created:
                problems.append("Expiry is before Created")
            elif (expiry - created).days > MAX_EXCEPTION_DAYS:
                problems.append(
                    f"Expiry is {(expiry - created).days} days after Created "
                    f"(at most {MAX_EXCEPTION_DAYS})"
                )
            if expiry < today:
                problems.append(f"expired on {expiry.isoformat()}")
        if created and created > today:
            problems.append(
                f"Created {created.isoformat()} is after the run's date {today.isoformat()} "
                f"(a waiver starts when it is written, for at most {MAX_EXCEPTION_DAYS} days)"
            )
        if row.check and not VULNERABILITY_ID.match(row.check):
            matched = [nodeid for nodeid in known if covers(row.check, nodeid)]
            files = {nodeid.split("::")[0] for nodeid in matched}
            if not matched:
                problems.append(f"Check {row.check!r} matches no known check")
            elif len(files) > 1:
                problems.append(
                    f"Check {row.check!r} matches checks in {len(files)} files; a waiver covers "
                    "the checks of one file at most: name the check"
                )
        if row.id and ids[row.id] > 1:
            problems.append(f"ID {row.id} is used {ids[row.id]} times; every row using it is void")
        row.problems = problems
    return list(rows)


def given_table(option: str) -> Path:
    """--exceptions-file's table: a file that exists, or one line saying what it is instead
    (a missing table named on purpose must not read as "no exceptions")."""
    path = Path(option).resolve()
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise ConfigError(
            f"--exceptions-file={option} {what}; pass the policy exceptions table's path "
            f"(like --exceptions-file={EXCEPTIONS_FILE})"
        )
    return path


def load_exceptions(
    path: Path, known_checks: Iterable[str], today: dt.date
) -> list[PolicyException]:
    if not path.exists():
        return []
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read as UTF-8 text ({exc})") from None
    return validate(parse_exceptions(text, str(path)), known_checks, today)


def gate_of(markers: Sequence[str], explicit: str | None) -> str:
    if explicit:
        return explicit
    for marker in markers:
        if marker in PACK_GATES:
            return marker
    return "other"


@dataclass
class Verdict:
    decision: Decision
    judged_at: str
    required_gates: list[str]
    gates: dict[str, list[dict[str, Any]]]
    failing: list[str]
    waived: list[dict[str, str]]
    not_run: list[dict[str, str]]
    empty_required_gates: list[str]
    invalid_exceptions: list[dict[str, Any]]

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.decision]

    def summary(self) -> str:
        parts: list[str] = [self.decision]
        if self.failing:
            parts.append(
                f"{len(self.failing)} failing: {', '.join(self.failing[:3])}"
                + (" ..." if len(self.failing) > 3 else "")
            )
        if self.waived:
            parts.append(
                f"{len(self.waived)} waived ({', '.join(w['exception'] for w in self.waived)})"
            )
        if self.not_run:
            parts.append(f"{len(self.not_run)} required not run")
        if self.empty_required_gates:
            parts.append(f"required gate(s) with no checks: {', '.join(self.empty_required_gates)}")
        if self.invalid_exceptions:
            parts.append(f"{len(self.invalid_exceptions)} invalid exception row(s)")
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {"schema": "gonogo.run.verdict/v1", **asdict(self), "exit_code": self.exit_code}


FAILED = {"failed", "xpassed"}
# Left out by the run's selection: -m/-k/--deselect (told), or never collected (gonogo.run.census).
UNSELECTED = {"deselected", "not collected"}
# "n/a": the check said why it cannot apply to this env (gonogo.errors.NotApplicable).
RAN_OK = {"passed", "xfailed", "n/a"}


def judge(
    tests: Sequence[dict[str, Any]],
    required_gates: Sequence[str],
    exceptions: Sequence[PolicyException],
    judged_at: str,
    exit_status: int | None = None,
) -> Verdict:
    """Decide from recorded results: each test is a bundle.json `tests` entry, and
    `exit_status` the run's (bundle.json `run.exit_status`)."""
    gates: dict[str, list[dict[str, Any]]] = {}
    failing, waived, not_run = [], [], []
    valid = [e for e in exceptions if e.valid]
    for test in tests:
        gate = gate_of(test.get("markers") or [], test.get("gate"))
        outcome = str(test.get("outcome"))
        entry = {k: test.get(k) for k in ("nodeid", "env", "outcome", "message", "value", "limit")}
        entry["exception"] = None
        required = gate in required_gates
        if outcome in FAILED or (outcome == "error" and required):
            cover = next((e for e in valid if e.covers(test["nodeid"])), None)
            if cover is not None:
                entry["outcome"] = "waived"
                entry["exception"] = cover.id
                waived.append({"check": test["nodeid"], "exception": cover.id, "link": cover.link})
            elif outcome == "error":
                not_run.append({"check": test["nodeid"], "why": f"error: {test.get('message')}"})
            else:
                failing.append(test["nodeid"])
        elif outcome == "waived":
            waived.append(
                {
                    "check": test["nodeid"],
                    "exception": str(test.get("exception")),
                    "link": str(test.get("exception_link")),
                }
            )
        elif required and outcome not in RAN_OK:
            not_run.append({"check": test["nodeid"], "why": outcome})
        gates.setdefault(gate, []).append(entry)
    # A required gate with no checks at all cannot be judged (deselected ones are in not_run).
    empty = [g for g in required_gates if not gates.get(g)]
    # A run in which no check ran is nothing to go on, whatever was required.
    if not any(str(t.get("outcome")) in RAN_OK | FAILED for t in tests):
        not_run.append({"check": "(every check)", "why": "no check ran"})
    if exit_status in ENDED_EARLY:
        not_run.append({"check": "(the rest of the run)", "why": ENDED_EARLY[exit_status]})
    decision: Decision
    if failing:
        decision = "NO-GO"
    elif not_run or empty:
        decision = "INCOMPLETE"
    elif waived:
        decision = "GO-WITH-EXCEPTIONS"
    else:
        decision = "GO"
    return Verdict(
        decision=decision,
        judged_at=judged_at,
        required_gates=list(required_gates),
        gates=gates,
        failing=failing,
        waived=waived,
        not_run=not_run,
        empty_required_gates=empty,
        invalid_exceptions=[
            {"id": e.id, "check": e.check, "link": e.link, "problems": e.problems}
            for e in exceptions
            if not e.valid
        ],
    )


ATTESTATION_FILE = "attestation.intoto.json"


def attestation_statement(
    subjects: dict[str, str],
    verdict: Verdict,
    tests: Sequence[dict[str, Any]],
    configuration: list[dict[str, Any]],
    url: str | None = None,
) -> dict[str, Any]:
    """An in-toto Statement v1 with the test-result predicate, over the report files.

    Unsigned here: CI signs it with Sigstore. `result` is "pass" only for GO;
    waived checks are listed as warned, failed and errored ones as failed.
    """
    outcome = {str(t["nodeid"]): str(t.get("outcome")) for t in tests}
    predicate: dict[str, Any] = {
        "result": "pass" if verdict.decision == "GO" else "fail",
        "configuration": configuration,
        "passedTests": sorted(n for n, o in outcome.items() if o in RAN_OK),
        "warnedTests": sorted(n for n, o in outcome.items() if o == "waived"),
        "failedTests": sorted(n for n, o in outcome.items() if o in FAILED | {"error"}),
    }
    if url:
        predicate["url"] = url
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [
            {"name": name, "digest": {"sha256": digest}}
            for name, digest in sorted(subjects.items())
        ],
        "predicateType": TEST_RESULT_PREDICATE,
        "predicate": predicate,
    }


@dataclass(frozen=True)
class GateLine:
    """One gate at the end of a run: its status, its counts, and the numbers that matter."""

    gate: str
    status: str  # "passed", "FAILED", "waived", "incomplete", "not run", "no checks"
    counts: str
    numbers: list[str]
    red: list[str]
    # Required checks that did not run (skipped, errored in setup, deselected), by name.
    unrun: list[str] = field(default_factory=list)
    # Each named check's node id: the report links the name to the check's row.
    nodeids: dict[str, str] = field(default_factory=dict)


def gate_lines(verdict: Verdict, most: int = 3) -> list[GateLine]:
    """Per gate: failing checks by name, and up to `most` measured values against their
    limits (the failing ones first): what the war room reads before the details."""
    out = []
    gates = {**{g: [] for g in verdict.required_gates}, **verdict.gates}
    for gate, checks in gates.items():
        if not checks:
            out.append(GateLine(gate, "no checks", "0", [], []))
            continue
        outcomes = [str(c["outcome"]) for c in checks]
        red = [_short(c["nodeid"]) for c in checks if c["outcome"] in FAILED | {"error"}]
        unrun = [
            _short(c["nodeid"])
            for c in checks
            if c["outcome"] not in RAN_OK | FAILED | {"error", "waived"}
        ]
        nodeids = {_short(c["nodeid"]): str(c["nodeid"]) for c in checks}
        passed = sum(1 for o in outcomes if o in RAN_OK)
        if red:
            status = "FAILED"
        elif all(o in UNSELECTED for o in outcomes):
            status = "not run"
        elif any(o == "waived" for o in outcomes):
            status = "waived"
        elif any(o not in RAN_OK for o in outcomes):
            status = "incomplete"
        else:
            status = "passed"
        measured = sorted(
            (c for c in checks if c.get("value") is not None and c.get("limit") is not None),
            key=lambda c: c["outcome"] not in FAILED | {"error"},
        )
        numbers = [_number(c) for c in measured]
        named = {name: nodeids[name] for name in [*red, *unrun]}
        counts = f"{passed}/{len(checks)}"
        out.append(GateLine(gate, status, counts, numbers[:most], red, unrun, named))
    return out


def _number(check: dict[str, Any]) -> str:
    name = _short(str(check["nodeid"]))
    if ":" in name:  # a threshold names its own limit: "canary http_req_failed: rate<0.001"
        return f"{name} -> {check['value']}"
    return f"{name} {check['value']} (limit {check['limit']})"


def _short(nodeid: str) -> str:
    """test_canary[local-canary-http_req_duration{scenario:gateway}: p(95)<150] ->
    canary http_req_duration{scenario:gateway}: p(95)<150; test_healthz[local] -> healthz."""
    name = nodeid.split("::")[-1]
    base, _, param = name.partition("[")
    base = base.removeprefix("test_")
    param = param.rstrip("]")
    parts = param.split("-", 2)
    return f"{base} {parts[2]}" if len(parts) == 3 and ":" in parts[2] else base
