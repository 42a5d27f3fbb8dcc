"""Measure each acceptance pack against the local environment.

    python benchmarks/packs.py [--runs 3]

For smoke, dataops and security, per run and as medians: the whole command
(`pytest tests_<pack> -m <pack> --env=local`, stack start included), the pack
itself once the stack is up (from the run's steps.log: stack up -> run
finished), and beside them, in the same run, the peer: the same command with
--collect-only (no stack, no checks), the fixed cost of starting pytest.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKS = ("smoke", "dataops", "security")


def _stamp(line: str) -> dt.datetime:
    return dt.datetime.fromisoformat(line[1:25].replace("Z", "+00:00"))


def _command(pack: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "pytest", f"tests_{pack}", "-m", pack, "--env", "local",
        "-p", "no:cacheprovider", "-q", *extra,
    ]  # fmt: skip


def run_pack(pack: str) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        command = _command(pack, f"--evidence-dir={tmp}")
        t0 = time.monotonic()
        done = subprocess.run(
            command,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "GONOGO_REPORT_PNG": "0"},
        )
        wall = time.monotonic() - t0
        if done.returncode != 0:
            raise SystemExit(f"{pack} pack failed:\n{done.stdout[-2000:]}")
        steps = next(Path(tmp).glob("local/*/steps.log")).read_text().splitlines()
        up = next(line for line in steps if "sandbox local up" in line or "pids: " in line)
        end = next(line for line in steps if "run finished" in line)
        return wall, (_stamp(end) - _stamp(up)).total_seconds()


def collect_only(pack: str) -> float:
    t0 = time.monotonic()
    subprocess.run(
        _command(pack, "--collect-only"),
        cwd=REPO,
        capture_output=True,
        timeout=300,
        check=False,
    )
    return time.monotonic() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    for pack in PACKS:
        walls, packs, peers = [], [], []
        for n in range(args.runs):
            wall, body = run_pack(pack)
            peer = collect_only(pack)
            walls.append(wall)
            packs.append(body)
            peers.append(peer)
            print(
                f"{pack:<9} run {n + 1}: command {wall:5.2f} s, pack {body:5.2f} s, "
                f"peer --collect-only {peer:5.2f} s",
                flush=True,
            )
        median = statistics.median
        print(
            f"{pack:<9} median: command {median(walls):.2f} s, pack once up {median(packs):.2f} s, "
            f"peer {median(peers):.2f} s (command/peer {median(walls) / median(peers):.2f}x)"
        )


if __name__ == "__main__":
    main()
