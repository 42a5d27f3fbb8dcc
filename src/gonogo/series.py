"""Series selectors and the metric vocabularies of real deployments.

Every signal the packs and the watch read (requests by status code, request
latency, rate-limit refusals, audit signer failures, ...) is named by the
deployment, not by gonogo: prom-client, Traefik and OpenTelemetry each spell
them their own way. An env maps each signal to a series selector written as
in PromQL (`traefik_service_requests_total{service=~"intelgraph.*"}`), or to
a whole PromQL expression; presets hold the well-known spellings, and
`gonogo` (the local environment's) is the default.

A selector is evaluated the same way on a scrape (label matchers applied to
the parsed samples) and in PromQL (printed back), so the smoke pack, the
watch's own scrapes and `gonogo rules` read one definition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["counter", "gauge", "histogram"]

# signal -> (kind, what it is). `requests` is the one counter read by status code.
SIGNALS: dict[str, tuple[Kind, str]] = {
    "requests": ("counter", "requests answered, with the status code in a label"),
    "latency": ("histogram", "API request latency, in seconds (the histogram's base name)"),
    "graph_latency": ("histogram", "graph query latency, in seconds"),
    "rate_limited": ("counter", "requests refused by the rate limiter"),
    "audit_signer_failures": ("counter", "audit entries that could not be signed"),
    "stream_processed": ("counter", "ingest messages processed"),
    "consumer_lag": ("gauge", "the ingest consumer's lag, in messages"),
    "auth_failures": ("counter", "requests refused at authentication"),
    "auth_successes": ("counter", "requests with a valid token"),
}

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SELECTOR = re.compile(rf"^\s*({_NAME})\s*(?:\{{(.*)\}})?\s*$")
_MATCHER = re.compile(r'^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*$')


@dataclass(frozen=True)
class Matcher:
    label: str
    op: str  # = != =~ !~
    value: str

    def matches(self, labels: dict[str, str]) -> bool:
        # PromQL: a missing label is the empty string; regexes are anchored.
        actual = labels.get(self.label, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = re.fullmatch(self.value, actual) is not None
        return found if self.op == "=~" else not found

    def promql(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"')
        return f'{self.label}{self.op}"{escaped}"'


@dataclass(frozen=True)
class Selector:
    """`name{label="v", label=~"re"}`: one metric name and its label matchers."""

    name: str
    matchers: tuple[Matcher, ...] = field(default_factory=tuple)

    def matches(self, name: str, labels: dict[str, str]) -> bool:
        return name == self.name and all(m.matches(labels) for m in self.matchers)

    def with_name(self, name: str) -> Selector:
        return Selector(name, self.matchers)

    def and_label(self, label: str, op: str, value: str) -> Selector:
        return Selector(self.name, (*self.matchers, Matcher(label, op, value)))

    def promql(self) -> str:
        inner = ",".join(m.promql() for m in self.matchers)
        return f"{self.name}{{{inner}}}" if inner else self.name

    def __str__(self) -> str:
        return self.promql()


def parse_selector(text: str) -> Selector:
    """A PromQL series selector -> Selector; ValueError saying the accepted form."""
    form = 'write it like metric_total or metric_total{label="value",other=~"re.*"}'
    match = _SELECTOR.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"'{text}' is not a series selector; {form}")
    name, inner = match.group(1), match.group(2)
    matchers = []
    for part in _split(inner or ""):
        found = _MATCHER.match(part)
        if found is None:
            raise ValueError(
                f"'{text}': label matcher '{part.strip()}' is not label=\"value\"; {form}"
            )
        label, op, value = found.groups()
        value = value.replace('\\"', '"').replace("\\\\", "\\")
        if op in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(
                    f"'{text}': '{value}' is not a regular expression ({exc})"
                ) from None
        matchers.append(Matcher(label, op, value))
    return Selector(name, tuple(matchers))


def _split(inner: str) -> list[str]:
    """Matchers split on commas outside quotes."""
    parts, current, quoted, escaped = [], "", False, False
    for char in inner:
        if char == "," and not quoted:
            parts.append(current)
            current = ""
            continue
        current += char
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
    if current.strip():
        parts.append(current)
    return [p for p in parts if p.strip()]


@dataclass(frozen=True)
class Mapping:
    """Where one signal is: a series (scraped or queried) or a PromQL expression."""

    series: Selector | None = None
    promql: str | None = None
    status_label: str = "code"  # `requests` only: the label that holds the status code


def _m(series: str, status_label: str = "code") -> Mapping:
    return Mapping(series=parse_selector(series), status_label=status_label)


_APP = {  # the app's own series: the same in every preset (an edge does not know them)
    "graph_latency": _m("graph_query_duration_seconds"),
    "audit_signer_failures": _m("audit_signer_fail_total"),
    "stream_processed": _m("stream_processed_total"),
    "consumer_lag": _m("consumer_lag"),
    "auth_failures": _m("auth_failure_total"),
    "auth_successes": _m("auth_success_total"),
}
PRESETS: dict[str, dict[str, Mapping]] = {
    # The local environment's (prometheus-client) names: the default.
    "gonogo": {
        "requests": _m("http_requests_total"),
        "latency": _m('http_request_duration_seconds{route=~"/api.*"}'),
        "rate_limited": _m("rate_limit_exceeded_total"),
        **_APP,
    },
    # Traefik's own service metrics, read at the edge: a 429 is the rate limiter's answer.
    "traefik": {
        "requests": _m("traefik_service_requests_total"),
        "latency": _m("traefik_service_request_duration_seconds"),
        "rate_limited": _m('traefik_service_requests_total{code="429"}'),
        **_APP,
    },
    # OpenTelemetry's HTTP semantic conventions through its Prometheus exporter.
    "otel": {
        "requests": _m("http_server_request_duration_seconds_count", "http_response_status_code"),
        "latency": _m('http_server_request_duration_seconds{http_route=~"/api.*"}'),
        "rate_limited": _m(
            'http_server_request_duration_seconds_count{http_response_status_code="429"}',
            "http_response_status_code",
        ),
        **_APP,
    },
}
