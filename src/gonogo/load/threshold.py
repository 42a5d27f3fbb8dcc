"""One threshold, whole: its grammar (k6's), its value on a run's samples, the rule for a
generator that could not keep its schedule, and the line that says how it went.

Judging one goes one way: the pytest item (gonogo.load.session.judge_item) asks `judge`,
`saturation` and `Judgement.line` here, which read the run's samples (gonogo.load.stats).
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any

from hdrh.histogram import HdrHistogram

from gonogo.errors import ConfigError
from gonogo.load.metrics import METRICS
from gonogo.load.stats import GENERATOR_TIMED, Aggregate, Store, decode, new_histogram

_KEY = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*(?:\{([^}]*)\})?\s*$")
_EXPR = re.compile(
    r"^\s*(avg|min|max|med|rate|count|p\(\s*(\d+(?:\.\d+)?)\s*\))\s*(<=|>=|===|==|!=|<|>)\s*"
    r"(-?(?:\d+(?:\.\d+)?|\.\d+)(?:e-?\d+)?)\s*$"
)


class PlanError(ConfigError):
    """A plan or a threshold that cannot be judged; raised before any load is sent."""


@dataclass(frozen=True)
class Threshold:
    """One k6 threshold expression on one metric selection: one pytest item."""

    metric: str
    tags: tuple[tuple[str, str], ...]
    aggregation: str  # avg, min, max, med, p, rate, count
    q: float | None  # the percentile for "p"
    op: str
    limit: float
    source: str  # as written, for ids and messages

    @property
    def selector(self) -> str:
        inner = ",".join(f"{k}:{v}" for k, v in self.tags)
        return f"{self.metric}{{{inner}}}" if inner else self.metric

    @property
    def expression(self) -> str:
        agg = f"p({_num(self.q or 0)})" if self.aggregation == "p" else self.aggregation
        return f"{agg}{self.op}{_num(self.limit)}"

    @property
    def id(self) -> str:
        return f"{self.selector}: {self.expression}"

    @property
    def unit(self) -> str:
        kind, unit, _, _ = METRICS[self.metric]
        return unit if self.aggregation not in ("count", "rate") or kind == "trend" else ""

    def holds(self, value: float) -> bool:
        return {
            "<": value < self.limit,
            "<=": value <= self.limit,
            ">": value > self.limit,
            ">=": value >= self.limit,
            "==": value == self.limit,
            "!=": value != self.limit,
        }[self.op]

    def min_samples(self) -> int:
        """Samples below which the percentile is no better than the maximum seen.

        p(95) needs 20 values for the 95th to be other than the largest; p(99), 100.
        """
        if self.aggregation != "p" or self.q is None or self.q >= 100:
            return 1
        return math.ceil(100.0 / (100.0 - self.q))

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "metric": self.metric,
            "tags": dict(self.tags),
            "aggregation": self.aggregation,
            "q": self.q,
            "op": self.op,
            "limit": self.limit,
        }


def _num(value: float) -> str:
    return f"{value:g}"


def parse_threshold(key: str, expression: str) -> Threshold:
    """One `metric{tag:value}` key and one expression -> a Threshold (syntax only)."""
    match = _KEY.match(key)
    if match is None:
        raise PlanError(
            f"threshold key '{key}' is not metric{{tag:value}}; "
            "write it like http_req_duration{scenario:gateway}"
        )
    metric, inner = match.group(1), match.group(2)
    tags: list[tuple[str, str]] = []
    for part in (inner or "").split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition(":")
        if not sep or not name.strip() or not value.strip():
            raise PlanError(
                f"threshold key '{key}': tag '{part.strip()}' is not tag:value "
                "(like scenario:gateway)"
            )
        tags.append((name.strip(), value.strip()))
    found = _EXPR.match(expression)
    if found is None:
        raise PlanError(
            f"threshold '{key}: {expression}' is not AGG OP NUMBER; write it like "
            '"p(95)<150", "rate<0.001" or "count==0" (AGG: avg min max med p(N) rate count)'
        )
    agg_text, q_text, op, limit = found.groups()
    op = "==" if op == "===" else op  # k6 evaluates thresholds as JavaScript: === is ==
    aggregation = "p" if agg_text.startswith("p(") else agg_text
    q = float(q_text) if q_text else None
    if q is not None and not 0 < q <= 100:
        raise PlanError(f"threshold '{key}: {expression}': the percentile must be in (0, 100]")
    return Threshold(
        metric=metric,
        tags=tuple(sorted(tags)),
        aggregation=aggregation,
        q=q,
        op=op,
        limit=float(limit),
        source=f"{key}: {expression}",
    )


def threshold(
    metric: str,
    expression: tuple[str, str, float],
    tags: dict[str, str] | None = None,
    q: float | None = None,
) -> Threshold:
    """A threshold from values, as the built-in plans state them from [slo]: no string to
    format and parse again. `expression` is (aggregation, op, limit)."""
    aggregation, op, limit = expression
    made = Threshold(metric, tuple(sorted((tags or {}).items())), aggregation, q, op, limit, "")
    return dataclasses.replace(made, source=made.id)


def thresholds_of(table: dict[str, Any]) -> list[Threshold]:
    """k6's `{key: [expressions]}` (a lone string is one expression; an expression may be
    k6's object form, `{threshold = "rate<0.01", abortOnFail = true}`)."""
    out = []
    for key, expressions in table.items():
        listed = [expressions] if isinstance(expressions, str | dict) else list(expressions)
        for e in listed:
            text = e.get("threshold") if isinstance(e, dict) else e
            out.append(parse_threshold(key, str(text)))
    return out


