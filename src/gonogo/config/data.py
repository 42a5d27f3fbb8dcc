"""The data path: the graph, the stream, the database, and what data-ops judges them by."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from gonogo.config.load import Duration, check_duration
from gonogo.table import Table, VarName, check_var_name


class GraphSettings(Table):
    uri: str
    user: str = "neo4j"
    password_env: VarName | None = None
    database: str | None = None
    # Which server answers Bolt: Neo4j-only checks (dbms.components(), APOC, GDS) report
    # "not applicable" on FalkorDB instead of passing.
    flavor: Literal["neo4j", "falkordb"] = "neo4j"

    _v = field_validator("password_env")(check_var_name)

    @property
    def over_http(self) -> bool:
        """Neo4j's HTTP transaction API (http(s)://), not Bolt (bolt://, neo4j://)."""
        return self.uri.startswith(("http://", "https://"))


class StreamSettings(Table):
    bootstrap: str
    canary_topic: str = "intelgraph.canary"
    # Non-secret librdkafka properties (security.protocol, sasl.mechanism, ...).
    client: dict[str, str] = Field(default_factory=dict)

    @field_validator("client")
    @classmethod
    def _no_secret_properties(cls, value: dict[str, str]) -> dict[str, str]:
        secret = [k for k in value if re.search(r"password|secret|token|\.pem$|credential", k)]
        if secret:
            raise ValueError(
                f"'{secret[0]}' holds a secret in the file; the SASL password comes from "
                "sasl_password_env, and other secrets must not be written here"
            )
        return value

    sasl_username: str | None = None
    sasl_password_env: VarName | None = None
    # The app's consumer groups, whose lag the data-ops pack judges against the baseline.
    groups: list[str] = Field(default_factory=list)
    # The topic the app's ingest path (CreateNote -> outbox) publishes to, for end-to-end,
    # and where in each event's JSON the note's text is (a dotted path: "payload.body").
    ingest_topic: str | None = None
    ingest_text_field: str = "text"

    _v = field_validator("sasl_password_env")(check_var_name)


class DatabaseSettings(Table):
    """The app's PostgreSQL, as seen by a read-only role (plus pg_create_restore_point)."""

    # libpq URL without a password, e.g. postgresql://gonogo_ro@db.example.com:5432/intelgraph
    dsn: str
    password_env: VarName | None = None
    # The migration tool's bookkeeping: a plain table of versions or Alembic's head.
    migrations_table: Literal["schema_migrations", "alembic_version"] = "schema_migrations"
    # A database the idempotency check may write to (never the live one).
    scratch_dsn: str | None = None
    scratch_password_env: VarName | None = None
    # The env's own migrate command, run twice against the scratch database with
    # DATABASE_URL set; without it, plain SQL files are applied by gonogo's runner.
    migrate_command: list[str] | None = None
    # Tables whose checksums are recorded with the restore point and compared after cutover.
    checksum_tables: list[str] = Field(default_factory=list)
    # Streaming replicas this database should have, and the replay lag they may show.
    replicas: int = Field(default=0, ge=0)
    max_replica_lag_s: float = Field(default=30.0, gt=0)
    # The other side of T-5's final sync delta (a replica, or the database green takes over
    # from): checksum_tables must read the same there once replay has caught up.
    sync_dsn: str | None = None
    sync_password_env: VarName | None = None

    _v = field_validator("password_env", "scratch_password_env", "sync_password_env")(
        check_var_name
    )

    @field_validator("dsn", "scratch_dsn", "sync_dsn")
    @classmethod
    def _dsn(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not re.match(r"^postgres(ql)?://", value):
            raise ValueError("must be a postgresql:// URL, like postgresql://gonogo_ro@db:5432/app")
        if re.match(r"^postgres(ql)?://[^/@]*:[^/@]*@", value):
            raise ValueError("must not carry a password; set password_env to its variable")
        return value


class DataopsSettings(Table):
    # Consumer lag may be this many times the baseline (the release checklist says 1.5x):
    # read by both lag checks, the smoke's consumer_lag gauge and the data-ops group lag.
    lag_factor: float = Field(default=1.5, gt=0)
    # The ingest backlog must fall to the baseline within this many seconds.
    drain_within_s: float = Field(default=30.0, gt=0, le=3600)
    # Numbered messages the stream-integrity check sends through the canary topic.
    canary_messages: int = Field(default=20, ge=2, le=10000)
    # T-50 "verify snapshots": the recovery point objective. The newest archived WAL (what a
    # point-in-time recovery replays) may be this old while WAL written since waits.
    rpo: Duration = "15m"
    # T-5 "final sync delta": how far (bytes of WAL) a replica's replay may trail what the
    # primary sent; 0, the delta applied.
    max_replay_lag_bytes: int = Field(default=0, ge=0)

    _d = field_validator("rpo")(check_duration)


class BaselineSettings(Table):
    """Normal values for this env, against which relative rules are judged."""

    consumer_lag: float | None = Field(default=None, ge=0)
    api_p95_ms: float | None = Field(default=None, gt=0)
