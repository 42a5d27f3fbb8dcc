"""How much load can one gonogo worker process send, against Locust and wrk on the same server?

    python benchmarks/load_capacity.py [--runs 3] [--quick] [--only capacity|scaling|memory]
                                       [--memory-minutes 10] [--same-rate 2000]

The server is nginx from Debian (`return 200` on a location, keep-alive, one worker
process) pinned to core 1, so it is not the bottleneck; every generator is pinned to core 0
(where the machine has two). In one run, each figure the median of --runs runs:

1. capacity, per core:
   - gonogo's open-model maximum per worker process: the highest rate on the ladder where
     the achieved rate is within 1 % of the target, nothing is dropped and the iterations'
     start delay p95 is under 2 ms (each rung 5 s). A rung that misses is run once more and
     counts as missed only if it misses again: on this VM one stalled second (the hypervisor
     takes the core: the steal time of the generator's core is printed with each miss) ends
     a ladder at any rung. The strict figure (a single miss ends the ladder) is printed too;
   - gonogo flat out: the ladder goes on past that miss to the highest rate whose count the
     open model keeps (within 1 %, nothing dropped), its start delay reported, not bounded;
   - Locust's own FastHttpUser, closed loop (`wait_time = constant(0)`, 64 users): what
     the library gonogo is built on sends flat out on one core;
   - wrk (1 thread, 64 connections): what one core can make the loopback carry;
   and the ratios gonogo/Locust (within bounds and flat out) and gonogo/wrk;
   - at one rate both keep (--same-rate, 2,000/s): the CPU a request of gonogo's worker
     against Locust paced to that rate (64 users, constant_throughput), interleaved.
2. scaling: 1, 2 and 4 local worker processes at a rate each should hold (the 1-worker
   maximum times the workers), achieved rate and start delay p95. On a 2-core machine with
   the server on one core, 2 and 4 workers share core 0 with each other and the master:
   the figure says what more processes buy on this machine, not on a bigger one.
3. memory: one worker at 1,000/s for --memory-minutes (10): the worker's and the master's
   RSS each minute, against minute 1 (flat means within 10 %).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# load_accuracy is a sibling script (benchmarks/ is on the path when run from the repo).
from load_accuracy import TWO_CORES, med, pin, ping_plan, served, wrk

from gonogo.load.engine import Engine
from gonogo.processes import free_port

NGINX_CONF = """
daemon off;
master_process on;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location /api/ping {{ default_type application/json; return 200 '{{"ok":true}}'; }}
    }}
}}
"""


@contextlib.contextmanager
def nginx() -> Iterator[int]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(binary, os.X_OK):
        sys.exit("nginx is not installed: apt-get install nginx-light (or nginx)")
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, port=port))
        with served(port, [binary, "-c", str(conf), "-p", tmp]):
            yield port


def steal_ms(cpu: str = "cpu0") -> float:
    """The time the hypervisor ran something else while this CPU had work (/proc/stat's
    steal, in clock ticks): what a rung lost that neither generator nor server did."""
    with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/stat") as fh:
        for line in fh:
            fields = line.split()
            if fields[0] == cpu:
                return int(fields[8]) * 1000.0 / os.sysconf("SC_CLK_TCK")
    return float("nan")


def gonogo(
    port: int, rate: float, seconds: float, workers: int = 1, watch: Any = None
) -> dict[str, Any]:
    plan = ping_plan(port, rate, seconds, 500)
    stolen = steal_ms()
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(workers=workers, say=lambda line: None)
        if watch is not None:
            stop = threading.Event()
            thread = threading.Thread(target=watch, args=(Path(tmp) / "run", stop), daemon=True)
            thread.start()
        try:
            result = engine.run(plan, Path(tmp) / "run")
        finally:
            if watch is not None:
                stop.set()
                thread.join(timeout=5)
    m = result.summary["metrics"]
    sent = m["http_reqs"]["all"]["count"]
    seconds_seen = result.summary["saturation"].get("generator", [])
    cpu = sum(float(s["cpu_max"] or 0) for s in seconds_seen)  # one worker: its CPU seconds
    return {
        "sent": sent,
        "rate": sent / seconds,
        "dropped": m.get("dropped_iterations", {}).get("all", {}).get("count", 0),
        "start_delay_p95": m["iteration_start_delay"]["all"]["p95"],
        "failed": m["http_req_failed"]["all"]["rate"] or 0.0,
        "cpu_us_per_req": cpu * 1e6 / sent if sent else float("nan"),
        "cpu_share": max((float(s["cpu_max"] or 0) for s in seconds_seen), default=0.0),
        "steal_ms": steal_ms() - stolen,
    }


def kept(rate: float, got: dict[str, Any]) -> bool:
    """The open model kept its schedule's count: the rate within 1 %, nothing dropped, nothing
    failed; how late the iterations started is not asked (that is `within`)."""
    return bool(
        abs(got["rate"] - rate) / rate <= 0.01 and got["dropped"] == 0 and got["failed"] == 0
    )


def within(rate: float, got: dict[str, Any]) -> bool:
    """Held within bounds: kept (above), and the iterations' start delay p95 under 2 ms."""
    return kept(rate, got) and got["start_delay_p95"] < 2.0


