"""The rollback-trigger watch: the cutover's rollback triggers, evaluated, and fired honestly.

A trigger is a signal (a number computed from the app's metrics), a
comparison with a threshold, and a window: it fires only when the condition
has held at every evaluation for the whole window, as a Prometheus alert with
`for:` does. One definition serves both ways of watching:

- with Prometheus, each signal is a PromQL expression (`rules()` exports the
  very same expressions as alerting rules, so the watch and the pager agree);
- without it, the watch scrapes /metrics itself and computes the same signal
  from the counters' change over the window, in the same units.

No data is a state of its own (`no-data`): a trigger says per definition
whether no data counts as failing (`no_data = "fail"`: it can fire) or is
only reported (`"report"`), never a silent "ok". Time comes from a clock
object, so the tests drive windows of ten minutes in ten ticks.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from gonogo.clients.metrics import MetricsSnapshot
from gonogo.config.signals import MetricsSettings
from gonogo.errors import ConfigError, GonogoError
from gonogo.series import Selector
from gonogo.vocabulary import TRIGGER_FOR_S

State = Literal["ok", "pending", "firing", "no-data"]


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class RealClock:
    def now(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


# -- signals: one number from the metrics, by PromQL or from two scrapes -------------------


def _total(snapshot: MetricsSnapshot, series: Selector) -> float | None:
    values = [s.value for s in snapshot.samples if series.matches(s.name, s.labels)]
    return sum(values) if values else None


def _increase(old: MetricsSnapshot, new: MetricsSnapshot, series: Selector) -> float | None:
    """How much matching counters rose between two scrapes.

    A counter absent from a scrape that answered is 0, as Prometheus means it:
    client libraries (prom-client, OpenTelemetry) export a labelled counter only
    after its first increment, and a series the older scrape lacks started at zero
    since (the first 500 of a run is an error, not a gap). An empty scrape (the
    target did not answer) gives no data.
    """
    if not old.samples or not new.samples:
        return None
    a = _total(old, series) or 0.0
    b = _total(new, series) or 0.0
    return max(0.0, b - a)


def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """Prometheus's histogram_quantile on cumulative (le, count) buckets: linear within a bucket."""
    ordered = sorted(buckets)
    if not ordered or ordered[-1][1] <= 0:
        return None
    total = ordered[-1][1]
    rank = q * total
    lower, below = 0.0, 0.0
    for le, count in ordered:
        if count >= rank:
            if math.isinf(le):
                return lower  # the top finite bound, as Prometheus answers
            if count == below:
                return le
            return lower + (le - lower) * (rank - below) / (count - below)
        lower, below = le, count
    return lower


Series = Selector  # a metric name and its label matchers (gonogo.series)


@dataclass(frozen=True)
class Ratio:
    """rate(numerator) / rate(sum of denominators) over the window: a failure share."""

    numerator: Series
    denominators: tuple[Series, ...]

    def promql(self, window: str) -> str:
        def rate(series: Series) -> str:
            return f"sum(rate({series.promql()}[{window}]))"

        return f"{rate(self.numerator)} / ({' + '.join(rate(d) for d in self.denominators)})"

    def sampled(self, old: MetricsSnapshot, new: MetricsSnapshot) -> float | None:
        def increase(series: Series) -> float | None:
            return _increase(old, new, series)

        parts = [increase(d) for d in self.denominators]
        if all(p is None for p in parts) or sum(p or 0.0 for p in parts) == 0:
            return None  # no traffic in the window: no data, not a 0 % error rate
        return (increase(self.numerator) or 0.0) / sum(p or 0.0 for p in parts)


@dataclass(frozen=True)
class Quantile:
    """histogram_quantile(q) of a histogram's increase over the window, in seconds."""

    histogram: Selector  # the histogram's base name and matchers
    q: float

    @property
    def buckets(self) -> Selector:
        return self.histogram.with_name(f"{self.histogram.name}_bucket")

    def promql(self, window: str) -> str:
        inner = f"{self.buckets.promql()}[{window}]"
        return f"histogram_quantile({self.q:g}, sum by (le) (rate({inner})))"

    def sampled(self, old: MetricsSnapshot, new: MetricsSnapshot) -> float | None:
        bucket_series = self.buckets

        def buckets(snapshot: MetricsSnapshot) -> dict[float, float]:
            out: dict[float, float] = {}
            for s in snapshot.samples:
                if bucket_series.matches(s.name, s.labels):
                    le = float(s.labels["le"])
                    out[le] = out.get(le, 0.0) + s.value
            return out

        before, after = buckets(old), buckets(new)
        delta = [(le, after[le] - before.get(le, 0.0)) for le in after]
        return histogram_quantile(self.q, delta)


