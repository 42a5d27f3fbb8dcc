"""The Locust master: waits for the workers, merges their reports, writes summary.json."""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import gevent
from locust import argument_parser as locust_args
from locust import events
from locust.env import Environment

from gonogo.config.load import LoadScenario
from gonogo.load.child.recorder import REPORT_INTERVAL_S
from gonogo.load.child.shard import Shard
from gonogo.load.engine import PROGRESS_FILE
from gonogo.load.metrics import METRICS
from gonogo.load.plan import SCHEMA, Plan, scenario_duration
from gonogo.load.schedule import arrivals
from gonogo.load.stats import SATURATED_START_DELAY_MS, Store, Timeline, k6_series
from gonogo.load.threshold import judge

CONNECT_WAIT_S = float(os.environ.get("GONOGO_LOAD_CONNECT_WAIT_S", "30"))
WINDOW_KEEP_S = 5  # a second's histogram is summarised once no worker can add to it


def _options(plan: Plan, shards: int) -> argparse.Namespace:
    parser = locust_args.get_empty_argument_parser()
    locust_args.setup_parser_arguments(parser)
    options = parser.parse(args=[])
    options.headless = True
    # Custom options travel to every worker with the spawn message.
    options.gonogo_plan = json.dumps(plan.to_json())
    options.gonogo_shards = shards
    return options


def write_progress(out: Path, plan: Plan, store: Store, elapsed_s: float, k6: bool = False) -> None:
    """The run so far, once a second, for the parent to show and push (gonogo.load.engine):
    per scenario the iterations started against those due by now, p95 so far, failures, drops.
    Written whole and renamed, so the reader never sees half a file."""
    scenarios = {}
    for name, s in plan.scenarios.items():
        tags = (("scenario", name),)
        due = _DUES.setdefault(id(s), _Due(s)).upto(elapsed_s)
        started = store.aggregate("iterations", tags).count
        latency = next(
            (a for m in ("http_req_duration", "graph_query_duration")
             if (a := store.aggregate(m, tags)).histogram is not None and a.count),
            None,
        )  # fmt: skip
        failed = sum(
            store.aggregate(m, tags).hits for m in ("http_req_failed", "graph_query_failed")
        )
        scenarios[name] = {
            "started": started,
            "due": due,
            "p95_ms": round(latency.percentile_ms(95), 3) if latency else None,
            "failed": failed,
            "dropped": store.aggregate("dropped_iterations", tags).count,
        }
    data = {"plan": plan.name, "elapsed_s": round(elapsed_s, 1), "total_s": plan.duration_s(),
            "scenarios": scenarios}  # fmt: skip
    if k6:  # what [load] remote_write pushes (gonogo.load.remotewrite): k6's series so far
        data["k6"] = k6_series(store, plan.scenarios)
    tmp = out / f".{PROGRESS_FILE}"
    tmp.write_text(json.dumps(data), encoding="utf-8")
    tmp.replace(out / PROGRESS_FILE)


class _Due:
    """Arrivals of a scenario (all shards) due by a time, counted as time goes on: the
    schedule is walked once, never held whole (a long plan has millions)."""

    def __init__(self, s: LoadScenario) -> None:
        self._upcoming = iter(arrivals(s, 0, 1))
        self._next = next(self._upcoming, None)
        self.count = 0

    def upto(self, t: float) -> int:
        while self._next is not None and self._next <= t:
            self.count += 1
            self._next = next(self._upcoming, None)
        return self.count


_DUES: dict[int, _Due] = {}


