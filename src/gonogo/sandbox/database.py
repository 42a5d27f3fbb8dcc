"""The sandbox's PostgreSQL side: its migration runner and its roles.

The runner keeps a `schema_migrations` table (version, checksum, applied_at)
as many real tools do; `migration-edited` records a different checksum for
one applied file, which is what an edit after applying looks like.

Roles: the data-ops pack connects as `gonogo_ro`, which can read everything
and create a restore point, nothing more, with every statement it runs
logged (so a test can prove the pack wrote nothing); `gonogo_scratch` owns
the scratch database the idempotency check may write to.
"""

from __future__ import annotations

from pathlib import Path

from gonogo.dataops import checksum, sql_migrations
from gonogo.sandbox.release_copy import RELEASE

MIGRATIONS = RELEASE / "migrations"
READ_ONLY_ROLE = "gonogo_ro"
SCRATCH = "gonogo_scratch"

TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     text PRIMARY KEY,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


def files(folder: Path = MIGRATIONS) -> list[Path]:
    """The up migrations, in order."""
    return [m.source for m in sql_migrations(folder)]


def apply(
    dsn: str,
    folder: Path = MIGRATIONS,
    *,
    edited: bool = False,
    hold_back: set[str] | None = None,
) -> list[str]:
    """Apply pending files in order; returns the versions applied now."""
    import psycopg

    applied_now = []
    ordered = files(folder)
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(TABLE)
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for path in ordered:
            version = path.stem
            if version in done or version in (hold_back or set()):
                continue
            sql = path.read_text(encoding="utf-8")
            recorded = (
                checksum(sql + "\n-- edited after apply\n")
                if edited and version == ordered[0].stem
                else checksum(sql)
            )
            with conn.transaction():
                conn.execute(sql.encode())  # a file's SQL, not a literal: bytes are accepted
                conn.execute(
                    "INSERT INTO schema_migrations (version, checksum) VALUES (%s, %s)",
                    (version, recorded),
                )
            applied_now.append(version)
    return applied_now


def archive_now(dsn: str, wait_s: float = 10.0) -> None:
    """Close the WAL segment the migrations wrote and wait for the archiver to try it: a
    stack is up with its first segment archived (or, with backup-stale, refused)."""
    import time

    import psycopg

    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute("SELECT pg_switch_wal()")
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            row = conn.execute("SELECT archived_count + failed_count FROM pg_stat_archiver")
            tried = row.fetchone()
            if tried and tried[0]:
                return
            time.sleep(0.05)


def fall_behind(primary_dsn: str, standby_dsn: str) -> None:
    """sync-delta: the standby stops replaying (as a standby stuck on a conflict does) and the
    primary takes a write after, so the final sync delta is not applied on the other side."""
    import uuid

    import psycopg

    with psycopg.connect(standby_dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute("SELECT pg_wal_replay_pause()")
    with psycopg.connect(primary_dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            "INSERT INTO notes (id, text, author) VALUES (%s, %s, %s)",
            (uuid.uuid4(), "written after the standby stopped replaying", "sync-delta"),
        )


def create_roles(dsn: str, *, restore_point: bool = True) -> None:
    """The pack's read-only role (statements logged) and the scratch role and database."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"CREATE ROLE {READ_ONLY_ROLE} LOGIN".encode())
        conn.execute(f"GRANT pg_read_all_data, pg_monitor TO {READ_ONLY_ROLE}".encode())
        if restore_point:
            grant = "GRANT EXECUTE ON FUNCTION pg_create_restore_point(text) TO"
            conn.execute(f"{grant} {READ_ONLY_ROLE}".encode())
        conn.execute(f"ALTER ROLE {READ_ONLY_ROLE} SET log_statement = 'all'".encode())
        conn.execute(f"CREATE ROLE {SCRATCH} LOGIN".encode())
        conn.execute(f"CREATE DATABASE {SCRATCH} OWNER {SCRATCH}".encode())
