"""The cutover day as data and a record: the timeline (T-60 ... T+60), and what each step did.

The seed's day was a document: an owner, an action, entry and exit criteria per
step, each ticked by hand. Here the timeline is `cutover.toml` (gonogo ships the
seed's, in templates/cutover/), each step's exit criteria are a gonogo selection
(or the day's verdict, or a manual note), and the day leaves one record:

    reports/cutover/<date of T-0>/
      timeline.json    the plan (T-0, envs, steps) and every run of every step
      timeline.html    the same for people: times, owners, outcomes, links to bundles
      steps/<AT>/...   each step's own evidence bundle
      bundle.json      the day sealed, like a run's bundle (gonogo verify-bundle)

A step runs only when every earlier step passed (its entry criteria); `--force`
overrides that, and the record says so. The clock is injected, so a rehearsal
can ask what the status would be at any time.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from gonogo.day import verdict
from gonogo.errors import ConfigError, GonogoError
from gonogo.table import Table

DEFAULT_TIMELINE = Path(__file__).parent.parent / "templates" / "cutover" / "cutover.toml"
SCHEMA = "gonogo.day.cutover/v1"
TIMELINE_FILE = "timeline.json"
_AT = re.compile(r"^T([+-])(\d{1,4})$")


class CutoverError(ConfigError):
    """The timeline or the day record cannot be used, or a step cannot run now."""


class Step(Table):
    at: str
    owner: str
    action: str
    entry: str = ""
    exit: str
    kind: Literal["checks", "verdict", "manual"] = "checks"
    env: Literal["green", "blue"] = "green"
    marker: str | None = None
    keyword: str | None = None
    # The route weights this step expects (percent per slot); passed as --expect-weights.
    weights: dict[str, float] | None = None
    # The share of requests the edge mirrors to green now (T-40's shadow traffic), in
    # percent; passed as --expect-shadow (test_shadow_traffic).
    shadow: float | None = Field(default=None, gt=0, le=100)
    # The step from which the status page must read Operational (T+30): passed as
    # --expect-operational (test_status_page_operational).
    operational: bool = False
    # The sign-off that enters the heightened watch (T+60): once it passes, a `gonogo watch`
    # of the green env for its [cutover] watch_for runs detached, its PID and folder recorded.
    watch: bool = False
    # The roles the step's roll-call names (--present ROLE=NAME); one left empty stops it.
    roles: list[str] = Field(default_factory=list)
    # The step that begins the change freeze (T-60): its start is recorded, and every later
    # check step passes it as --freeze-since (test_no_rollout_during_freeze).
    freeze: bool = False

    @field_validator("at")
    @classmethod
    def _offset(cls, value: str) -> str:
        if not _AT.match(value):
            raise ValueError(f"'{value}' is not a time like T-45 or T+5 (minutes around T-0)")
        return value

    @model_validator(mode="after")
    def _judged(self) -> Step:
        if self.kind == "checks" and not self.marker:
            raise ValueError('a "checks" step needs marker = "smoke" (a pytest -m expression)')
        expects = self.weights or self.shadow or self.operational
        if self.kind != "checks" and (self.marker or self.keyword or expects):
            raise ValueError(
                f'a "{self.kind}" step runs no checks: drop marker, keyword, weights, shadow '
                "and operational"
            )
        if self.watch and self.kind != "verdict":
            raise ValueError('watch = true belongs on the sign-off, a "verdict" step')
        if self.weights is not None:
            from gonogo.day.edge import parse_expected

            try:
                parse_expected(self.expect_weights, option="weights")
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return self

    @property
    def expect_weights(self) -> str:
        """The weights as --expect-weights says them: blue=10,green=90."""
        return ",".join(f"{slot}={w:g}" for slot, w in (self.weights or {}).items())

    @property
    def minutes(self) -> int:
        match = _AT.match(self.at)
        assert match is not None
        sign, value = match.groups()
        return -int(value) if sign == "-" else int(value)


class Timeline(Table):
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _in_order(self) -> Timeline:
        for before, after in zip(self.steps, self.steps[1:], strict=False):
            if after.minutes <= before.minutes:
                raise ValueError(
                    f"steps must run in time order: {after.at} comes after {before.at}"
                )
        return self

    def step(self, at: str) -> Step:
        for step in self.steps:
            if step.at == at.upper():
                return step
        raise CutoverError(
            f"no step {at} in the timeline; steps: {', '.join(s.at for s in self.steps)}"
        )


def load_timeline(path: Path | None) -> tuple[Timeline, Path]:
    """The timeline at `path`, else gonogo's own; every error one line naming the step."""
    path = path or DEFAULT_TIMELINE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise CutoverError(f"timeline {path} not found; pass --timeline FILE") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CutoverError(f"timeline {path} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CutoverError(f"{path}: malformed TOML: {exc}") from None
    try:
        return Timeline.model_validate(data), path
    except ValidationError as exc:
        item = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in item["loc"])
        at = ""
        if len(item["loc"]) > 1 and item["loc"][0] == "steps" and isinstance(item["loc"][1], int):
            steps = data.get("steps") or []
            index = item["loc"][1]
            if index < len(steps) and isinstance(steps[index], dict):
                at = f" ({steps[index].get('at', '?')})"
        message = str(item["msg"]).removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key (see gonogo's own timeline for every key)"
        raise CutoverError(f"{path}: {where}{at}: {message}") from None


@dataclass
class Day:
    """One cutover day's record (timeline.json), read and written as a whole."""

    root: Path
    data: dict[str, Any]

    @classmethod
    def plan(
        cls, reports: Path, timeline_path: Path, green: str, blue: str | None, t0: dt.datetime
    ) -> Day:
        root = reports / "cutover" / t0.date().isoformat()
        existing = root / TIMELINE_FILE
        if existing.exists():
            day = cls.open(root)
            if day.t0 != t0 or day.data["envs"] != {"green": green, "blue": blue}:
                raise CutoverError(
                    f"{root} already plans T-0 {day.t0.isoformat()} for green "
                    f"{day.data['envs']['green']}; a day has one plan (remove the folder to "
                    "plan it again)"
                )
            return day
        root.mkdir(parents=True, exist_ok=True)
        timeline, _ = load_timeline(timeline_path)
        data = {
            "schema": SCHEMA,
            "t0": t0.isoformat(),
            "envs": {"green": green, "blue": blue},
            "timeline_file": str(timeline_path),
            "steps": [step.model_dump() for step in timeline.steps],
            "runs": [],
        }
        day = cls(root, data)
        day.save()
        return day

    @classmethod
    def open(cls, root: Path) -> Day:
        try:
            data = json.loads((root / TIMELINE_FILE).read_text())
        except FileNotFoundError:
            raise CutoverError(
                f"no cutover day in {root}; plan one first: gonogo cutover plan --env NAME "
                "--t0 2026-12-01T02:00-07:00"
            ) from None
        except ValueError:
            raise CutoverError(
                f"{root / TIMELINE_FILE} is not valid JSON; the record is damaged"
            ) from None
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            raise CutoverError(f"{root / TIMELINE_FILE} is not a {SCHEMA} record")
        verify_seal(root)
        return cls(root, data)

    @classmethod
    def latest(cls, reports: Path) -> Day:
        days = sorted(p for p in (reports / "cutover").glob("*") if (p / TIMELINE_FILE).exists())
        if not days:
            raise CutoverError(
                f"no cutover day under {reports / 'cutover'}; plan one first: gonogo cutover "
                "plan --env NAME --t0 2026-12-01T02:00-07:00"
            )
        return cls.open(days[-1])

    @property
    def t0(self) -> dt.datetime:
        return dt.datetime.fromisoformat(str(self.data["t0"]))

    @property
    def timeline(self) -> Timeline:
        return Timeline.model_validate({"steps": self.data["steps"]})

    def due(self, step: Step) -> dt.datetime:
        return self.t0 + dt.timedelta(minutes=step.minutes)

    def watch(self) -> dict[str, Any] | None:
        """The heightened watch the day started last, as recorded."""
        started = [r["watch"] for r in self.data["runs"] if r.get("watch")]
        return started[-1] if started else None

    def last_run(self, at: str) -> dict[str, Any] | None:
        runs = [r for r in self.data["runs"] if r["at"] == at]
        return runs[-1] if runs else None

    def state(self, step: Step, now: dt.datetime) -> str:
        run = self.last_run(step.at)
        if run is not None:
            return str(run["outcome"])
        return "due" if now >= self.due(step) else "pending"

    def blocking(self, step: Step) -> list[str]:
        """Earlier steps that have not passed: the entry criteria this step cannot skip."""
        out = []
        for earlier in self.timeline.steps:
            if earlier.minutes >= step.minutes:
                break
            run = self.last_run(earlier.at)
            if run is None or run["outcome"] != "passed":
                out.append(f"{earlier.at} {run['outcome'] if run else 'not run'}")
        return out

    def freeze_since(self) -> str | None:
        """When the day's freeze began: the start of the latest passed run of a freeze step."""
        starts = [
            str(run["started"])
            for step in self.timeline.steps
            if step.freeze and (run := self.last_run(step.at)) and run["outcome"] == "passed"
        ]
        return starts[-1] if starts else None

    def record(self, run: dict[str, Any]) -> None:
        self.data["runs"].append(run)
        self.save()

    def save(self) -> None:
        (self.root / TIMELINE_FILE).write_text(json.dumps(self.data, indent=2) + "\n")
        (self.root / "timeline.html").write_text(render_html(self, now=None))


def verify_seal(root: Path) -> None:
    """The day record is read only as gonogo sealed it: a timeline.json edited to say
    "passed" must not open a gate, nor be sealed over by the next step."""
    from gonogo.evidence import verify_bundle

    try:
        result = verify_bundle(root)
    except GonogoError as exc:
        raise CutoverError(
            f"the day record {root} is not sealed ({exc}); it cannot be trusted: plan the day "
            "again in a new --reports folder"
        ) from None
    # A step running now writes its own bundle under steps/ before the day is sealed again:
    # what it adds there is not the record (timeline.json lists the runs, and each step's
    # bundle is verified on its own when judged), so `status` still reads the day meanwhile.
    added = [p for p in result.added if not p.startswith("steps/")]
    if result.changed or result.missing or result.unsafe or added:
        what = "; ".join(
            f"{label}: {', '.join(paths[:3])}"
            for label, paths in (
                ("changed", result.changed),
                ("added", added),
                ("missing", result.missing),
                ("unsafe", result.unsafe),
            )
            if paths
        )
        raise CutoverError(
            f"the day record {root} does not match its seal ({what}): it was changed after "
            f"gonogo wrote it, so no step reads it and nothing is sealed over it; restore the "
            f"files, or plan the day again in a new --reports folder (gonogo verify-bundle {root})"
        )


def statement(day: Day, manifest_sha256: str) -> dict[str, Any]:
    """The day as an in-toto test-result statement over its bundle.json, for its signature
    (`gonogo verify-bundle DAY --key PUB` checks it as it checks a run's)."""
    from gonogo.supplychain.signing import TEST_RESULT_PREDICATE

    latest = {step.at: (day.last_run(step.at) or {}).get("outcome") for step in day.timeline.steps}
    return {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "bundle.json", "digest": {"sha256": manifest_sha256}}],
        "predicateType": TEST_RESULT_PREDICATE,
        "predicate": {
            "result": "pass" if all(o == "passed" for o in latest.values()) else "fail",
            "configuration": [{"name": str(day.data.get("timeline_file", ""))}],
            "passedTests": sorted(at for at, o in latest.items() if o == "passed"),
            "warnedTests": [],
            "failedTests": sorted(at for at, o in latest.items() if o not in (None, "passed")),
        },
    }