def master(plan_path: Path, out: Path, bind: str, port: int, workers: int, k6: bool = False) -> int:
    import locust.runners as locust_runners

    locust_runners.WORKER_REPORT_INTERVAL = REPORT_INTERVAL_S
    plan = Plan.from_json(json.loads(plan_path.read_text(encoding="utf-8")))
    store = Store()
    timeline = Timeline()
    done: dict[int, dict[str, Any]] = {}
    environment = Environment(
        user_classes=[Shard],
        events=events,
        parsed_options=_options(plan, workers),
        host=plan.target.get("base_url"),
    )
    runner = environment.create_master_runner(master_bind_host=bind, master_bind_port=port)
    began = time.perf_counter()

    def on_worker_report(client_id: str, data: dict[str, Any]) -> None:
        ours = data.get("gonogo")
        if ours:
            store.merge(ours["series"])
            timeline.merge(ours["windows"])
            timeline.merge_health(ours.get("health", []))
            timeline.close(before=int(time.perf_counter() - began) - WINDOW_KEEP_S)

    def on_done(environment: Any, msg: Any, **_: Any) -> None:
        done[int(msg.data.get("shard", len(done)))] = msg.data

    environment.events.worker_report.add_listener(on_worker_report)
    runner.register_message("gonogo-done", on_done)

    deadline = time.monotonic() + CONNECT_WAIT_S
    while len(runner.clients.ready) < workers:
        if time.monotonic() > deadline:
            print(
                f"gonogo load: {len(runner.clients.ready)} of {workers} worker(s) connected to "
                f"{bind}:{port} within {CONNECT_WAIT_S:g} s",
                file=sys.stderr,
            )
            runner.quit()
            return 3
        gevent.sleep(0.05)

    started_wall = time.time()
    # What lives all run (Locust, gevent, the plan) out of the collector's reach, as on the
    # workers: a full collection over it is CPU taken from a worker whenever the two share
    # a core; after the freeze, one scans only what the run made.
    gc.collect()
    gc.freeze()
    began = time.perf_counter()
    runner.start(workers, spawn_rate=workers)
    limit = plan.bound_s() + 15.0
    shown = 0.0
    while len(done) < workers and time.perf_counter() - began < limit:
        gevent.sleep(0.1)
        if time.perf_counter() - shown >= 1.0:  # the master's view; the workers never wait
            shown = time.perf_counter()
            write_progress(out, plan, store, shown - began, k6)
    elapsed = max(float(d.get("elapsed_s", 0.0)) for d in done.values()) if done else 0.0
    timed_out = len(done) < workers
    runner.quit()
    timeline.close()
    seconds = elapsed or (time.perf_counter() - began)
    summary = _summary_json(
        plan, store, timeline, environment, workers, started_wall, seconds, done, timed_out
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    try:
        from locust.html import get_html_report

        (out / "locust.html").write_text(
            get_html_report(environment, show_download_link=False), encoding="utf-8"
        )
    except Exception as exc:
        print(f"gonogo load: Locust's HTML report could not be written: {exc}", file=sys.stderr)
    return 4 if timed_out else 0


def _summary_json(
    plan: Plan,
    store: Store,
    timeline: Timeline,
    environment: Environment,
    workers: int,
    started_wall: float,
    seconds: float,
    done: dict[int, dict[str, Any]],
    timed_out: bool,
) -> dict[str, Any]:
    """summary.json: the plan, what each shard did, every metric and threshold, the series
    (lossless, for `gonogo verdict` and the plots), and the generator's own health."""
    judged = [judge(store, t, plan.duration_s()) for t in plan.thresholds]
    return {
        "schema": SCHEMA,
        "plan": plan.to_json(),
        "workers": workers,
        "started": started_wall,
        "elapsed_s": seconds,
        "complete": not timed_out,
        "shards": [done.get(i) for i in range(workers)],
        "bounded": any(bool(d.get("bounded")) for d in done.values()),
        "errors": sorted({e for d in done.values() for e in d.get("errors", [])}),
        "metrics": _metric_summaries(store, plan),
        "thresholds": [j.as_dict() for j in judged],
        "series": store.encoded(),
        "timeline": timeline.rows,
        # The generator's own health: seconds it fell behind its schedule, and the latency
        # of the seconds it kept it (judged against when a threshold fails: gonogo.load.engine).
        "saturation": {
            "rule": f"iteration_start_delay p95 > {SATURATED_START_DELAY_MS:g} ms in a second",
            "seconds": timeline.saturated,
            # Every second: start delay p95, the busiest worker's CPU share, the worst loop lag.
            "generator": timeline.generator,
            "clean": [
                {"scenario": scenario, "metric": metric, "hdr": hist.encode().decode("ascii")}
                for (scenario, metric), hist in sorted(timeline.clean.items())
                if hist.get_total_count()
            ],
        },
        "locust": _locust_figures(environment),
        "failures": _failures(environment),
    }


def _metric_summaries(store: Store, plan: Plan) -> dict[str, Any]:
    """Each metric overall, per scenario and per request name; counters with their rate
    per second of schedule (what the plan asked for is the yardstick, not the tail)."""
    seconds = plan.duration_s()
    out: dict[str, Any] = {}
    metrics = sorted({m for (m, _t) in store.series})
    selections = sorted(
        {(k, v) for (_m, t) in store.series for k, v in t if k in ("scenario", "name")}
    )
    for metric in metrics:
        out[metric] = {"all": _summary(store, metric, (), seconds)}
        for key, value in selections:
            length = seconds
            if key == "scenario" and value in plan.scenarios:
                length = scenario_duration(plan.scenarios[value])
            found = _summary(store, metric, ((key, value),), length)
            if found["count"]:
                out[metric][f"{key}:{value}"] = found
    return out


def _summary(store: Store, metric: str, tags: tuple[tuple[str, str], ...], seconds: float) -> Any:
    agg = store.aggregate(metric, tags)
    found = agg.summary()
    if METRICS[metric][0] == "counter" and seconds > 0:
        found["rate_per_s"] = round(agg.count / seconds, 3)
    return found


def _locust_figures(environment: Environment) -> dict[str, Any]:
    """Locust's own figures for the same requests, kept beside gonogo's (bucketed, from send)."""
    stats = environment.runner.stats if environment.runner is not None else None
    if stats is None:
        return {}
    out = {}
    for (name, method), entry in stats.entries.items():
        if not entry.num_requests:
            continue
        out[f"{method} {name}"] = {
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "avg": entry.avg_response_time,
            "p50": entry.get_response_time_percentile(0.50),
            "p95": entry.get_response_time_percentile(0.95),
            "p99": entry.get_response_time_percentile(0.99),
        }
    return out


def _failures(environment: Environment) -> list[dict[str, Any]]:
    """What the failed requests said, most frequent first (Locust groups them)."""
    stats = environment.runner.stats if environment.runner is not None else None
    if stats is None:
        return []
    rows = [
        {"method": e.method, "name": e.name, "error": str(e.error), "count": e.occurrences}
        for e in stats.errors.values()
    ]
    return sorted(rows, key=lambda r: -int(str(r["count"])))[:20]
