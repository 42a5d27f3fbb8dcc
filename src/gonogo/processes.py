"""Child processes that are always stopped.

Each server of the local environment is a direct child in its own session
(process group), its output in a log file of its own. Three things make sure
nothing outlives a run:

- `stop()` signals the whole group, waits, then kills what is left;
- on Linux every child gets PR_SET_PDEATHSIG, so if the parent dies without
  cleaning up (SIGKILL, a crash), the kernel kills the child too. The signal
  fires when the spawning *thread* ends, so spawn only from a thread that
  lives as long as the stack (the main thread), never from a pool;
- the stack stops its children in reverse order from a `finally`, which runs
  on Ctrl-C as on success;
- the data a stack writes (its keys, pgdata, the graph) is in a temporary
  folder that a reaper removes if the parent dies without cleaning up: the
  kernel's PR_SET_PDEATHSIG stops processes, but nothing deletes files, and
  that folder holds the sandbox's JWT private key.

A child that dies or does not become ready in time raises SandboxError with
the component's name, its log path and the log's last line.
"""

from __future__ import annotations

import ctypes
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from gonogo.errors import SandboxError

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """preexec_fn: the kernel kills the child when its parent dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port(below: int | None = None) -> int:
    """A loopback port free right now; the child binds it next.

    `below` asks for a port under that number, for servers that cannot take
    a high one (FalkorDB reads BOLT_PORT as a signed 16-bit value, so a port
    over 32767, the whole of Linux's ephemeral range, silently disables Bolt).
    """
    if below is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return int(s.getsockname()[1])
    rng = random.SystemRandom()
    for _ in range(200):
        port = rng.randrange(20000, below)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SandboxError(f"no free loopback port below {below}")


def port_open(port: int, timeout_s: float = 0.2) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s):
            return True
    except OSError:
        return False


def last_line(path: Path) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no log)"
    return lines[-1][:300] if lines else "(empty log)"


@dataclass
class Child:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    stop_signal: int = signal.SIGTERM

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def died(self) -> SandboxError:
        return SandboxError(
            f"{self.name} exited with code {self.popen.returncode} while starting; "
            f"see its log {self.log}: {last_line(self.log)}"
        )

    def wait_ready(self, check: Callable[[], bool], timeout_s: float, what: str) -> float:
        """Poll `check` until true; returns seconds taken. Fails fast if the child dies."""
        t0 = time.monotonic()
        last = "no answer yet"
        while True:
            if not self.alive():
                raise self.died()
            try:
                if check():
                    return time.monotonic() - t0
                last = "not ready"
            except Exception as exc:  # not ready yet; the deadline decides
                # Kept for the message: a child that is up but never ready (a dependency it
                # waits on) reads differently from one that never listened.
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if time.monotonic() - t0 > timeout_s:
                raise SandboxError(
                    f"{self.name} did not {what} within {timeout_s:g} s (last answer: {last}); "
                    f"see its log {self.log}: {last_line(self.log)}"
                )
            time.sleep(0.05)

    def stop(self, timeout_s: float = 5.0) -> None:
        if self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, self.stop_signal)
        except ProcessLookupError:
            return
        try:
            self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                return
            self.popen.wait(timeout_s)


def spawn(
    name: str,
    argv: Sequence[str],
    log: Path,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    user: str | None = None,
    stop_signal: int = signal.SIGTERM,
    outlive_parent: bool = False,
) -> Child:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        try:
            popen = subprocess.Popen(
                list(argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                cwd=cwd,
                user=user,
                start_new_session=True,
                preexec_fn=None if outlive_parent else die_with_parent,
            )
        except OSError as exc:
            raise SandboxError(f"{name} could not be started ({argv[0]}): {exc.strerror}") from None
    return Child(name=name, popen=popen, log=log, stop_signal=stop_signal)


# The reaper: no gonogo import (it must start fast and outlive a broken install), polls its
# parent, and once that is gone waits for the servers to die with it, then deletes.
_REAPER = """
import os, shutil, signal, sys, time
folder, parent = sys.argv[1], os.getppid()
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while os.getppid() == parent:
    time.sleep(0.25)
time.sleep(1.0)
for _ in range(20):
    shutil.rmtree(folder, ignore_errors=True)
    if not os.path.exists(folder):
        break
    time.sleep(0.5)
"""


def spawn_reaper(folder: Path) -> Child:
    """A child that deletes `folder` once this process is gone (even by SIGKILL) and exits
    quietly when stopped: the normal stop cleans up itself. It says nothing (no log)."""
    argv = [sys.executable, "-c", _REAPER, str(folder)]
    return spawn("reaper", argv, Path(os.devnull), outlive_parent=True)