def parse_t0(value: str) -> dt.datetime:
    """T-0 with its offset (the war room's time zone): 2026-12-01T02:00-07:00."""
    try:
        t0 = dt.datetime.fromisoformat(value)
    except ValueError:
        raise CutoverError(
            f"--t0 {value!r}: give the flip's time with its UTC offset, like 2026-12-01T02:00-07:00"
        ) from None
    if t0.tzinfo is None:
        raise CutoverError(
            f"--t0 {value!r} has no UTC offset; the war room's time zone must be said, like "
            "2026-12-01T02:00-07:00"
        )
    return t0


def render_html(day: Day, now: dt.datetime | None) -> str:
    """The day for people: one row a step, linked to its bundle."""
    rows = []
    for step in day.timeline.steps:
        run = day.last_run(step.at)
        outcome = run["outcome"] if run else "not run"
        link = (
            f'<a href="{html.escape(run["bundle"])}/report.html">{html.escape(run["bundle"])}</a>'
            if run and run.get("bundle")
            else html.escape(str(run.get("note", "")))
            if run
            else ""
        )
        if run and run.get("roll_call") is not None:
            present = ", ".join(f"{r}: {n}" for r, n in run["roll_call"].items()) or "no one"
            link += f"<p>present: {html.escape(present)}</p>"
        if run and run.get("verdict"):
            link += _gate_table(day.root / str(run["verdict"]), run)
        rows.append(
            "<tr>"
            f"<td>{step.at}</td><td>{day.due(step).strftime('%H:%M')}</td>"
            f"<td>{html.escape(step.owner)}</td><td>{html.escape(step.action)}</td>"
            f"<td>{html.escape(step.exit)}</td>"
            f'<td class="{html.escape(outcome)}">{html.escape(outcome)}'
            f"{' (forced)' if run and run.get('forced') else ''}</td>"
            f"<td>{html.escape(run['finished']) if run else ''}</td><td>{link}</td></tr>"
        )
    return (
        "<!doctype html><meta charset=utf-8><title>Cutover day</title>"
        "<style>body{font-family:sans-serif}td,th{padding:4px 8px;border-bottom:1px solid #ddd}"
        ".passed{color:#17622f}.failed{color:#a0141e;font-weight:bold}</style>"
        f"<h1>Cutover day {day.t0.date()} (T-0 {html.escape(day.t0.isoformat())})</h1>"
        "<table><tr><th>Step</th><th>Due</th><th>Owner</th><th>Action</th><th>Exit criteria</th>"
        "<th>Outcome</th><th>Finished</th><th>Evidence</th></tr>" + "".join(rows) + "</table>"
    )


def _gate_table(path: Path, run: dict[str, Any]) -> str:
    """A verdict step's gate table and the checks that keep it from GO, as a run's report
    opens with them."""
    try:
        document = json.loads(path.read_text())
    except (OSError, ValueError):
        return f"<p>{html.escape(str(path.name))} cannot be read</p>"
    rows = "".join(
        f"<tr><td>{html.escape(gate)}</td><td>{'required' if required else ''}</td>"
        f"<td>{html.escape(said)}</td></tr>"
        for gate, required, said in verdict.gate_rows(document)
    )
    reasons = "".join(f"<li>{html.escape(line.strip())}</li>" for line in run.get("lines") or [])
    return f'<table class="gates"><tr><th>Gate</th><th></th><th>Checks</th></tr>{rows}</table>' + (
        f"<ul>{reasons}</ul>" if reasons else ""
    )
