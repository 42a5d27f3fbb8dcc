"""T+60 "enter heightened watch (24h)": the sign-off starts the watch and the record keeps it.

`gonogo watch` for the green env's [cutover] watch_for runs detached from the command that
started it (its own session; a closed terminal does not end it), its evidence under the
reports folder beside the day (not inside the sealed day record: it keeps writing for a day).
The record holds its PID, folder, log and the command that stops it. A watch the day
started earlier that is still running is recorded again, not started twice.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import Any

from gonogo.processes import spawn


def alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start(
    env: str,
    watch_for: str,
    folder: Path,
    extra: list[str],
    earlier: dict[str, Any] | None,
) -> dict[str, Any]:
    if earlier and earlier.get("env") == env and alive(earlier.get("pid")):
        return {**earlier, "already_running": True}
    folder.mkdir(parents=True, exist_ok=True)
    started = dt.datetime.now(dt.UTC)
    log = folder / f"{env}-{started.strftime('%Y%m%dT%H%M%SZ')}.log"
    argv = [sys.executable, "-m", "gonogo.cli", "watch", "--env", env, "--for", watch_for,
            f"--evidence-dir={folder}", *extra]  # fmt: skip
    child = spawn(f"heightened watch ({env})", argv, log, outlive_parent=True)
    return {
        "env": env,
        "pid": child.pid,
        "for": watch_for,
        "started": started.isoformat(timespec="seconds"),
        "evidence_dir": str(folder),
        "log": str(log),
        "command": " ".join(["gonogo", *argv[3:]]),
        "stop": f"kill -INT {child.pid}",
    }