@dataclass
class Judgement:
    threshold: Threshold
    value: float | None
    samples: int
    ok: bool
    note: str = ""

    def margin(self) -> float | None:
        if self.value is None:
            return None
        return self.threshold.limit - self.value

    def line(self) -> str:
        t = self.threshold
        unit = f" {t.unit}" if t.unit else ""
        if self.value is None:
            return f"{t.selector} {t.expression}: no samples to judge ({self.samples})"
        margin = self.margin() or 0.0
        side = "under" if margin >= 0 else "over"
        if t.op in (">", ">="):
            side = "above" if margin <= 0 else "below"
        shown = _fmt(self.value)
        trend = METRICS[t.metric][0] == "trend"
        pct = f", {abs(margin) / abs(t.limit) * 100:.1f}%" if t.limit and trend else ""
        text = (
            f"{t.selector} {_agg(t)} = {shown}{unit} against {t.op}{_fmt(t.limit)}{unit} "
            f"({_fmt(abs(margin))}{unit} {side} the limit{pct}) on {self.samples} sample(s)"
        )
        return text + (f"; {self.note}" if self.note else "")

    def said(self, summary: dict[str, Any], max_requests: int) -> str:
        """What the item's message says it got: the line, and from the run's summary
        whether it stopped early and, for a failure rate, the most frequent failure."""
        got = self.line()
        if summary.get("bounded"):
            got += f"; the run stopped early at [load] max_requests ({max_requests})"
        failures = summary.get("failures") or []
        if not self.ok and self.threshold.metric.endswith("_failed") and failures:
            top = failures[0]
            got += (
                f"; most frequent failure: {top['error']} ({top['count']}x on "
                f"{top['method']} {top['name']})"
            )
        return got

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.threshold.id,
            "ok": self.ok,
            "value": self.value,
            "limit": self.threshold.limit,
            "margin": self.margin(),
            "samples": self.samples,
            "note": self.note,
        }


def _agg(t: Threshold) -> str:
    return f"p({t.q:g})" if t.aggregation == "p" else t.aggregation


def _fmt(value: float) -> str:
    if value == 0 or abs(value) >= 100:
        return f"{value:.1f}"
    digits = max(0, 3 - math.floor(math.log10(abs(value))) - 1)
    return f"{value:.{min(digits, 6)}f}"


def value_of(histogram: HdrHistogram, threshold: Threshold) -> float | None:
    """A trend threshold's value on one histogram (the seconds a saturated run kept)."""
    if not histogram.get_total_count():
        return None
    aggregate = Aggregate(threshold.metric, histogram.get_total_count(), 0, histogram)
    return aggregate.value(threshold.aggregation, threshold.q, 0.0)


def judge(store: Store, threshold: Threshold, seconds: float) -> Judgement:
    aggregate = store.aggregate(threshold.metric, threshold.tags)
    value = aggregate.value(threshold.aggregation, threshold.q, seconds)
    samples = aggregate.count
    if value is None:
        return Judgement(threshold, None, samples, False, "the run produced no samples for it")
    note = ""
    needed = threshold.min_samples()
    if threshold.aggregation == "p" and samples < needed:
        note = (
            f"judged on too few samples: p({threshold.q:g}) needs at least {needed} "
            f"to differ from the maximum; only {samples}"
        )
    return Judgement(threshold, value, samples, threshold.holds(value), note)


def saturation(
    threshold: Threshold,
    judged: Judgement,
    summary: dict[str, Any],
    scenarios: set[str],
    duration_s: float,
) -> str | None:
    """Why `judged` cannot stand, or None: the generator was saturated in some seconds
    and the threshold's verdict without those seconds differs from its verdict with them.

    A latency the generator timed while it could not keep its schedule is partly its
    own delay; a threshold that fails only because of those seconds says nothing about
    the service (and one that holds only because of them says nothing either)."""
    saturation = summary.get("saturation") or {}
    seconds = saturation.get("seconds") or []
    if not seconds or threshold.metric not in GENERATOR_TIMED:
        return None
    clean = new_histogram()
    for window in saturation.get("clean") or []:
        if window["metric"] == threshold.metric and window["scenario"] in scenarios:
            clean.add(decode(window["hdr"]))
    without = value_of(clean, threshold)
    if without is not None and threshold.holds(without) == judged.ok:
        return None
    worst = max(float(s["start_delay_p95"]) for s in seconds)

    def shown(value: float | None) -> str:
        return "no samples" if value is None else f"{value:.1f} {threshold.unit}".strip()

    return (
        f"load generator saturated for {len(seconds)} of {round(duration_s)} s "
        f"({saturation.get('rule', 'start delay')}; worst {worst:.1f} ms): "
        f"{threshold.id} is {shown(judged.value)} with those seconds and {shown(without)} "
        "without them, so it judges the generator, not the service; rerun on a quieter "
        "runner or add --load-workers"
    )
