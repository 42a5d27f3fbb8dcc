"""Does a busy runner still turn into NO-GO? The canary on the local env, beside busy loops.

    python benchmarks/load_saturation.py [--runs 10] [--peer-runs N] [--hogs-per-core 1] [--packs]

Two series, --runs each, on this machine:

1. busy: busy-loop processes (--hogs-per-core per core) run beside a healthy local env
   while the canary plan (`-m slo -k canary`) runs. Expected: GO, or INCOMPLETE with "load generator
   saturated", never NO-GO.
2. the peer, slow and idle: no busy loop, the service slowed (`--fault latency=/api/ping:300`).
   Expected: NO-GO every time (a slow service is still caught).

For each run: the verdict, the saturated seconds the canary's summary marked, and the worst
start delay p95 of a second; then the counts per verdict and the median saturated seconds.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def canary(extra: list[str], packs: bool) -> tuple[str, int, float]:
    """One run; `packs`: the four packs at -n 2, as the issue's busy CI runner ran them."""
    selection = (
        ["src/gonogo/packs", "-n", "2", "-m",
         "smoke or slo or security or dataops"]
        if packs
        else ["src/gonogo/packs/slo", "-m", "slo", "-k", "canary"]
    )  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="gonogo-sat-") as tmp:
        subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *selection,
             "--env", "local", f"--evidence-dir={tmp}", *extra],
            cwd=REPO, capture_output=True, text=True, timeout=900,
        )  # fmt: skip
        # The canary's own items decide here: the run's verdict is INCOMPLETE anyway, since
        # -k canary leaves the other gates unrun.
        bundles = list(Path(tmp).glob("local/*/bundle.json"))
        tests = json.loads(bundles[0].read_text())["tests"] if bundles else []
        outcomes = {t["outcome"] for t in tests if "canary" in t["nodeid"]}
        saturated = any("load generator saturated" in (t.get("message") or "") for t in tests)
        if "failed" in outcomes:
            decision = "NO-GO (a threshold failed)"
        elif saturated:
            decision = "INCOMPLETE (saturated)"
        elif outcomes == {"passed"}:
            decision = "GO"
        else:
            decision = f"other: {sorted(outcomes)}"
        seconds: list[dict[str, float]] = []
        worst = 0.0
        for path in Path(tmp).glob("local/*/captures/load/*/summary.json"):
            summary = json.loads(path.read_text())
            seconds += summary.get("saturation", {}).get("seconds", [])
            delays = [
                r["p95"] for r in summary["timeline"] if r["metric"] == "iteration_start_delay"
            ]
            worst = max([worst, *delays])
        return decision, len(seconds), worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--hogs-per-core", type=int, default=1, help="busy loops per core")
    parser.add_argument("--peer-runs", type=int, help="runs of the slow peer (default --runs)")
    parser.add_argument(
        "--packs", action="store_true", help="run the four packs at -n 2, not the canary alone"
    )
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    for label, extra, busy in (
        ("busy runner, healthy service", [], True),
        (
            "idle runner, slow service (latency=/api/ping:300)",
            ["--fault", "latency=/api/ping:300"],
            False,
        ),
    ):
        runs = args.runs if busy or args.peer_runs is None else args.peer_runs
        print(f"{label}: {runs} runs", flush=True)
        loops = []
        if busy:
            loops = [
                subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(cores * args.hogs_per_core)
            ]
        try:
            results = []
            for run in range(runs):
                decision, saturated, worst = canary(extra, args.packs)
                results.append((decision, saturated))
                print(f"  run {run + 1}: {decision}; saturated seconds {saturated}, "
                      f"worst second's start delay p95 {worst:.1f} ms", flush=True)  # fmt: skip
        finally:
            for loop in loops:
                loop.kill()
                loop.wait()
        counts = collections.Counter(d for d, _ in results)
        median = statistics.median(s for _, s in results)
        print(f"  verdicts: {dict(counts)}; median saturated seconds {median:g}", flush=True)


if __name__ == "__main__":
    main()
