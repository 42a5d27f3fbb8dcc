"""The cutover day's surroundings: the cluster, the edge in front of blue and green, comms."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from gonogo.config.fields import plain_url
from gonogo.config.load import Duration, check_duration
from gonogo.series import parse_selector
from gonogo.table import Table, VarName, check_var_name


class ClusterSettings(Table):
    namespace: str
    context: str | None = None
    kubeconfig: str | None = None


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
    # T-40's shadow traffic: the TraefikService whose `mirroring` copies requests to green.
    # And the label matchers that pick green's series out of the env's [metrics] (as in
    # PromQL, 'service="intelgraph-green@file"'), read by the shadow and error-spike checks;
    # empty when the env's /metrics is green's own.
    mirror: str = "intelgraph-mirrored"
    green_match: str = ""

    _u = field_validator("public_url")(plain_url)

    @field_validator("green_match")
    @classmethod
    def _matchers(cls, value: str) -> str:
        if value.strip():
            parse_selector(f"x{{{value}}}")
        return value

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


class StatuspageSettings(Table):
    """The public status page (Atlassian Statuspage's API v1): T+30's "Operational" and the
    maintenance banner lifted. Read with an API key (`Authorization: OAuth KEY`)."""

    api_url: str = "https://api.statuspage.io/v1"
    page_id: str
    # The env's component on the page, by id or by name.
    component: str
    token_env: VarName | None = None

    _u = field_validator("api_url")(plain_url)
    _v = field_validator("token_env")(check_var_name)


class CutoverSettings(Table):
    """What the cutover day's rows judge on this deployment (the one-pager's timeline)."""

    # T-45 "pre-scale green": each Deployment running the release's images has at least
    # this many ready replicas, and its HorizontalPodAutoscaler's minReplicas is as high.
    min_replicas: int = Field(default=2, ge=1, le=1000)
    # T-60 "freeze non-cutover deploys": the namespaces whose Deployments, StatefulSets and
    # DaemonSets must not roll out from the freeze on (default: [cluster] namespace).
    freeze_namespaces: list[str] = Field(default_factory=list)
    # T-45 "warm caches": paths fetched through the env's URL (its token sent), each of
    # which must answer 200 before users arrive: the hot reads whose caches and pools a
    # cold green would fill on the first users' time.
    warm_paths: list[str] = Field(
        default_factory=lambda: ["/api/ping", "/.well-known/jwks.json"], min_length=1
    )
    # T-10 / T-0 "no error spike": after the weight change, spike_probes requests to
    # spike_path through the public URL (the token sent), and green's 5xx share over them
    # may exceed its share before by at most spike_margin (0.001: 0.1 percentage points).
    spike_path: str = "/api/ping"
    spike_probes: int = Field(default=200, ge=20, le=5000)
    spike_margin: float = Field(default=0.001, ge=0, le=1)
    # T+60 "enter heightened watch (24h)": the watch the sign-off starts, this long.
    watch_for: Duration = "24h"

    _d = field_validator("watch_for")(check_duration)

    @field_validator("warm_paths")
    @classmethod
    def _paths(cls, value: list[str]) -> list[str]:
        odd = [p for p in value if not p.startswith("/")]
        if odd:
            raise ValueError(f"each warm path starts with '/' (relative to base_url): {odd}")
        return value
