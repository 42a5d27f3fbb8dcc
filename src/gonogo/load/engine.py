"""Run a plan: start the Locust children, bound them, read what they measured.

This is the pytest-side half of the load engine (gonogo.load.child is the
other). It never imports Locust: it writes the plan as JSON, starts one
master and N worker processes on loopback, hands secrets to them through
their environment (never a file or an argument), waits at most the plan's
bound, and stops every child it started, on time-out and on Ctrl-C alike.

    Engine.run(plan) -> LoadResult (summary.json read back, judged thresholds)
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gonogo.errors import GonogoError
from gonogo.load.plan import SCHEMA, Plan
from gonogo.load.stats import Store
from gonogo.load.threshold import Judgement, Threshold, judge, saturation
from gonogo.processes import die_with_parent, free_port
from gonogo.redact import REDACTOR

if TYPE_CHECKING:
    from gonogo.load.remotewrite import RemoteWrite

# The master's view of the run so far, rewritten once a second (gonogo.load.child).
PROGRESS_FILE = "progress.json"

# Names of the variables that carry secrets to the children (never their values).
TOKEN_VARIABLE = "GONOGO_LOAD_TOKEN"  # noqa: S105
GRAPH_PASSWORD_VARIABLE = "GONOGO_LOAD_GRAPH_PASSWORD"  # noqa: S105


class LoadError(GonogoError):
    """The load run itself failed (a child died, workers never connected, no summary)."""


class GeneratorSaturated(LoadError):
    """A threshold's verdict turns on seconds in which the generator fell behind its own
    schedule: neither a pass nor a fail of the service, so the check errors (INCOMPLETE)."""


@dataclass
class LoadResult:
    plan: Plan
    folder: Path
    summary: dict[str, Any]
    store: Store

    def judge(self, threshold: Threshold) -> Judgement:
        """Counter rates are per second of the plan's schedule, as in summary.json."""
        return judge(self.store, threshold, self.plan.duration_s())

    def saturation(self, threshold: Threshold, judged: Judgement) -> str | None:
        """The saturation rule (gonogo.load.threshold) on this run's seconds."""
        scenarios = self.plan.scenarios_matching(threshold.tags)
        return saturation(threshold, judged, self.summary, scenarios, self.plan.duration_s())

    @property
    def summary_path(self) -> Path:
        return self.folder / "summary.json"


def read_summary(folder: Path) -> LoadResult:
    """A run's summary.json back into a judged result (also for `gonogo verdict` offline)."""
    path = folder / "summary.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LoadError(f"no load summary at {path}: the load run did not finish") from None
    except (OSError, ValueError) as exc:
        raise LoadError(f"{path}: not a readable load summary ({exc})") from None
    if data.get("schema") != SCHEMA:
        raise LoadError(f"{path}: schema {data.get('schema')!r}, expected {SCHEMA!r}")
    store = Store()
    store.merge(data.get("series", []))
    return LoadResult(Plan.from_json(data["plan"]), folder, data, store)


def stderr_line(line: str) -> None:
    """Where the engine's lines go when its caller names no place (benchmarks, scripts)."""
    print(line, file=sys.stderr)


