"""Request events into HDR series and per-second windows; the worker's own health each second."""

from __future__ import annotations

import time
from typing import Any

import gevent
from hdrh.histogram import HdrHistogram

from gonogo.load.stats import Store, Tags, fill, new_histogram

REPORT_INTERVAL_S = 1.0  # worker -> master; the timeline's resolution


class Window:
    """One second of one scenario's metric on this worker, until the next report: the samples
    held since the last fill, their histogram, the failures among them."""

    __slots__ = ("failed", "held", "hist")

    def __init__(self) -> None:
        self.held: list[float] = []
        self.hist: HdrHistogram | None = None
        self.failed = 0


class Recorder:
    """Turns Locust's request events into HDR series, per-second windows and counts.

    Latency samples are held as plain floats and put into their histograms every
    FILL_EVERY_S, counted (stats.fill): a request costs list appends, not five HDR records
    (a large share of a request's CPU at capacity)."""

    def __init__(self) -> None:
        self.store = Store()
        self.samples: dict[tuple[str, Tags], list[float]] = {}  # (metric, tags) -> ms, held
        self.windows: dict[tuple[int, str, str], Window] = {}  # (second, scenario, metric)
        self.started = time.perf_counter()
        self.health: list[dict[str, float]] = []  # closed seconds, from Health

    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        response: Any = None,
        context: dict[str, Any] | None = None,
        exception: BaseException | None = None,
        **_: Any,
    ) -> None:
        ctx = context or {}
        if "gonogo" not in ctx:
            return
        info = ctx["gonogo"]
        tags: Tags = info["tags"]  # sorted once per request of the plan (Sent.tags)
        waited = response_time + (info["called"] - info["intended"]) * 1000.0
        failed = exception is not None
        store = self.store
        if info["kind"] == "cypher":
            self.record("graph_query_duration", tags, waited)
            store.mark("graph_query_failed", tags, failed)
            store.add("graph_queries", tags)
            metric = "graph_query_duration"
        else:
            status = int(getattr(response, "status_code", 0) or 0)
            self.record("http_req_duration", tags, waited)
            self.record("http_req_service", tags, response_time)
            store.mark("http_req_failed", tags, failed)
            store.mark("auth_success", tags, status != 401)
            store.add("http_reqs", tags)
            metric = "http_req_duration"
        self.window(info["intended"], info["scenario"], metric, waited, failed)

    def record(self, metric: str, tags: Tags, ms: float) -> None:
        """A trend's sample, held until the next fill."""
        held = self.samples.get((metric, tags))
        if held is None:
            held = self.samples[(metric, tags)] = []
        held.append(ms)

    def window(
        self, intended: float, scenario: str, metric: str, ms: float, failed: bool = False
    ) -> None:
        """One sample into its second's window (by when it was due, not when it ended)."""
        key = (int(intended - self.started), scenario, metric)
        found = self.windows.get(key)
        if found is None:
            found = self.windows[key] = Window()
        found.held.append(ms)
        if failed:
            found.failed += 1

    def fill(self) -> None:
        """The held samples into their histograms (series and windows)."""
        for (metric, tags), held in self.samples.items():
            if held:
                self.store.record_many(metric, tags, held)
                held.clear()
        for found in self.windows.values():
            if found.held:
                if found.hist is None:
                    found.hist = new_histogram()
                fill(found.hist, found.held)
                found.held.clear()

    def fill_every(self, seconds: float) -> None:
        """Fill in small steps through the run, so the report never holds the loop long."""
        while True:
            gevent.sleep(seconds)
            self.fill()

    def drain(self) -> dict[str, Any]:
        self.fill()
        windows = [
            {
                "t": second,
                "scenario": scenario,
                "metric": metric,
                "hdr": found.hist.encode().decode("ascii"),
                "failed": found.failed,
            }
            for (second, scenario, metric), found in self.windows.items()
            if found.hist is not None  # always, after the fill: a window begins with a sample
        ]
        self.samples.clear()
        self.windows.clear()
        health, self.health = self.health, []
        return {"series": self.store.drain(), "windows": windows, "health": health}


RECORDER = Recorder()

# How often a worker puts its held samples into their histograms. Filled only at each report
# (once a second), they hold the loop long enough for the iterations due then to start late;
# 50 ms of samples are filled well under a millisecond, and repeated values are still
# counted together.
FILL_EVERY_S = 0.05
# The loop-lag probe's period: 100 wake-ups a second, a negligible share of a core.
LAG_PROBE_S = 0.01


class Health:
    """The worker's own state each second of the schedule: its CPU share (process CPU time
    over wall time: 1.0 is a whole core) and its event loop's lag (how late a greenlet that
    asked to sleep LAG_PROBE_S woke, at worst). Beside the iterations' start delay, these
    say why a second was saturated: the worker's core was full, or its loop was held.
    Closed seconds go to the master with the next report (Recorder.health)."""

    def __init__(self, worker: int) -> None:
        self.worker = worker
        self.running = True

    def run(self) -> None:
        started = RECORDER.started
        second = 0
        worst = 0.0
        wall, cpu = time.perf_counter(), time.process_time()
        while self.running:
            asked = time.perf_counter()
            gevent.sleep(LAG_PROBE_S)
            now = time.perf_counter()
            lag_ms = max(0.0, (now - asked - LAG_PROBE_S) * 1000.0)
            at = int(now - started)
            if at != second:
                used = time.process_time()
                RECORDER.health.append(
                    {"t": second, "worker": self.worker, "lag_ms": round(worst, 3),
                     "cpu": round((used - cpu) / max(1e-9, now - wall), 3)}
                )  # fmt: skip
                second, worst, wall, cpu = at, 0.0, now, used
            worst = max(worst, lag_ms)
        now = time.perf_counter()
        RECORDER.health.append(
            {"t": second, "worker": self.worker, "lag_ms": round(worst, 3),
             "cpu": round((time.process_time() - cpu) / max(1e-9, now - wall), 3)}
        )  # fmt: skip
