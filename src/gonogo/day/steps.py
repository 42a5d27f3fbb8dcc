"""A step of the cutover day run and judged: its checks through pytest (a runner), the
day's Go/No-Go (gonogo.day.verdict), or a note for what is done by hand; then recorded.

Apart from gonogo.day.cutover (the timeline and the record) because judging reads the
run's rules (gonogo.run.verdict) and the steps' sealed bundles.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gonogo.day import verdict
from gonogo.day.cutover import CutoverError, Day, Step
from gonogo.errors import GonogoError


def judge_day(day: Day, step: Step, now: dt.datetime) -> verdict.DayVerdict:
    """The day as of `step` (a verdict step): gonogo.day.verdict over the earlier steps."""
    earlier = [
        verdict.StepRecord(s.at, s.kind, s.env, day.last_run(s.at))
        for s in day.timeline.steps
        if s.minutes < step.minutes
    ]
    return verdict.judge_day(day.root, str(day.data["envs"]["green"]), step.at, earlier, now)


Runner = Callable[[Step, str, Path], tuple[int, Path | None]]
# Starts (or finds running) the heightened watch of an env: what the record keeps of it.
Watcher = Callable[[str, dict[str, Any] | None], dict[str, Any]]

# A step's checks, as its bundle recorded them: what passes it, what only accounts for one.
_STEP_OK = {"passed", "waived", "xfailed"}
_STEP_RED = {"failed", "error", "xpassed"}
_UNSELECTED = {"deselected", "not collected"}


def judge_step(step: Step, status: int, bundle: Path | None) -> tuple[str, str]:
    """(outcome, what it rests on) for a check step, from its sealed bundle, not pytest's exit
    code alone: "passed" only when at least one check ran and every selected check passed or
    was validly waived (n/a is accounted for and listed); a skipped check leaves the step
    "incomplete"; anything red, "failed"; a selection that matches no check, "error"."""
    selection = f"-m '{step.marker}'" + (f" -k '{step.keyword}'" if step.keyword else "")
    if bundle is None:
        return "failed", f"pytest exited {status} and left no bundle for {selection}"
    try:
        from gonogo.evidence import load_manifest, verify_bundle

        intact = verify_bundle(bundle)
        tests = load_manifest(bundle).get("tests") or []
    except GonogoError as exc:
        return "failed", f"the step's bundle cannot be read: {exc}"
    if not intact.ok:
        return "failed", f"the step's bundle does not match its seal ({intact.problems} problems)"
    selected = [t for t in tests if str(t.get("outcome")) not in _UNSELECTED]
    by: dict[str, list[str]] = {}
    for test in selected:
        name = str(test.get("nodeid", "?")).split("::")[-1]
        by.setdefault(str(test.get("outcome")), []).append(name)
    said = "; ".join(f"{len(names)} {o}: {', '.join(names)}" for o, names in sorted(by.items()))
    if any(o in _STEP_RED for o in by) or status not in (0, 5):
        return "failed", said or f"pytest exited {status} with no check recorded"
    if not selected:
        # Never a pass and not a check's fault: the timeline names checks that do not exist.
        return "error", (
            f"the selection {selection} matched no check: fix the step's marker or keyword "
            "in the timeline"
        )
    if not any(o in _STEP_OK for o in by):
        return "incomplete", f"no check ran ({said})"
    if set(by) - _STEP_OK - {"n/a"}:
        return "incomplete", f"not every selected check ran ({said})"
    return "passed", said


def _go_no_go(day: Day, step: Step, started: dt.datetime) -> dict[str, Any]:
    """A verdict step's record: the day judged, its verdict.json written beside the steps."""
    judged = judge_day(day, step, started)
    folder = day.root / "steps" / step.at
    verdict.write(folder, judged)
    outcome = (
        "passed" if judged.passed else "failed" if judged.decision == "NO-GO" else "incomplete"
    )
    return {
        "outcome": outcome,
        "decision": judged.decision,
        "note": judged.summary(),
        "lines": judged.lines(),
        "verdict": str((folder / verdict.VERDICT_FILE).relative_to(day.root)),
    }


def roll_call(step: Step, present: list[str]) -> dict[str, str]:
    """--present ROLE=NAME, each a role the step calls: who answered, by role."""
    if present and not step.roles:
        raise CutoverError(f"{step.at} takes no roll-call; --present is for a step with roles")
    roll: dict[str, str] = {}
    for item in present:
        role, sep, name = item.partition("=")
        role, name = role.strip(), name.strip()
        if not sep or not role or not name:
            raise CutoverError(f"--present {item!r}: give ROLE=NAME, like --present 'IC=Dana Ruiz'")
        if role not in step.roles:
            raise CutoverError(
                f"--present {item!r}: {step.at} calls no role {role!r}; its roles: "
                f"{', '.join(step.roles)}"
            )
        roll[role] = name
    return roll


def run_step(
    day: Day,
    at: str,
    *,
    runner: Runner,
    now: Callable[[], dt.datetime],
    force: bool = False,
    note: str | None = None,
    rehearsal: dict[str, Any] | None = None,
    present: list[str] | None = None,
    watcher: Watcher | None = None,
) -> dict[str, Any]:
    """Run one step (its checks through `runner`, the verdict, or a manual note) and record
    it. Refused in one line when an earlier step has not passed, unless forced."""
    step = day.timeline.step(at)
    roll = roll_call(step, present or [])
    blocked = day.blocking(step)
    if blocked and not force:
        raise CutoverError(
            f"{step.at} cannot start: its entry criteria need every earlier step passed "
            f"({'; '.join(blocked)}); run those first, or --force (recorded)"
        )
    started = now()
    run: dict[str, Any] = {
        "at": step.at,
        "started": started.isoformat(),
        "forced": bool(blocked),
        "blocked_by": blocked,
        "owner": step.owner,
    }
    if rehearsal:
        run["rehearsal"] = rehearsal
    missing = [role for role in step.roles if role not in roll]
    if step.roles:
        run["roll_call"] = roll
    if missing:
        # The entry criteria ("all on-call present") do not hold: nothing else is done.
        run.update(
            outcome="incomplete",
            note=f"roll-call: no one present for {', '.join(missing)} (name each with "
            f"--present ROLE=NAME; roles: {', '.join(step.roles)}); the step's checks did not run",
        )
    elif step.kind == "manual":
        if not note:
            raise CutoverError(
                f"{step.at} is done by hand ({step.action}); record what was seen with "
                f"--note 'weights read 10/90 at 01:52' "
            )
        run.update(outcome="passed", note=note)
    elif step.kind == "verdict":
        run.update(_go_no_go(day, step, started))
        if step.watch and run["outcome"] == "passed" and watcher is not None:
            green = str(day.data["envs"]["green"])
            try:
                run["watch"] = watcher(green, day.watch())
            except (GonogoError, OSError) as exc:  # the GO stands and is recorded regardless
                run["watch_error"] = (
                    f"the heightened watch did not start: {exc}; start it by hand: "
                    f"gonogo watch --env {green} --for 24h"
                )
    else:
        env = day.data["envs"].get(step.env)
        if not env:
            raise CutoverError(
                f"{step.at} runs on the {step.env} env, and the day names none; plan it with "
                f"--{step.env} NAME"
            )
        folder = day.root / "steps" / step.at
        status, bundle = runner(step, env, folder)
        outcome, said = judge_step(step, status, bundle)
        run.update(
            outcome=outcome,
            note=said,
            exit_status=status,
            env=env,
            bundle=str(bundle.relative_to(day.root)) if bundle is not None else None,
        )
    run["finished"] = now().isoformat()
    day.record(run)
    return run
