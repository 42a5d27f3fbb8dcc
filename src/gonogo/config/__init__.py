"""environments.toml -> validated, typed settings.

The file holds what an operator used to keep in the bash smoke script: where
each environment lives and how to talk to it. It never holds a secret: a
token or password is named by the environment variable that carries it
(`token_env`, `password_env`), read only when a check needs it, and
registered with the redactor as it is read.

Validation is strict (unknown keys are errors) because a typo in a release
config silently disabling a check is worse than a refused run. Every error
is one line: the file, the key, what is wrong and how to fix it; input
values are never echoed, since a misplaced value may be a secret.
"""

from __future__ import annotations

import os
import re
import tomllib
import urllib.parse
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from gonogo.config.load import MAX_REQUESTS, Duration, LoadPlanTable, check_duration
from gonogo.errors import EnvFileError, MissingSecret, NotConfigured, UnknownEnvironment
from gonogo.redact import REDACTOR, short_secret_warning
from gonogo.series import PRESETS, SIGNALS, Mapping, parse_selector
from gonogo.shape import root_field, selection
from gonogo.table import Table, VarName, check_var_name
from gonogo.vocabulary import GATE_NAMES, PACK_GATES, TRIGGER_FOR_S

ENV_FILE_VARIABLE = "GONOGO_ENV_FILE"
DEFAULT_ENV_FILE = "environments.toml"
_ENV_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


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


class SignalSettings(Table):
    """One signal's place: `series` (a PromQL selector: scraped, or queried) or `promql`."""

    series: str | None = None
    promql: str | None = None
    # requests only: the label holding the status code (`code`; OpenTelemetry's
    # http_response_status_code)
    status_label: str | None = None

    @model_validator(mode="after")
    def _one(self) -> SignalSettings:
        if (self.series is None) == (self.promql is None):
            raise ValueError('give one of series = "metric{label=...}" or promql = "EXPR"')
        if self.series is not None:
            parse_selector(self.series)
        return self


class MetricsSettings(Table):
    """The deployment's metric names: a preset, and any signal mapped again."""

    preset: Literal["gonogo", "traefik", "otel"] = "gonogo"
    signals: dict[str, SignalSettings] = Field(default_factory=dict)

    @field_validator("signals")
    @classmethod
    def _known(cls, value: dict[str, SignalSettings]) -> dict[str, SignalSettings]:
        unknown = [k for k in value if k not in SIGNALS]
        if unknown:
            raise ValueError(
                f"unknown signal(s) {', '.join(unknown)}; signals: {', '.join(SIGNALS)}"
            )
        return value

    def mapping(self, signal: str) -> Mapping:
        """Where `signal` is for this deployment: its own mapping, else the preset's."""
        own = self.signals.get(signal)
        preset = PRESETS[self.preset][signal]
        if own is None:
            return preset
        label = own.status_label or preset.status_label
        if own.promql is not None:
            return Mapping(promql=own.promql, status_label=label)
        assert own.series is not None
        return Mapping(series=parse_selector(own.series), status_label=label)


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

    _v = field_validator("password_env", "scratch_password_env")(check_var_name)

    @field_validator("dsn", "scratch_dsn")
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


class ClusterSettings(Table):
    namespace: str
    context: str | None = None
    kubeconfig: str | None = None


def plain_url(
    value: str | None,
    example: str = "https://host.example.com",
    where: str = "a *_env variable",
) -> str | None:
    """An http(s) URL with no credentials in it (user:password@, or a query string, which is
    where access tokens end up): those belong in a *_env variable, never in the file."""
    if value is None:
        return None
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"must be an http:// or https:// URL, like {example}")
    try:
        parts = urllib.parse.urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number or out of range
    except ValueError as exc:
        raise ValueError(f"is not a valid URL ({exc}), like {example}") from None
    if not parts.hostname:
        raise ValueError(f"has no host name, like {example}")
    if re.match(r"^https?://[^/\s]*@", value):
        raise ValueError(f"must not carry credentials; put the token in {where}")
    if "?" in value or "#" in value:
        raise ValueError(
            f"must not carry a query string (access tokens end up there); put the token in {where}"
        )
    return value


