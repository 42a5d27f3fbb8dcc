"""The load-plan schema: scenarios, requests and stages as an env file (or a test) writes them.

Validated with the env file, at the bottom of the import graph beside
config.py (whose `[load] plans` table points here), so a malformed plan is
one line before any run starts. Plans themselves are built in plan.py.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from gonogo.table import Table
from gonogo.vocabulary import parse_duration

Duration = Annotated[str, Field(description='a k6 duration: "30s", "2m", "1m30s", "500ms"')]


def check_duration(value: str | None) -> str | None:
    if value is not None:
        parse_duration(value)
    return value


class LoadRequest(Table):
    """One request an iteration makes: HTTP, a persisted GraphQL operation, or Cypher."""

    name: str
    kind: Literal["http", "graphql", "cypher"] = "http"
    method: str = "GET"
    # http: a path on base_url (like "/api/ping"); graphql: an [operations] key or an op id.
    path: str | None = None
    operation: str | None = None
    variables: dict[str, Any] = Field(default_factory=dict)
    query: str | None = None  # cypher
    tags: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _what(self) -> LoadRequest:
        needed = {"http": "path", "graphql": "operation", "cypher": "query"}[self.kind]
        if getattr(self, needed) is None:
            raise ValueError(f"a {self.kind} request needs {needed}")
        if self.kind == "http" and not str(self.path).startswith("/"):
            raise ValueError("path must start with '/'")
        return self


class LoadStage(Table):
    duration: Duration
    target: float = Field(ge=0)

    _d = field_validator("duration")(check_duration)


class LoadScenario(Table):
    """k6's open-model executors: iterations start on schedule whatever the server does."""

    executor: Literal["constant-arrival-rate", "ramping-arrival-rate"] = "constant-arrival-rate"
    rate: float | None = Field(default=None, gt=0)  # constant: iterations per time_unit
    start_rate: float = Field(default=0.0, ge=0)  # ramping: the rate before the first stage
    time_unit: Duration = "1s"
    duration: Duration | None = None  # constant
    stages: list[LoadStage] = Field(default_factory=list)  # ramping
    pre_allocated: int = Field(default=10, ge=1, le=100_000)
    max_concurrency: int = Field(default=100, ge=1, le=100_000)
    graceful_stop: Duration = "10s"
    requests: list[LoadRequest] = Field(min_length=1)
    tags: dict[str, str] = Field(default_factory=dict)

    _d = field_validator("time_unit", "duration", "graceful_stop")(check_duration)

    @model_validator(mode="after")
    def _shape(self) -> LoadScenario:
        if self.executor == "constant-arrival-rate" and (self.rate is None or not self.duration):
            raise ValueError("constant-arrival-rate needs rate and duration")
        if self.executor == "ramping-arrival-rate" and not self.stages:
            raise ValueError("ramping-arrival-rate needs stages = [{duration, target}, ...]")
        if self.max_concurrency < self.pre_allocated:
            raise ValueError("max_concurrency must be at least pre_allocated")
        return self


class LoadPlanTable(Table):
    scenarios: dict[str, LoadScenario] = Field(min_length=1)
    # k6's form: {"http_req_duration{scenario:gateway}" = ["p(95)<150"]}
    thresholds: dict[str, list[str]] = Field(default_factory=dict)
