"""Measure the local environment's start-up and the smoke pack's wall time.

    python benchmarks/sandbox_and_smoke.py [--runs 5]

Prints, per run and as medians:
- sandbox start-up to /readyz (target < 10 s), beside its floor: PostgreSQL
  alone (initdb + start), the slowest single component, measured in the same run;
- `pytest -m smoke --env=local` wall time once the stack is up (target <= 15 s),
  from the run's own bundle (steps.log: stack up -> run finished), with and
  without `-n 2`, beside the same command with --collect-only (no stack, no
  checks): the fixed cost of starting pytest and collecting.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def postgres_alone() -> float:
    from gonogo.sandbox import servers

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        started = servers.start_postgres(Path(tmp) / "logs", Path(tmp) / "pg")
        took = time.monotonic() - t0
        started.child.stop()
    return took


def stack_startup() -> float:
    from gonogo.sandbox.stack import Stack

    t0 = time.monotonic()
    with Stack():
        return time.monotonic() - t0


def _stamp(line: str) -> dt.datetime:
    return dt.datetime.fromisoformat(line[1:25].replace("Z", "+00:00"))


# The README's main job, as run by a person.
SMOKE = [
    sys.executable,
    "-m",
    "pytest",
    "-m",
    "smoke",
    "--env",
    "local",
    "-q",
    "-p",
    "no:cacheprovider",
]


def _run(*extra: str) -> tuple[float, subprocess.CompletedProcess[str]]:
    t0 = time.monotonic()
    done = subprocess.run(
        [*SMOKE, *extra], cwd=REPO, capture_output=True, text=True, timeout=600, check=False
    )
    return time.monotonic() - t0, done


def smoke(*extra: str) -> tuple[float, float]:
    """(whole command wall time, pack time once the stack is up) for one smoke run."""
    with tempfile.TemporaryDirectory() as tmp:
        wall, done = _run(f"--evidence-dir={tmp}", *extra)
        if done.returncode != 0:
            raise SystemExit(f"smoke run failed ({done.returncode}):\n{done.stdout[-2000:]}")
        steps = next(Path(tmp).glob("local/*/steps.log")).read_text().splitlines()
        up = next(line for line in steps if re.search(r"sandbox local up in", line))
        end = next(line for line in steps if "run finished" in line)
        return wall, (_stamp(end) - _stamp(up)).total_seconds()


def collect_only() -> float:
    """The peer: the same command collecting only (no stack, no checks)."""
    return _run("--co")[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    rows: dict[str, list[float]] = {
        k: []
        for k in (
            "startup_s",
            "postgres_alone_s",
            "smoke_wall_s",
            "smoke_pack_s",
            "smoke_n2_wall_s",
            "smoke_n2_pack_s",
            "collect_only_s",
        )
    }
    for i in range(runs):
        rows["startup_s"].append(stack_startup())
        rows["postgres_alone_s"].append(postgres_alone())
        wall, pack = smoke()
        rows["smoke_wall_s"].append(wall)
        rows["smoke_pack_s"].append(pack)
        wall, pack = smoke("-n", "2")
        rows["smoke_n2_wall_s"].append(wall)
        rows["smoke_n2_pack_s"].append(pack)
        rows["collect_only_s"].append(collect_only())
        print(f"run {i + 1}: " + ", ".join(f"{k}={v[-1]:.2f}" for k, v in rows.items()), flush=True)
    med = {k: statistics.median(v) for k, v in rows.items()}
    print(f"\nmedians over {runs} runs on {sys.platform}, python {sys.version.split()[0]}:")
    for k, v in med.items():
        print(f"  {k:<18} {v:6.2f}")
    print(f"  startup / postgres alone      {med['startup_s'] / med['postgres_alone_s']:.2f}x")
    print(f"  smoke pack / collect-only     {med['smoke_pack_s'] / med['collect_only_s']:.2f}x")
    print(
        f"targets: startup < 10 s: {med['startup_s'] < 10}; smoke pack <= 15 s: "
        f"{med['smoke_pack_s'] <= 15} (-n 2: {med['smoke_n2_pack_s'] <= 15})"
    )


if __name__ == "__main__":
    main()