class PrometheusSettings(Table):
    url: str
    token_env: VarName | None = None

    _v = field_validator("token_env")(check_var_name)
    _u = field_validator("url")(plain_url)


class BaselineSettings(Table):
    """Normal values for this env, against which relative rules are judged."""

    consumer_lag: float | None = Field(default=None, ge=0)
    api_p95_ms: float | None = Field(default=None, gt=0)


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


class TriggerOverride(Table):
    """One rollback trigger tuned for this env (names: `gonogo rules --env NAME`)."""

    threshold: float | None = None
    for_s: float | None = Field(default=None, ge=0)
    no_data: Literal["fail", "report"] | None = None
    enabled: StrictBool = True


class WatchSettings(Table):
    interval_s: float = Field(default=30.0, gt=0, le=3600)
    # How long a trigger's condition must hold before it fires (Prometheus `for:`).
    for_s: float = Field(default=TRIGGER_FOR_S, ge=0)
    # The availability SLO whose error budget the burn-rate trigger spends.
    slo_target: float = Field(default=0.999, gt=0, lt=1)
    # Where values come from: PromQL when the env has [prometheus] ("auto"), or always
    # the watch's own scrapes of /metrics ("metrics").
    source: Literal["auto", "metrics"] = "auto"
    triggers: dict[str, TriggerOverride] = Field(default_factory=dict)


class GrafanaPanel(Table):
    dashboard: str  # the dashboard's uid
    panel: int
    name: str


class GrafanaSettings(Table):
    url: str
    token_env: VarName | None = None
    panels: list[GrafanaPanel] = Field(default_factory=list)

    _v = field_validator("token_env")(check_var_name)
    _u = field_validator("url")(plain_url)


class AbacCase(Table):
    """One decision stated outright: this role's token on this request gets this status."""

    role: str
    path: str
    method: str = "GET"
    status: int = Field(ge=100, le=599)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/' (a path on base_url)")
        return value


class AbacSettings(Table):
    """The gateway's own ABAC policy, as the source of truth for what each role gets."""

    # A folder of .rego files (OPA's policy), evaluated with regopy at `query` for the input
    # {"claims": the token's claims, "resource", "action": the method, "path"}.
    rego: str | None = None
    query: str = "data.intelgraph.authz.allow"
    # The resources to ask the policy and the gateway about, at `path`.
    resources: list[str] = Field(default_factory=list)
    path: str = "/api/secure/{resource}"
    # Decisions stated outright, checked whatever the policy source.
    cases: list[AbacCase] = Field(default_factory=list)

    @field_validator("path")
    @classmethod
    def _template(cls, value: str) -> str:
        if not value.startswith("/") or "{resource}" not in value:
            raise ValueError("must be a path with {resource} in it, like /api/secure/{resource}")
        return value

    @model_validator(mode="after")
    def _resources(self) -> AbacSettings:
        if self.rego is not None and not self.resources:
            raise ValueError(
                'rego needs resources = ["...", ...]: the resources to ask the policy about'
            )
        return self


class AuditSettings(Table):
    """Where the audit log is and how its entries are laid out (gonogo.audit)."""

    path: str | None = None  # default: {api_path}/audit
    entries: str = "entries"
    key: str = "public_key"  # the log's field holding the Ed25519 public key
    key_format: Literal["raw-base64", "pem", "jwk"] = "raw-base64"
    hash: str = "hash"
    previous: str = "prev"
    signature: str = "sig"
    sequence: str | None = "seq"  # only to name entries in messages
    genesis: str = "0" * 64  # the first entry's previous hash
    # What is signed: the hash's bytes, its hex text, or the entry's canonical JSON.
    signed: Literal["digest", "digest-text", "entry"] = "digest"
    # How an entry is canonicalized before hashing: "json" (sorted keys, no spaces, non-ASCII
    # as \u escapes, 1.0 as 1.0: Python's json.dumps) or "jcs" (RFC 8785, as Node gateways
    # and JCS signers write it: "José" as UTF-8, 1.0 as 1).
    canonical: Literal["json", "jcs"] = "json"


