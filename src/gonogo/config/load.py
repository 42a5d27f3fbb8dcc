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

# Bounds on what one plan may ask, so that a typo (1e9 for 1e3, "1000000h" for "10m") is a
# message before the run, not a run that floods a gateway or never ends. Far above any
# canary or soak this suite runs; the message names the bound.
MAX_RATE_PER_S = 50_000.0
MAX_DURATION_S = 6 * 3600.0
MAX_REQUESTS = 100_000_000


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
        self._bounded()
        return self

    def _bounded(self) -> None:
        unit = parse_duration(self.time_unit)
        if unit <= 0:
            raise ValueError(f"time_unit '{self.time_unit}' must be longer than 0 s, like \"1s\"")
        rates = [("rate", self.rate), ("start_rate", self.start_rate)]
        rates += [(f"stages[{n}].target", stage.target) for n, stage in enumerate(self.stages)]
        for key, rate in rates:
            if rate is not None and not rate / unit <= MAX_RATE_PER_S:  # inf and nan too
                raise ValueError(
                    f"{key} {rate:g} per {self.time_unit} is over the bound of "
                    f"{MAX_RATE_PER_S:g} iterations/s per scenario; check for a typo"
                )
        if self.duration is not None:
            if parse_duration(self.duration) <= 0:
                raise ValueError(f"duration '{self.duration}' must be longer than 0 s")
            total = parse_duration(self.duration)
        else:
            total = sum(parse_duration(stage.duration) for stage in self.stages)
        if total > MAX_DURATION_S or parse_duration(self.graceful_stop) > MAX_DURATION_S:
            raise ValueError(
                f"runs {total / 3600:g} h (graceful_stop {self.graceful_stop}), over the bound "
                f"of {MAX_DURATION_S / 3600:g} h for one plan; check for a typo"
            )


class LoadPlanTable(Table):
    scenarios: dict[str, LoadScenario] = Field(min_length=1)
    # k6's form: {"http_req_duration{scenario:gateway}" = ["p(95)<150"]}
    thresholds: dict[str, list[str]] = Field(default_factory=dict)
