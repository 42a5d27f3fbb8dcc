"""Make docs/report-go.png and docs/report-no-go.png: the HTML report of a GO and a NO-GO run.

    python docs/report_screenshots.py

Runs the four packs against the healthy local environment (GO), then the smoke
pack with the healthz-fail fault (NO-GO), and keeps each run's report.png, which gonogo renders in
headless Chromium at the end of every run. Needs the sandbox extra and Debian's
chromium; the pictures in docs/report.md come from here, never by hand.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = {
    "report-go.png": ["-m", "smoke or slo or security or dataops", "-n", "2"],
    "report-no-go.png": ["-m", "smoke", "--fault", "healthz-fail"],
}


def main() -> int:
    environ = {**os.environ, "GONOGO_REPORT_PNG": "1"}
    for name, args in RUNS.items():
        with tempfile.TemporaryDirectory(prefix="gonogo-docs-") as folder:
            done = subprocess.run(
                [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--env", "local",
                 f"--evidence-dir={folder}", *args],
                cwd=ROOT, env=environ, capture_output=True, text=True, timeout=600,
            )  # fmt: skip
            pictures = sorted(Path(folder).glob("local/*/report.png"))
            if not pictures:
                print(f"{name}: no report.png (exit {done.returncode}):\n{done.stdout[-1500:]}")
                return 1
            shutil.copy(pictures[-1], ROOT / "docs" / name)
            print(f"docs/{name} (the run exited {done.returncode})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
