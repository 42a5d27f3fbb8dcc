"""Metrics: scrape the gateway's /metrics and parse it; PromQL when the env has Prometheus.

Parsing is prometheus-client's own text parser, so what counts as valid is
what Prometheus's reference client says, not a regex of ours.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from gonogo.clients.http import HttpClient
from gonogo.config.signals import PrometheusSettings
from gonogo.errors import TargetError
from gonogo.times import iso, utcnow


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


@dataclass
class MetricsSnapshot:
    text: str
    taken_at: str
    samples: list[Sample] = field(default_factory=list)
    # Metric families declared (a # TYPE line, or samples), as the parser names them
    # (a counter's without _total): a declared counter with no sample has never moved.
    families: set[str] = field(default_factory=set)

    @classmethod
    def parse(cls, text: str, source: str = "metrics") -> MetricsSnapshot:
        try:
            families = list(text_string_to_metric_families(text))
            samples = [
                Sample(s.name, dict(s.labels), float(s.value))
                for family in families
                for s in family.samples
            ]
        except (ValueError, TypeError, IndexError) as exc:
            raise TargetError(f"{source} is not valid Prometheus text: {exc}") from None
        names = {f.name for f in families} | {s.name for s in samples}
        return cls(text=text, taken_at=iso(utcnow()), samples=samples, families=names)

    def names(self) -> set[str]:
        return {s.name for s in self.samples}

    def value(self, name: str, **labels: str) -> float | None:
        """Sum of the samples named `name` whose labels include `labels`; None if absent."""
        matching = [
            s.value
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        ]
        return sum(matching) if matching else None


class MetricsClient:
    def __init__(
        self,
        http: HttpClient,
        path: str,
        prometheus: PrometheusSettings | None,
        promql_http: Callable[[], HttpClient] | None = None,
    ) -> None:
        self.http = http
        self.path = path
        self.prometheus = prometheus
        self._promql_http = promql_http
        self._client: HttpClient | None = None

    def scrape(self) -> MetricsSnapshot:
        response = self.http.get(self.path)
        url = self.http.url(self.path)
        if response.status_code != 200:
            raise TargetError(f"GET {url} answered {response.status_code}, expected 200")
        return MetricsSnapshot.parse(response.text, source=url)

    def promql_range(self, expr: str, start: float, end: float, step_s: float) -> Any:
        """A range query's result (matrix), as Prometheus's HTTP API returns it."""
        return self._query(
            "/api/v1/query_range",
            {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step_s:g}s"},
        )

    def promql(self, expr: str) -> list[dict[str, Any]]:
        """An instant query; the result vector as returned by Prometheus's HTTP API, each
        sample's value checked to be a number (the API sends it as a string: "1.5", "NaN").
        Any other shape (a null value, a missing pair) is one TargetError naming the query:
        to a watch that is "no data" with the reason, to a check a red line, never a crash."""
        result = self._query("/api/v1/query", {"query": expr})
        if not isinstance(result, list):
            return []
        for each in result:
            pair = each.get("value") if isinstance(each, dict) else None
            if not (isinstance(pair, list) and len(pair) == 2 and _number(pair[1])):
                shown = pair[1] if isinstance(pair, list) and len(pair) == 2 else pair
                raise TargetError(
                    f"PromQL {expr!r} at {self.prometheus.url if self.prometheus else '?'}: a "
                    f"sample's value is {shown!r}, not a number as Prometheus's API sends one "
                    '(like ["1733400000.1", "0.5"]); the answer is malformed'
                )
        return result

    def _query(self, path: str, params: dict[str, str]) -> Any:
        if self._promql_http is None or self.prometheus is None:
            raise TargetError("this env has no [prometheus] table")
        expr = params["query"]
        if self._client is None:  # one client for the run: a watch queries every tick
            self._client = self._promql_http()
        client = self._client
        response = client.get(path, params=params)
        try:
            body = response.json()
        except ValueError:
            body = None
        if (
            response.status_code != 200
            or not isinstance(body, dict)
            or body.get("status") != "success"
        ):
            raise TargetError(
                f"PromQL {expr!r} at {self.prometheus.url} failed: HTTP {response.status_code} "
                f"{str(body)[:200] if body else response.text[:200]}"
            )
        return body.get("data", {}).get("result", [])


def _number(value: Any) -> bool:
    """A sample value as Prometheus's API gives it: a string float() reads ("NaN", "+Inf"
    included), or a plain JSON number from a proxy that re-encoded it; never null or a bool."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True