LOCUSTFILE = """
from locust import FastHttpUser, constant, task

class Ping(FastHttpUser):
    wait_time = constant(0)

    @task
    def ping(self):
        self.client.get("/api/ping")
"""


def plain_locust(port: int, seconds: float, users: int = 64) -> float:
    """Locust as its own benchmark runs it: FastHttpUser, closed loop, no wait."""
    with tempfile.TemporaryDirectory() as tmp:
        locustfile = Path(tmp) / "locustfile.py"
        locustfile.write_text(textwrap.dedent(LOCUSTFILE))
        subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u",
             str(users), "-r", str(users), "-t", f"{int(seconds)}s", "--host",
             f"http://127.0.0.1:{port}", "--csv", f"{tmp}/out", "--only-summary",
             "--loglevel", "ERROR"],
            capture_output=True, timeout=seconds + 60, check=False, preexec_fn=lambda: pin(0),
        )  # fmt: skip
        with open(f"{tmp}/out_stats.csv", newline="") as fh:
            row = next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")
    # Locust's own rate: requests over the time its users ran (ramp-up included, 1 s at most)
    return float(row["Requests/s"])


PACED_LOCUSTFILE = """
import os, time
from locust import FastHttpUser, constant_throughput, events, task

class Ping(FastHttpUser):
    wait_time = constant_throughput(float(os.environ["GONOGO_BENCH_RATE"]) / 64)

    @task
    def ping(self):
        self.client.get("/api/ping")

START = {}

@events.test_start.add_listener
def started(environment, **_):
    START["cpu"], START["wall"] = time.process_time(), time.perf_counter()

@events.quitting.add_listener
def quitting(environment, **_):
    with open(os.environ["GONOGO_BENCH_OUT"], "w") as fh:
        fh.write(f"{environment.stats.total.num_requests} "
                 f"{time.process_time() - START['cpu']} {time.perf_counter() - START['wall']}")
"""


def paced_locust(port: int, rate: float, seconds: float) -> tuple[float, float]:
    """Locust FastHttpUser sending `rate` a second (64 users, constant_throughput): its rate
    and its process's CPU a request, from its test start (imports and start-up excluded)."""
    with tempfile.TemporaryDirectory() as tmp:
        locustfile = Path(tmp) / "locustfile.py"
        locustfile.write_text(textwrap.dedent(PACED_LOCUSTFILE))
        out = Path(tmp) / "cpu.txt"
        env = {**os.environ, "GONOGO_BENCH_RATE": str(rate), "GONOGO_BENCH_OUT": str(out)}
        done = subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", "64",
             "-r", "64", "-t", f"{int(seconds)}s", "--host", f"http://127.0.0.1:{port}",
             "--only-summary", "--loglevel", "ERROR"],
            capture_output=True, text=True, timeout=seconds + 60, check=False, env=env,
            preexec_fn=lambda: pin(0),
        )  # fmt: skip
        if not out.exists():
            sys.exit(f"Locust (paced) wrote no figures: {done.stderr.strip()[-300:]}")
        sent, cpu, wall = out.read_text().split()
    return int(sent) / float(wall), float(cpu) * 1e6 / int(sent)


