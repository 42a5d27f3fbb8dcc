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

Loading and secrets are here, with EnvSettings (one env's table); each feature's tables are
a module beside it, named for the part of the command center it serves: api (the gateway),
signals (metrics, Prometheus, the watch, Grafana), data (graph, stream, database, data-ops),
slo (SLO limits, load, budgets), security, day (cluster, edge, comms), release (CI, the
bundle's signing), load (the load-plan tables), fields (what several share).
"""

from __future__ import annotations

import os
import re
import tomllib
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

from gonogo.config.api import (
    GraphQLSettings,
    LimitsSettings,
    Operations,
    ProxySettings,
    SmokeSettings,
)
from gonogo.config.data import (
    BaselineSettings,
    DatabaseSettings,
    DataopsSettings,
    GraphSettings,
    StreamSettings,
)
from gonogo.config.day import (
    ClusterSettings,
    CommsSettings,
    CutoverSettings,
    EdgeSettings,
    StatuspageSettings,
)
from gonogo.config.fields import plain_url
from gonogo.config.release import CiSettings, EvidenceSettings
from gonogo.config.security import SecuritySettings
from gonogo.config.signals import (
    AlertsSettings,
    GrafanaSettings,
    MetricsSettings,
    PrometheusSettings,
    WatchSettings,
)
from gonogo.config.slo import BudgetSettings, LoadSettings, SloSettings
from gonogo.errors import EnvFileError, MissingSecret, NotConfigured, UnknownEnvironment
from gonogo.redact import REDACTOR, short_secret_warning
from gonogo.table import Table, VarName, check_var_name
from gonogo.vocabulary import GATE_NAMES

ENV_FILE_VARIABLE = "GONOGO_ENV_FILE"
DEFAULT_ENV_FILE = "environments.toml"
_ENV_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


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
    # The gates a GO needs: any of these not run makes the verdict INCOMPLETE.
    required_gates: list[str] = Field(default_factory=lambda: list(GATE_NAMES))
    operations: Operations = Field(default_factory=lambda: Operations.model_validate({}))
    graphql: GraphQLSettings = Field(default_factory=GraphQLSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    graph: GraphSettings | None = None
    stream: StreamSettings | None = None
    cluster: ClusterSettings | None = None
    prometheus: PrometheusSettings | None = None
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)
    cutover: CutoverSettings = Field(default_factory=CutoverSettings)
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
    statuspage: StatuspageSettings | None = None
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
    data = _read_toml(path)
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
        try:
            envs[name] = EnvSettings.model_validate(
                {**_relative_to(path.parent, table), "name": name}
            )
        except ValidationError as exc:
            raise EnvFileError(_format_validation(shown, name, exc)) from None
    return EnvFile(path=shown, environments=envs)


def _read_toml(path: Path) -> dict[str, Any]:
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
        return tomllib.loads(raw.decode("utf-8-sig"))
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


def _relative_to(folder: Path, table: dict[str, Any]) -> dict[str, Any]:
    """The env's paths as the file means them: relative to the file, not to the caller."""

    def under(value: Any) -> Any:
        if isinstance(value, str) and value and not Path(value).is_absolute():
            return str(folder / value)
        return value

    for key in ("release", "verify_tls"):
        value = table.get(key)
        if isinstance(value, str) and value.lower() not in ("true", "false"):  # refused quoted
            table = {**table, key: under(value)}
    security = table.get("security")
    if isinstance(security, dict):
        for key in ("cosign_public_key", "policies", "abac_policy"):
            if key in security:
                security = {**security, key: under(security[key])}
        abac = security.get("abac")
        if isinstance(abac, dict) and "rego" in abac:
            security = {**security, "abac": {**abac, "rego": under(abac["rego"])}}
        table = {**table, "security": security}
    comms = table.get("comms")
    if isinstance(comms, dict) and isinstance(comms.get("templates"), str):
        table = {**table, "comms": {**comms, "templates": under(comms["templates"])}}
    return table
