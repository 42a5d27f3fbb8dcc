"""The smoke pack against the local environment: green when healthy, and every check red on
the fault its docstring names (`Fault: NAME[=VALUE]`), with a message a person can act on.

The matrix is read from the pack itself, so a check without a fault line fails here.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import pytest

from tests.conftest import running
from tests.packs import (
    REPO,
    assert_red_with_a_message,
    by_fault,
    fault_runs,
    outcomes,
    pack_checks,
)
from tests.packs import run_pack as _run_pack

CHECKS = pack_checks("smoke")
# As at T-25: a freeze began at T-60 (before this module's stacks start).
FROZEN = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=35)).isoformat(timespec="seconds")
BY_FAULT = by_fault(CHECKS)


def run_pack(
    tmp_path: Path, *args: str, environ: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], dict]:
    return _run_pack(tmp_path, "smoke", *args, environ=environ)


def test_every_check_names_a_sandbox_fault() -> None:
    from gonogo.sandbox.faults import parse

    assert CHECKS, "no checks found in the smoke pack"
    missing = [name for name, fault in CHECKS.items() if not fault]
    assert not missing, f"checks with no 'Fault: NAME' line in their docstring: {missing}"
    for fault in BY_FAULT:
        parse(fault)  # a known fault with a valid value


@pytest.mark.stack
def test_healthy_environment_all_green_and_nothing_left_running(tmp_path: Path) -> None:
    # As at T-10: the edge declares and serves blue 10 / green 90 (test_route_weights), and
    # mirrors every request to green as T-40 set it (test_shadow_traffic).
    done, manifest = run_pack(
        tmp_path, "-n", "2", "--expect-weights", "blue=10,green=90", "--freeze-since", FROZEN,
        "--expect-shadow", "100", "--expect-operational",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:]
    results = {k: v for k, v in outcomes(manifest).items() if v["outcome"] != "deselected"}
    expected = {name for name in CHECKS if name != "test_write_freeze_drill"}
    assert set(results) == expected
    assert {t["outcome"] for t in results.values()} == {"passed"}
    spot = results["test_gateway_spot_latency"]
    assert spot["limit"] == "150 ms" and float(spot["value"].split()[0]) <= 150
    root_verdict = json.loads(
        next((tmp_path / "evidence").glob("local/*/verdict.json")).read_text()
    )
    smoke = {c["nodeid"].split("::")[-1].split("[")[0]: c for c in root_verdict["gates"]["smoke"]}
    assert smoke["test_gateway_spot_latency"]["limit"] == "150 ms"
    root = next((tmp_path / "evidence").glob("local/*"))
    for name in (
        "healthz.json",
        "readyz.json",
        "api_ping.lat",
        "gql_persisted.json",
        "abac_allowed.code",
        "abac_denied.code",
        "neo4j_count.json",
        "kafka_canary.json",
        "metrics.prom",
    ):
        assert (root / "captures" / name).is_file(), name
    assert (root / "sandbox" / "local" / "app.log").is_file()
    steps = (root / "steps.log").read_text()
    pids = [int(p) for p in re.findall(r"=(\d+)", steps.split("pids: ", 1)[1].splitlines()[0])]
    assert len(pids) >= 4
    alive = running(pids)
    assert alive == [], f"sandbox processes left running: {alive}"


# write-freeze-ignored is the opt-in drill's (below); shadow-off, error-spike and
# status-degraded are proven on their one check, message and all, in tests/test_edge.py (a
# whole pack's run here would add nothing).
ON_THEIR_OWN = ("write-freeze-ignored", "shadow-off", "error-spike", "status-degraded")
# Faults of unrelated parts (an endpoint, the recorded cluster, the schema, a Prometheus
# rule, the policy, one route's latency) share a stack: each still turns its own checks red.
TOGETHER = (
    ("healthz-fail", "under-scaled", "freeze-violated", "field-renamed", "alert-firing"),
    ("readyz-fail", "abac-fail-open", "latency=/api/ping:300"),
    ("auth-optional", "graph-down", "persisted-off"),
)
RUNS = fault_runs(sorted(f for f in BY_FAULT if f and f not in ON_THEIR_OWN), TOGETHER)


@pytest.mark.stack
@pytest.mark.parametrize("faults", RUNS, ids=["+".join(r) for r in RUNS])
def test_each_fault_turns_its_checks_red(tmp_path: Path, faults: tuple[str, ...]) -> None:
    # The checks that are n/a outside the cutover day get what the day gives them.
    day = {
        "weights-stuck": ["--expect-weights", "blue=10,green=90"],
        "freeze-violated": ["--freeze-since", FROZEN],
    }
    args = [a for fault in faults for a in ("--fault", fault, *day.get(fault, []))]
    done, manifest = run_pack(tmp_path, *args)
    results = outcomes(manifest)
    for fault in faults:
        for check in BY_FAULT[fault]:
            assert_red_with_a_message(results[check], check, fault)
    assert done.returncode == 1


@pytest.mark.stack
def test_write_freeze_drill_is_opt_in_and_proven(tmp_path: Path) -> None:
    done, manifest = run_pack(tmp_path, "--drill", "write-freeze", "-k", "drill")
    assert outcomes(manifest)["test_write_freeze_drill"]["outcome"] == "passed", done.stdout[-3000:]
    done, manifest = run_pack(
        tmp_path / "bad",
        "--drill",
        "write-freeze",
        "-k",
        "drill",
        "--fault",
        "write-freeze-ignored",
    )
    result = outcomes(manifest)["test_write_freeze_drill"]
    assert (
        result["outcome"] == "failed"
        and "CreateNote refused while writes are frozen" in result["message"]
    )
    assert (
        "write freeze lifted: HTTP 200"
        in next((tmp_path / "bad" / "evidence").glob("local/*/steps.log")).read_text()
    )


def test_drill_and_fault_refusals_are_one_line(tmp_path: Path) -> None:
    def usage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 4, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        return done.stderr.strip()

    assert usage("-m", "smoke", "--env", "green", "--drill", "write-freeze") == (
        "ERROR: --drill write-freeze changes the environment and green is production; "
        "add --allow-drill if that is really intended"
    )
    assert usage("-m", "smoke", "--env", "green", "--fault", "readyz-fail") == (
        "ERROR: --fault applies only to the local sandbox env (like --env local); green is not a sandbox"
    )
    assert usage("-m", "smoke", "--env", "local", "--fault", "readyz-fial") == (
        "ERROR: unknown fault 'readyz-fial': did you mean 'readyz-fail'? see `gonogo sandbox faults` for the list"
    )
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    assert usage("-m", "smoke", "--env", "local", "--evidence-dir", str(outside)) == (
        f"ERROR: pytest took its rootdir from --evidence-dir's value ({outside}), because it reads "
        f"gonogo's options only after choosing one; write --evidence-dir={outside}"
    )
    assert usage("-m", "smoke", "--env", "local", "--drill", "freeze") == (
        "ERROR: unknown drill 'freeze'; drills: write-freeze (like --drill write-freeze)"
    )


SLOW_CHECK = """
import time