def same_rate(runs: int, rate: float, seconds: float) -> None:
    """What a request costs each at the same offered rate, which both keep: gonogo's worker
    (open model) against Locust paced to that rate (64 users, closed loop), interleaved. The
    flat-out figure above compares an open model's ~1-4 requests in flight with Locust's 64
    (a loop turn shared by many answers); here both carry the same load. gonogo's figure is
    its worker's alone (its master merges once a second); Locust's is its one process."""
    ours: list[float] = []
    theirs: list[float] = []
    rates: list[float] = []
    with nginx() as port:
        for i in range(runs):
            for who in ("gonogo", "locust") if i % 2 == 0 else ("locust", "gonogo"):
                if who == "gonogo":
                    ours.append(gonogo(port, rate, seconds)["cpu_us_per_req"])
                else:
                    achieved, cost = paced_locust(port, rate, seconds)
                    theirs.append(cost)
                    rates.append(achieved)
    print(
        f"   at the same rate, {rate:.0f}/s ({runs} interleaved runs, medians): gonogo's worker "
        f"{med(ours):.0f} us of CPU a request (runs: {', '.join(f'{x:.0f}' for x in ours)}); "
        f"Locust paced (64 users, constant_throughput, {med(rates):.0f}/s achieved) "
        f"{med(theirs):.0f} us (runs: {', '.join(f'{x:.0f}' for x in theirs)}); "
        f"Locust/gonogo {med(theirs) / med(ours):.2f}"
    )


def rung(rate: float, got: dict[str, Any]) -> str:
    return (
        f"{rate:.0f}/s: sent {got['rate']:.0f}/s, dropped {got['dropped']}, start delay p95 "
        f"{got['start_delay_p95']:.2f} ms, CPU {got['cpu_share'] * 100:.0f} %, stolen from "
        f"core 0 {got['steal_ms']:.0f} ms"
    )


def again(
    port: int, rate: float, seconds: float, first: dict[str, Any], workers: int = 1
) -> dict[str, Any]:
    """A missed rung run once more; the better of the two tries (held within bounds, then
    kept) stands for the rung, so a rung counts as missed only when it misses twice."""
    second = gonogo(port, rate, seconds, workers)
    return max((first, second), key=lambda got: (within(rate, got), kept(rate, got)))


