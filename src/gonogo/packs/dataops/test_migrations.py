"""Data migrations: applied once, unchanged, idempotent, forward-only, with documented downs.

The release's migrations (its `migrations/` folder) are compared with what the
live database recorded, read through a read-only session. The one check that
executes migrations does so in a fresh schema of the scratch database.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from typing import Any

import pytest

from gonogo.checks import says, short
from gonogo.clients.database import DatabaseClient, schema_snapshot
from gonogo.dataops import (
    DOC_FILE,
    Migration,
    checksum,
    destructive_alembic,
    destructive_sql,
    read_down_docs,
    release_migrations,
)
from gonogo.env import Environment
from gonogo.errors import NotApplicable
from gonogo.evidence import Captures
from gonogo.release import Release


def _release_set(env: Environment, release: Release) -> list[Migration]:
    table = env.settings.require("database", "the database").migrations_table
    return release_migrations(release.migrations, table)


def test_no_pending_or_unknown_migrations(
    env: Environment, database: DatabaseClient, release: Release, evidence: Captures
) -> None:
    """Rule: the migrations the database has applied are exactly the release's: none pending
    (in the release, not applied) and none unknown (applied, not in the release).

    Fault: migration-pending
    """
    from gonogo.dataops import alembic_applied

    shipped = _release_set(env, release)
    recorded = database.applied_migrations()
    if database.settings.migrations_table == "alembic_version":
        applied = alembic_applied(recorded, shipped)
    else:
        applied = set(recorded)
    names = [m.version for m in shipped]
    pending = [v for v in names if v not in applied]
    unknown = sorted(applied - set(names))
    path = evidence.save(
        "migrations_applied.json",
        {
            "database": database.where,
            "table": database.settings.migrations_table,
            "release": [str(m.source) for m in shipped],
            "applied": sorted(applied),
            "pending": pending,
            "unknown": unknown,
        },
    )
    evidence.measured(len(pending) + len(unknown), 0)
    assert not pending and not unknown, says(
        f"the {len(names)} migration(s) of {release.migrations} all applied, nothing else",
        f"pending (not applied): {pending or 'none'}; unknown (applied, not in the release): "
        f"{unknown or 'none'}",
        path,
    )


def test_applied_migrations_unchanged(
    env: Environment, database: DatabaseClient, release: Release, evidence: Captures
) -> None:
    """Rule: each applied migration's recorded checksum equals the sha256 of the release's file:
    nobody edited a migration after it ran (the database and the repo now disagree).

    Fault: migration-edited
    """
    recorded = database.applied_migrations()
    if all(v is None for v in recorded.values()):
        raise NotApplicable(
            f"{database.settings.migrations_table} records no checksums at {database.where}"
        )
    shipped = {m.version: m.source for m in _release_set(env, release)}
    compared, changed = {}, []
    for version, recorded_sum in sorted(recorded.items()):
        if version not in shipped or recorded_sum is None:
            continue
        now = checksum(shipped[version].read_text(encoding="utf-8"))
        compared[version] = {"recorded": recorded_sum, "release_file": now}
        if recorded_sum != now:
            changed.append(version)
    path = evidence.save("migrations_checksums.json", compared)
    assert compared, says(
        "checksums to compare for the applied migrations",
        "no applied migration is in the release",
        path,
    )
    assert not changed, says(
        "every applied migration's recorded sha256 to equal its file in the release",
        f"changed after being applied: {', '.join(changed)}",
        path,
    )


def test_migrations_forward_only(env: Environment, release: Release, evidence: Captures) -> None:
    """Rule: the release's migrations destroy no data: no DROP TABLE/SCHEMA/COLUMN, TRUNCATE or
    column type change (parsed as SQL, not grepped), unless a policy exception waives it.

    Fault: migration-destructive
    """
    findings = []
    for migration in _release_set(env, release):
        source = migration.source
        if source.suffix == ".py":
            findings += destructive_alembic(source)
        else:
            findings += destructive_sql(source.read_text(encoding="utf-8"), str(source))
    path = evidence.save("migrations_destructive.json", [str(f) for f in findings])
    assert not findings, says(
        "forward-only migrations (a destructive one needs a policy exception)",
        "; ".join(short(str(f), 240) for f in findings[:5]),
        path,
    )


def test_down_migrations_documented(env: Environment, release: Release, evidence: Captures) -> None:
    """Rule: every down migration in the release has a row in its data-ops document with a risk
    rating (low/medium/high) and is marked tested.

    Fault: down-unrated
    """
    downs = [m.version for m in _release_set(env, release) if m.down is not None or m.has_downgrade]
    if not downs:
        raise NotApplicable(f"the release ships no down migration ({release.migrations})")
    doc = release.file(DOC_FILE, "the data-ops document: a row per down migration")
    rows = read_down_docs(doc)
    problems = []
    for version in downs:
        row = rows.get(version)
        if row is None:
            problems.append(f"{version}: no row")
        else:
            problems += [f"{version} ({doc.name}:{row.line}): {p}" for p in row.problems]
    path = evidence.save(
        "down_migrations.json",
        {"downs": downs, "document": str(doc), "problems": problems},
    )
    assert not problems, says(
        f"a rated (low/medium/high), tested row in {doc} for each of {len(downs)} down script(s)",
        "; ".join(problems),
        path,
    )


def _apply_plain(conn: Any, migrations: list[Migration]) -> str | None:
    """Run each file in its own transaction; the first failure, or None."""
    import psycopg

    for migration in migrations:
        try:
            with conn.transaction():
                conn.execute(migration.source.read_bytes())
        except psycopg.Error as exc:
            return f"{migration.version}: {str(exc).strip().splitlines()[0]}"
    return None


def _apply_command(
    command: list[str], dsn: str, password: str | None, timeout_s: float
) -> str | None:
    environ = {**os.environ, "DATABASE_URL": dsn}
    if password:
        environ["PGPASSWORD"] = password
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout_s, env=environ, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{' '.join(command)}: {exc}"
    if done.returncode != 0:
        last = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["(no output)"]
        return f"{' '.join(command)} exited {done.returncode}: {last[0]}"
    return None


def test_migrations_idempotent(
    env: Environment, database: DatabaseClient, release: Release, evidence: Captures
) -> None:
    """Rule: applying the release's migrations a second time, in a scratch database (never the
    live one), succeeds and changes nothing: the schema after the second run equals the first.

    Fault: migration-not-idempotent
    """
    shipped = _release_set(env, release)
    settings = database.settings
    command = settings.migrate_command
    if command is None and any(m.source.suffix != ".sql" for m in shipped):
        pytest.skip("Alembic migrations: set database.migrate_command to run them twice")
    schema = f"gonogo_idem_{uuid.uuid4().hex[:10]}"
    snapshots: list[dict[str, list[str]]] = []
    failure = None
    with database.scratch() as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"'.encode())
        try:
            conn.execute(f'SET search_path TO "{schema}"'.encode())
            for attempt in (1, 2):
                if command is None:
                    failure = _apply_plain(conn, shipped)
                else:
                    failure = _apply_command(
                        command, settings.scratch_dsn or "", None, env.settings.timeout_s * 30
                    )
                if failure:
                    failure = f"run {attempt}: {failure}"
                    break
                snapshots.append(schema_snapshot(conn, schema if command is None else "public"))
        finally:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())
    changed = (
        {
            kind: {
                "only_after_first": sorted(set(snapshots[0][kind]) - set(snapshots[1][kind])),
                "only_after_second": sorted(set(snapshots[1][kind]) - set(snapshots[0][kind])),
            }
            for kind in snapshots[0]
            if snapshots[0][kind] != snapshots[1][kind]
        }
        if len(snapshots) == 2
        else {}
    )
    path = evidence.save(
        "migrations_idempotent.json",
        {
            "scratch": database.settings.scratch_dsn,
            "schema": schema,
            "runner": command or "gonogo (plain SQL files, each in a transaction)",
            "failure": failure,
            "changed": changed,
            "after_first": snapshots[0] if snapshots else None,
        },
    )
    assert failure is None, says(
        "the release's migrations to apply twice without error", failure or "", path
    )
    assert not changed, says(
        "the same schema after applying the migrations a second time",
        f"differences in {', '.join(changed)}",
        path,
    )
