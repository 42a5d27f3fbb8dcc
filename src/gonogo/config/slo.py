"""Service levels: the SLO pack's limits, the load engine's bounds and plans, Gate C budgets."""

from __future__ import annotations

import urllib.parse

from pydantic import Field, field_validator, model_validator

from gonogo.config.load import MAX_REQUESTS, Duration, LoadPlanTable, check_duration
from gonogo.shape import root_field
from gonogo.table import Table, VarName, check_var_name


class SloSettings(Table):
    api_p95_ms: float = Field(default=150.0, gt=0)
    graphql_p95_ms: float = Field(default=1200.0, gt=0)
    error_rate: float = Field(default=0.001, ge=0, le=1)
    # Stream end to end: numbered notes through the ingest path, read back off the topic.
    stream_messages: int = Field(default=50, ge=2, le=100_000)
    stream_rate: float = Field(default=10.0, gt=0, le=1000)  # notes per second
    stream_e2e_p95_ms: float = Field(default=1000.0, gt=0)
    # Subscriptions fan-out: clients on graphql-transport-ws, notes pushed to all of them.
    subscription_clients: int = Field(default=100, ge=1, le=10_000)
    subscription_events: int = Field(default=10, ge=1, le=1000)
    subscription_p95_ms: float = Field(default=250.0, gt=0)
    subscription_document: str = "subscription NoteCreated { noteCreated { id text createdAt } }"
    # The field of each pushed note holding its text (the root field is the document's own).
    subscription_text_field: str = "text"
    ws_path: str = "/graphql/ws"

    @field_validator("subscription_document")
    @classmethod
    def _one_root_field(cls, value: str) -> str:
        root_field(value)  # the pushed notes are read under it
        return value


class LoadSettings(Table):
    """The load engine's bounds and the env's own plans (gonogo.load.plan has the built-ins)."""

    # Local Locust worker processes (--load-workers overrides).
    workers: int = Field(default=1, ge=0, le=64)
    # Workers on other machines (`gonogo load-worker --master HOST:PORT`, docs/load.md):
    # the master binds `master` and waits for this many more before any load starts.
    remote_workers: int = Field(default=0, ge=0, le=1000)
    master: str | None = Field(default=None, pattern=r"^[^:\s]*:\d{1,5}$")
    # Every built-in plan's scenarios run this long instead (the local env keeps CI short).
    duration: Duration | None = None
    # A run stops scheduling once this many requests were started, whatever the plan says.
    max_requests: int = Field(default=200_000, ge=1, le=MAX_REQUESTS)
    # Plans by name; a name the built-ins use (canary, api, graph) replaces that plan.
    plans: dict[str, LoadPlanTable] = Field(default_factory=dict)
    # The graph plan's Cypher workload, when not replaced as a whole.
    graph_queries: list[str] = Field(
        default_factory=lambda: ["MATCH (n:Note) RETURN count(n) AS notes"]
    )
    # Prometheus remote write (the receiver's URL, e.g. http://prometheus:9090/api/v1/write):
    # every plan's figures once a second under k6's series names (gonogo.load.remotewrite),
    # so the team's k6 dashboards show the canary. Auth: a bearer token in the variable
    # remote_write_token_env names, or HTTP basic with remote_write_user and the password in
    # remote_write_password_env. The local env pushes to its own Prometheus.
    remote_write: str | None = None
    remote_write_token_env: VarName | None = None
    remote_write_user: str | None = None
    remote_write_password_env: VarName | None = None

    _d = field_validator("duration")(check_duration)
    _v = field_validator("remote_write_token_env", "remote_write_password_env")(check_var_name)

    @field_validator("remote_write")
    @classmethod
    def _receiver_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = urllib.parse.urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or " " in value:
            raise ValueError(
                "must be the receiver's whole URL, like http://prometheus:9090/api/v1/write"
            )
        # Do not echo the URL: it holds a password.
        if parts.password is not None:
            raise ValueError(
                "holds a password in the URL; put the user in remote_write_user and the "
                "password in the variable remote_write_password_env names"
            )
        return value

    @model_validator(mode="after")
    def _someone_sends(self) -> LoadSettings:
        if self.workers + self.remote_workers < 1:
            raise ValueError("workers + remote_workers must be at least 1")
        basic = self.remote_write_user or self.remote_write_password_env
        if self.remote_write_token_env and basic:
            raise ValueError(
                "remote_write takes a bearer token (remote_write_token_env) or basic auth "
                "(remote_write_user, remote_write_password_env), not both"
            )
        if bool(self.remote_write_user) != bool(self.remote_write_password_env):
            raise ValueError(
                "remote_write's basic auth needs both remote_write_user and "
                "remote_write_password_env (the NAME of the variable holding the password)"
            )
        if self.remote_workers and not self.master:
            raise ValueError(
                'remote_workers needs master = "HOST:PORT" (the address the master binds and '
                "the remote workers connect to, like 0.0.0.0:5557)"
            )
        return self


class BudgetSettings(Table):
    """Front-end performance budgets (Gate C), judged on the release's Lighthouse results."""

    lighthouse_score: float = Field(default=0.80, ge=0, le=1)
    lcp_ms: float = Field(default=2500.0, gt=0)
    total_kb: float = Field(default=450.0, gt=0)
