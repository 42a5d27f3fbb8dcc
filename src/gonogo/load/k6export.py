"""A load result in the shape of k6's `--summary-export` JSON, for tools that already read it.

k6's legacy export (kept by k6 for compatibility, and what CI dashboards, k6-html-reporter
and the like parse): `root_group` (here empty: gonogo has no groups or checks) and
`metrics`, one entry per metric and per thresholded sub-metric (`http_req_duration
{scenario:gateway}`):

    trend    {"avg", "min", "med", "max", "p(90)", "p(95)"}  (milliseconds)
    rate     {"passes", "fails", "value"}   passes: samples that were true
    counter  {"count", "rate"}              rate: per second of the plan's schedule
    each with "thresholds": {"p(95)<150": false, ...}

The threshold boolean is k6's: **true when the threshold FAILED** (grafana/k6#1498; k6
kept it for compatibility, and so must anything claiming its shape). Metric names are
gonogo's: `http_req_duration` is timed from the scheduled start (what a user waits);
k6's own, from the send, is `http_req_service`.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from gonogo.load.engine import LoadResult
from gonogo.load.metrics import METRICS
from gonogo.load.stats import Aggregate
from gonogo.load.threshold import Threshold


def _values(aggregate: Aggregate, seconds: float) -> dict[str, Any]:
    kind = METRICS[aggregate.metric][0]
    if kind == "rate":
        return {
            "passes": aggregate.hits,
            "fails": aggregate.count - aggregate.hits,
            "value": aggregate.hits / aggregate.count if aggregate.count else 0,
        }
    if kind == "counter":
        return {"count": aggregate.count, "rate": aggregate.count / seconds if seconds else 0}
    h = aggregate.histogram
    if h is None or not h.get_total_count():
        return {"avg": 0, "min": 0, "med": 0, "max": 0, "p(90)": 0, "p(95)": 0}
    return {
        "avg": h.get_mean_value() / 1000.0,
        "min": h.get_min_value() / 1000.0,
        "med": h.get_value_at_percentile(50) / 1000.0,
        "max": h.get_max_value() / 1000.0,
        "p(90)": h.get_value_at_percentile(90) / 1000.0,
        "p(95)": h.get_value_at_percentile(95) / 1000.0,
    }


def _key(threshold: Threshold) -> str:
    """k6's name of a (sub-)metric: `metric{tag:value,tag:value}`."""
    if not threshold.tags:
        return threshold.metric
    return f"{threshold.metric}{{{','.join(f'{k}:{v}' for k, v in threshold.tags)}}}"


def summary_export(result: LoadResult) -> dict[str, Any]:
    seconds = result.plan.duration_s()
    metrics: dict[str, dict[str, Any]] = {}
    for metric in sorted({m for (m, _tags) in result.store.series}):
        metrics[metric] = _values(result.store.aggregate(metric), seconds)
    for threshold in result.plan.thresholds:
        entry = metrics.setdefault(
            _key(threshold),
            _values(result.store.aggregate(threshold.metric, threshold.tags), seconds),
        )
        judged = result.judge(threshold)
        entry.setdefault("thresholds", {})[threshold.expression] = not judged.ok
    return {
        "root_group": {
            "name": "",
            "path": "",
            "id": hashlib.md5(b"", usedforsecurity=False).hexdigest(),
            "groups": {},
            "checks": {},
        },
        "metrics": metrics,
    }


def write(result: LoadResult, folder: Path, env: str) -> Path:
    """`<folder>/<env>-<plan>.json`: one file per plan and env, as k6 writes one per run."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{env}-{result.plan.name}.json"
    path.write_text(json.dumps(summary_export(result), indent=2) + "\n", encoding="utf-8")
    return path
