"""The cutover day on the terminal: the plan and the status, a line a step.

timeline.html is written with the record (gonogo.day.cutover.render_html); these say a
step the same way: its time, owner, action, outcome.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from gonogo.day import verdict

if TYPE_CHECKING:
    from gonogo.day.cutover import Day


def plan_lines(day: Day) -> list[str]:
    """The day, one line a step, in T-0's time zone."""
    envs = day.data["envs"]
    lines = [
        f"cutover day {day.t0.date()}: T-0 {day.t0.isoformat()}; green {envs['green']}, "
        f"blue {envs['blue'] or '(none)'}; record {day.root}"
    ]
    for step in day.timeline.steps:
        judged = {
            "checks": f"-m '{step.marker}'"
            + (f" -k '{step.keyword}'" if step.keyword else "")
            + (f" --expect-weights {step.expect_weights}" if step.weights else "")
            + (f" --expect-shadow {step.shadow:g}" if step.shadow else "")
            + (" --expect-operational" if step.operational else ""),
            "verdict": "the day as a run: every required check run in the day and passed "
            "(or validly waived), and every earlier step passed"
            + ("; on GO, the heightened watch starts" if step.watch else ""),
            "manual": "by hand: gonogo cutover run " + step.at + " --note '...'",
        }[step.kind]
        env = envs.get(step.env) or step.env
        lines.append(
            f"{step.at:>5}  {day.due(step).strftime('%H:%M')}  {step.owner:<18}  {step.action}"
            f"\n{'':>13}exit: {step.exit}\n{'':>13}judged by: {judged} (on {env})"
        )
    return lines


def status_lines(day: Day, now: dt.datetime) -> list[str]:
    lines = []
    for step in day.timeline.steps:
        run = day.last_run(step.at)
        state = day.state(step, now)
        where = f"  {run['bundle']}" if run and run.get("bundle") else ""
        forced = " (forced)" if run and run.get("forced") else ""
        lines.append(
            f"{step.at:>5}  {day.due(step).strftime('%H:%M')}  {state:<8}{forced}  "
            f"{step.action}{where}"
        )
    # What the sign-off will miss unless a step still to come runs it: the day so far,
    # judged over every step, as T+60 will judge it.
    records = [
        verdict.StepRecord(s.at, s.kind, s.env, day.last_run(s.at)) for s in day.timeline.steps
    ]
    judged = verdict.judge_day(day.root, str(day.data["envs"]["green"]), None, records, now)
    missing = judged.verdict.not_run
    if missing:
        lines.append(f"required checks the day has not run yet: {len(missing)}")
        lines += [f"  {item['check']} ({item['why']})" for item in missing[:40]]
        if len(missing) > 40:
            lines.append(f"  ... and {len(missing) - 40} more")
    else:
        lines.append("required checks the day has not run yet: none")
    return lines
