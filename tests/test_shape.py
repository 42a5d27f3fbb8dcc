"""The deployment's GraphQL contract: operations as tables (id, root field, variables,
expected shape as a GraphQL selection), checked recursively."""

from __future__ import annotations

from pathlib import Path

import pytest

from gonogo.config import load_env_file
from gonogo.shape import mismatches
from tests.conftest import refused_table
from tests.packs import REPO, outcomes, run_pack

DASHBOARD = "widgets { id type } alerts { level }"


def test_shapes_are_checked_recursively_through_lists() -> None:
    good = {"widgets": [{"id": "w1", "type": "map"}], "alerts": [{"level": "high"}]}
    assert mismatches(good, DASHBOARD, "data.dashboard") == []
    renamed = {"widgets": [{"id": "w1", "kind": "map"}, {"id": None, "type": "x"}], "alerts": []}
    assert mismatches(renamed, DASHBOARD, "data.dashboard") == [
        "data.dashboard.widgets[0].type missing",
        "data.dashboard.widgets[1].id is null",
    ]
    assert mismatches({"widgets": "w", "alerts": [{"level": {}}]}, DASHBOARD, "d") == [
        "d.widgets is a string, expected an object",
        "d.alerts[0].level is an object, expected a scalar",
    ]
    assert mismatches(None, DASHBOARD, "d") == ["d is null, expected an object"]


def test_an_operation_is_an_id_or_a_table_and_a_bad_expect_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "envs.toml"
    path.write_text(
        '[environments.x]\nbase_url = "http://127.0.0.1:9"\n[environments.x.operations]\n'
        'health = "sha256:abc"\n'
        'notes = {id = "q:notes", field = "listNotes", variables = {limit = "first"}}\n'
    )
    ops = load_env_file(path).get("x").operations
    assert (ops.health.id, ops.health.field, ops.health.expect) == ("sha256:abc", "health", "ok")
    assert (ops.notes.field, ops.notes.var("limit"), ops.notes.var("text")) == (
        "listNotes",
        "first",
        "text",
    )
    refused = refused_table(tmp_path, "operations.dashboard", 'expect = "widgets { id "')
    assert refused == (
        f"{path}: environments.x.operations.dashboard.expect: 'widgets {{ id ' is not a GraphQL "
        "selection (Syntax Error: Expected Name, found <EOF>.); write it like "
        '"widgets { id type } alerts { level }"'
    )


@pytest.mark.stack
def test_the_deployments_own_shape_is_what_the_check_reads(tmp_path: Path) -> None:
    """The same healthy gateway: green on the default shape, red for an env whose
    [operations.dashboard] expect asks for a field the gateway does not answer."""
    env_file = tmp_path / "envs.toml"
    env_file.write_text(
        (REPO / "environments.toml").read_text()
        + "\n[environments.own]\nsandbox = true\nproduction = false\n"
        "[environments.own.operations.dashboard]\n"
        'expect = "widgets { id type owner } alerts { level }"\n'
    )
    done, manifest = run_pack(tmp_path / "default", "smoke", "-k", "dashboard")
    assert outcomes(manifest)["test_dashboard_types"]["outcome"] == "passed", done.stdout[-2000:]
    _, manifest = run_pack(
        tmp_path / "own", "smoke", f"--env-file={env_file}", "-k", "dashboard", env="own"
    )
    result = outcomes(manifest)["test_dashboard_types"]
    assert result["outcome"] == "failed"
    assert (
        "expected data.dashboard as { widgets { id type owner } alerts { level } }; got "
        "data.dashboard.widgets[0].owner missing" in result["message"]
    )
