"""Where the deployment's signals are and how they are watched: metric names ([metrics]),
Prometheus, the rollback triggers ([watch]) and the Grafana panels the watch captures."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import Field, StrictBool, field_validator, model_validator

from gonogo.config.fields import plain_url
from gonogo.series import PRESETS, SIGNALS, Mapping, parse_selector
from gonogo.table import Table, VarName, check_var_name
from gonogo.vocabulary import TRIGGER_FOR_S


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


class PrometheusSettings(Table):
    url: str
    token_env: VarName | None = None

    _v = field_validator("token_env")(check_var_name)
    _u = field_validator("url")(plain_url)


class AlertsSettings(Table):
    """Which firing alerts stop a cutover, and where they are read: Alertmanager's API v2
    when `alertmanager_url` is set (silenced and inhibited alerts are not counted, as the
    war room would not be paged for them), else Prometheus's ALERTS series."""

    # PromQL label matchers, without braces; Alertmanager's filter takes the same matchers.
    selector: str = 'severity=~"critical|page"'
    alertmanager_url: str | None = None

    _u = field_validator("alertmanager_url")(plain_url)

    @field_validator("selector")
    @classmethod
    def _matchers(cls, value: str) -> str:
        if not value.strip():
            raise ValueError('give label matchers, like severity=~"critical|page"')
        try:
            parse_selector("ALERTS{" + value + "}")
        except ValueError as exc:
            reason = str(exc).split("; write it like")[0].split(": ", 1)[-1]
            raise ValueError(
                f"'{value}' is not PromQL label matchers ({reason}); write them like "
                'severity=~"critical|page",team="intelgraph"'
            ) from None
        return value

    def matchers(self) -> list[str]:
        """Each matcher on its own, as Alertmanager's `filter` parameter takes them."""
        selector = parse_selector("ALERTS{" + self.selector + "}")
        # A JSON string is a valid PromQL / Alertmanager quoted string (backslash escapes).
        return [
            f"{m.label}{m.op}{json.dumps(m.value, ensure_ascii=False)}" for m in selector.matchers
        ]


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
