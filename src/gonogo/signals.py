"""Reading an env's signals as Prometheus means them, wherever the deployment keeps them.

Each signal is mapped by the env's `[metrics]` table (gonogo.series has the
presets). A series is read off a /metrics scrape; a PromQL mapping is asked of
the env's Prometheus. Absence is read the way Prometheus client libraries
produce it:

- a counter with no sample is 0: prom-client and OpenTelemetry export a
  labelled counter only after its first increment, so "never moved" and
  "absent" are the same fact. Its metric family must still be declared
  (`# TYPE` or any sample): a name exported nowhere is a mapping to fix, said
  in one line, not a silent 0;
- a gauge with no sample has no value (`None`): the rule that reads it fails,
  saying it is not exported;
- a rule that needs movement (stream processed rising) fails when the counter
  is absent from both scrapes, saying so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gonogo.clients.metrics import MetricsClient, MetricsSnapshot
from gonogo.config import EnvSettings
from gonogo.errors import ConfigError
from gonogo.series import SIGNALS, Mapping, Selector


class UnmappedSignal(ConfigError):
    """A signal mapped to a series the deployment does not export at all."""


@dataclass
class Reading:
    """One signal's value at one moment, and where it was read (for messages)."""

    signal: str
    value: float | None
    source: str  # the selector or PromQL expression, as the message shows it


class Signals:
    """The env's signals, read from a scrape or from PromQL."""

    def __init__(self, settings: EnvSettings, metrics: MetricsClient) -> None:
        self.settings = settings
        self.metrics = metrics

    def mapping(self, signal: str) -> Mapping:
        if signal not in SIGNALS:
            raise KeyError(signal)
        return self.settings.metrics.mapping(signal)

    def source(self, signal: str) -> str:
        mapping = self.mapping(signal)
        return str(mapping.series) if mapping.series is not None else f"PromQL {mapping.promql}"

    def read(self, signal: str, snapshot: MetricsSnapshot) -> Reading:
        """The signal now: a counter's absence is 0, a gauge's is None."""
        kind, _ = SIGNALS[signal]
        mapping = self.mapping(signal)
        if mapping.promql is not None:
            result = self.metrics.promql(mapping.promql)
            values = [float(r["value"][1]) for r in result if _sample(r)]
            if values:
                return Reading(signal, sum(values), self.source(signal))
            return Reading(signal, 0.0 if kind == "counter" else None, self.source(signal))
        assert mapping.series is not None
        values = _matching(snapshot, mapping.series)
        if values:
            return Reading(signal, sum(values), self.source(signal))
        if kind == "counter":
            self._declared(signal, mapping.series, snapshot)
            return Reading(signal, 0.0, self.source(signal))
        return Reading(signal, None, self.source(signal))

    def exported(self, signal: str, snapshot: MetricsSnapshot) -> bool:
        """Whether the scrape has a sample of the signal's series (a PromQL mapping is asked of
        Prometheus, not of the scrape, so it counts as exported)."""
        series = self.mapping(signal).series
        return series is None or bool(_matching(snapshot, series))

    def _declared(self, signal: str, series: Selector, snapshot: MetricsSnapshot) -> None:
        family = _family(series.name)
        if family in snapshot.families or series.name in snapshot.families:
            return
        name = self.settings.name
        raise UnmappedSignal(
            f"env '{name}': [metrics] {signal} is {series}, which its /metrics does not export "
            f"at all (no sample, no # TYPE line); map it to the deployment's series: "
            f'[environments.{name}.metrics.signals] {signal} = {{series = "..."}} '
            f'(or preset = "traefik" / "otel")'
        )


def _family(name: str) -> str:
    for suffix in ("_total", "_created", "_bucket", "_count", "_sum"):
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def _matching(snapshot: MetricsSnapshot, series: Selector) -> list[float]:
    return [s.value for s in snapshot.samples if series.matches(s.name, s.labels)]


def _sample(result: Any) -> bool:
    value = result.get("value") if isinstance(result, dict) else None
    return isinstance(value, list) and len(value) == 2


def total(snapshot: MetricsSnapshot, series: Selector) -> float:
    """The matching counters' sum in one scrape (absent is 0): what a target served so far."""
    return sum(_matching(snapshot, series))


def increase(old: MetricsSnapshot, new: MetricsSnapshot, series: Selector) -> float:
    """How much the matching counters rose between two scrapes, series by series, as
    Prometheus's increase() reads a counter: a series whose value dropped was reset (its
    process restarted) and counts from 0, and a series the older scrape lacks started at 0
    (client libraries export a labelled counter only after its first increment). A sum
    taken before the difference would let one pod's restart hide another's rise."""
    before = {
        _key(s.name, s.labels): s.value for s in old.samples if series.matches(s.name, s.labels)
    }
    rose = 0.0
    for sample in new.samples:
        if not series.matches(sample.name, sample.labels):
            continue
        prior = before.get(_key(sample.name, sample.labels), 0.0)
        rose += sample.value - prior if sample.value >= prior else sample.value
    return rose


def _key(name: str, labels: dict[str, str]) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))
