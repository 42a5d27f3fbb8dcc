"""PostgreSQL, read-only: what the data-ops pack may know about the live database.

Every session opens with `default_transaction_read_only=on` and a statement
timeout, so even a role with more rights than it should have cannot write
through gonogo; the only thing the pack does that touches the server's state
is `pg_create_restore_point`, which PostgreSQL allows in a read-only
transaction (it writes WAL, not data). The idempotency check's scratch
database is a separate connection (`scratch()`), never the live DSN.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from gonogo.config.data import DatabaseSettings
from gonogo.errors import ConfigError, TargetError, Unreachable


def where(dsn: str) -> str:
    """host:port/database of a DSN: what a message names (a DSN here never has a password)."""
    parts = urlsplit(dsn)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or '/'}"


def _identifier(name: str) -> str:
    """A table name from config as a safe SQL identifier (schema.table or table)."""
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$", name):
        raise ConfigError(
            f"database.checksum_tables: '{name}' is not a table name (schema.table or table)"
        )
    return ".".join(f'"{part}"' for part in name.split("."))


class DatabaseClient:
    def __init__(
        self,
        settings: DatabaseSettings,
        password: str | None,
        timeout_s: float,
        env: str,
        scratch_password: str | None = None,
        sync_password: str | None = None,
    ) -> None:
        self.settings = settings
        self._password = password
        self._scratch_password = scratch_password
        self._sync_password = sync_password
        self.timeout_s = timeout_s
        self.env = env
        self.where = where(settings.dsn)

    # -- connections ---------------------------------------------------------------

    def _connect(self, dsn: str, password: str | None, *, read_only: bool) -> Any:
        import psycopg

        options = f"-c statement_timeout={int(self.timeout_s * 1000)}"
        if read_only:
            options += " -c default_transaction_read_only=on"
        kwargs: dict[str, Any] = {
            "connect_timeout": max(1, int(self.timeout_s)),
            "options": options,
            "autocommit": True,
            "application_name": "gonogo",
        }
        if password:
            kwargs["password"] = password
        try:
            return psycopg.connect(dsn, **kwargs)
        except psycopg.OperationalError as exc:
            cause = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise Unreachable(f"postgresql://{where(dsn)}", self.timeout_s, cause) from None

    @contextmanager
    def session(self) -> Iterator[Any]:
        """A read-only session on the live database."""
        conn = self._connect(self.settings.dsn, self._password, read_only=True)
        try:
            yield conn
        finally:
            conn.close()

    @contextmanager
    def scratch(self) -> Iterator[Any]:
        """A writable session on the scratch database, refused if it is the live one."""
        scratch = self.settings.scratch_dsn
        if scratch is None:
            raise ConfigError(
                f"env '{self.env}': database.scratch_dsn is not set; the idempotency check "
                "applies the migrations to a scratch database, never the live one"
            )
        if where(scratch) == self.where:
            raise ConfigError(
                f"env '{self.env}': database.scratch_dsn names the live database "
                f"({self.where}); point it at a scratch database"
            )
        conn = self._connect(scratch, self._scratch_password, read_only=False)
        try:
            yield conn
        finally:
            conn.close()

    def verify(self) -> None:
        """Connect once (a check's setup): a wrong DSN or a down server is an error up front."""
        self.rows("SELECT 1")

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        with self.session() as conn:
            try:
                return list(conn.execute(sql.encode(), params).fetchall())
            except psycopg.Error as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise TargetError(f"postgresql://{self.where}: {first}") from None

    # -- what the checks ask ------------------------------------------------------

    def applied_migrations(self) -> dict[str, str | None]:
        """version -> recorded checksum (None where the tool keeps none)."""
        if self.settings.migrations_table == "alembic_version":
            return {str(v): None for (v,) in self.rows("SELECT version_num FROM alembic_version")}
        found = self.rows(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_name = 'schema_migrations'"
        )
        columns = {c for (c,) in found}
        if not columns:
            raise TargetError(
                f"postgresql://{self.where}: no schema_migrations table; was the database "
                'migrated, or does the env need migrations_table = "alembic_version"?'
            )
        if "checksum" in columns:
            return {
                str(v): (str(c) if c is not None else None)
                for v, c in self.rows("SELECT version, checksum FROM schema_migrations")
            }
        return {str(v): None for (v,) in self.rows("SELECT version FROM schema_migrations")}

    def restore_point(self, name: str) -> dict[str, str]:
        (lsn, current, sysid) = self.rows(
            "SELECT pg_create_restore_point(%s)::text, pg_current_wal_lsn()::text, "
            "(SELECT system_identifier::text FROM pg_control_system())",
            (name,),
        )[0]
        return {"name": name, "restore_point_lsn": lsn, "wal_lsn": current, "system_id": sysid}

    def archiver(self) -> dict[str, Any]:
        """WAL archiving as the server reports it (pg_stat_archiver, readable by pg_monitor),
        with the current WAL position and segment size to tell whether WAL waits unarchived."""
        names = (
            "archive_mode", "archived_count", "last_archived_wal", "last_archived_time",
            "failed_count", "last_failed_wal", "last_failed_time", "current_lsn",
            "segment_bytes", "now",
        )  # fmt: skip
        values = self.rows(
            "SELECT current_setting('archive_mode'), archived_count, last_archived_wal, "
            "last_archived_time, failed_count, last_failed_wal, last_failed_time, "
            "pg_current_wal_lsn()::text, "
            "(SELECT setting::bigint FROM pg_settings WHERE name = 'wal_segment_size'), now() "
            "FROM pg_stat_archiver"
        )[0]
        return dict(zip(names, values, strict=True))

    def checksum(self, table: str) -> dict[str, Any]:
        """Row count and an md5 over the rows in a stable order: equal data, equal sum."""
        count, digest = self.rows(_checksum_sql(table))[0]
        return {"table": table, "rows": int(count), "md5": str(digest)}

    def sync_checksums(self) -> dict[str, dict[str, Any]]:
        """checksum_tables on the other side of the final sync ([database] sync_dsn), read-only."""
        import psycopg

        dsn = self.settings.sync_dsn
        if dsn is None:
            raise ConfigError(f"env '{self.env}': database.sync_dsn is not set")
        conn = self._connect(dsn, self._sync_password, read_only=True)
        found = {}
        try:
            for table in self.settings.checksum_tables:
                try:
                    count, digest = conn.execute(_checksum_sql(table).encode()).fetchone()
                except psycopg.Error as exc:
                    first = str(exc).strip().splitlines()[0] if str(exc).strip() else "error"
                    raise TargetError(f"postgresql://{where(dsn)}: {first}") from None
                found[table] = {"table": table, "rows": int(count), "md5": str(digest)}
        finally:
            conn.close()
        return found

    def replay_positions(self) -> list[dict[str, Any]]:
        """Each replica's WAL sent and replayed (pg_stat_replication), and the bytes between."""
        found = self.rows(
            "SELECT application_name, state, sent_lsn::text, replay_lsn::text, "
            "coalesce(pg_wal_lsn_diff(sent_lsn, replay_lsn), 0)::bigint FROM pg_stat_replication"
        )
        return [
            {
                "replica": a,
                "state": s,
                "sent_lsn": sent,
                "replay_lsn": replay,
                "behind_bytes": int(b),
            }
            for a, s, sent, replay, b in found
        ]

    def replication(self) -> list[dict[str, Any]]:
        found = self.rows(
            "SELECT application_name, state, "
            "coalesce(extract(epoch FROM replay_lag), 0)::float8 FROM pg_stat_replication"
        )
        return [{"replica": a, "state": s, "replay_lag_s": float(lag)} for a, s, lag in found]


def _checksum_sql(table: str) -> str:
    ident = _identifier(table)
    return (
        f"SELECT count(*), coalesce(md5(string_agg(t::text, E'\\n' ORDER BY t::text)), '') "  # noqa: S608 - a validated identifier
        f"FROM {ident} AS t"
    )


SCHEMA_QUERIES = {
    "columns": (
        "SELECT table_name, column_name, data_type, is_nullable, coalesce(column_default, '') "
        "FROM information_schema.columns WHERE table_schema = %s ORDER BY 1, 2"
    ),
    "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %s ORDER BY 1",
    "constraints": (
        "SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid) "
        "FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace "
        "WHERE n.nspname = %s ORDER BY 1, 2"
    ),
}


def schema_snapshot(conn: Any, schema: str) -> dict[str, list[str]]:
    """The shape of one schema, as sorted lines: what "changed nothing" is judged on."""
    out: dict[str, list[str]] = {}
    for kind, sql in SCHEMA_QUERIES.items():
        rows = conn.execute(sql.encode(), (schema,)).fetchall()
        # Index and constraint definitions name the schema; drop it so snapshots of two
        # schemas with the same migrations compare equal.
        out[kind] = sorted(" | ".join(str(v).replace(f"{schema}.", "") for v in r) for r in rows)
    return out
