"""One `gonogo watch`: the engine (gonogo.watch.evaluate) run against an env, with its evidence.

Every tick is a line in `watch/timeline.jsonl` (each trigger's value and
state) and a line on the terminal. A page trigger that fires ends the watch:
the rollback notice (`comms/rollback.txt`, posted when the env has a webhook)
and an after-action note (`after-action.md`) go into the bundle, and the exit
code says so (ROLLBACK). Warn triggers are recorded and the watch goes on.
With Prometheus, the range data behind every trigger is saved at the end;
with Grafana, panel PNGs at T+5, T+15, T+30 and T+60 minutes.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gonogo.day import comms
from gonogo.env import Environment
from gonogo.errors import GonogoError
from gonogo.evidence import Bundle
from gonogo.times import iso
from gonogo.vocabulary import parse_duration
from gonogo.watch.evaluate import Clock, PromQLSource, SampledSource, Source, Status, Watch
from gonogo.watch.triggers import Probe, Trigger, duration_text, triggers_for

EXIT_QUIET = 0
EXIT_ROLLBACK = 5
CHECKPOINTS_S = (300, 900, 1800, 3600)


def _stamp(seconds: float) -> str:
    return f"T+{int(seconds) // 60:02d}:{int(seconds) % 60:02d}"


class WatchRun:
    def __init__(
        self,
        env: Environment,
        bundle: Bundle,
        clock: Clock,
        duration_s: float,
        interval_s: float | None = None,
        say: Callable[[str], None] = print,
    ) -> None:
        self.env = env
        self.settings = env.settings
        self.bundle = bundle
        self.clock = clock
        self.duration_s = duration_s
        self.interval_s = interval_s or self.settings.watch.interval_s
        self.say = say
        self.triggers = triggers_for(self.settings, self._probes())
        if self.settings.prometheus is not None and self.settings.watch.source == "auto":
            self.source: Source = PromQLSource(env.metrics.promql)
            self.mode = f"PromQL at {self.settings.prometheus.url}"
        else:
            self.source = SampledSource(env.metrics.scrape)
            self.mode = f"sampled {env.base_url}{self.settings.metrics_path}"
        self.watch = Watch(self.triggers, self.source, clock)
        self._reasons: dict[str, str | None] = {}  # each trigger's last no-data reason said
        self.warned: list[Status] = []

    def _probes(self) -> dict[str, Probe]:
        """unsigned-image, when the env has a cluster and a release to compare it with."""
        if self.settings.cluster is None or not self.settings.release:
            return {}
        from gonogo.release import Release
        from gonogo.supplychain import drift, inputs
        from gonogo.supplychain.signatures import image_signature_problem

        def measure() -> float | None:
            try:
                release = Release.of(self.env.name, self.settings.release)
                released = inputs.image_digests(release.path / "manifest.json")
                refs = {d: r for r, d in released.items()}
                pods = self.env.cluster.pods()
                api = self.env.cluster.core.api_client
                running = drift.running([api.sanitize_for_serialization(p) for p in pods])
                problems = drift.drift(
                    running,
                    released,
                    lambda d: image_signature_problem(
                        self.settings.security,
                        release.path,
                        d,
                        refs[d],
                        self.settings.timeout_s,
                        self.env.on_request,
                    ),
                )
            except GonogoError as exc:
                self.bundle.log(f"unsigned-image probe: no data ({exc})")
                return None
            for problem in problems:
                self.bundle.log(f"unsigned-image: {problem}")
            return float(len(problems))

        return {"unsigned-image": Probe("containers on unreleased or unsigned images", measure)}

    def run(self) -> int:
        start = self.clock.now()
        self.started = start
        self.say(
            f"gonogo watch {self.env.name}: {len(self.triggers)} triggers, every "
            f"{self.interval_s:g} s for {self.duration_s:g} s, from {self.mode}"
        )
        self.bundle.log(f"watch started: {self.mode}; triggers: {[t.name for t in self.triggers]}")
        (self.bundle.root / "watch").mkdir(exist_ok=True)
        (self.bundle.root / "watch" / "triggers.json").write_text(
            json.dumps(
                [
                    {
                        "name": t.name,
                        "rule": t.rule,
                        "severity": t.severity,
                        "no_data": t.no_data,
                        "promql": t.promql(),
                    }
                    for t in self.triggers
                ],
                indent=2,
            )
        )
        checkpoints = [c for c in CHECKPOINTS_S if c <= self.duration_s]
        cadence = self.settings.comms.cadence
        every_s = parse_duration(cadence) if cadence else None
        next_status = every_s
        code = EXIT_QUIET
        try:
            while True:
                fired = self.watch.evaluate()
                elapsed = self.clock.now() - start
                self._record(elapsed)
                while checkpoints and elapsed >= checkpoints[0]:
                    self._grafana(checkpoints.pop(0), start)
                if every_s and next_status is not None and elapsed >= next_status:
                    self._status(elapsed, str(cadence))
                    while next_status <= elapsed:
                        next_status += every_s
                pages = [s for s in fired if s.trigger.severity == "page"]
                for status in fired:
                    if status.trigger.severity == "warn":
                        self.warned.append(status)
                        self.say(
                            f"{_stamp(elapsed)} WARN {status.trigger.name}: {self._why(status)}"
                        )
                        self.bundle.log(f"warn trigger {status.trigger.name}: {self._why(status)}")
                if pages:
                    self._rollback(pages[0], elapsed)
                    code = EXIT_ROLLBACK
                    break
                if elapsed >= self.duration_s:
                    break
                self.clock.sleep(self.interval_s)
        finally:
            self._range_data(start)
            self._summary(code)
        return code

    def _status(self, elapsed: float, cadence: str) -> None:
        """The war room's periodic status ([comms] cadence): every trigger's state, and the
        breaches so far; written to comms/ and posted to the webhook when there is one."""
        states = "; ".join(
            f"{s.trigger.name} {s.state}"
            + (f" {s.trigger.show(s.value)}" if s.value is not None else "")
            for s in self.watch.statuses.values()
        )
        breaches = self._breaches()
        values = {
            "envs": self.env.name,
            "elapsed": _stamp(elapsed),
            "cadence": cadence,
            "states": states,
            "breaches": ", ".join(f"{b['trigger']} {b['from']}" for b in breaches) or "none",
            "evidence": str(self.bundle.root),
        }
        folder = Path(self.settings.comms.templates) if self.settings.comms.templates else None
        text = comms.render("status", values, folder)
        (self.bundle.root / comms.FOLDER).mkdir(exist_ok=True)
        name = f"status-T+{int(elapsed) // 60:02d}m.txt"
        (self.bundle.root / comms.FOLDER / name).write_text(text)
        sent = comms.send(self.settings, text, self.env.on_request)
        self.bundle.log(f"status message {name}: {sent}")
        self.say(f"{_stamp(elapsed)} status message: {sent}")

    def _why(self, status: Status) -> str:
        trigger = status.trigger
        return f"{trigger.show(status.value)} ({trigger.rule})"

    def _record(self, elapsed: float) -> None:
        line = {
            "at": iso(dt.datetime.fromtimestamp(self.clock.now(), dt.UTC)),
            "elapsed_s": round(elapsed, 3),
            "triggers": {
                name: {"state": s.state, "value": s.value}
                | ({"no_data_reason": s.reason} if s.reason else {})
                for name, s in self.watch.statuses.items()
            },
        }
        for name, s in self.watch.statuses.items():  # a reason is said when it changes
            if s.reason and s.reason != self._reasons.get(name):
                self.bundle.log(f"watch {name}: no data: {s.reason}")
                self.say(f"{_stamp(elapsed)} {name}: no data: {s.reason}")
            self._reasons[name] = s.reason
        with (self.bundle.root / "watch" / "timeline.jsonl").open("a") as out:
            out.write(json.dumps(line) + "\n")
        by_state: dict[str, list[str]] = {}
        for s in self.watch.statuses.values():
            name = s.trigger.name
            by_state.setdefault(s.state, []).append(
                name if s.value is None else f"{name} {s.trigger.show(s.value)}"
            )
        parts = [
            f"{state}: {', '.join(by_state[state])}"
            for state in ("firing", "pending", "no-data", "ok")
            if state in by_state
        ]
        self.say(f"{_stamp(elapsed)} " + " | ".join(parts))

    def _rollback(self, status: Status, elapsed: float) -> None:
        trigger = status.trigger
        held = (status.fired_at or 0.0) - (status.since or 0.0)
        recent = ", ".join(
            f"{_stamp(t - self.started)} {trigger.show(v)}" for t, v in status.history[-6:]
        )
        values = {
            "envs": self.env.name,
            "trigger": trigger.name,
            "fired_at": iso(dt.datetime.fromtimestamp(status.fired_at or 0.0, dt.UTC)),
            "rule": trigger.rule,
            "held": f"{held:g} s",
            "values": recent,
            "evidence": str(self.bundle.root),
        }
        folder = Path(self.settings.comms.templates) if self.settings.comms.templates else None
        text = comms.render("rollback", values, folder)
        (self.bundle.root / comms.FOLDER).mkdir(exist_ok=True)
        (self.bundle.root / comms.FOLDER / "rollback.txt").write_text(text)
        others = "\n".join(
            f"| {s.trigger.name} | {s.state} | {s.trigger.show(s.value)} | {s.trigger.rule} |"
            for s in self.watch.statuses.values()
        )
        (self.bundle.root / "after-action.md").write_text(
            f"# After action: rollback of {self.env.name}\n\n"
            f"- Trigger: **{trigger.name}** ({trigger.severity}), {trigger.rule}\n"
            f"- Fired: {values['fired_at']}, {_stamp(elapsed)} into the watch, after holding "
            f"{held:g} s\n- Last values: {recent}\n- Evidence: `watch/timeline.jsonl`, "
            f"`comms/rollback.txt`\n\n## Every trigger at that moment\n\n"
            f"| trigger | state | value | rule |\n|---|---|---|---|\n{others}\n\n"
            "## To fill in\n\n- Rollback started / finished:\n- Impact:\n- Root cause:\n"
            "- Follow-ups (owner, due):\n"
        )
        self.say(f"{_stamp(elapsed)} ROLLBACK: {trigger.name} fired: {self._why(status)}")
        self.say(f"  notice: {self.bundle.root / comms.FOLDER / 'rollback.txt'}")
        self.bundle.log(f"ROLLBACK trigger {trigger.name} fired: {self._why(status)}")
        self.bundle.log(f"rollback notice: {comms.send(self.settings, text, self.env.on_request)}")

    def _range_data(self, start: float) -> None:
        """The Prometheus series behind each trigger over the watch, for the record."""
        if not isinstance(self.source, PromQLSource):
            return
        end = self.clock.now()
        folder = self.bundle.root / "watch" / "prometheus"
        folder.mkdir(parents=True, exist_ok=True)
        for trigger in self.triggers:
            expr = trigger.signal.promql(_window(trigger))
            try:
                data = self.env.metrics.promql_range(expr, start, end, self.interval_s)
            except GonogoError as exc:
                data = {"error": str(exc)}
            (folder / f"{trigger.name}.json").write_text(
                json.dumps({"expr": expr, "start": start, "end": end, "result": data}, indent=2)
            )

    def _grafana(self, checkpoint: float, start: float) -> None:
        grafana = self.settings.grafana
        if grafana is None or not grafana.panels:
            return

        token = None
        if grafana.token_env:
            variable = grafana.token_env

            def token() -> str:
                return self.settings.read_secret(variable, "Grafana token", "grafana.token_env")

        client = self.env.client(grafana.url, token)
        folder = self.bundle.root / "watch" / "grafana"
        folder.mkdir(parents=True, exist_ok=True)
        try:
            for panel in grafana.panels:
                response = client.get(
                    f"/render/d-solo/{panel.dashboard}/",
                    params={
                        "panelId": panel.panel,
                        "from": int(start * 1000),
                        "to": int(self.clock.now() * 1000),
                        "width": 1000,
                        "height": 500,
                        "tz": "UTC",
                    },
                )
                name = f"T+{int(checkpoint) // 60:02d}m-{panel.name}.png"
                if response.status_code == 200 and response.content.startswith(b"\x89PNG"):
                    (folder / name).write_bytes(response.content)
                    self.bundle.log(f"grafana panel saved: watch/grafana/{name}")
                else:
                    self.bundle.log(
                        f"grafana panel {panel.name}: HTTP {response.status_code}, not a PNG"
                    )
        except GonogoError as exc:
            self.bundle.log(f"grafana render failed: {exc}")
        finally:
            client.close()

    def _breaches(self) -> list[dict[str, Any]]:
        out = []
        for status in self.watch.statuses.values():
            trigger = status.trigger
            for breach in status.breaches:
                out.append(
                    {
                        "trigger": trigger.name,
                        "rule": trigger.rule,
                        "from": _stamp(breach.started - (self.started or breach.started)),
                        "to": _stamp(breach.ended - (self.started or breach.ended))
                        if breach.ended is not None
                        else "the end of the watch",
                        "worst": trigger.show(breach.worst)
                        if breach.worst is not None
                        else "no data",
                        "fired": breach.fired,
                    }
                )
        return out

    def _after_action(self, breaches: list[dict[str, Any]], code: int) -> None:
        """Every breach, even one that never lasted to fire, goes on the after-action note."""
        if not breaches:
            return
        rows = "\n".join(
            f"| {b['trigger']} | {b['from']} | {b['to']} | {b['worst']} | "
            f"{'fired' if b['fired'] else 'transient'} | {b['rule']} |"
            for b in breaches
        )
        section = (
            "## Every breach during the watch\n\n"
            "| trigger | from | to | worst | | rule |\n|---|---|---|---|---|---|\n"
            f"{rows}\n"
        )
        note = self.bundle.root / "after-action.md"
        if code == EXIT_ROLLBACK and note.exists():
            note.write_text(note.read_text() + "\n" + section)
            return
        note.write_text(
            f"# After action: {self.env.name}, breached without a rollback\n\n"
            f"A threshold was breached during the watch and recovered before its trigger "
            f"fired. The evidence checklist asks for a note even so.\n\n{section}\n"
            "## To fill in\n\n- What was seen:\n- Cause:\n- Follow-ups (owner, due):\n"
        )
        self.say(f"after-action note: {note} ({len(breaches)} breach(es), none sustained)")

    def _summary(self, code: int) -> None:
        breaches = self._breaches()
        self._after_action(breaches, code)
        summary = {
            "env": self.env.name,
            "mode": self.mode,
            "outcome": "rollback" if code == EXIT_ROLLBACK else "quiet",
            "breaches": breaches,
            "warned": [s.trigger.name for s in self.warned],
            "final": {
                name: {"state": s.state, "value": s.value, "rule": s.trigger.rule}
                for name, s in self.watch.statuses.items()
            },
        }
        (self.bundle.root / "watch" / "summary.json").write_text(json.dumps(summary, indent=2))


def _window(trigger: Trigger) -> str:
    return duration_text(trigger.window_s)