@dataclass(frozen=True)
class Level:
    """The largest value of a gauge now (consumer lag)."""

    gauge: Selector

    def promql(self, window: str) -> str:
        return f"max(max_over_time({self.gauge.promql()}[{window}]))"

    def sampled(self, old: MetricsSnapshot, new: MetricsSnapshot) -> float | None:
        values = [s.value for s in new.samples if self.gauge.matches(s.name, s.labels)]
        return max(values) if values else None


@dataclass(frozen=True)
class Increase:
    """How much a counter rose over the window (audit signer failures)."""

    counter: Selector

    def promql(self, window: str) -> str:
        return f"sum(increase({self.counter.promql()}[{window}]))"

    def sampled(self, old: MetricsSnapshot, new: MetricsSnapshot) -> float | None:
        return _increase(old, new, self.counter)


@dataclass(frozen=True, eq=False)
class Probe:
    """A number the watch measures itself each tick, not a metric (unsigned images running).

    It has no PromQL form, so `gonogo rules` leaves it out and says so.
    """

    what: str
    measure: Callable[[], float | None]

    def promql(self, window: str) -> str:
        return ""

    def sampled(self, old: MetricsSnapshot, new: MetricsSnapshot) -> float | None:
        return self.measure()


Signal = Ratio | Quantile | Level | Increase | Probe


# -- triggers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trigger:
    name: str
    summary: str
    signal: Signal
    op: Literal[">", ">="]
    threshold: float
    unit: str = ""
    scale: float = 1.0  # shown value = signal x scale (ratios as %, seconds as ms)
    for_s: float = TRIGGER_FOR_S
    severity: Literal["page", "warn"] = "page"
    no_data: Literal["fail", "report"] = "report"
    # Multi-window burn rate: the condition must hold over this short window as well.
    short_window_s: float | None = None
    window_s: float = 300.0

    def breached(self, value: float) -> bool:
        return value > self.threshold if self.op == ">" else value >= self.threshold

    def show(self, value: float | None) -> str:
        return "no data" if value is None else f"{value * self.scale:.4g}{self.unit}"

    @property
    def rule(self) -> str:
        limit = f"{self.threshold * self.scale:g}{self.unit}"
        window = f", also over {duration_text(self.short_window_s)}" if self.short_window_s else ""
        return f"{self.signal_name} {self.op} {limit} for {duration_text(self.for_s)}{window}"

    @property
    def signal_name(self) -> str:
        return self.summary.split(":")[0]

    def promql(self) -> str:
        main = f"({self.signal.promql(duration_text(self.window_s))}) {self.op} {self.threshold:g}"
        if self.short_window_s:
            short = self.signal.promql(duration_text(self.short_window_s))
            main = f"{main} and ({short}) {self.op} {self.threshold:g}"
        return main


def duration_text(seconds: float | None) -> str:
    s = int(seconds or 0)
    if s and s % 3600 == 0:
        return f"{s // 3600}h"
    if s and s % 60 == 0:
        return f"{s // 60}m"
    return f"{s}s"


def _series(metrics: MetricsSettings, signal: str) -> Selector:
    """The watch computes shares and quantiles from series, in PromQL and off scrapes alike."""
    mapping = metrics.mapping(signal)
    if mapping.series is None:
        raise ConfigError(
            f"the watch reads [metrics] {signal} as a series (it computes shares and "
            f"quantiles from it, with or without Prometheus); map it with "
            f'series = "metric{{label=...}}" rather than promql'
        )
    return mapping.series


