"""The data-ops pack against the local environment, and its rules on recorded inputs.

Healthy: every check passes or says why it does not apply. Each sandbox fault
turns red exactly the checks that name it. The pack writes nothing to the live
database but the restore point: every statement its role ran is in the
PostgreSQL log, and each is read here.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest

from gonogo import backups
from gonogo.dataops import (
    alembic_applied,
    alembic_migrations,
    destructive_alembic,
    destructive_sql,
    read_down_docs,
    sequence_problems,
    sql_migrations,
    version_problems,
)
from gonogo.release import Release, ReleaseError
from tests.packs import (
    assert_red_with_a_message,
    by_fault,
    fault_runs,
    outcomes,
    pack_checks,
    run_pack,
)

CHECKS = pack_checks("dataops")
BY_FAULT = by_fault(CHECKS)
# No replica runs without the standby dialect (tests/test_dialects.py runs it).
NOT_APPLICABLE_HERE = {
    "test_graph_server_versions",
    "test_replication_healthy",
    "test_final_sync_delta_applied",
}


def test_every_check_names_a_sandbox_fault_or_where_it_is_proven() -> None:
    from gonogo.sandbox.faults import parse

    assert CHECKS, "no checks found in the dataops pack"
    missing = [name for name, fault in CHECKS.items() if not fault]
    assert not missing, f"checks with no 'Fault: NAME' line in their docstring: {missing}"
    for fault in BY_FAULT:
        if fault != "n/a":
            parse(fault)


@pytest.mark.stack
def test_healthy_all_green_and_the_pack_wrote_nothing(tmp_path: Path) -> None:
    done, manifest = run_pack(tmp_path, "dataops", "-n", "2")
    assert done.returncode == 0, done.stdout[-4000:]
    results = {k: v for k, v in outcomes(manifest).items() if v["outcome"] != "deselected"}
    assert set(results) == set(CHECKS)
    for name, result in results.items():
        want = "n/a" if name in NOT_APPLICABLE_HERE else "passed"
        assert result["outcome"] == want, (name, result)
    assert results["test_graph_server_versions"]["message"].startswith(
        "not applicable: the graph at bolt://"
    )
    root = next((tmp_path / "evidence").glob("local/*"))
    verdict = json.loads((root / "verdict.json").read_text())
    assert not [n for n in verdict["not_run"] if "dataops/" in n["check"]]
    marker = json.loads((root / "captures" / "recovery_marker.json").read_text())
    assert marker["restore_point_lsn"] and marker["tables"]["public.schema_migrations"]["rows"] == 2
    assert (tmp_path / "evidence" / ".gonogo" / "recovery-markers" / "local.json").is_file()

    # Every statement the read-only role ran (log_statement = all for that role only).
    log = (root / "sandbox" / "local" / "postgres.log").read_text()
    statements = re.findall(r"LOG:\s+(?:statement|execute [^:]*):\s+(.*)", log)
    assert len(statements) >= 8, log[-2000:]
    for statement in statements:
        assert statement.lstrip().upper().startswith("SELECT"), statement
    writes = [s for s in statements if "pg_create_restore_point" in s]
    assert len(writes) == 1


# Faults of unrelated parts (the WAL archive, the standby's replay, the down scripts' table,
# the graph's index, the restore point's grant) share a stack; nothing else may turn red.
TOGETHER = (
    ("backup-stale", "down-unrated", "graph-schema-drift", "restore-point-refused", "sync-delta"),
)
RUNS = fault_runs(sorted(f for f in BY_FAULT if f != "n/a"), TOGETHER)


@pytest.mark.stack
@pytest.mark.parametrize("faults", RUNS, ids=["+".join(r) for r in RUNS])
def test_each_fault_turns_its_checks_red(tmp_path: Path, faults: tuple[str, ...]) -> None:
    args = [a for fault in faults for a in ("--fault", fault)]
    done, manifest = run_pack(tmp_path, "dataops", *args)
    results = outcomes(manifest)
    mine = {check for fault in faults for check in BY_FAULT[fault]}
    for fault in faults:
        for check in BY_FAULT[fault]:
            assert_red_with_a_message(results[check], check, fault)
    others = {
        name
        for name, r in results.items()
        if r["outcome"] in {"failed", "error"} and name not in mine
    }
    # What else a fault rightly turns red: the stream's checks without Kafka; the final sync
    # with its expected replica gone.
    rightly = {"replica-down": {"test_final_sync_delta_applied"}}
    if "kafka-down" not in faults:
        allowed = {c for fault in faults for c in rightly.get(fault, set())}
        assert others <= allowed, f"{faults} also turned red: {others}"
    assert done.returncode == 1


@pytest.mark.stack
def test_a_release_folder_that_is_missing_is_one_line(tmp_path: Path) -> None:
    done, manifest = run_pack(
        tmp_path, "dataops", "-k", "forward_only", f"--release={tmp_path / 'nowhere'}"
    )
    result = outcomes(manifest)["test_migrations_forward_only"]
    assert result["outcome"] == "error"  # the run's input is wrong, not the release
    assert result["message"] == (
        f"env 'local': release folder {tmp_path / 'nowhere'} does not exist; set release = "
        '"DIR" in the env file or pass --release=DIR'
    )
    assert "Traceback" not in done.stdout


# -- the rules on recorded inputs ---------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "why"),
    [
        ("DROP TABLE notes;", "DROP TABLE destroys data"),
        ("ALTER TABLE notes\n  DROP COLUMN\n  author;", "DROP COLUMN destroys data"),
        ("TRUNCATE notes;", "TRUNCATE destroys data"),
        ("ALTER TABLE notes ALTER COLUMN author TYPE varchar(20);", "a column type change"),
        ("DROP SCHEMA legacy CASCADE;", "DROP SCHEMA destroys data"),
    ],
)
def test_destructive_statements_are_found(sql: str, why: str) -> None:
    found = destructive_sql(f"-- a migration\nCREATE TABLE t (x int);\n{sql}\n", "m.sql")
    assert len(found) == 1 and found[0].why.startswith(why), found
    assert found[0].where == "m.sql:3"


@pytest.mark.parametrize(
    "sql",
    [
        "CREATE INDEX CONCURRENTLY IF NOT EXISTS i ON notes (text);",
        "DROP INDEX IF EXISTS notes_author_created_idx;",
        "ALTER TABLE notes ADD COLUMN source text;",
        "ALTER TABLE notes ALTER COLUMN author SET NOT NULL;",
        "COMMENT ON TABLE notes IS 'drop table notes; is not a statement here';",
        "DO $$ BEGIN PERFORM 1; END $$;",
    ],
)
def test_forward_statements_pass(sql: str) -> None:
    assert destructive_sql(sql, "m.sql") == []


ALEMBIC_BASE = '''"""base"""
revision = "a1"
down_revision = None

def upgrade():
    op.create_table("notes")

def downgrade():
    op.drop_table("notes")
'''
ALEMBIC_NEXT = '''"""next"""
revision: str = "b2"
down_revision = "a1"

def upgrade():
    op.drop_column("notes", "legacy")
    op.execute("TRUNCATE audit")

def downgrade():
    pass
'''


def test_alembic_revisions_chain_and_destructive_ops(tmp_path: Path) -> None:
    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "a1_base.py").write_text(ALEMBIC_BASE)
    (versions / "b2_next.py").write_text(ALEMBIC_NEXT)
    (versions / "helpers.py").write_text("X = 1\n")
    found = alembic_migrations(tmp_path)
    assert [(m.version, m.follows, m.has_downgrade) for m in found] == [
        ("a1", (), True),
        ("b2", ("a1",), False),
    ]
    assert alembic_applied(["a1"], found) == {"a1"}  # b2 pending
    assert alembic_applied(["b2"], found) == {"a1", "b2"}
    assert destructive_alembic(versions / "a1_base.py") == []
    whys = [f.why for f in destructive_alembic(versions / "b2_next.py")]
    assert whys == ["DROP COLUMN destroys data", "TRUNCATE destroys data"]


def test_down_docs_rules(tmp_path: Path) -> None:
    doc = tmp_path / "data-ops.md"
    doc.write_text(
        "# Data ops\n\n| Migration | Down | Risk | Tested |\n|---|---|---|---|\n"
        "| 0001_a | 0001_a.down.sql | high | yes |\n"
        "| 0002_b.down.sql | x | | yes |\n"
        "| 0003_c | x | severe | no |\n"
    )
    rows = read_down_docs(doc)
    assert rows["0001_a"].problems == []
    assert rows["0002_b"].problems == ["no risk rating"] and rows["0002_b"].line == 6
    assert rows["0003_c"].problems == [
        "risk 'severe' is not one of low/medium/high",
        "not marked tested",
    ]
    doc.write_text("no table here\n")
    with pytest.raises(ReleaseError, match=r"no table with columns Migration \| Down"):
        read_down_docs(doc)


def test_a_down_script_without_its_migration_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0002_b.down.sql").write_text("SELECT 1;")
    with pytest.raises(ReleaseError) as caught:
        sql_migrations(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path}: down migration(s) with no up migration: 0002_b; "
        "name them NNNN_name.down.sql beside NNNN_name.sql"
    )


def test_malformed_release_json_names_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "graph-schema.json").write_text('{\n  "indexes": [\n')
    with pytest.raises(ReleaseError) as caught:
        Release(tmp_path).json("graph-schema.json", "the graph schema")
    assert str(caught.value).startswith(f"{tmp_path / 'graph-schema.json'}:3: not valid JSON (")


def test_neo4j_versions_compared_on_recorded_components() -> None:
    """What dbms.components() and apoc.version() answered on a Neo4j 5 server."""
    expected = {"version": "5.13.0", "plugins": {"apoc": "5.13.0", "gds": "2.5.0"}}
    assert version_problems(expected, {"version": "5.13.0", "apoc": "5.13.0", "gds": "2.5.0"}) == []
    assert version_problems(expected, {"version": "5.12.0", "apoc": "5.13.0"}) == [
        "version 5.13.0 expected, server has 5.12.0",
        "gds 2.5.0 expected, not installed",
    ]


KEY = b"gonogo-seq-1"


def _records(
    offsets_and_numbers: list[tuple[int, bytes, str]],
) -> list[tuple[int, bytes | None, bytes]]:
    return [(o, k, n.encode()) for o, k, n in offsets_and_numbers]


def test_canary_sequence_rules() -> None:
    clean = _records([(10, KEY, "0"), (11, b"other", "x"), (12, KEY, "1"), (13, KEY, "2")])
    assert sequence_problems(clean, 10, 13, KEY, 3) == []  # another producer between is fine
    gap = _records([(10, KEY, "0"), (12, KEY, "1"), (13, KEY, "2")])
    assert sequence_problems(gap, 10, 13, KEY, 3) == ["1 offset(s) missing between 10 and 13: 11"]
    lost = _records([(10, KEY, "0"), (11, KEY, "2")])
    assert sequence_problems(lost, 10, 11, KEY, 3) == [
        "1 of 3 numbered messages not read back: [1]"
    ]
    dup = _records([(10, KEY, "0"), (11, KEY, "1"), (12, KEY, "1"), (13, KEY, "2")])
    assert sequence_problems(dup, 10, 13, KEY, 3) == ["message number(s) read more than once: [1]"]
    swapped = _records([(10, KEY, "1"), (11, KEY, "0"), (12, KEY, "2")])
    assert sequence_problems(swapped, 10, 12, KEY, 3) == [
        "messages read back out of the order they were produced"
    ]


def _archiver(**changed: object) -> dict[str, object]:
    """pg_stat_archiver as DatabaseClient.archiver() reads it: segment ...0A archived at 10:00."""
    at = dt.datetime(2026, 12, 5, 10, 0, tzinfo=dt.UTC)
    status: dict[str, object] = {
        "archive_mode": "on",
        "archived_count": 10,
        "last_archived_wal": "00000001000000000000000A",
        "last_archived_time": at,
        "failed_count": 0,
        "last_failed_wal": None,
        "last_failed_time": None,
        "current_lsn": "0/B000000",  # exactly the end of segment 0A: nothing written since
        "segment_bytes": 16 * 1024 * 1024,
        "now": at + dt.timedelta(hours=3),
    }
    return {**status, **changed}


def test_an_idle_database_with_an_old_archive_loses_nothing() -> None:
    assert backups.segment_end("00000001000000000000000A", 16 * 1024 * 1024) == 0xB000000
    assert backups.segment_end("00000002.history", 16 * 1024 * 1024) is None
    assert backups.problems(_archiver(), 900, "15m") == []


def test_wal_waiting_past_the_rpo_is_named_with_its_age_and_bytes() -> None:
    found = backups.problems(_archiver(current_lsn="0/B0004D0"), 900, "15m")
    assert found == [
        "newest archived WAL 00000001000000000000000A is 180 min old (at "
        "2026-12-05T10:00:00+00:00), over the RPO of 15m, with 1232 bytes of WAL written since "
        "and not archived; set archive_timeout below the RPO"
    ]
    recent = _archiver(current_lsn="0/B0004D0", now=dt.datetime(2026, 12, 5, 10, 5, tzinfo=dt.UTC))
    assert backups.problems(recent, 900, "15m") == []


def test_a_failure_counts_only_after_the_newest_success() -> None:
    at = dt.datetime(2026, 12, 5, 9, 0, tzinfo=dt.UTC)
    old = _archiver(failed_count=1, last_failed_wal="000000010000000000000005", last_failed_time=at)
    assert backups.problems(old, 900, "15m") == []
    failing = _archiver(
        failed_count=4,
        last_failed_wal="00000001000000000000000B",
        last_failed_time=at + dt.timedelta(hours=2),
        now=at + dt.timedelta(hours=1, minutes=5),
    )
    assert backups.problems(failing, 900, "15m") == [
        "WAL archiving failing since 2026-12-05T11:00:00+00:00: segment "
        "00000001000000000000000B not archived (4 failures in all); the server log names the "
        "archive_command's error"
    ]
    assert backups.problems({"archive_mode": "off"}, 900, "15m") == [
        "archive_mode is off: no WAL is archived, so no point-in-time recovery; set "
        "archive_mode = on and an archive_command (or archive_library)"
    ]