def capacity(runs: int, ladder: list[float], seconds: float) -> float:
    """Per run, Locust just before and just after gonogo's ladder, on the same nginx: this VM's
    speed drifts by 2x over minutes (Locust measured 3.9k to 8.6k/s within the hour), so each
    ratio compares neighbours in time, and the figure is the median of the runs' ratios.

    Two figures for gonogo, from one ladder: held within bounds (start delay p95 under 2 ms
    too: the rate whose latencies are the service's alone), and flat out (the highest rate
    whose count the open model still keeps, however late its iterations start: what the
    engine can send, as Locust's constant(0) figure is what Locust can send). Only the first
    compares a guarantee Locust does not give; the second is like for like."""
    best: list[float] = []
    flat: list[float] = []
    flat_delay: list[float] = []
    misses: list[str] = []
    flat_misses: list[str] = []
    locust: list[float] = []
    ratios: list[float] = []
    flat_ratios: list[float] = []
    costs: list[float] = []
    flat_costs: list[float] = []
    wrks: list[float] = []
    strict_best: list[float] = []
    strict_ratios: list[float] = []
    retried: list[str] = []
    held_steal: list[float] = []  # the steal of each rung held within bounds at its first try
    for _ in range(runs):
        top, cost = 0.0, float("nan")
        most, most_cost, most_delay = 0.0, float("nan"), float("nan")
        bounded = True
        strict, strict_top = True, 0.0
        with nginx() as port:
            before = plain_locust(port, seconds)
            for rate in ladder:
                got = gonogo(port, rate, seconds)
                strict = strict and within(rate, got)
                if within(rate, got):
                    held_steal.append(got["steal_ms"])
                if strict:
                    strict_top = rate
                if (bounded and not within(rate, got)) or not kept(rate, got):
                    first = got
                    got = again(port, rate, seconds, first)
                    held = "held" if got is not first else "missed again"
                    retried.append(f"{rung(rate, first)}: run again, {held}")
                if bounded and not within(rate, got):
                    bounded = False
                    misses.append(rung(rate, got))
                if not kept(rate, got):
                    flat_misses.append(rung(rate, got))
                    break
                if bounded:
                    top, cost = rate, got["cpu_us_per_req"]
                most, most_cost = rate, got["cpu_us_per_req"]
                most_delay = got["start_delay_p95"]
            after = plain_locust(port, seconds)
            peer = wrk(port, int(seconds))
            if peer is not None:
                wrks.append(peer)
        best.append(top)
        strict_best.append(strict_top)
        strict_ratios.append(strict_top / ((before + after) / 2))
        flat.append(most)
        flat_delay.append(most_delay)
        locust.append((before + after) / 2)
        ratios.append(top / ((before + after) / 2))
        flat_ratios.append(most / ((before + after) / 2))
        costs.append(cost)
        flat_costs.append(most_cost)
    print(f"1. capacity on one core against nginx on the other ({runs} runs, medians)")
    print(
        f"   gonogo, open model, one worker: {med(best):.0f}/s held within bounds "
        f"(runs: {', '.join(f'{b:.0f}' for b in best)}), {med(costs):.0f} us of the worker's "
        f"CPU a request there; first rung missed (twice): "
        f"{misses[0] if misses else 'none (raise it)'}"
    )
    print(
        f"   rungs run again after a first miss: {len(retried)}, held on the second try: "
        f"{sum(r.endswith(', held') for r in retried)}; the rungs held at the first try lost "
        f"{med(held_steal or [float('nan')]):.0f} ms of core 0 to the hypervisor (median of "
        f"{len(held_steal)}, most {max(held_steal, default=float('nan')):.0f} ms)"
        + "".join(f"\n     {r}" for r in retried)
    )
    print(
        f"   gonogo flat out (rate within 1 %, none dropped, start delay not bounded): "
        f"{med(flat):.0f}/s (runs: {', '.join(f'{b:.0f}' for b in flat)}), "
        f"{med(flat_costs):.0f} us a request, start delay p95 {med(flat_delay):.1f} ms there; "
        f"first rung not kept: {flat_misses[0] if flat_misses else 'none (raise the ladder)'}"
    )
    print(
        f"   Locust FastHttpUser, closed loop, 64 users, constant(0): {med(locust):.0f}/s "
        f"(runs: {', '.join(f'{x:.0f}' for x in locust)}; its core full: "
        f"{1e6 / med(locust):.0f} us a request)"
    )
    line = (
        f"   gonogo/Locust within bounds {med(ratios):.2f} "
        f"(runs: {', '.join(f'{r:.2f}' for r in ratios)}); flat out {med(flat_ratios):.2f} "
        f"(runs: {', '.join(f'{r:.2f}' for r in flat_ratios)}); strict (a single miss ends "
        f"the ladder) {med(strict_best):.0f}/s (runs: "
        f"{', '.join(f'{b:.0f}' for b in strict_best)}), gonogo/Locust "
        f"{med(strict_ratios):.2f} (runs: {', '.join(f'{r:.2f}' for r in strict_ratios)})"
    )
    if wrks:
        line += f"; wrk (1 thread, 64 connections) {med(wrks):.0f}/s; gonogo/wrk "
        line += f"{med(best) / med(wrks):.3f}"
    else:
        line += "; wrk not installed (apt-get install wrk)"
    print(line)
    return med(best)


def beyond(ladder: list[float]) -> list[float]:
    """The ladder, then on in its last step up to twice its top: several workers can pass the
    top of a ladder made for one (session 10: 2 workers kept 9,000/s, its top, in every run,
    which says nothing of where they stop)."""
    step = ladder[-1] - ladder[-2] if len(ladder) > 1 else ladder[-1] / 4
    if step <= 0:  # a ladder not in ascending order: taken as given
        return ladder
    return ladder + [ladder[-1] + step * k for k in range(1, int(ladder[-1] / step) + 1)]