def default_triggers(
    baseline_lag: float | None,
    baseline_p95_ms: float | None,
    slo_error_budget: float,
    for_s: float = TRIGGER_FOR_S,
    metrics: MetricsSettings | None = None,
) -> list[Trigger]:
    """The cutover runbook's rollback triggers and the alert list's relative ones, on the
    deployment's series ([metrics]; the local environment's names by default)."""
    metrics = metrics or MetricsSettings()
    requests = _series(metrics, "requests")
    code = metrics.mapping("requests").status_label
    share_5xx = Ratio(requests.and_label(code, "=~", "5.."), (requests,))
    share_errors = Ratio(requests.and_label(code, "=~", "5..|429|408"), (requests,))
    api_p95 = Quantile(_series(metrics, "latency"), 0.95)
    auth_failed = _series(metrics, "auth_failures")
    auth_ok = _series(metrics, "auth_successes")
    triggers = [
        Trigger("5xx-ratio", "5xx share", share_5xx, ">=", 0.002, "%", 100.0, for_s),
        Trigger(
            "error-ratio",
            "error share (5xx, 429, 408)",
            share_errors,
            ">=",
            0.005,
            "%",
            100.0,
            for_s,
        ),
        Trigger("api-p95", "API p95 latency", api_p95, ">", 0.25, " ms", 1000.0, for_s),
        Trigger(
            "graph-p95",
            "graph p95 latency",
            Quantile(_series(metrics, "graph_latency"), 0.95),
            ">",
            2.0,
            " ms",
            1000.0,
            for_s,
        ),
        Trigger(
            "auth-anomalies",
            "auth failure share",
            Ratio(auth_failed, (auth_failed, auth_ok)),
            ">",
            0.002,
            "%",
            100.0,
            for_s,
        ),
        Trigger(
            "audit-signer",
            "audit signer failures",
            Increase(_series(metrics, "audit_signer_failures")),
            ">",
            0.0,
            "",
            1.0,
            for_s,
        ),
        Trigger("5xx-warn", "5xx share", share_5xx, ">", 0.005, "%", 100.0, 300.0, "warn"),
        Trigger("5xx-page", "5xx share", share_5xx, ">", 0.01, "%", 100.0, 300.0, "page"),
        # 14.4x the error budget over 1 h and over 5 min: 2 % of a 30-day budget burnt in
        # an hour (the SRE workbook's fast-burn page); the short window ends it quickly.
        Trigger(
            "burn-rate-fast",
            "error share vs 14.4x the SLO budget",
            share_errors,
            ">",
            14.4 * slo_error_budget,
            "%",
            100.0,
            0.0,
            "page",
            short_window_s=300.0,
            window_s=3600.0,
        ),
    ]
    if baseline_lag is not None:
        triggers.append(
            Trigger(
                "consumer-lag",
                "consumer lag (messages)",
                Level(_series(metrics, "consumer_lag")),
                ">",
                5 * baseline_lag,
                "",
                1.0,
                for_s,
            )
        )
    if baseline_p95_ms is not None:
        limit = baseline_p95_ms / 1000.0
        triggers += [
            Trigger(
                "api-p95-regression-warn",
                "API p95 latency vs 7-day baseline +30%",
                api_p95,
                ">",
                1.3 * limit,
                " ms",
                1000.0,
                for_s,
                "warn",
            ),
            Trigger(
                "api-p95-regression-page",
                "API p95 latency vs 7-day baseline +60%",
                api_p95,
                ">",
                1.6 * limit,
                " ms",
                1000.0,
                for_s,
                "page",
            ),
        ]
    return triggers


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


# -- Prometheus alerting rules ------------------------------------------------------------------


def rules(env: str, triggers: list[Trigger]) -> dict[str, Any]:
    """The triggers as a Prometheus rule file: the pager and the watch share one definition."""
    return {
        "groups": [
            {
                "name": f"gonogo-{env}-rollback-triggers",
                "rules": [
                    {
                        "alert": "GonogoRollback_" + re.sub(r"[^A-Za-z0-9]", "_", t.name),
                        "expr": t.promql(),
                        "for": duration_text(t.for_s),
                        "labels": {"severity": t.severity, "env": env, "trigger": t.name},
                        "annotations": {
                            "summary": f"{env}: rollback trigger {t.name}: {t.rule}",
                            "description": t.summary,
                        },
                    }
                    for t in triggers
                    if not isinstance(t.signal, Probe)
                ],
            }
        ]
    }


def triggers_for(settings: Any, probes: dict[str, Probe] | None = None) -> list[Trigger]:
    """The env's triggers: the defaults from its baseline and SLO, with its overrides.

    `probes` adds the triggers that are not metrics (the watch measures them itself):
    "unsigned-image", pods running an image the release did not ship or sign (page).
    """
    import dataclasses

    watch = settings.watch
    triggers = default_triggers(
        settings.baseline.consumer_lag,
        settings.baseline.api_p95_ms,
        1.0 - watch.slo_target,
        watch.for_s,
        settings.metrics,
    )
    for name, probe in (probes or {}).items():
        triggers.append(Trigger(name, probe.what, probe, ">", 0.0, "", 1.0, 0.0, "page"))
    known = {t.name for t in triggers} | {"unsigned-image"}
    unknown = sorted(set(watch.triggers) - known)
    if unknown:
        raise ConfigError(
            f"env '{settings.name}': unknown trigger(s) in [watch.triggers]: "
            f"{', '.join(unknown)}; triggers: {', '.join(sorted(known))}"
        )
    out = []
    for trigger in triggers:
        override = watch.triggers.get(trigger.name)
        if override is None:
            out.append(trigger)
            continue
        if not override.enabled:
            continue
        changes = {
            k: v
            for k, v in (
                ("threshold", override.threshold),
                ("for_s", override.for_s),
                ("no_data", override.no_data),
            )
            if v is not None
        }
        out.append(dataclasses.replace(trigger, **changes))
    return out
