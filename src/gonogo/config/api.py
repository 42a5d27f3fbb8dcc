"""The gateway's API as the deployment serves it: persisted operations, GraphQL transport,
the smoke's paths and words, body limits and the proxy in between."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from gonogo.config.fields import plain_url
from gonogo.shape import selection
from gonogo.table import Table


class Operation(Table):
    """One persisted operation as the deployment names it, and what its answer must hold."""

    id: str  # the persisted id, APQ hash or documentId, per [graphql] persisted
    field: str  # the root field of `data` that answers it
    # The shape the root field's value must have, as a GraphQL selection (gonogo.shape).
    expect: str = ""
    # gonogo's name for a variable -> the deployment's ({limit = "first"}, {text = "body"}).
    variables: dict[str, str] = Field(default_factory=dict)

    @field_validator("expect")
    @classmethod
    def _selection(cls, value: str) -> str:
        if value.strip():
            selection(value)
        return value

    def var(self, name: str) -> str:
        return self.variables.get(name, name)


# The local environment's operations (its defaults); a plain string in the file is an id.
DEFAULT_OPERATIONS: dict[str, dict[str, Any]] = {
    "health": {"id": "op:healthQuery:v1", "field": "health", "expect": "ok"},
    "dashboard": {
        "id": "op:GetUserDashboard:v1",
        "field": "dashboard",
        "expect": "widgets { id type } alerts { level }",
    },
    "notes": {"id": "op:GetNotes:v1", "field": "notes", "expect": "id text createdAt"},
    "create_note": {"id": "op:CreateNote:v1", "field": "createNote", "expect": "id"},
}


class Operations(Table):
    """The four persisted operations the packs send, each `id = "..."` or a table."""

    health: Operation
    dashboard: Operation
    notes: Operation
    create_note: Operation

    @model_validator(mode="before")
    @classmethod
    def _defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for key, default in DEFAULT_OPERATIONS.items():
            given = out.get(key)
            if isinstance(given, str):
                out[key] = {**default, "id": given}
            elif isinstance(given, dict):
                out[key] = {**default, **given}
            elif given is None:
                out[key] = default
        return out


class GraphQLSettings(Table):
    # "id": {"id": ..., "variables": ...}; "apq": Apollo's extensions.persistedQuery,
    # in which case the operation values above are the documents' sha256 hashes;
    # "documentId": GraphQL-over-HTTP persisted documents ({"documentId": ...}).
    persisted: Literal["id", "apq", "documentId"] = "id"
    # GET sends the operation in the query string (the GraphQL-over-HTTP spec allows it for
    # queries; mutations always go by POST).
    method: Literal["POST", "GET"] = "POST"


class ProxySettings(Table):
    """The env's own HTTP proxy (a CONNECT proxy for https://), instead of the variables:
    an env behind a proxy that this machine's other traffic does not use."""

    url: str
    # Hosts reached directly, as NO_PROXY writes them: "internal.example.com", ".corp", "*".
    no_proxy: list[str] = Field(default_factory=list)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        # Credentials never in the file: a proxy needing them takes HTTPS_PROXY instead.
        return str(plain_url(value, "http://proxy.example.com:3128", "HTTPS_PROXY"))


# What a response body may weigh when the env does not say ([limits] max_body_mb): far
# above any health answer, exposition or GraphQL reply a check reads, far below trouble.
DEFAULT_MAX_BODY_MB = 8.0


class LimitsSettings(Table):
    # A response over this fails the check that needed it ("truncated at N MB").
    max_body_mb: float = Field(default=DEFAULT_MAX_BODY_MB, gt=0, le=1024)


class SmokeSettings(Table):
    pings: int = Field(default=10, ge=1, le=1000)
    # Paths on api_path: the ping the spot latency (and the canary) sends, and one resource
    # the smoke token may use and one it may not (the ABAC spot check).
    ping_path: str = "/ping"
    allowed_path: str = "/secure/allowed"
    denied_path: str = "/secure/denied"
    # How /healthz says healthy: the JSON field ({"status": "ok"}), or "" for a plain-text
    # body (Kubernetes' "ok"); its value is one of health_ok, in any case (Spring's "UP",
    # the IETF health-check draft's "pass").
    health_field: str = "status"
    health_ok: list[str] = Field(default_factory=lambda: ["ok", "pass", "up", "healthy"])
    # Where /readyz lists its dependencies: {name: "ok"} or {name: {"status": "UP"}}; a
    # dependency whose status is not one of health_ok is down. "" when it lists none.
    ready_checks_field: str = "checks"
    # The write-freeze drill's admin endpoint (on api_path): POST ?enable=true|false -> 200.
    write_freeze_path: str = "/admin/write-freeze"

    @field_validator("health_ok")
    @classmethod
    def _ok(cls, value: list[str]) -> list[str]:
        if not value or not all(v.strip() for v in value):
            raise ValueError('must list the words that mean healthy, like ["ok", "pass"]')
        return [v.strip().lower() for v in value]

    @field_validator("ping_path", "allowed_path", "denied_path", "write_freeze_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/' (a path on api_path)")
        return value
