"""Load beyond one machine, shown on this one (#31, 8): four network namespaces made by the
test, joined by a bridge, as four hosts. The Locust master (gonogo's engine, remote workers
only) runs in one, `gonogo load-worker` in two others, and the target in the fourth, which
counts every request by the address it came from: the two workers' own traffic.

Skipped, saying why, where `ip netns add` is refused (not root, no iproute2, a sandbox).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.packs import REPO

PORT = 8080
MASTER_PORT = 5557

TARGET = """
import json, signal, sys, threading
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

seen = Counter()
lock = threading.Lock()

class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        with lock:
            first = self.client_address[0] not in seen
            seen[self.client_address[0]] += 1
            if first:  # who is sending load, as soon as they are
                with open(sys.argv[3] + ".first", "a") as handle:
                    handle.write(self.client_address[0] + "\\n")
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass

server = ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Handler)

def stop(*_):
    with open(sys.argv[3], "w") as handle:
        json.dump(dict(seen), handle)
    raise SystemExit(0)

signal.signal(signal.SIGTERM, stop)
print("serving", flush=True)
server.serve_forever()
"""

MASTER = """
import json, sys
from gonogo.load.engine import Engine, LoadError
from gonogo.load.plan import Plan
from gonogo.config.load import LoadScenario
from gonogo.load.threshold import thresholds_of

base, master, out, rate, duration = sys.argv[1:6]
plan = Plan(
    name="hosts",
    scenarios={"gateway": LoadScenario.model_validate(
        {"rate": int(rate), "duration": duration, "pre_allocated": 20, "max_concurrency": 50,
         "requests": [{"name": "ping", "path": "/ping"}]})},
    thresholds=thresholds_of({"http_req_failed": "rate<0.01"}),
    target={"base_url": base},
)
engine = Engine(workers=0, remote_workers=2, master=master, say=print)
try:
    result = engine.run(plan, __import__("pathlib").Path(out))
except LoadError as exc:
    print("LOADERROR", exc, flush=True)
    raise SystemExit(7)
print("SUMMARY", json.dumps({k: result.summary[k] for k in ("workers", "shards", "metrics",
                                                             "elapsed_s", "complete")}))
"""


@dataclass
class Hosts:
    names: list[str]  # master, worker 1, worker 2, target
    addresses: list[str]

    def run(self, host: int, *argv: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["ip", "netns", "exec", self.names[host], *argv],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONPATH": str(REPO / "src")},
        )  # fmt: skip


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True, timeout=30)


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    if shutil.which("ip") is None:
        pytest.skip("no `ip` (iproute2): the hosts are network namespaces")
    tag = os.getpid() % 100_000
    bridge = f"gb{tag}"
    names = [f"gonogo-{tag}-{i}" for i in range(4)]
    subnet = f"10.{200 + tag % 50}.{tag % 250}"
    addresses = [f"{subnet}.{i + 1}" for i in range(4)]
    made: list[str] = []
    try:
        try:
            _ip("netns", "add", names[0])
        except subprocess.CalledProcessError as exc:
            pytest.skip(f"`ip netns add` is refused here ({exc.stderr.decode().strip()})")
        made.append(names[0])
        _ip("link", "add", bridge, "type", "bridge")
        _ip("link", "set", bridge, "up")
        for i, name in enumerate(names):
            if name not in made:
                _ip("netns", "add", name)
                made.append(name)
            _ip("link", "add", f"{bridge}v{i}", "type", "veth", "peer", "name", "eth0",
                "netns", name)  # fmt: skip
            _ip("link", "set", f"{bridge}v{i}", "master", bridge, "up")
            _ip("-n", name, "addr", "add", f"{addresses[i]}/24", "dev", "eth0")
            _ip("-n", name, "link", "set", "eth0", "up")
            _ip("-n", name, "link", "set", "lo", "up")
        yield Hosts(names, addresses)
    finally:
        for name in made:
            subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", bridge], capture_output=True, timeout=30)


def _started(process: subprocess.Popen[str], says: str) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert says in line, line


def _stop(*processes: subprocess.Popen[str]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _plan_across_hosts(
    hosts: Hosts, tmp_path: Path, rate: int, duration: str, kill_after: float | None = None
) -> tuple[str, dict[str, int]]:
    seen = tmp_path / "seen.json"
    target = hosts.run(3, sys.executable, "-c", TARGET, hosts.addresses[3], str(PORT), str(seen))
    workers: list[subprocess.Popen[str]] = []
    try:
        _started(target, "serving")
        master = hosts.run(
            0, sys.executable, "-c", MASTER, f"http://{hosts.addresses[3]}:{PORT}",
            f"{hosts.addresses[0]}:{MASTER_PORT}", str(tmp_path / "run"), str(rate), duration,
        )  # fmt: skip
        workers = [
            hosts.run(
                i,
                sys.executable,
                "-m",
                "gonogo.cli",
                "load-worker",
                "--master",
                f"{hosts.addresses[0]}:{MASTER_PORT}",
            )
            for i in (1, 2)
        ]
        if kill_after is not None:
            # Mid-plan: once the doomed worker's own requests reach the target (a worker that
            # never connected is another failure, said otherwise).
            first = Path(str(seen) + ".first")
            deadline = time.monotonic() + 90
            while hosts.addresses[2] not in (first.read_text() if first.is_file() else ""):
                assert time.monotonic() < deadline and master.poll() is None, "no load started"
                time.sleep(0.1)
            time.sleep(kill_after)
            workers[1].kill()
        out, _ = master.communicate(timeout=180)
    finally:
        _stop(*workers, target)
    return out, json.loads(seen.read_text()) if seen.is_file() else {}


@pytest.mark.stack
def test_two_workers_on_two_hosts_make_one_plan(hosts: Hosts, tmp_path: Path) -> None:
    out, seen = _plan_across_hosts(hosts, tmp_path, rate=40, duration="4s")
    line = next((x for x in out.splitlines() if x.startswith("SUMMARY ")), None)
    assert line is not None, out[-3000:]
    summary = json.loads(line.removeprefix("SUMMARY "))
    assert summary["workers"] == 2 and summary["complete"]
    # Each worker's own traffic, as the target saw it: from the two worker hosts, none else.
    assert set(seen) == {hosts.addresses[1], hosts.addresses[2]}, seen
    shards = summary["shards"]
    sent = [s["scheduled"] - s["dropped"] for s in shards]
    assert sorted(sent) == sorted(seen.values()), (sent, seen)
    # The merged histogram holds the union of the workers' samples: every request once.
    reqs = summary["metrics"]["http_reqs"]["all"]
    durations = summary["metrics"]["http_req_duration"]["all"]
    assert reqs["count"] == durations["count"] == sum(seen.values()) == 160
    # The achieved rate is the sum of the workers' rates.
    plan_s = 4.0
    assert reqs["rate_per_s"] == pytest.approx(sum(n / plan_s for n in seen.values()), abs=1e-3)


@pytest.mark.stack
def test_a_worker_that_dies_mid_plan_makes_it_incomplete(hosts: Hosts, tmp_path: Path) -> None:
    out, _ = _plan_across_hosts(hosts, tmp_path, rate=40, duration="6s", kill_after=2.0)
    assert "SUMMARY" not in out, out[-3000:]
    assert "LOADERROR load plan 'hosts': worker shard(s) " in out, out[-3000:]
    assert "never finished the schedule" in out and "is not judged" in out