def test_slow(env):
    time.sleep(60)
"""


@pytest.mark.stack
@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGKILL"])
def test_an_interrupted_run_leaves_no_sandbox_process(tmp_path: Path, signal_name: str) -> None:
    """Ctrl-C stops the stack through pytest's shutdown; SIGKILL through the parent-death
    signal. Either way the stack's temporary folder (its JWT private key, pgdata) goes too:
    on SIGKILL the reaper deletes it."""
    import signal
    import time

    (tmp_path / "environments.toml").write_text(
        "[environments.local]\nsandbox = true\nproduction = false\n"
    )
    (tmp_path / "test_slow.py").write_text(SLOW_CHECK)
    # Short: the servers' Unix sockets live under it (108 bytes at most).
    temp = Path(tempfile.mkdtemp(prefix="gt-"))
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "--env", "local", "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TMPDIR": str(temp)},
    )
    try:
        deadline = time.monotonic() + 60
        pids: list[int] = []
        while not pids and time.monotonic() < deadline:
            for steps in tmp_path.glob("reports/local/*/steps.log"):
                line = next((x for x in steps.read_text().splitlines() if "pids: " in x), "")
                pids = [int(p) for p in re.findall(r"=(\d+)", line.split("pids: ", 1)[-1])]
            time.sleep(0.1)
        assert pids, "the sandbox never came up"
        assert all(psutil.pid_exists(p) for p in pids)
        run.send_signal(getattr(signal, signal_name))
        run.wait(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
    deadline = time.monotonic() + 15

    while (running(pids) or list(temp.glob("gonogo-sandbox-*"))) and time.monotonic() < deadline:
        time.sleep(0.2)
    alive = running(pids)
    assert alive == [], f"left running after {signal_name}: {alive}"
    left = list(temp.glob("gonogo-sandbox-*"))
    shutil.rmtree(temp, ignore_errors=True)
    assert left == [], f"left on disk after {signal_name}"


@pytest.mark.stack
def test_release_runs_render_report_png_despite_the_self_tests_conftest(tmp_path: Path) -> None:
    """tests/conftest.py is imported by release runs too; its switch must not leak into them."""
    from gonogo.run.report import chromium

    pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if chromium() is None:
        pytest.skip("no chromium on PATH (apt-get install chromium): the report is not rendered")
    environ = {k: v for k, v in os.environ.items() if k != "GONOGO_REPORT_PNG"}
    done, _ = run_pack(tmp_path, "-k", "healthz", environ=environ)
    assert done.returncode == 0, done.stdout[-2000:]
    root = next((tmp_path / "evidence").glob("local/*"))
    assert (root / "report.png").is_file(), (root / "steps.log").read_text()


@pytest.mark.stack
def test_one_lag_factor_setting_moves_both_lag_checks(tmp_path: Path) -> None:
    """The one-pager's "consumer lag within 1.5x baseline" is one rule with two checks (the
    smoke's gauge, the data-ops groups): [dataops] lag_factor moves both. A stalled consumer
    is red on both at the default and green on both when the factor is raised past it."""
    envs = tmp_path / "envs.toml"
    envs.write_text(
        "[environments.local]\nsandbox = true\nproduction = false\ntimeout_s = 5\n"
        "[environments.local.baseline]\nconsumer_lag = 4\n"
        "[environments.local.dataops]\nlag_factor = 1000000\n"
    )
    checks = ("test_consumer_lag_within_baseline", "test_consumer_group_lag_within_baseline")
    done, manifest = _run_pack(
        tmp_path, "smoke or dataops", "--fault", "consumer-stall", f"--env-file={envs}",
        "-k", " or ".join(checks), folders=("src/gonogo/packs/smoke", "src/gonogo/packs/dataops"),
    )  # fmt: skip
    results = outcomes(manifest)
    assert {c: results[c]["outcome"] for c in checks} == dict.fromkeys(checks, "passed"), (
        done.stdout[-3000:]
    )