class Engine:
    """Starts, bounds and stops one load run's processes."""

    def __init__(
        self,
        workers: int = 1,
        token: str | None = None,
        graph_password: str | None = None,
        say: Any = None,
        remote_workers: int = 0,
        master: str | None = None,
        progress: Progress | None = None,
        remote_write: RemoteWrite | None = None,
    ) -> None:
        """`workers` run here; `remote_workers` more are expected to connect to the master at
        `master` (HOST:PORT it binds, e.g. 0.0.0.0:5557), started with `gonogo load-worker`."""
        self.workers = workers
        self.remote_workers = remote_workers
        self.master = master
        self.token = token
        self.graph_password = graph_password
        self.say = say or stderr_line
        self.progress = progress
        # The plan's figures on the team's dashboards, pushed from here once a second.
        self.remote_write = remote_write

    def _child_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GONOGO_LOAD_")}
        env["PYTHONUNBUFFERED"] = "1"
        # glibc raises its mmap threshold each time a large block is freed, after which the
        # HDR histograms (~190 KB each, made and freed every second) come from the heap and
        # fragment it: the master's RSS grew 22-26 % over 4-10 minutes at 1,000/s. A fixed
        # threshold keeps them mmapped and returned when freed: +2 % (benchmarks/
        # load_capacity.py --only memory). The caller's own setting wins.
        env.setdefault("MALLOC_MMAP_THRESHOLD_", str(128 * 1024))
        if self.token:
            env[TOKEN_VARIABLE] = self.token
        if self.graph_password:
            env[GRAPH_PASSWORD_VARIABLE] = self.graph_password
        return env

    def run(self, plan: Plan, folder: Path) -> LoadResult:
        try:
            return self._run(plan, folder)
        finally:
            if self.remote_write is not None:
                self.remote_write.close(folder)

    def _run(self, plan: Plan, folder: Path) -> LoadResult:
        folder.mkdir(parents=True, exist_ok=True)
        plan_file = folder / "plan.json"
        plan_file.write_text(json.dumps(plan.to_json(), indent=1) + "\n", encoding="utf-8")
        bind, port = "127.0.0.1", free_port()
        if self.master:
            host, _, port_text = self.master.rpartition(":")
            bind, port = host or "0.0.0.0", int(port_text)  # noqa: S104 - the user's choice
        remote = (
            f" + {self.remote_workers} remote, expected at {bind}:{port}"
            if self.remote_workers
            else ""
        )
        self.say(
            f"gonogo load: plan '{plan.name}' -> {plan.destination()} ({plan.describe()}; "
            f"{self.workers} local worker process(es){remote}; at most {plan.bound_s():g} s and "
            f"{plan.max_requests} requests)"
        )
        children = _Children(folder, self._child_env())
        limit = plan.bound_s() + 60.0 + (60.0 if self.remote_workers else 0.0)
        try:
            master = children.start(
                ["master", "--plan", str(plan_file), "--out", str(folder), "--bind", bind,
                 "--port", str(port), "--workers", str(self.workers + self.remote_workers),
                 # k6's series each second only when they are pushed (gonogo.load.remotewrite)
                 *(["--k6-series"] if self.remote_write is not None else [])],
                "master",
            )  # fmt: skip
            for i in range(self.workers):
                children.start(
                    ["worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                    f"worker-{i}",
                )
            code = self._wait(master, folder, time.monotonic() + limit)
        finally:
            if self.progress is not None:
                self.progress.done()
            children.stop()
        return self._outcome(plan, folder, code, f"{bind}:{port}", limit)

    def _wait(self, master: subprocess.Popen[bytes], folder: Path, deadline: float) -> int | None:
        """The master's exit code, or None past the deadline; its progress shown meanwhile."""
        while True:
            try:
                return master.wait(timeout=1.0)
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline:
                    return None
                if self.progress is None and self.remote_write is None:
                    continue
                data = read_progress(folder / PROGRESS_FILE)
                if data is not None and self.progress is not None:
                    self.progress.show(data)
                if data is not None and self.remote_write is not None:
                    self.remote_write.progress(data)

    def _outcome(
        self, plan: Plan, folder: Path, code: int | None, address: str, limit: float
    ) -> LoadResult:
        """The master's exit code read as the run's result, or the one line saying why not."""
        if code is None:
            raise LoadError(
                f"load plan '{plan.name}' did not finish within {limit:g} s; "
                f"stopped it (logs in {folder})"
            )
        if code == 3:
            port = address.rpartition(":")[2]
            raise LoadError(
                f"load plan '{plan.name}': not every worker connected to the master at "
                f"{address} (see {folder / 'master.log'}; remote workers run "
                f"`gonogo load-worker --master HOST:{port}`)"
            )
        if code not in (0, 4):
            raise LoadError(
                f"load plan '{plan.name}': the Locust master exited {code} "
                f"(see {folder / 'master.log'})"
            )
        result = read_summary(folder)
        if self.remote_write is not None:
            self.remote_write.final(result.store, result.plan)
        if result.summary.get("errors"):
            raise LoadError(
                f"load plan '{plan.name}': the load generator failed: "
                f"{result.summary['errors'][0]} (see {folder / 'worker-0.log'})"
            )
        if code == 4:
            # A shard that never reported done (its worker died, or lost the master) left the
            # plan lighter than planned: judging what arrived would pass a smaller test.
            shards = result.summary.get("shards") or []
            missing = [str(i) for i, done in enumerate(shards) if done is None]
            raise LoadError(
                f"load plan '{plan.name}': worker shard(s) {', '.join(missing) or '?'} of "
                f"{len(shards)} never finished the schedule (a worker died or lost the master), "
                f"so the plan ran lighter than planned and is not judged (see {folder})"
            )
        return result


class _Children:
    """The plan's Locust processes: each with a raw log, stopped together, and each log
    copied redacted beside the summary once they are stopped."""

    def __init__(self, folder: Path, env: dict[str, str]) -> None:
        self.folder = folder
        self.env = env
        self.logs: list[tuple[Path, Any]] = []
        self.children: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        raw = self.folder / f".{log_name}.raw"
        handle = raw.open("wb")
        self.logs.append((raw, handle))
        child = subprocess.Popen(
            [sys.executable, "-m", "gonogo.load.child", *args],
            stdin=subprocess.DEVNULL,
            stdout=handle,
            stderr=subprocess.STDOUT,
            env=self.env,
            start_new_session=True,  # Ctrl-C reaches us; we stop them ourselves
            preexec_fn=die_with_parent,  # and if we are killed, they go too
        )
        self.children.append(child)
        return child

    def stop(self) -> None:
        _stop(self.children)
        for raw, handle in self.logs:
            handle.close()
            log = raw.name.removeprefix(".").removesuffix(".raw") + ".log"
            _redacted_copy(raw, self.folder / log)
            raw.unlink(missing_ok=True)


def _stop(children: list[subprocess.Popen[bytes]]) -> None:
    """TERM, then KILL, every child still running (their sessions, so their own children too)."""
    for child in children:
        if child.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    for child in children:
        try:
            child.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.pid, signal.SIGKILL)
            child.wait(timeout=5)


