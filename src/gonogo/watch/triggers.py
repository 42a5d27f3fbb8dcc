"""The rollback triggers: what each signal is (PromQL, or the same figure from two scrapes of
/metrics), the default triggers of the cutover's checklist, the env's overrides, and the
triggers as Prometheus alerting rules (`rules()`: the watch and the pager agree)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from gonogo.clients.metrics import MetricsSnapshot
from gonogo.config.signals import MetricsSettings
from gonogo.errors import ConfigError
from gonogo.series import Selector
from gonogo.vocabulary import TRIGGER_FOR_S

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


# -- Prometheus alerting rules ------------------------------------------------------------------


def rules(
    env: str,
    triggers: list[Trigger],
    released: list[str] | None = None,
    namespace: str | None = None,
) -> dict[str, Any]:
    """The triggers as a Prometheus rule file: the pager and the watch share one definition.

    `released`: the release's image digests, for "unsigned-image" as a rule too (the watch
    reads the cluster itself): kube-state-metrics' kube_pod_container_info in `namespace`
    running an image whose digest (imageID) is none of them.
    """
    out = [
        {
            "alert": _alert_name(t.name),
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
    ]
    if released:
        out.append(unsigned_image_rule(env, released, namespace))
    return {"groups": [{"name": f"gonogo-{env}-rollback-triggers", "rules": out}]}


def _alert_name(trigger: str) -> str:
    return "GonogoRollback_" + re.sub(r"[^A-Za-z0-9]", "_", trigger)


def unsigned_image_rule(env: str, released: list[str], namespace: str | None) -> dict[str, Any]:
    """A container whose pulled digest is not one the release shipped (and gonogo verified
    signed) pages at once, as the watch's own probe does. kube-state-metrics writes imageID
    as `docker-pullable://REPO@sha256:HEX`, `REPO@sha256:HEX` or `sha256:HEX`: the digest
    ends it, so the matcher anchors on the end; a container not yet pulled (imageID "") is
    left to the next scrape."""
    digests = "|".join(sorted({re.escape(d) for d in released}))
    where = f'namespace="{namespace}", ' if namespace else ""
    expr = (
        f"count by (namespace, pod, container, image) (kube_pod_container_info{{{where}"
        f'image_id!="", image_id!~".*({digests})"}}) > 0'
    )
    return {
        "alert": _alert_name("unsigned-image"),
        "expr": expr,
        "for": "0s",
        "labels": {"severity": "page", "env": env, "trigger": "unsigned-image"},
        "annotations": {
            "summary": f"{env}: rollback trigger unsigned-image: a pod runs an image the "
            "release did not ship",
            "description": "{{ $labels.namespace }}/{{ $labels.pod }} container "
            "{{ $labels.container }} runs {{ $labels.image }}, whose digest is not in the "
            "release's manifest.json",
        },
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
