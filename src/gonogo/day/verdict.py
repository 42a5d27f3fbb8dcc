"""The day's Go/No-Go (T-15, T+60): the same rule as a run's verdict, over what the day ran.

A verdict step used to pass when every earlier step had passed. But a step passes on
what its own selection picked, so a required check that no step selects never ran,
and the day said GO where a plain `pytest --env green` of the same env says
INCOMPLETE. The day is never weaker than a run: a verdict step reads the sealed
bundles of the green env's earlier steps, each of which accounts for every required
check (ran, deselected by the step's -m/-k, or not collected), merges them into one
set of results and judges it with `gonogo.run.verdict.judge`: the env's
required_gates, the exceptions table the latest step ran with, on the day of judging.

Where the merge gives a required check no outcome, the message names the step that
should have run it: the step whose bundle shows it skipped or errored, or, when no
step selected it, that no step before this one does (the timeline needs it added).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gonogo.errors import GonogoError
from gonogo.evidence import load_manifest, verify_bundle
from gonogo.run.census import base
from gonogo.run.verdict import (
    UNSELECTED,
    Decision,
    PolicyException,
    Verdict,
    judge,
    load_exceptions,
)
from gonogo.vocabulary import EXCEPTIONS_FILE, GATE_NAMES

VERDICT_FILE = "verdict.json"
# Steps whose outcome alone makes the day NO-GO; any other outcome but "passed" leaves it
# INCOMPLETE at best.
_RED_STEPS = {"failed", "error"}


@dataclass
class StepRecord:
    """One earlier step as the day recorded it: its time, its env slot, its latest run."""

    at: str
    kind: str
    slot: str  # "green" or "blue"
    run: dict[str, Any] | None


@dataclass
class DayVerdict:
    verdict: Verdict
    at: str | None  # the verdict step: T-15
    steps_not_passed: list[str] = field(default_factory=list)  # "T-45 failed"
    red_steps: bool = False

    @property
    def decision(self) -> Decision:
        if self.red_steps or self.verdict.decision == "NO-GO":
            return "NO-GO"
        if self.steps_not_passed and self.verdict.decision != "INCOMPLETE":
            return "INCOMPLETE"
        return self.verdict.decision

    @property
    def passed(self) -> bool:
        return self.decision in ("GO", "GO-WITH-EXCEPTIONS")

    def summary(self) -> str:
        """One line: the decision, then what it rests on, the steps first."""
        parts: list[str] = [self.decision]
        if self.steps_not_passed:
            parts.append(f"steps not passed: {', '.join(self.steps_not_passed)}")
        rest = self.verdict.summary().split("; ", 1)
        if len(rest) > 1:
            parts.append(rest[1])
        return "; ".join(parts)

    def lines(self, most: int = 20) -> list[str]:
        """Each check that keeps the day from GO, one line each, as `gonogo verdict` lists them."""
        out = [f"  failing: {nodeid}" for nodeid in self.verdict.failing[:most]]
        out += [f"  not run: {i['check']} ({i['why']})" for i in self.verdict.not_run[:most]]
        hidden = len(self.verdict.failing) + len(self.verdict.not_run) - len(out)
        if hidden > 0:
            out.append(f"  ... and {hidden} more in {VERDICT_FILE}")
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.verdict.as_dict(),
            "schema": "gonogo.day.verdict/v1",
            "step": self.at,
            "decision": self.decision,
            "steps_not_passed": self.steps_not_passed,
            "run_decision": self.verdict.decision,
        }


@dataclass
class _Merged:
    """The green env's checks over the steps read so far: the latest real outcome of each,
    else how a step left it out (deselected, not collected)."""

    green: str
    tests: dict[str, dict[str, Any]] = field(default_factory=dict)
    selected_in: dict[str, list[str]] = field(default_factory=dict)
    latest: tuple[Path, dict[str, Any]] | None = None

    def add(self, at: str, folder: Path, manifest: dict[str, Any]) -> None:
        self.latest = (folder, manifest)
        for test in manifest.get("tests") or []:
            if not isinstance(test, dict) or test.get("env") not in (self.green, None):
                continue
            nodeid = str(test.get("nodeid"))
            if str(test.get("outcome")) in UNSELECTED:
                self.tests.setdefault(nodeid, test)
            else:
                self.selected_in.setdefault(nodeid, []).append(at)
                self.tests[nodeid] = test

    def results(self) -> list[dict[str, Any]]:
        # A check the census named "not collected" in one step ([env] only) that another step
        # ran under its full parameters did run.
        ran = {base(nodeid) for nodeid in self.selected_in}
        return [
            t
            for n, t in self.tests.items()
            if not (t.get("outcome") == "not collected" and base(n) in ran)
        ]

    def rules(self, now: dt.datetime) -> tuple[list[str], list[PolicyException]]:
        """The required gates and the exceptions the latest step ran with, valid today."""
        if self.latest is None:
            return list(GATE_NAMES), []
        folder, manifest = self.latest
        gates = manifest.get("required_gates")
        if not (isinstance(gates, list) and gates and all(isinstance(g, str) for g in gates)):
            gates = list(GATE_NAMES)
        packs = [p for p in manifest.get("packs") or [] if isinstance(p, str)]
        table = folder / Path(EXCEPTIONS_FILE).name
        exceptions = load_exceptions(table, [*self.tests, *packs], now.date())
        return list(gates), exceptions


def _read_step(root: Path, step: StepRecord) -> tuple[Path, dict[str, Any]] | str:
    """A green check step's sealed bundle, or why it cannot be trusted."""
    folder = root / str((step.run or {}).get("bundle"))
    try:
        intact = verify_bundle(folder)
        manifest = load_manifest(folder)
    except GonogoError as exc:
        return f"{step.at} bundle unreadable ({exc})"
    if not intact.ok:
        return f"{step.at} bundle changed after its seal"
    return folder, manifest


