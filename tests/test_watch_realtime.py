"""The watch through Prometheus, in real time: the CLI against the local environment.

Its own module: it takes the machine alone (a real-time run measures its neighbours), and a
module holding the shared `stack` fixture would wait on itself forever.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import pytest

from gonogo.watch.run import EXIT_ROLLBACK
from tests.packs import machine


@pytest.mark.stack
def test_the_cli_watches_through_prometheus_in_real_time(tmp_path: Path) -> None:
    if shutil.which("prometheus") is None:
        pytest.skip("no prometheus on PATH (apt-get install prometheus): PromQL mode not run here")
    env_file = tmp_path / "environments.toml"
    env_file.write_text(
        "[environments.local]\nsandbox = true\nproduction = false\ntimeout_s = 5\n"
        "[environments.local.watch]\ninterval_s = 1\nfor_s = 2\n"
        "[environments.local.watch.triggers.api-p95]\nthreshold = 0.1\n"
    )
    # Real time, with Prometheus scraping: it runs alone, so no other self-test's stack
    # starves the gateway, the scrapes or the traffic it judges.
    with machine(exclusive=True):
        run = subprocess.Popen(
            [sys.executable, "-m", "gonogo.cli", "watch", "--env", "local", "--env-file",
             str(env_file), "--for", "40s", "--fault", "latency=/api/ping:300",
             f"--evidence-dir={tmp_path / 'ev'}"],
            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        stop = threading.Event()
        seen: list[str] = []
        try:
            assert run.stdout is not None
            url = None
            while url is None:  # "gonogo watch target: URL (...)", once the stack is up
                line = run.stdout.readline()
                if not line:
                    break
                seen.append(line)
                if "target: " in line:
                    url = line.split("target: ")[1].split()[0]
            assert url is not None, f"the watch never named its target: {''.join(seen)[-3000:]}"

            def traffic() -> None:
                while not stop.is_set():
                    with contextlib.suppress(httpx.HTTPError):
                        httpx.get(f"{url}/api/ping", timeout=2)  # a 401 is still timed
                    stop.wait(0.05)

            threading.Thread(target=traffic, daemon=True).start()
            out, _ = run.communicate(timeout=90)
            out = "".join(seen) + out
        finally:
            stop.set()
            if run.poll() is None:
                run.kill()
    assert run.returncode == EXIT_ROLLBACK, out
    assert "from PromQL at http://127.0.0.1:" in out and "ROLLBACK: api-p95 fired" in out
    root = next((tmp_path / "ev").glob("local/*"))
    series = json.loads((root / "watch" / "prometheus" / "api-p95.json").read_text())
    assert series["expr"].startswith("histogram_quantile(0.95") and series["result"]
    assert (root / "bundle.json").is_file() and (root / "sandbox" / "local" / "app.log").is_file()
