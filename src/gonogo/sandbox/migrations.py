"""The sandbox's migration runner: plain SQL files, applied once, checksums recorded.

It keeps a `schema_migrations` table (version, checksum, applied_at), as
many real tools do, so the data-ops pack can prove what is applied, pending
or changed. The `migration-edited` fault records a different checksum for
one applied file, which is what an edit after applying looks like.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"

TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     text PRIMARY KEY,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


def checksum(sql: str) -> str:
    return hashlib.sha256(sql.encode("utf-8")).hexdigest()


def files(folder: Path = MIGRATIONS) -> list[Path]:
    return sorted(folder.glob("*.sql"))


def apply(dsn: str, folder: Path = MIGRATIONS, *, edited: bool = False) -> list[str]:
    """Apply pending files in order; returns the versions applied now."""
    import psycopg

    applied_now = []
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(TABLE)
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for path in files(folder):
            version = path.stem
            if version in done:
                continue
            sql = path.read_text(encoding="utf-8")
            recorded = (
                checksum(sql + "\n-- edited after apply\n")
                if edited and version == files(folder)[0].stem
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