def judge_day(
    root: Path, green: str, at: str | None, earlier: Sequence[StepRecord], now: dt.datetime
) -> DayVerdict:
    """The day as of the verdict step `at` (None: the whole timeline, for `status`): every
    earlier step passed, and the green env's checks, merged over the earlier steps'
    bundles, judged as a run's."""
    not_passed: list[str] = []
    red = False
    merged = _Merged(green)
    for step in earlier:
        outcome = str((step.run or {}).get("outcome") or "not run")
        if outcome != "passed":
            not_passed.append(f"{step.at} {outcome}")
            red = red or outcome in _RED_STEPS
        if step.kind != "checks" or step.slot != "green" or not (step.run or {}).get("bundle"):
            continue
        read = _read_step(root, step)
        if isinstance(read, str):
            not_passed.append(read)
            red = True
        else:
            merged.add(step.at, *read)
    required, exceptions = merged.rules(now)
    results = merged.results()
    verdict = judge(results, required, exceptions, now.isoformat())
    # A verdict step names the timeline's gap; `status` (at None) only what ran so far.
    gap = (
        f"no step before {at} selected it: add it to a step's marker or keyword in the timeline"
        if at
        else "no step run so far selected it"
    )
    known = {str(t.get("nodeid")) for t in results}
    for item in verdict.not_run:
        steps = merged.selected_in.get(item["check"])
        if steps:
            item["why"] = f"{item['why']} in {', '.join(steps)}"
        elif item["check"] in known:
            item["why"] = gap
        else:
            item["why"] = f"{item['why']} (no check step {f'before {at} ' if at else ''}has run)"
    return DayVerdict(verdict=verdict, at=at, steps_not_passed=not_passed, red_steps=red)


def gate_rows(document: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """(gate, required, "12 passed, 1 not collected") per gate of a written verdict.json,
    for the day's page: the same gate table a run's report opens with."""
    required = set(document.get("required_gates") or [])
    rows = []
    for gate, entries in (document.get("gates") or {}).items():
        counts: dict[str, int] = {}
        for entry in entries:
            outcome = str(entry.get("outcome"))
            counts[outcome] = counts.get(outcome, 0) + 1
        said = ", ".join(f"{n} {o}" for o, n in sorted(counts.items(), key=lambda i: -i[1]))
        rows.append((gate, gate in required, said))
    return sorted(rows, key=lambda r: (not r[1], r[0]))


def write(folder: Path, day_verdict: DayVerdict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / VERDICT_FILE
    path.write_text(json.dumps(day_verdict.as_dict(), indent=2) + "\n")
    return path
