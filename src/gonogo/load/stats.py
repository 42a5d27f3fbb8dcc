"""Load statistics that can be trusted: HDR histograms, merged losslessly.

Why not Locust's own numbers: Locust rounds response times into buckets (to
10 ms above 100 ms, to 100 ms above 1 s), so its p95 can be ~5 % off, and
it times from the actual send, so a stalled server that delays the next
request hides its own slowness. Here every sample is recorded in
microseconds into an HdrHistogram (3 significant figures: 0.1 % error at
any magnitude), per series (metric + tags). Workers send their histograms
encoded (HdrHistogram's compressed base64) and reset; the master adds
them, which loses nothing, so N workers give the same percentiles as one.
Memory is one fixed-size histogram per series, whatever the run's length.

Nothing here imports Locust or gevent: the pytest side reads summaries with it.
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hdrh.histogram import HdrHistogram

from gonogo.load.metrics import METRICS

# A second in which iterations started this late (p95, all scenarios) is one where the
# generator, not the service, set the pace: its latencies are not the service's. Healthy runs
# here start within ~1 ms at p95 (benchmarks/load_accuracy.py: under 2 ms up to the engine's
# capacity); the starved runner of issue #20 showed 10.6 ms (p95), 36 ms (p99), 57 ms (max)
# over the run and 181-258 ms latency p95 in its first seconds. 5 ms is 2.5x the capacity
# bound, so a busy second is caught and a healthy one is not.
SATURATED_START_DELAY_MS = 5.0
# Thresholds on these are latencies measured by the generator's clock: a starved generator
# inflates them. Failure rates and counters are left to their own judgement.
GENERATOR_TIMED = ("http_req_duration", "graph_query_duration")

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # an hour: anything slower is clamped, and counted as the max
SIGNIFICANT = 3

Tags = tuple[tuple[str, str], ...]


def new_histogram() -> HdrHistogram:
    return _acyclic(HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT))


def decode(encoded: str | bytes) -> HdrHistogram:
    """A histogram from its wire form (a worker's series or window, a clean second)."""
    return _acyclic(HdrHistogram.decode(encoded))


def _acyclic(histogram: HdrHistogram) -> HdrHistogram:
    """The histogram's encoder refers back to it weakly, so the histogram is freed the moment
    its last name goes.

    hdrh's histogram and its encoder refer to each other: a dropped histogram (~190 KB of
    counts) waited for the cycle collector. A master merges several a second and a worker
    drops as many at each report; without a collection 64-202 were alive at a time (the
    master's RSS rose 15-25 MB); collecting them once a second held a worker's loop 8 ms at
    each report at 4,000/s (the start delay of every iteration due then, and the next
    turns'). The encoder reads the histogram only while the histogram calls it."""
    histogram.encoder.histogram = weakref.proxy(histogram)
    return histogram


def fill(histogram: HdrHistogram, samples_ms: Iterable[float]) -> int:
    """Record many samples (ms) at once, in microseconds, clamped to the histogram's range: the
    same histogram as one record_value per sample, and the one place samples are recorded.

    hdrh's record_value is Python several calls deep (~1.3-1.8 us a sample), and a worker
    makes five a request, filled in one go every 50 ms: at 4,000/s a fill held the worker's
    loop 2.8 ms (median), the iterations due meanwhile starting that late. Here the samples
    are counted by microsecond (C code) and each distinct value's counts index is computed
    as record_value computes it, inline, into the same counts array: ~0.35 us a sample
    (the encoded histogram is byte for byte the same: tests/test_load.py)."""
    counts = histogram.counts
    unit = histogram.unit_magnitude
    mask = histogram.sub_bucket_mask
    half_magnitude = histogram.sub_bucket_half_count_magnitude
    above = unit + half_magnitude + 1  # HdrHistogram._get_bucket_index's offset
    half = histogram.sub_bucket_half_count
    lowest, highest = histogram.min_value, histogram.max_value
    total = 0
    for us, n in Counter(round(ms * 1000.0) for ms in samples_ms).items():
        us = LOWEST_US if us < LOWEST_US else HIGHEST_US if us > HIGHEST_US else us
        bucket = (us | mask).bit_length() - above
        counts[((bucket + 1) << half_magnitude) + (us >> (bucket + unit)) - half] += n
        total += n
        lowest = min(lowest, us)
        highest = max(highest, us)
    histogram.total_count += total
    histogram.min_value, histogram.max_value = lowest, highest
    return total


@dataclass
class Series:
    """One metric for one set of tags: a histogram (trend) or counts (rate, counter)."""

    metric: str
    tags: Tags
    histogram: HdrHistogram | None = None
    count: int = 0  # counter: events; rate: samples
    hits: int = 0  # rate: samples that were "true" (failed, accepted, ...)

    @property
    def kind(self) -> str:
        return METRICS[self.metric][0]

    def encode(self) -> dict[str, Any]:
        out: dict[str, Any] = {"metric": self.metric, "tags": dict(self.tags), "count": self.count}
        if self.kind == "rate":
            out["hits"] = self.hits
        if self.histogram is not None and self.histogram.get_total_count():
            out["hdr"] = self.histogram.encode().decode("ascii")
        return out


class Store:
    """Series by (metric, tags): fed by record/mark/add on workers, by merge on the master."""

    def __init__(self) -> None:
        self.series: dict[tuple[str, Tags], Series] = {}

    def _get(self, metric: str, tags: dict[str, str] | Tags) -> Series:
        key_tags: Tags = tuple(sorted(tags.items())) if isinstance(tags, dict) else tags
        key = (metric, key_tags)
        found = self.series.get(key)
        if found is None:
            found = Series(metric, key_tags)
            if found.kind == "trend":
                found.histogram = new_histogram()
            self.series[key] = found
        return found

    def record(self, metric: str, tags: dict[str, str] | Tags, ms: float) -> None:
        self.record_many(metric, tags, [ms])

    def record_many(
        self, metric: str, tags: dict[str, str] | Tags, samples_ms: list[float]
    ) -> None:
        series = self._get(metric, tags)
        assert series.histogram is not None
        series.count += fill(series.histogram, samples_ms)

    def mark(self, metric: str, tags: dict[str, str] | Tags, hit: bool) -> None:
        series = self._get(metric, tags)
        series.count += 1
        series.hits += int(hit)

    def add(self, metric: str, tags: dict[str, str] | Tags, n: int = 1) -> None:
        self._get(metric, tags).count += n

    def drain(self) -> list[dict[str, Any]]:
        """Everything since the last drain, encoded; the store is left empty."""
        out = [s.encode() for s in self.series.values() if s.count]
        self.series.clear()
        return out

    def encoded(self) -> list[dict[str, Any]]:
        return [s.encode() for s in self.series.values()]

    def merge(self, encoded: Iterable[dict[str, Any]]) -> None:
        for item in encoded:
            series = self._get(item["metric"], tuple(sorted(item["tags"].items())))
            series.count += int(item.get("count", 0))
            series.hits += int(item.get("hits", 0))
            if "hdr" in item and series.histogram is not None:
                series.histogram.add(decode(item["hdr"]))

    # -- reading -------------------------------------------------------------------

    def select(self, metric: str, tags: Tags = ()) -> list[Series]:
        wanted = set(tags)
        return [s for (m, t), s in self.series.items() if m == metric and wanted <= set(t)]

    def aggregate(self, metric: str, tags: Tags = ()) -> Aggregate:
        """The selection summed. Its histogram is for reading only: a selection of one series
        shares that series' histogram rather than a fresh ~190 KB copy (the master aggregates
        every scenario's metrics each second for progress and remote write)."""
        chosen = self.select(metric, tags)
        histogram = None
        if METRICS[metric][0] == "trend":
            if len(chosen) == 1 and chosen[0].histogram is not None:
                histogram = chosen[0].histogram
            else:
                histogram = new_histogram()
                for s in chosen:
                    if s.histogram is not None:
                        histogram.add(s.histogram)
        return Aggregate(
            metric=metric,
            count=sum(s.count for s in chosen),
            hits=sum(s.hits for s in chosen),
            histogram=histogram,
        )


# k6's trend stats for remote write, as K6_PROMETHEUS_RW_TREND_STATS=p(95),p(99): the canary's
# thresholds are p(95); k6's default stat is p(99), which its dashboards show first.
K6_TREND_STATS = (("p95", 95.0), ("p99", 99.0))
# Counters written even at 0: a dashboard's "nothing dropped" is a 0, not a missing series.
K6_ALWAYS = ("iterations", "dropped_iterations")

K6Sample = tuple[str, str, float]  # (series name, scenario, value)


def k6_series(store: Store, scenarios: Iterable[str]) -> list[K6Sample]:
    """Every metric recorded so far, per scenario, named as k6's remote-write output names it
    (gonogo.load.remotewrite says how); here, beside the store, because the master computes
    them each second and must not import the HTTP side. Other series appear once they have a
    sample, as k6 writes a series only once its metric has one."""
    recorded = {metric for (metric, _tags) in store.series} | set(K6_ALWAYS)
    out: list[K6Sample] = []
    for scenario in scenarios:
        tags = (("scenario", scenario),)
        for metric in sorted(recorded):
            kind, unit = METRICS[metric][0], METRICS[metric][1]
            agg = store.aggregate(metric, tags)
            if not agg.count and metric not in K6_ALWAYS:
                continue
            if kind == "counter":
                out.append((f"k6_{metric}_total", scenario, float(agg.count)))
            elif kind == "rate":
                out.append((f"k6_{metric}_rate", scenario, agg.hits / agg.count))
            else:  # k6 writes times in seconds
                scale = 1000.0 if unit == "ms" else 1.0
                for stat, q in K6_TREND_STATS:
                    out.append((f"k6_{metric}_{stat}", scenario, agg.percentile_ms(q) / scale))
    return out


@dataclass
class Aggregate:
    metric: str
    count: int
    hits: int
    histogram: HdrHistogram | None

    def percentile_ms(self, q: float) -> float:
        assert self.histogram is not None
        return float(self.histogram.get_value_at_percentile(q)) / 1000.0

    def value(self, aggregation: str, q: float | None, seconds: float) -> float | None:
        """The figure a threshold compares; None when there is nothing to judge."""
        kind = METRICS[self.metric][0]
        if aggregation == "count":
            return float(self.count)
        if kind == "rate" and aggregation == "rate":
            return self.hits / self.count if self.count else None
        if kind == "counter" and aggregation == "rate":
            return self.count / seconds if seconds > 0 else None
        h = self.histogram
        if h is None or not h.get_total_count():
            return None
        if aggregation == "avg":
            return float(h.get_mean_value()) / 1000.0
        if aggregation == "min":
            return float(h.get_min_value()) / 1000.0
        if aggregation == "max":
            return float(h.get_max_value()) / 1000.0
        if aggregation == "med":
            return self.percentile_ms(50)
        return self.percentile_ms(q or 0)

    def summary(self) -> dict[str, Any]:
        kind = METRICS[self.metric][0]
        out: dict[str, Any] = {"count": self.count}
        if kind == "rate":
            out["rate"] = self.hits / self.count if self.count else None
        h = self.histogram
        if h is not None and h.get_total_count():
            out |= {
                "min": h.get_min_value() / 1000.0,
                "avg": round(h.get_mean_value() / 1000.0, 3),
                "med": h.get_value_at_percentile(50) / 1000.0,
                "p90": h.get_value_at_percentile(90) / 1000.0,
                "p95": h.get_value_at_percentile(95) / 1000.0,
                "p99": h.get_value_at_percentile(99) / 1000.0,
                "max": h.get_max_value() / 1000.0,
            }
        return out


class Timeline:
    """Per-second latency of each scenario, merged across workers, summarised and freed.

    Each second is also judged for the generator itself: when iterations started later
    than SATURATED_START_DELAY_MS at p95 in it, it is a saturated second, and its latencies
    are kept out of `clean`, the histograms of the seconds the generator kept its schedule.
    """

    def __init__(self) -> None:
        self.open: dict[tuple[int, str, str], Any] = {}
        self.failed: dict[tuple[int, str, str], int] = {}
        self.rows: list[dict[str, Any]] = []
        self.saturated: list[dict[str, float]] = []  # {"t", "start_delay_p95", ...}
        self.clean: dict[tuple[str, str], Any] = {}  # (scenario, metric) -> hdr
        # Per second: each worker's CPU share and loop lag (gonogo.load.child.Health).
        self.health: dict[int, list[dict[str, float]]] = {}
        self.generator: list[dict[str, float]] = []  # every closed second, summarised

    def merge_health(self, rows: list[dict[str, float]]) -> None:
        for row in rows:
            self.health.setdefault(int(row["t"]), []).append(row)

    def merge(self, windows: list[dict[str, Any]]) -> None:
        for w in windows:
            key = (int(w["t"]), w["scenario"], w["metric"])
            decoded = decode(w["hdr"])
            hist = self.open.get(key)
            if hist is None:
                self.open[key] = decoded  # the first worker's window starts the second's
            else:
                hist.add(decoded)
            self.failed[key] = self.failed.get(key, 0) + int(w.get("failed", 0))

    def close(self, before: int | None = None) -> None:
        closing = sorted(k for k in self.open if before is None or k[0] < before)
        for second in sorted({k[0] for k in closing}):
            delays = new_histogram()
            for key in closing:
                if key[0] == second and key[2] == "iteration_start_delay":
                    delays.add(self.open[key])
            p95 = delays.get_value_at_percentile(95) / 1000.0
            busy = delays.get_total_count() > 0 and p95 > SATURATED_START_DELAY_MS
            workers = self.health.pop(second, [])
            state = {
                "t": second,
                "start_delay_p95": p95,
                "cpu_max": max((float(w["cpu"]) for w in workers), default=None),
                "loop_lag_ms": max((float(w["lag_ms"]) for w in workers), default=None),
            }
            self.generator.append(state)
            if busy:
                self.saturated.append(state)
            for key in closing:
                if key[0] == second and not busy and key[2] in GENERATOR_TIMED:
                    clean = self.clean.setdefault((key[1], key[2]), new_histogram())
                    clean.add(self.open[key])
        for key in closing:
            hist = self.open.pop(key)
            second, scenario, metric = key
            self.rows.append(
                {
                    "t": second,
                    "scenario": scenario,
                    "metric": metric,
                    "count": hist.get_total_count(),
                    "failed": self.failed.pop(key, 0),
                    "p50": hist.get_value_at_percentile(50) / 1000.0,
                    "p95": hist.get_value_at_percentile(95) / 1000.0,
                    "p99": hist.get_value_at_percentile(99) / 1000.0,
                    "max": hist.get_max_value() / 1000.0,
                }
            )
