"""Running an acceptance pack against the local environment, for the self-tests.

Every check in a pack names, in its docstring, the sandbox fault that must
turn it red (`Fault: NAME[=VALUE]`), or `Fault: n/a (...)` with where its rule
is proven instead. The matrix tests read those lines, so a check without one
fails the self-tests.
"""

from __future__ import annotations

import ast
import contextlib
import fcntl
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKS = REPO / "src" / "gonogo" / "packs"
MACHINE_LOCK = Path(tempfile.gettempdir()) / "gonogo-selftests.lock"


@contextlib.contextmanager
def machine(exclusive: bool = False) -> Iterator[None]:
    """The self-tests' share of this machine, across xdist workers.

    Runs that start a local environment take it shared; the healthy SLO run takes it
    alone, because latency thresholds measured beside another stack on two cores
    measure the neighbour (a gateway p95 of 240 ms instead of 9 ms was seen).
    """
    with MACHINE_LOCK.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def pack_checks(pack: str) -> dict[str, str]:
    """check name -> the fault its docstring names ("" if none)."""
    out = {}
    for path in sorted((PACKS / pack).glob("test_*.py")):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"):
                doc = ast.get_docstring(node) or ""
                match = re.search(r"^Fault: (\S+)", doc, re.MULTILINE)
                out[node.name] = match.group(1) if match else ""
    return out


def by_fault(checks: dict[str, str]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for check, fault in checks.items():
        grouped[fault].append(check)
    return grouped


def run_pack(
    tmp_path: Path,
    marker: str,
    *args: str,
    environ: dict[str, str] | None = None,
    env: str = "local",
    alone: bool = False,
    folders: tuple[str, ...] = (),
) -> tuple[subprocess.CompletedProcess[str], dict]:
    """Run one pack (`-m marker`, from its folder, or from `folders`) against an env (the
    sandbox unless told), in tmp_path/evidence; `alone`: with no other self-test's stack
    running on the machine meanwhile."""
    evidence = tmp_path / "evidence"
    with machine(exclusive=alone):
        done = _run(
            evidence, marker, env, args, environ, folders or (f"src/gonogo/packs/{marker}",)
        )
    manifests = list(evidence.glob(f"{env}/*/bundle.json"))
    assert len(manifests) == 1, done.stdout[-3000:] + done.stderr[-2000:]
    return done, json.loads(manifests[0].read_text())


def _run(
    evidence: Path,
    marker: str,
    env: str,
    args: tuple[str, ...],
    environ: dict[str, str] | None,
    folders: tuple[str, ...],
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            # The pack's folder only: collecting the self-tests too doubles each run's start.
            *folders,
            "-m",
            marker,
            "--env",
            env,
            "-p",
            "no:cacheprovider",
            f"--evidence-dir={evidence}",
            *args,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        env={**(os.environ if environ is None else environ), "COLUMNS": "200"},
    )


def outcomes(manifest: dict) -> dict[str, dict]:
    """The run's checks by name; the other packs' checks, which a one-pack run records as
    "not collected" (required, not run), are left out."""
    return {
        t["nodeid"].split("::")[-1].split("[")[0]: t
        for t in manifest["tests"]
        if t["outcome"] != "not collected"
    }


def assert_red_with_a_message(result: dict, check: str, fault: str) -> None:
    # Red either way: a finding fails the check; an unreachable server errors its setup.
    assert result["outcome"] in {"failed", "error"}, (
        f"{check} should be red under --fault {fault}: {result}"
    )
    message = result["message"]
    assert ("expected " in message and "; got " in message) or "cannot reach" in message, message
    assert "capture: " in message or "cannot reach" in message, message


def fault_runs(faults: list[str], together: tuple[tuple[str, ...], ...]) -> list[tuple[str, ...]]:
    """The stacks a fault matrix starts: faults that touch disjoint checks share one (a stack
    is most of a run's time), every other fault has its own. Each fault is in exactly one."""
    grouped = [g for g in together if all(f in faults for f in g)]
    inside = {f for g in grouped for f in g}
    return [*grouped, *((f,) for f in faults if f not in inside)]