def _redacted_copy(raw: Path, out: Path) -> None:
    try:
        text = raw.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    out.write_text(REDACTOR.text(text), encoding="utf-8")


def read_progress(path: Path) -> dict[str, Any] | None:
    """The master's progress.json, read once a tick for the live line and remote write both;
    None until it is first written."""
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data


TTY_EVERY_S = 0.9  # "at most once a second", with room for the caller's own jitter


class Progress:
    """A load run's live line, from the master's progress.json once a second: on a terminal
    one line rewritten in place, elsewhere (CI logs) a line every `every_s` seconds. The
    master writes it and the parent reads it; the workers that send the load never wait."""

    def __init__(self, write: Any, tty: bool, every_s: float = 10.0) -> None:
        self.write = write
        self.tty = tty
        self.every_s = every_s
        self._last = time.monotonic()  # the first line off a terminal after `every_s`
        self._shown = False

    def show(self, data: dict[str, Any]) -> None:
        self.line(progress_line(data))

    def line(self, text: str) -> None:
        """One progress line (a load plan's, or a probe's own counts): on a terminal at most
        once a second, rewritten in place; elsewhere every `every_s`."""
        now = time.monotonic()
        if now - self._last < (TTY_EVERY_S if self.tty else self.every_s):
            return
        self._last = now
        self.write(f"\r{text}\x1b[K" if self.tty else f"{text}\n")
        self._shown = True

    def done(self) -> None:
        if self.tty and self._shown:
            self.write("\n")


def progress_line(data: dict[str, Any]) -> str:
    elapsed = float(data.get("elapsed_s") or 0.0)
    parts = [
        f"gonogo load: {data.get('plan')} {elapsed:.0f}/{float(data.get('total_s') or 0):.0f} s"
    ]
    for name, s in (data.get("scenarios") or {}).items():
        rate = f"{s['started'] / elapsed:.1f}/s of {s['due'] / elapsed:.1f}/s" if elapsed else "-"
        p95 = f"p95 {s['p95_ms']:.1f} ms" if s.get("p95_ms") is not None else "p95 -"
        parts.append(f"{name} {rate}, {p95}, {s['failed']} failed, {s['dropped']} dropped")
    return " | ".join(parts)
