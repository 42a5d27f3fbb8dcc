"""Measure what gonogo's plugin costs every pytest run of the venv it is installed in.

    python benchmarks/import_time.py [--runs 9]

pytest loads the plugin (its `pytest11` entry point) into every run, the team's own unit tests
included, so `import gonogo.plugin` is paid by runs that never ask for gonogo. Prints, per run
and as medians, in fresh interpreters (interleaved, so drift hits both alike):
- `import gonogo.plugin`, beyond a bare interpreter;
- its peer measured in the same run: `import pytest_html.plugin`, another plugin of the venv;
- `import pytest` alone, the floor every run pays anyway;
and the slowest imports under gonogo.plugin, from `-X importtime` (cumulative, microseconds).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def once(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
    return time.perf_counter() - started


def slowest(module: str, count: int) -> list[tuple[int, str]]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {module}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    rows = []
    for line in done.stderr.splitlines():
        parts = [p.strip() for p in line.removeprefix("import time:").split("|")]
        if len(parts) == 3 and parts[1].isdigit():
            rows.append((int(parts[1]), parts[2]))
    return sorted(rows, reverse=True)[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    cases = {
        "bare": "pass",
        "pytest": "import pytest",
        "pytest_html.plugin": "import pytest_html.plugin",
        "gonogo.plugin": "import gonogo.plugin",
    }
    once("import gonogo.plugin, pytest_html.plugin")  # warm the file cache
    times: dict[str, list[float]] = {name: [] for name in cases}
    for run in range(args.runs):
        for name, code in cases.items():
            times[name].append(once(code))
        bare = times["bare"][-1]
        print(
            f"run {run + 1}: "
            + ", ".join(
                f"{n} {(t[-1] - bare) * 1000:.0f} ms" for n, t in times.items() if n != "bare"
            )
        )
    bare = statistics.median(times["bare"])
    print(f"median of {args.runs} (beyond a bare interpreter, {bare * 1000:.0f} ms):")
    for name, values in times.items():
        if name != "bare":
            print(f"  import {name}: {(statistics.median(values) - bare) * 1000:.0f} ms")
    print("slowest under gonogo.plugin (cumulative):")
    for micros, module in slowest("gonogo.plugin", 12):
        print(f"  {micros / 1000:7.1f} ms  {module}")


if __name__ == "__main__":
    main()
