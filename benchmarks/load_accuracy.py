"""How right and how fast is the load engine? Measured against a server of known latency.

    python benchmarks/load_accuracy.py [--runs 3] [--quick]

gonogo.sandbox.echo answers GET /api/ping after a set delay (plus uniform jitter) and keeps
the list of delays it imposed (the truth). The load generator runs on core 0, the server on
core 1 (where the machine has two). Each figure is the median of --runs runs, and beside
each of gonogo's figures is its peer from the same run:

1. accuracy: a constant 200/s for 10 s against 20 ms + 0..10 ms. Achieved rate against the
   target; gonogo's p95 against the truth on the wire (tshark on loopback, request packet
   to response packet, when tshark is installed: `apt-get install tshark`) and against the
   server handler's own timing; Locust's own p95 of the same requests (its rounded
   buckets), and a plain closed-model Locust run aiming at the same rate;
2. a stall: 100/s, max_concurrency 50, the server freezes for 2 s at t = 3 s. Expected
   dropped iterations: the arrivals due in the stall once the 50 slots are held (1.5 s x 100
   = 150). gonogo's dropped count and p99 from scheduled start, against plain Locust's
   request count and p99 (coordinated omission: it stops sending, so its p99 looks good);
3. capacity: the highest rate one worker process keeps within 1 % of the target with its
   p95 start delay under 2 ms, against wrk (Debian's, if installed) on the same endpoint;
4. progress on/off: the live line shown (as on a terminal) and not, interleaved, at 200/s:
   its difference against the run-to-run range.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gonogo.checks import percentile
from gonogo.config.load import LoadScenario
from gonogo.load.engine import Engine
from gonogo.load.plan import Plan
from gonogo.processes import free_port

TWO_CORES = (os.cpu_count() or 1) >= 2


def pin(core: int) -> None:
    if TWO_CORES:
        os.sched_setaffinity(0, {core})


@contextlib.contextmanager
def echo(delay_ms: float, jitter_ms: float = 0.0, *stall: str) -> Iterator[int]:
    port = free_port()
    with served(port, [sys.executable, "-m", "gonogo.sandbox.echo", str(port), str(delay_ms),
                       "--jitter-ms", str(jitter_ms), *stall]):  # fmt: skip
        yield port


@contextlib.contextmanager
def served(port: int, argv: list[str]) -> Iterator[None]:
    """A server process on core 1, answering on `port` for the block, then stopped."""
    server = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=lambda: pin(1)
    )
    try:
        wait_for(port)
        yield
    finally:
        server.terminate()
        server.wait(timeout=10)


def wait_for(port: int) -> None:
    """Until something answers on the loopback port (10 s at most)."""
    for _ in range(100):
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        time.sleep(0.1)


@contextlib.contextmanager
def on_the_wire(port: int, into: list[float]) -> Iterator[None]:
    """Each request's latency as the loopback saw it (tshark): from the request's packet to
    the response's, paired in order on each keep-alive connection. The truth neither the
    server's handler timing (no HTTP layer) nor a client (its own parsing) can give."""
    if shutil.which("tshark") is None:
        yield
        return
    with tempfile.TemporaryDirectory() as tmp:
        pcap = Path(tmp) / "cap.pcap"
        capture = subprocess.Popen(
            ["tshark", "-i", "lo", "-f", f"tcp port {port}", "-w", str(pcap), "-q"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=lambda: pin(1),
        )  # fmt: skip
        time.sleep(2)  # tshark is capturing before the first request
        try:
            yield
        finally:
            time.sleep(0.5)
            capture.terminate()
            capture.wait(timeout=30)
        fields = subprocess.run(
            ["tshark", "-r", str(pcap), "-Y", "http", "-T", "fields", "-e", "tcp.stream",
             "-e", "frame.time_epoch", "-e", "http.request", "-e", "http.response"],
            capture_output=True, text=True, timeout=300, check=False,
        ).stdout  # fmt: skip
    pending: dict[str, list[float]] = {}
    for line in fields.splitlines():
        stream, at, request, response = ([*line.split("\t"), "", "", "", ""])[:4]
        if request:
            pending.setdefault(stream, []).append(float(at))
        elif response and pending.get(stream):
            into.append((float(at) - pending[stream].pop(0)) * 1000.0)


def truth(port: int) -> list[float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/__truth", timeout=10) as r:
        return list(json.loads(r.read()))


def ping_plan(port: int, rate: float, seconds: float, slots: int) -> Plan:
    """GET /api/ping at a constant rate on the loopback port: every benchmark's workload."""
    return Plan(
        name="bench",
        scenarios={
            "s": LoadScenario.model_validate(
                {"rate": rate, "duration": f"{seconds}s", "pre_allocated": slots,
                 "max_concurrency": slots, "graceful_stop": "5s",
                 "requests": [{"name": "ping", "path": "/api/ping"}]}
            )
        },
        target={"base_url": f"http://127.0.0.1:{port}", "timeout_s": 30},
        max_requests=100_000_000,
    )  # fmt: skip


def gonogo(
    port: int, rate: float, seconds: float, slots: int, progress: Any = None
) -> dict[str, Any]:
    plan = ping_plan(port, rate, seconds, slots)
    with tempfile.TemporaryDirectory() as tmp:
        engine = Engine(workers=1, say=lambda line: None, progress=progress)
        result = engine.run(plan, Path(tmp) / "run")
    m = result.summary["metrics"]
    locust: dict[str, Any] = next(iter(result.summary["locust"].values()), {})
    return {
        "sent": m["http_reqs"]["all"]["count"],
        "rate": m["http_reqs"]["all"]["count"] / seconds,
        "p95": m["http_req_duration"]["all"]["p95"],
        "p99": m["http_req_duration"]["all"]["p99"],
        "service_p95": m["http_req_service"]["all"]["p95"],
        "dropped": m.get("dropped_iterations", {}).get("all", {}).get("count", 0),
        "start_delay_p95": m["iteration_start_delay"]["all"]["p95"],
        "locust_p95": locust.get("p95"),
    }


LOCUSTFILE = """
from locust import FastHttpUser, constant_throughput, task

class Ping(FastHttpUser):
    wait_time = constant_throughput({per_user})

    @task
    def ping(self):
        self.client.get("/api/ping")
"""


def plain_locust(port: int, rate: float, seconds: float, users: int) -> dict[str, Any]:
    """Locust as people use it: closed-model users, each pacing itself to rate/users."""
    with tempfile.TemporaryDirectory() as tmp:
        locustfile = Path(tmp) / "locustfile.py"
        locustfile.write_text(textwrap.dedent(LOCUSTFILE.format(per_user=rate / users)))
        subprocess.run(
            [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u",
             str(users), "-r", str(users), "-t", f"{seconds}s", "--host",
             f"http://127.0.0.1:{port}", "--csv", f"{tmp}/out", "--only-summary",
             "--loglevel", "ERROR"],
            capture_output=True, timeout=seconds + 60, check=False,
        )  # fmt: skip
        with open(f"{tmp}/out_stats.csv", newline="") as fh:
            row = next(r for r in csv.DictReader(fh) if r["Name"] == "Aggregated")
    return {
        "sent": int(row["Request Count"]),
        "rate": int(row["Request Count"]) / seconds,
        "p95": float(row["95%"]),
        "p99": float(row["99%"]),
    }


def wrk(port: int, seconds: int = 5) -> float | None:
    if shutil.which("wrk") is None:
        return None
    done = subprocess.run(
        ["wrk", "-t1", "-c64", f"-d{seconds}s", f"http://127.0.0.1:{port}/api/ping"],
        capture_output=True, text=True, timeout=seconds + 30, preexec_fn=lambda: pin(0),
    )  # fmt: skip
    for line in done.stdout.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    return None


def med(values: list[float]) -> float:
    return statistics.median(values)


def accuracy(runs: int, seconds: float) -> None:
    rows: list[dict[str, float]] = []
    for _ in range(runs):
        wire: list[float] = []
        with echo(20, 10) as port:
            with on_the_wire(port, wire):
                ours = gonogo(port, 200, seconds, 100)
            true_p95 = percentile(truth(port), 95)
        with echo(20, 10) as port:
            plain = plain_locust(port, 200, seconds, 20)
        rows.append(
            {
                "rate_err_pct": abs(ours["rate"] - 200) / 200 * 100,
                "true_p95": true_p95,
                "p95": ours["p95"],
                "service_p95": ours["service_p95"],
                "p95_err_ms": ours["p95"] - true_p95,
                "locust_p95": float(ours["locust_p95"] or 0),
                "plain_rate": plain["rate"],
                "plain_p95": plain["p95"],
                "wire_p95": percentile(wire, 95) if wire else float("nan"),
                "wire_n": float(len(wire)),
            }
        )
    m = {k: med([r[k] for r in rows]) for k in rows[0]}
    print(f"1. accuracy: 200/s for {seconds:g} s against 20 ms + 0..10 ms ({runs} runs, medians)")
    print(
        f"   achieved rate off the target by {m['rate_err_pct']:.2f} % (plain Locust: "
        f"{m['plain_rate']:.1f}/s)"
    )
    err_pct = m["p95_err_ms"] / m["true_p95"] * 100
    print(
        f"   server's true p95 (its handler's own timing) {m['true_p95']:.2f} ms; gonogo p95 "
        f"from scheduled start {m['p95']:.2f} ms ({m['p95_err_ms']:+.2f} ms, {err_pct:+.1f} %): "
        f"{m['p95'] - m['service_p95']:.2f} ms of start lateness, "
        f"{m['service_p95'] - m['true_p95']:.2f} ms outside the handler (HTTP, loopback)"
    )
    if m["wire_n"]:
        gap = m["p95"] - m["wire_p95"]
        print(
            f"   on the wire (tshark, {m['wire_n']:.0f} requests): p95 {m['wire_p95']:.2f} ms; "
            f"gonogo from scheduled start {gap:+.2f} ms ({gap / m['wire_p95'] * 100:+.1f} %), "
            f"from send {m['service_p95'] - m['wire_p95']:+.2f} ms"
        )
    print(
        f"   Locust's own p95 of the same requests {m['locust_p95']:.0f} ms; plain Locust run "
        f"p95 {m['plain_p95']:.0f} ms"
    )


def progress_ab(runs: int, seconds: float) -> None:
    """The live line on and off, interleaved (on, off, on, off, ...), same server: does
    showing progress change what is measured? Progress on is a terminal's (rewritten every
    second), written to /dev/null."""
    from gonogo.load.engine import Progress

    figures: dict[str, list[dict[str, Any]]] = {"on": [], "off": []}
    with open(os.devnull, "w") as sink, echo(20, 10) as port:
        for _ in range(runs):
            for mode in ("on", "off"):
                shown = Progress(sink.write, tty=True) if mode == "on" else None
                figures[mode].append(gonogo(port, 200, seconds, 100, shown))
    print(f"4. progress on/off: 200/s for {seconds:g} s, interleaved, {runs} runs each (medians)")
    labels = {
        "p95": "p95 from scheduled start",
        "service_p95": "p95 from send",
        "start_delay_p95": "start delay p95",
        "rate": "achieved rate",
    }
    for key, label in labels.items():
        on = med([f[key] for f in figures["on"]])
        off = med([f[key] for f in figures["off"]])
        spread = max(f[key] for f in figures["off"]) - min(f[key] for f in figures["off"])
        print(
            f"   {label}: on {on:.2f}, off {off:.2f} (difference {on - off:+.2f}; "
            f"run-to-run range with it off {spread:.2f})"
        )


def stall(runs: int) -> None:
    rows = []
    args = ("--stall-at", "3", "--stall-ms", "2000")
    for _ in range(runs):
        with echo(10, 0, *args) as port:
            ours = gonogo(port, 100, 8, 50)
        with echo(10, 0, *args) as port:
            plain = plain_locust(port, 100, 8, 50)
        rows.append(
            {"dropped": ours["dropped"], "sent": ours["sent"], "p99": ours["p99"],
             "start_delay_p95": ours["start_delay_p95"], "plain_sent": plain["sent"],
             "plain_p99": plain["p99"]}
        )  # fmt: skip
    m = {k: med([float(r[k]) for r in rows]) for k in rows[0]}
    print(f"2. stall: 100/s for 8 s, 50 slots, the server frozen 2 s at t = 3 s ({runs} runs)")
    print(
        f"   dropped iterations {m['dropped']:.0f} (expected ~150: 1.5 s of arrivals once "
        f"50 slots are held); sent {m['sent']:.0f} of 800; p99 from scheduled start "
        f"{m['p99']:.0f} ms; start delay p95 {m['start_delay_p95']:.2f} ms"
    )
    print(
        f"   plain Locust (50 closed users at 2/s each): sent {m['plain_sent']:.0f}, "
        f"p99 {m['plain_p99']:.0f} ms"
    )


def capacity(runs: int, rates: list[float]) -> None:
    best: list[float] = []
    peers: list[float] = []
    for _ in range(runs):
        top = 0.0
        with echo(1) as port:
            for rate in rates:
                ours = gonogo(port, rate, 5, 2000)
                within = abs(ours["rate"] - rate) / rate <= 0.01
                if not within or ours["start_delay_p95"] > 2.0:
                    break
                top = rate
            peer = wrk(port)
        best.append(top)
        if peer is not None:
            peers.append(peer)
    print(f"3. capacity: one worker process, 1 core, server answering in 1 ms ({runs} runs)")
    line = f"   highest rate kept within 1 % and p95 start delay < 2 ms: {med(best):.0f}/s"
    if peers:
        ratio = med(best) / med(peers)
        line += f"; wrk (1 thread, 64 connections) {med(peers):.0f}/s; ratio {ratio:.2f}"
    else:
        line += "; wrk not installed (apt-get install wrk) for the ratio"
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="shorter runs, fewer rates")
    parser.add_argument("--only", choices=["accuracy", "stall", "capacity", "progress"])
    args = parser.parse_args()
    pin(0)
    print(f"cores: {os.cpu_count()} (generator pinned to core 0, server to core 1: {TWO_CORES})")
    if not args.only or args.only == "accuracy":
        accuracy(args.runs, 5 if args.quick else 10)
    if not args.only or args.only == "stall":
        stall(args.runs)
    if not args.only or args.only == "progress":
        progress_ab(max(args.runs, 3), 5 if args.quick else 10)
    if not args.only or args.only == "capacity":
        capacity(args.runs, [250, 500, 1000] if args.quick else [250, 500, 1000, 1500, 2000, 3000])


if __name__ == "__main__":
    main()