def scaling(runs: int, ladder: list[float], seconds: float) -> None:
    """1, 2 and 4 local workers, NOT pinned (as `--load-workers N` runs on this 2-core VM):
    the workers, the master and nginx share both cores, so more processes only buy what the
    second core gives minus what nginx needs of it."""
    print(
        f"2. scaling against nginx, 1/2/4 local workers on both cores, shared with nginx "
        f"and the master ({runs} runs, medians)"
    )
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    try:
        for workers in (1, 2, 4):
            tops: list[float] = []
            misses: list[dict[str, Any]] = []
            for _ in range(runs):
                top = 0.0
                with nginx() as port:
                    for rate in beyond(ladder):
                        got = gonogo(port, rate, seconds, workers)
                        if not within(rate, got):
                            got = again(port, rate, seconds, got, workers)
                        if not within(rate, got):
                            misses.append({"asked": rate, **got})
                            break
                        top = rate
                tops.append(top)
            miss = (
                f"at {misses[0]['asked']:.0f}/s: achieved {misses[0]['rate']:.0f}/s, "
                f"start delay p95 {misses[0]['start_delay_p95']:.2f} ms"
                if misses
                else f"none up to {max(beyond(ladder)):.0f}/s (raise --ladder)"
            )
            print(
                f"   {workers} worker(s): {med(tops):.0f}/s within bounds "
                f"(runs: {', '.join(f'{t:.0f}' for t in tops)}); first miss {miss}"
            )
    finally:
        pin(0)


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _children(folder: Path) -> dict[str, int]:
    found: dict[str, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if b"gonogo.load.child" in argv and b"master" in argv and str(folder).encode() in argv:
                found["master"] = int(entry.name)
                found["port"] = int(argv[argv.index(b"--port") + 1])
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and "port" in found:
            with contextlib.suppress(OSError):
                argv = (entry / "cmdline").read_bytes().split(b"\0")
                if b"worker" in argv and str(found["port"]).encode() in argv:
                    found["worker"] = int(entry.name)
    found.pop("port", None)
    return found


def memory(minutes: float) -> None:
    samples: dict[str, list[tuple[float, int]]] = {"master": [], "worker": []}

    def watch(folder: Path, stop: threading.Event) -> None:
        """This run's master (its --out is `folder`) and the worker on its port."""
        began = time.monotonic()
        pids: dict[str, int] = {}
        while not stop.wait(5):
            if len(pids) < 2:
                pids = _children(folder)
            for role, pid in pids.items():
                with contextlib.suppress(OSError, ValueError):
                    samples[role].append((time.monotonic() - began, _rss_kb(pid)))

    with nginx() as port:
        got = gonogo(port, 1000, minutes * 60, 1, watch)
    print(f"3. memory: one worker at 1,000/s for {minutes:g} min (sent {got['sent']})")
    for role, points in samples.items():
        if not points:
            print(f"   {role}: no samples")
            continue
        per_minute: dict[int, list[int]] = {}
        for at, kb in points:
            per_minute.setdefault(int(at // 60) + 1, []).append(kb)
        mean = {m: statistics.mean(kbs) / 1024 for m, kbs in sorted(per_minute.items())}
        first, last = mean[min(mean)], mean[max(mean)]
        # the trend, not one sample: histograms are made and freed every second, so any one
        # reading swings by ~15 MB with what is alive at that moment
        xs, ys = [at / 60 for at, _ in points], [kb / 1024 for _, kb in points]
        slope = statistics.linear_regression(xs, ys).slope
        growth = (last - first) / first * 100
        shown = ", ".join(f"{m}: {mb:.0f}" for m, mb in mean.items())
        print(
            f"   {role} RSS MB (mean of each minute) {shown}; last minute vs minute 1 "
            f"{growth:+.1f} %, trend {slope:+.2f} MB/min "
            f"({'flat' if abs(growth) <= 10 else 'NOT flat'})"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=["capacity", "scaling", "memory"])
    parser.add_argument("--memory-minutes", type=float, default=10.0)
    parser.add_argument("--same-rate", type=float, default=2000.0)
    parser.add_argument(
        "--ladder", default="3000,4000,4500,5000,5500,6000,6500,7000,7500,8000,9000,10000"
    )
    args = parser.parse_args()
    pin(0)
    seconds = 3.0 if args.quick else 5.0
    print(f"cores: {os.cpu_count()} (generators pinned to core 0, nginx to core 1: {TWO_CORES})")
    ladder = [float(x) for x in args.ladder.split(",")]
    per_worker = ladder[0]
    if args.only in (None, "capacity"):
        per_worker = capacity(args.runs, ladder, seconds) or ladder[0]
        same_rate(args.runs, args.same_rate, seconds)
    if args.only in (None, "scaling"):
        scaling(args.runs, [r for r in ladder if r >= per_worker / 2] or ladder, seconds)
    if args.only in (None, "memory"):
        memory(args.memory_minutes)


if __name__ == "__main__":
    main()