AttestationKind = Literal["spdx", "slsa"]
ATTESTATION_KINDS: tuple[AttestationKind, ...] = ("spdx", "slsa")


class ProvenanceSettings(Table):
    """Who may have built the release, from what (slsa-verifier's --builder-id, --source-uri,
    --source-tag / --source-branch); gonogo.supplychain.provenance checks them."""

    # Trusted builder ids: with "@ref" exact, without it any ref of that workflow.
    builder_id: list[str] = Field(min_length=1)
    source_uri: str  # github.com/OWNER/REPO (a URL or git+ form is normalised)
    source_ref: str | None = None  # refs/tags/v2.4.0; or one of:
    source_tag: str | None = None
    source_branch: str | None = None

    @field_validator("builder_id", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_ref(self) -> ProvenanceSettings:
        given = [k for k in ("source_ref", "source_tag", "source_branch") if getattr(self, k)]
        if len(given) > 1:
            raise ValueError(f"give one of source_ref, source_tag, source_branch (got {given})")
        return self


class SecuritySettings(Table):
    """Who must have signed the release, and how the gateway's guards are exercised."""

    # The signing certificate's identity (SAN) and OIDC issuer every Sigstore bundle
    # must carry, e.g. the release workflow and https://token.actions.githubusercontent.com.
    identity: str | None = None
    issuer: str | None = None
    # A PEM ECDSA P-256 public key for keyed cosign signatures (relative to the env file).
    cosign_public_key: str | None = None
    # An OCI registry to find the images' attestations in (besides the release's files).
    registry: str | None = None
    # The attestations every image needs, verified (cosign verify-attestation): an SPDX
    # SBOM and SLSA provenance (v0.2 or v1), as the checklist's deploy step asks.
    required_predicates: list[AttestationKind] = Field(
        default_factory=lambda: list(ATTESTATION_KINDS)
    )
    # Folder of .rego policies (default: policies/ in the project).
    policies: str | None = None
    # The ABAC policy file the gateway enforces (gonogo's JSON format), and a token per role
    # to exercise it; or [security.abac] for an OPA/Rego policy and explicit cases.
    abac_policy: str | None = None
    abac: AbacSettings = Field(default_factory=AbacSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    provenance: ProvenanceSettings | None = None
    role_tokens: dict[str, VarName] = Field(default_factory=dict)
    # An expired (but otherwise valid) token, to prove expiry is enforced.
    expired_token_env: VarName | None = None

    _v = field_validator("expired_token_env")(check_var_name)
    _u = field_validator("registry")(plain_url)

    @field_validator("role_tokens")
    @classmethod
    def _role_variables(cls, value: dict[str, str]) -> dict[str, str]:
        for variable in value.values():
            check_var_name(variable)  # never the token itself
        return value


class CommsSettings(Table):
    # The variable holding the war room's webhook URL (the URL is the credential).
    webhook_env: VarName | None = None
    # A folder of go-no-go.txt / post-deploy.txt / rollback.txt / status.txt overriding
    # gonogo's own.
    templates: str | None = None
    # The seed's "Comms Cadence": `gonogo watch` posts a status message this often.
    cadence: Duration | None = "30m"

    _v = field_validator("webhook_env")(check_var_name)
    _d = field_validator("cadence")(check_duration)


# The edge in front of the two slots: Traefik's annotation (the seed macro's) by default.
SERVICE_WEIGHTS_ANNOTATION = "traefik.ingress.kubernetes.io/service-weights"


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


class EdgeSettings(Table):
    """The route in front of blue and green: where its weights are declared (an Ingress's
    service-weights annotation, or a weighted TraefikService), and how a response says
    which slot answered. Read through [cluster]."""

    kind: Literal["ingress", "traefikservice"] = "ingress"
    name: str = "intelgraph"
    namespace: str | None = None  # default: [cluster] namespace
    annotation: str = SERVICE_WEIGHTS_ANNOTATION
    # TraefikService's API group: traefik.io (v3, v2.10+) or traefik.containo.us (older v2).
    group: str = "traefik.io"
    # Each slot's Kubernetes Service in the weights.
    services: dict[str, str] = Field(
        default_factory=lambda: {"blue": "intelgraph-blue", "green": "intelgraph-green"}
    )
    # The URL users reach (through the edge); default: the env's base_url.
    public_url: str | None = None
    probe_path: str = "/healthz"
    # Which slot answered: a response header, or a field of the probe's JSON body.
    slot_header: str | None = "X-IntelGraph-Slot"
    slot_field: str | None = None
    samples: int = Field(default=200, ge=20, le=5000)
    # How long a weight change may take to reach the traffic (the edge reloads its config).
    settle_s: float = Field(default=30.0, gt=0, le=600)

    _u = field_validator("public_url")(plain_url)

    @model_validator(mode="after")
    def _slot_source(self) -> EdgeSettings:
        if not self.slot_header and not self.slot_field:
            raise ValueError(
                "set slot_header (a response header naming the slot) or slot_field (a "
                "field of the probe's JSON body); the observed weights need one"
            )
        if len(self.services) < 2:
            raise ValueError('services names both slots: {blue = "svc-blue", green = "svc-green"}')
        return self


class CoverageThresholds(Table):
    """Minimum coverage, as fractions (0.8 = 80 %); branch is judged where the report has it."""

    line: float = Field(default=0.8, ge=0, le=1)
    branch: float | None = Field(default=None, ge=0, le=1)


# The Go/No-Go checklist's Gate A: "All required checks green (typecheck, coverage >=
# thresholds, Trivy fs scan, helm-digest policy, terraform validate if infra changes)".
DEFAULT_REQUIRED_CHECKS = [
    "typecheck",
    "coverage",
    "trivy-fs",
    "helm-digest-policy",
    "terraform-validate",
]


class CiSettings(Table):
    """The release commit's CI results (gonogo.ci): GitHub's API, or the release's ci/ files."""

    # "github": check runs and commit statuses through the REST API; "files": JUnit files in
    # the release folder's ci/checks/NAME.xml, for CI systems gonogo has no API for.
    provider: Literal["github", "files"] = "files"
    repo: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    token_env: VarName | None = None
    api_url: str = "https://api.github.com"  # GitHub Enterprise: https://HOST/api/v3
    # The release commit; default: the source commit in the release's provenance.json.
    ref: str | None = None
    # The previous release's commit: terraform-validate is required only when a file under
    # infra_paths changed between the two.
    previous_ref: str | None = None
    required: list[str] = Field(default_factory=lambda: list(DEFAULT_REQUIRED_CHECKS))
    infra_check: str = "terraform-validate"
    infra_paths: list[str] = Field(default_factory=lambda: ["infra/", "terraform/"])
    min_coverage: CoverageThresholds = Field(default_factory=CoverageThresholds)

    _v = field_validator("token_env")(check_var_name)
    _u = field_validator("api_url")(plain_url)

    @model_validator(mode="after")
    def _github_needs_repo(self) -> CiSettings:
        if self.provider == "github" and not self.repo:
            raise ValueError('provider "github" needs repo = "OWNER/NAME"')
        return self


# What a response body may weigh when the env does not say ([limits] max_body_mb): far
# above any health answer, exposition or GraphQL reply a check reads, far below trouble.
DEFAULT_MAX_BODY_MB = 8.0


class EvidenceSettings(Table):
    """How the run signs its bundle (gonogo.signing): a key, or the CI's OIDC identity."""

    # The variable holding an unencrypted PEM ECDSA P-256 private key.
    signing_key_env: VarName | None = None
    keyless: StrictBool = False

    _v = field_validator("signing_key_env")(check_var_name)

    @model_validator(mode="after")
    def _one_way(self) -> EvidenceSettings:
        if self.keyless and self.signing_key_env:
            raise ValueError("sign with signing_key_env or keyless = true, not both")
        return self


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


class EnvSettings(Table):
    """One `[environments.NAME]` table, validated. Holds no secret values."""

    name: str
    description: str = ""
    base_url: str | None = None
    api_path: str = "/api"
    graphql_path: str = "/graphql"
    metrics_path: str = "/metrics"
    # Where /metrics is when not on base_url: an exporter's own port, like
    # http://gateway.example.com:9464/metrics (no bearer token is sent to another origin).
    metrics_url: str | None = None
    health_path: str = "/healthz"
    ready_path: str = "/readyz"
    token_env: VarName | None = None
    # Only the opt-in drills (e.g. write-freeze) act as an admin.
    admin_token_env: VarName | None = None
    # The deadline of each request, whole (connect, send, headers and body), not per read.
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    # true, false, or the path of a CA bundle to trust (relative to the env file).
    verify_tls: StrictBool | str = True
    # Safe default: an env is production unless it says otherwise.
    production: StrictBool = True
    sandbox: StrictBool = False
    # A sandbox env's slot: "blue" points base_url at the local blue (the previous release,
    # the rollback target) instead of green. Real envs say where they are with base_url.
    slot: Literal["green", "blue"] = "green"
    faults: list[str] = Field(default_factory=list)
    # The gates a GO needs: any of these not run makes the verdict INCOMPLETE.
    required_gates: list[str] = Field(default_factory=lambda: list(PACK_GATES))
    operations: Operations = Field(default_factory=lambda: Operations.model_validate({}))
    graphql: GraphQLSettings = Field(default_factory=GraphQLSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    graph: GraphSettings | None = None
    stream: StreamSettings | None = None
    cluster: ClusterSettings | None = None
    prometheus: PrometheusSettings | None = None
    database: DatabaseSettings | None = None
    # The release's evidence folder (migrations/, data-ops.md, graph-schema.json, ...);
    # relative to the env file. --release=DIR overrides it.
    release: str | None = None
    dataops: DataopsSettings = Field(default_factory=DataopsSettings)
    baseline: BaselineSettings = Field(default_factory=BaselineSettings)
    slo: SloSettings = Field(default_factory=SloSettings)
    smoke: SmokeSettings = Field(default_factory=SmokeSettings)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    # How requests leave this machine: HTTP(S)_PROXY / NO_PROXY are honoured as httpx reads
    # them; [proxy] url sends every request of the env through that proxy instead.
    proxy: ProxySettings | None = None
    evidence: EvidenceSettings = Field(default_factory=EvidenceSettings)
    ci: CiSettings | None = None
    budgets: BudgetSettings = Field(default_factory=BudgetSettings)
    load: LoadSettings = Field(default_factory=LoadSettings)
    comms: CommsSettings = Field(default_factory=CommsSettings)
    edge: EdgeSettings | None = None
    watch: WatchSettings = Field(default_factory=WatchSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    grafana: GrafanaSettings | None = None

    _v = field_validator("token_env", "admin_token_env")(check_var_name)

    @field_validator("required_gates")
    @classmethod
    def _gates(cls, value: list[str]) -> list[str]:
        unknown = [g for g in value if g not in GATE_NAMES]
        if unknown:
            raise ValueError(
                f"unknown gate(s) {', '.join(unknown)}; gates: {', '.join(GATE_NAMES)}"
            )
        if not value:
            # With none required, a run that checked nothing would be GO.
            raise ValueError(
                f"must name at least one gate (a GO needs something checked); gates: "
                f"{', '.join(GATE_NAMES)}"
            )
        return value

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        checked = plain_url(value, example="https://green.example.com", where="token_env")
        return checked.rstrip("/") if checked is not None else None

    _m = field_validator("metrics_url")(plain_url)

    @field_validator("verify_tls")
    @classmethod
    def _ca_bundle(cls, value: bool | str) -> bool | str:
        if isinstance(value, bool):
            return value
        if value.lower() in ("true", "false"):
            raise ValueError(f"write {value.lower()} without quotes (a TOML boolean)")
        if not Path(value).is_file():
            raise ValueError(
                f"no CA bundle file at {value}; give the path of a PEM file (relative to the "
                "env file), or true / false"
            )
        return value

    @field_validator("api_path", "graphql_path", "metrics_path", "health_path", "ready_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value

    @model_validator(mode="after")
    def _needs_url(self) -> EnvSettings:
        if not self.sandbox and self.base_url is None:
            raise ValueError("base_url is required (or sandbox = true for the local environment)")
        if self.slot != "green" and not self.sandbox:
            raise ValueError(
                "slot applies only to the local environment (sandbox = true); a real env "
                "says where its slot is with base_url"
            )
        return self

    # -- secrets, read at the moment of use ---------------------------------------

    def secret_variables(self) -> list[str]:
        names = [self.token_env, self.admin_token_env]
        if self.graph:
            names.append(self.graph.password_env)
        if self.stream:
            names.append(self.stream.sasl_password_env)
        if self.prometheus:
            names.append(self.prometheus.token_env)
        if self.database:
            names += [self.database.password_env, self.database.scratch_password_env]
        names.append(self.comms.webhook_env)
        if self.grafana:
            names.append(self.grafana.token_env)
        names.append(self.evidence.signing_key_env)
        names += [self.load.remote_write_token_env, self.load.remote_write_password_env]
        if self.ci:
            names.append(self.ci.token_env)
        names += [self.security.expired_token_env, *self.security.role_tokens.values()]
        return [n for n in names if n]

    def register_secrets(self) -> list[str]:
        """Register whatever secrets are set now, so they are masked from the first line;
        the warnings for any too short to mask safely, to be said at the run's start."""
        warnings = []
        for name in self.secret_variables():
            value = os.environ.get(name, "")
            REDACTOR.add(value)
            warning = short_secret_warning(self.name, name, value)
            if warning is not None:
                warnings.append(warning)
        return warnings

    def read_secret(self, variable: str | None, purpose: str, key: str) -> str:
        if not variable:
            raise MissingSecret(self.name, None, purpose, key)
        value = os.environ.get(variable, "")
        if not value:
            raise MissingSecret(self.name, variable, purpose, key)
        REDACTOR.add(value)
        return value

    def token(self) -> str:
        return self.read_secret(self.token_env, "bearer token", "token_env")

    def require(self, table: str, what: str) -> Any:
        """The named optional table, or NotConfigured (the check is skipped, saying why)."""
        value = getattr(self, table)
        if value is None:
            raise NotConfigured(self.name, table, what)
        return value

    def public(self) -> dict[str, Any]:
        """The settings as written to the bundle: names of variables, never their values."""
        return self.model_dump(mode="json")


class EnvFile(BaseModel):
    """The whole file: the path it came from and its environments by name."""

    model_config = ConfigDict(frozen=True)

    path: str
    environments: dict[str, EnvSettings]

    @property
    def names(self) -> list[str]:
        return sorted(self.environments)

    def get(self, name: str) -> EnvSettings:
        try:
            return self.environments[name]
        except KeyError:
            raise UnknownEnvironment(name, self.names, self.path) from None


def resolve_env_file(option: str | None, rootdir: Path) -> Path:
    """--env-file, else $GONOGO_ENV_FILE, else environments.toml in the rootdir."""
    if option:
        return Path(option)
    from_env = os.environ.get(ENV_FILE_VARIABLE)
    if from_env:
        return Path(from_env)
    return rootdir / DEFAULT_ENV_FILE


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _format_validation(path: str, env: str, error: ValidationError) -> str:
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        loc = _where((env, *item["loc"])) if item["loc"] else env
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = (
                "unknown key (check the spelling; see environments.toml in the repo for every key)"
            )
        elif item["type"] == "missing":
            message = "required key is missing"
        elif item["type"] == "bool_type":
            message = "must be true or false (a TOML boolean, without quotes)"
        problems.append(f"environments.{loc}: {message}")
    shown = problems[:3]
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return f"{path}: " + "; ".join(shown) + more


def load_env_file(path: Path) -> EnvFile:
    """Read and validate the file, raising EnvFileError with a one-line cause."""
    shown = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if os.environ.get(ENV_FILE_VARIABLE) == str(path):
            raise EnvFileError(
                f"env file {shown} not found (named by {ENV_FILE_VARIABLE}); fix or unset "
                f"{ENV_FILE_VARIABLE}, or pass --env-file PATH"
            ) from None
        raise EnvFileError(
            f"env file {shown} not found; pass --env-file PATH or set {ENV_FILE_VARIABLE}"
        ) from None
    except IsADirectoryError:
        raise EnvFileError(
            f"env file {shown} is a folder; pass the file, like {shown}/{DEFAULT_ENV_FILE}"
        ) from None
    except OSError as exc:
        raise EnvFileError(f"env file {shown} cannot be read: {exc.strerror}") from None
    try:
        # utf-8-sig: editors on Windows save a byte-order mark, which TOML itself refuses.
        data = tomllib.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise EnvFileError(f"{shown}: not UTF-8 text; save it as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        cause = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(exc))
        if match:
            at = f":{match.group(1)}:{match.group(2)}"
        else:  # "at end of document": an unclosed string or table runs to the last line
            at = f":{len(raw.decode('utf-8').splitlines()) or 1}"
            cause += " (unclosed at the end of the file)"
        raise EnvFileError(f"{shown}{at}: malformed TOML: {cause}; fix the syntax there") from None

    unknown_top = sorted(set(data) - {"environments"})
    if unknown_top:
        raise EnvFileError(
            f"{shown}: unknown top-level table(s) {', '.join(unknown_top)}; "
            "every environment goes under [environments.NAME]"
        )
    tables = data.get("environments")
    if not isinstance(tables, dict) or not tables:
        raise EnvFileError(f"{shown}: no environments defined; add an [environments.NAME] table")

    envs: dict[str, EnvSettings] = {}
    for name, table in tables.items():
        if not _ENV_NAME.match(name):
            raise EnvFileError(
                f"{shown}: environment name '{name}' must be lower-case letters, digits, '-' or '_'"
            )
        if not isinstance(table, dict):
            raise EnvFileError(f"{shown}: environments.{name} must be a table")
        for key in ("release", "verify_tls"):
            value = table.get(key)
            relative = isinstance(value, str) and value and not Path(value).is_absolute()
            if relative and str(value).lower() not in ("true", "false"):  # refused as quoted
                table = {**table, key: str(path.parent / str(value))}
        security = table.get("security")
        if isinstance(security, dict):
            for key in ("cosign_public_key", "policies", "abac_policy"):
                value = security.get(key)
                if isinstance(value, str) and not Path(value).is_absolute():
                    security = {**security, key: str(path.parent / value)}
            abac_table = security.get("abac")
            if isinstance(abac_table, dict):
                rego_dir = abac_table.get("rego")
                if isinstance(rego_dir, str) and not Path(rego_dir).is_absolute():
                    abac_table = {**abac_table, "rego": str(path.parent / rego_dir)}
                    security = {**security, "abac": abac_table}
            table = {**table, "security": security}
        comms = table.get("comms")
        templates = comms.get("templates") if isinstance(comms, dict) else None
        if isinstance(comms, dict) and isinstance(templates, str):
            if not Path(templates).is_absolute():
                templates = str(path.parent / templates)
            table = {**table, "comms": {**comms, "templates": templates}}
        try:
            envs[name] = EnvSettings.model_validate({**table, "name": name})
        except ValidationError as exc:
            raise EnvFileError(_format_validation(shown, name, exc)) from None
    return EnvFile(path=shown, environments=envs)
