"""The sandbox's database side: its release folder, its migration runner, its roles.

The sandbox ships a release (`release/`: migrations with down scripts, the
data-ops document, the graph schema), copied per stack so that release
faults (a pending migration, a destructive one, an unrated down script)
change only that copy. The runner keeps a `schema_migrations` table
(version, checksum, applied_at) as many real tools do; `migration-edited`
records a different checksum for one applied file, which is what an edit
after applying looks like.

Roles: the data-ops pack connects as `gonogo_ro`, which can read everything
and create a restore point, nothing more, with every statement it runs
logged (so a test can prove the pack wrote nothing); `gonogo_scratch` owns
the scratch database the idempotency check may write to.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from gonogo.dataops import checksum, sql_migrations

RELEASE = Path(__file__).parent / "release"
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

# Release faults: what each adds to the release copy (file name -> SQL) and its doc row.
_EXTRA = {
    "migration-destructive": (
        "0003_notes_drop_legacy",
        "-- Clean-up: the legacy reference column is unused since 2.3.\n"
        "ALTER TABLE notes\n    DROP COLUMN IF EXISTS legacy_ref;\n",
    ),
    "migration-not-idempotent": (
        "0004_notes_text_index",
        "-- Search notes by text.\nCREATE INDEX notes_text_idx ON notes (text);\n",
    ),
    "migration-pending": (
        "0005_notes_source",
        "-- Where a note came from.\nALTER TABLE notes ADD COLUMN IF NOT EXISTS source text;\n",
    ),
}


def files(folder: Path = MIGRATIONS) -> list[Path]:
    """The up migrations, in order."""
    return [m.source for m in sql_migrations(folder)]


def prepare_release(dest: Path, faults: dict[str, str | None]) -> tuple[Path, set[str]]:
    """Copy the shipped release to `dest` with its release faults applied.

    Returns the folder and the versions the stack must not apply (pending ones).
    """
    shutil.copytree(RELEASE, dest)
    doc = dest / "data-ops.md"
    held_back = set()
    for fault, (version, sql) in _EXTRA.items():
        if fault not in faults:
            continue
        (dest / "migrations" / f"{version}.sql").write_text(sql)
        with doc.open("a") as out:
            out.write(f"| {version} | (none) | low | yes | added with this release |\n")
        if fault == "migration-pending":
            held_back.add(version)
    if "down-unrated" in faults:
        text = doc.read_text()
        rated = "| 0002_notes_author_index | 0002_notes_author_index.down.sql | low | yes |"
        assert rated in text, "the shipped data-ops.md changed: update the down-unrated fault"
        doc.write_text(text.replace(rated, rated.replace("| low |", "|  |")))
    return dest, held_back


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
