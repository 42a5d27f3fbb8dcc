"""The whole shipped cutover day against the local env, step by step, to the sign-off.

    python benchmarks/cutover_day.py [--runs 1] [--fault NAME@STEP ...]

Plans the seed's day (gonogo's own cutover.toml) for `local` with `local-blue` as blue,
then runs every step in order with `gonogo cutover run`, the manual ones with a note, and
prints each step's outcome and wall time, then the day's total and the median over --runs
days. This is what the issue's "every step runs against the local env and the day reaches
a sign-off" measures; the project's tests run a short day (tests/test_cutover.py), since the
whole one takes minutes of full-pack runs. Beside the total, the peer: the same day's checks
as one plain `pytest -m 'smoke or slo or security or dataops' --env local` run.

`--fault T-10=weights-stuck` rehearses a step with a fault; the day then stops being
green at that step, and the later steps run --force (recorded).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
T0 = "2026-12-01T02:00-07:00"
ENVS = (
    "[environments.local]\nsandbox = true\nproduction = false\ntimeout_s = 5\n"
    "[environments.local.baseline]\nconsumer_lag = 4\n"
    "[environments.local.dataops]\ndrain_within_s = 5\n"
    '[environments.local.load]\nduration = "4s"\n'
    '[environments.local.cutover]\nwatch_for = "2m"\n'
    '[environments.local-blue]\nsandbox = true\nslot = "blue"\nproduction = false\n'
)


def gonogo(folder: Path, *args: str) -> tuple[int, str, float]:
    t0 = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "gonogo.cli", "cutover", *args, "--reports", str(folder / "r"),
         "--env-file", str(folder / "envs.toml")],
        cwd=REPO, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    lines = done.stdout.strip().splitlines() or done.stderr.strip().splitlines() or [""]
    # A verdict step's decision line, else the last line (a step's outcome).
    last = next((line for line in lines if " the day is " in line), lines[-1])
    return done.returncode, last, time.monotonic() - t0


def one_day(faults: dict[str, str]) -> float:
    from gonogo.day import cutover

    with tempfile.TemporaryDirectory(prefix="gonogo-day-") as tmp:
        folder = Path(tmp)
        (folder / "envs.toml").write_text(ENVS)
        code, said, _ = gonogo(folder, "plan", "--env", "local", "--blue", "local-blue", "--t0", T0)
        if code != 0:
            raise SystemExit(f"plan failed: {said}")
        timeline, _ = cutover.load_timeline(None)
        total = 0.0
        forced = False
        for step in timeline.steps:
            args = ["run", step.at]
            if step.kind == "manual":
                args += ["--note", f"done by hand at {step.at} (benchmark)"]
            for role in step.roles:
                args += ["--present", f"{role}=on call ({role})"]
            if step.at in faults:
                args += ["--fault", faults[step.at]]
            if forced:
                args.append("--force")
            code, said, took = gonogo(folder, *args)
            total += took
            print(f"  {step.at:>5}  {took:6.1f} s  rc {code}  {said[:110]}", flush=True)
            forced = forced or code != 0
        _stop_watch(folder)
        return total


def _stop_watch(folder: Path) -> None:
    """The sign-off started the heightened watch (a local stack of its own): stop it, as the
    IC would at the handoff, and say how it ended."""
    import json
    import os
    import signal

    from gonogo.day import watching

    for record in (folder / "r" / "cutover").glob("*/timeline.json"):
        for run in json.loads(record.read_text())["runs"]:
            pid = (run.get("watch") or {}).get("pid")
            if pid and watching.alive(pid):
                os.kill(pid, signal.SIGINT)
                deadline = time.monotonic() + 30
                while watching.alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.2)
                print(f"  heightened watch (PID {pid}) stopped: {run['watch']['log']}")


def peer() -> float:
    import json

    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="gonogo-day-peer-") as tmp:
        subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-m",
             "smoke or slo or security or dataops", "--env", "local", f"--evidence-dir={tmp}"],
            cwd=REPO, capture_output=True, text=True, timeout=1800,
        )  # fmt: skip
        took = time.monotonic() - t0
        verdicts = sorted(Path(tmp).glob("local/*/verdict.json"))
        decision = json.loads(verdicts[-1].read_text())["decision"] if verdicts else "no verdict"
        print(f"  peer's verdict: {decision}", flush=True)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--fault", action="append", default=[], metavar="STEP=NAME")
    args = parser.parse_args()
    faults = dict(f.split("=", 1) for f in args.fault)
    days, peers = [], []
    for run in range(args.runs):
        print(f"day {run + 1}/{args.runs}", flush=True)
        days.append(one_day(faults))
        peers.append(peer())
        print(f"  day {days[-1]:.1f} s; peer (the four packs, one run) {peers[-1]:.1f} s")
    print(
        f"median over {args.runs}: day {statistics.median(days):.1f} s, "
        f"four packs in one run {statistics.median(peers):.1f} s"
    )


if __name__ == "__main__":
    main()
