"""Dialects: the local environment speaking as other stacks do, healthy or faulted.

With every dialect on, the env's settings are the ones a release manager writes
for such a deployment (gonogo.sandbox.stack fills them in), so a green run
proves the checks read those settings; each fault whose check reads what a
dialect changes must still turn that check red.

Its own module: the healthy run takes the machine alone, which a module that
holds a shared `stack` fixture would wait on forever.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tests.packs import assert_red_with_a_message, fault_runs, outcomes, run_pack

DIALECTS = "prom-client,metrics-port,traefik,document-id,audit-jwk,root-fields,alertmanager,standby"
# Faults whose smoke checks read what a dialect changes: metric names and absence, the
# metrics endpoint, persisted documents sent as documentId by GET.
DIALECT_FAULTS = {
    "audit-signer-fail": ["test_audit_signer_failures_zero"],
    "rate-limit=3": ["test_rate_limit_did_not_rise"],
    "consumer-stall": ["test_stream_processed_increased", "test_consumer_lag_within_baseline"],
    "error-rate=1": ["test_graphql_persisted_health"],
    "field-renamed": ["test_dashboard_types"],
    "persisted-off": ["test_persisted_queries_are_enforced"],
    "alert-firing": ["test_no_critical_alerts_firing"],
}


@pytest.mark.stack
def test_every_dialect_on_a_healthy_environment_is_go(tmp_path: Path) -> None:
    """With the cutover day's own checks on, on the Traefik edge: weights as at T-10, the
    mirror as T-40 set it, a freeze begun at T-60."""
    frozen = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=35)).isoformat(timespec="seconds")
    day = ["--expect-weights", "blue=10,green=90", "--expect-shadow", "100",
           f"--freeze-since={frozen}"]  # fmt: skip
    done, manifest = run_pack(
        tmp_path, "smoke or slo or security or dataops", "--dialect", DIALECTS, "-n", "2", *day,
        alone=True, folders=("src/gonogo/packs/smoke", "src/gonogo/packs/slo", "src/gonogo/packs/security", "src/gonogo/packs/dataops"),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:]
    verdict = json.loads(next((tmp_path / "evidence").glob("local/*/verdict.json")).read_text())
    assert verdict["decision"] == "GO", done.stdout[-3000:]
    results = outcomes(manifest)
    day_checks = ("test_route_weights", "test_no_error_spike", "test_shadow_traffic")
    standby = ("test_replication_healthy", "test_final_sync_delta_applied")
    for check in (*day_checks, *standby, "test_no_rollout_during_freeze"):
        assert results[check]["outcome"] == "passed", (check, results[check])
    steps = next((tmp_path / "evidence").glob("local/*/steps.log")).read_text()
    assert f"dialects: {DIALECTS.replace(',', ', ')}" in steps


@pytest.mark.stack
def test_the_audit_layout_dialect_still_catches_the_signer_failing(tmp_path: Path) -> None:
    done, manifest = run_pack(
        tmp_path, "security", "--dialect", DIALECTS, "--fault", "audit-signer-fail", "-k", "audit"
    )
    result = outcomes(manifest)["test_audit_chain_verifies"]
    assert_red_with_a_message(result, "test_audit_chain_verifies", "audit-signer-fail")
    assert "unsigned" in result["message"] and done.returncode == 1


@pytest.mark.stack
def test_otel_names_on_a_healthy_environment_are_green(tmp_path: Path) -> None:
    done, manifest = run_pack(tmp_path, "smoke", "--dialect", "otel,prom-client")
    assert done.returncode == 0, done.stdout[-4000:]
    # n/a outside the cutover day: route weights (no weights expected outside T-10 and T-0),
    # shadow traffic (none outside T-40 to the flip) and the freeze (none began).
    day_only = (
        "test_route_weights",
        "test_no_error_spike",
        "test_shadow_traffic",
        "test_status_page_operational",
        "test_no_rollout_during_freeze",
    )
    others = [t for t in manifest["tests"] if not any(c in t["nodeid"] for c in day_only)]
    assert {t["outcome"] for t in others} <= {"passed", "deselected", "not collected"}


# The smoke pack reads no database: its fault runs leave the standby out (a second
# Postgres), and faults of unrelated parts share a stack.
SMOKE_DIALECTS = DIALECTS.replace(",standby", "")
RUNS = fault_runs(sorted(DIALECT_FAULTS), (("alert-firing", "audit-signer-fail", "field-renamed"),))


@pytest.mark.stack
@pytest.mark.parametrize("faults", RUNS, ids=["+".join(r) for r in RUNS])
def test_with_every_dialect_each_fault_turns_its_check_red(
    tmp_path: Path, faults: tuple[str, ...]
) -> None:
    args = [a for fault in faults for a in ("--fault", fault)]
    done, manifest = run_pack(tmp_path, "smoke", "--dialect", SMOKE_DIALECTS, *args)
    results = outcomes(manifest)
    for fault in faults:
        for check in DIALECT_FAULTS[fault]:
            assert_red_with_a_message(results[check], check, fault)
    assert done.returncode == 1


def test_dialect_refusals_are_one_line() -> None:
    import subprocess
    import sys

    from tests.packs import REPO

    def usage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-m", "smoke", *args],
            cwd=REPO, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 4, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        return done.stderr.strip()

    assert usage("--env", "local", "--dialect", "prom-clinet") == (
        "ERROR: unknown dialect 'prom-clinet'; did you mean 'prom-client'? dialects: prom-client, "
        "metrics-port, traefik, otel, document-id, audit-jwk, root-fields, alertmanager, standby "
        "(list them with `gonogo sandbox dialects`)"
    )
    assert usage("--env", "local", "--dialect", "traefik,otel") == (
        "ERROR: dialects traefik and otel both rename the request series; choose one"
    )
    assert usage("--env", "green", "--dialect", "traefik") == (
        "ERROR: --dialect applies only to the local sandbox env (like --env local); "
        "green is not a sandbox"
    )


def test_gonogo_sandbox_dialects_lists_them(capsys: pytest.CaptureFixture[str]) -> None:
    from gonogo.cli import main

    assert main(["sandbox", "dialects"]) == 0
    out = capsys.readouterr().out
    assert "prom-client   counters are exported only after their first increment" in out
    assert "document-id" in out


def test_the_root_fields_dialect_serves_only_its_own_names() -> None:
    """The gateway half of the dialect: another team's root fields, arguments and persisted
    ids; gonogo's defaults are unknown to it, so a green run proves [operations] was read."""
    from gonogo.sandbox.app import gql

    with pytest.raises(gql.Refused, match="unknown persisted operation id 'op:GetNotes:v1'"):
        gql.resolve_document({"id": "op:GetNotes:v1"}, enforce_persisted=True, roots=True)
    document, _ = gql.resolve_document(
        {"id": "op:RecentNotes:v2"}, enforce_persisted=True, roots=True
    )
    assert "recentNotes(first: $first)" in document
    schema = gql.SCHEMAS[(False, True)]
    assert schema.execute_sync("{ serviceStatus { ok } }").data == {"serviceStatus": {"ok": True}}
    assert schema.execute_sync("{ health { ok } }").errors  # the default name is not there


@pytest.mark.stack
def test_the_root_fields_dialect_is_read_from_operations(tmp_path: Path) -> None:
    done, manifest = run_pack(
        tmp_path, "smoke", "--dialect", "root-fields", "-k", "graphql or note or dashboard"
    )
    assert done.returncode == 0, done.stdout[-4000:]
    results = outcomes(manifest)
    assert {
        results[n]["outcome"]
        for n in (
            "test_create_note_visible_in_get_notes",
            "test_dashboard_types",
            "test_graphql_persisted_health",
        )
    } == {"passed"}
    created = next((tmp_path / "evidence").glob("local/*/captures/gql_create_note.json"))
    assert '"addNote"' in created.read_text()
