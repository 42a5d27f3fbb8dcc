"""A trigger evaluated over time: its window held at every evaluation before it fires (as a
Prometheus alert's `for:`), no data as a state of its own, and the two sources of values
(PromQL, or the watch's own scrapes). Time comes from a clock object, so the tests drive
windows of ten minutes in ten ticks."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from gonogo.clients.metrics import MetricsSnapshot
from gonogo.errors import GonogoError
from gonogo.watch.triggers import Probe, Signal, Trigger, duration_text

State = Literal["ok", "pending", "firing", "no-data"]


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class RealClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


# -- the engine -------------------------------------------------------------------------------


@dataclass
class Breach:
    """One stretch of time a trigger's condition held, whether or not it lasted to fire:
    the evidence checklist wants an after-action note for any, "even transient"."""

    started: float
    ended: float | None = None  # None while it still holds
    worst: float | None = None  # the value furthest past the threshold (None: no data)
    fired: bool = False


@dataclass
class Status:
    trigger: Trigger
    state: State = "ok"
    value: float | None = None
    since: float | None = None  # when the condition (or no data) began to hold
    fired_at: float | None = None
    reason: str | None = None  # why there is no data, when the source said (a malformed answer)
    history: list[tuple[float, float | None]] = field(default_factory=list)
    breaches: list[Breach] = field(default_factory=list)

    def _hold(self, now: float, value: float | None) -> None:
        if not self.breaches or self.breaches[-1].ended is not None:
            self.breaches.append(Breach(started=now))
        breach = self.breaches[-1]
        if value is not None:
            higher = self.trigger.op in (">", ">=")
            worse = breach.worst is None or (
                value > breach.worst if higher else value < breach.worst
            )
            breach.worst = value if worse else breach.worst

    def _release(self, now: float) -> None:
        if self.breaches and self.breaches[-1].ended is None:
            self.breaches[-1].ended = now


class Source(Protocol):
    """What a watch reads its triggers from: PromQLSource, or SampledSource (/metrics)."""

    def tick(self, now: float) -> None: ...

    def value(self, trigger: Trigger, now: float) -> float | None: ...


class SampledSource:
    """/metrics scraped once per tick; a signal over W seconds compares now with W ago."""

    def __init__(self, scrape: Callable[[], MetricsSnapshot], keep_s: float = 3600.0) -> None:
        self.scrape = scrape
        self.keep_s = keep_s
        self.snapshots: list[tuple[float, MetricsSnapshot]] = []

    def tick(self, now: float) -> None:
        try:
            snapshot = self.scrape()
        except GonogoError:
            # The target did not answer: every signal is "no data" until it does again.
            self.snapshots.append((now, MetricsSnapshot(text="", taken_at="", samples=[])))
            return
        self.snapshots.append((now, snapshot))
        self.snapshots = [(t, s) for t, s in self.snapshots if now - t <= self.keep_s + 1]

    def _over(self, signal: Signal, window_s: float, now: float) -> float | None:
        if isinstance(signal, Probe):
            return signal.measure()
        if len(self.snapshots) < 2:
            return None
        newest = self.snapshots[-1][1]
        # The oldest scrape inside the window (at least the previous one).
        old = next((s for t, s in self.snapshots[:-1] if now - t <= window_s), None)
        old = old or self.snapshots[-2][1]
        return signal.sampled(old, newest)

    def value(self, trigger: Trigger, now: float) -> float | None:
        main = self._over(trigger.signal, trigger.window_s, now)
        if trigger.short_window_s and main is not None:
            short = self._over(trigger.signal, trigger.short_window_s, now)
            return None if short is None else min(main, short)
        return main


class PromQLSource:
    """Instant queries of each trigger's signal; the same expressions `rules()` exports."""

    def __init__(self, query: Callable[[str], list[dict[str, Any]]]) -> None:
        self.query = query

    def tick(self, now: float) -> None:
        return None

    def _one(self, expr: str) -> float | None:
        result = self.query(expr)
        values = [float(r["value"][1]) for r in result if "value" in r]
        values = [v for v in values if not math.isnan(v)]
        return max(values) if values else None

    def value(self, trigger: Trigger, now: float) -> float | None:
        if isinstance(trigger.signal, Probe):
            return trigger.signal.measure()
        main = self._one(trigger.signal.promql(duration_text(trigger.window_s)))
        if trigger.short_window_s and main is not None:
            short = self._one(trigger.signal.promql(duration_text(trigger.short_window_s)))
            return None if short is None else min(main, short)
        return main


class Watch:
    def __init__(self, triggers: list[Trigger], source: Source, clock: Clock) -> None:
        self.statuses = {t.name: Status(t) for t in triggers}
        self.source = source
        self.clock = clock

    def evaluate(self) -> list[Status]:
        """One evaluation of every trigger; returns those that fired on this tick."""
        now = self.clock.now()
        self.source.tick(now)
        fired = []
        for status in self.statuses.values():
            trigger = status.trigger
            try:
                value, status.reason = self.source.value(trigger, now), None
            except GonogoError as exc:
                # Prometheus did not answer, or answered in a form that cannot be read: no
                # data, which the trigger judges, with the reason kept for the record.
                value, status.reason = None, str(exc)
            status.value = value
            status.history.append((now, value))
            if value is None:
                holding = trigger.no_data == "fail"
                if not holding:
                    status.state, status.since = "no-data", None
                    status._release(now)
                    continue
            else:
                holding = trigger.breached(value)
            if not holding:
                status.state, status.since = "ok", None
                status._release(now)
                continue
            status._hold(now, value)
            if status.since is None:
                status.since = now
            if status.state == "firing":
                continue
            if now - status.since >= trigger.for_s:
                status.state, status.fired_at = "firing", now
                status.breaches[-1].fired = True
                fired.append(status)
            else:
                status.state = "pending"
        return fired
