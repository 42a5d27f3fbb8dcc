"""The metrics vocabulary: selectors, presets, absence read as Prometheus means it, and the
one-line errors for a mapping that cannot work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gonogo.clients.metrics import MetricsSnapshot
from gonogo.config import EnvSettings
from gonogo.config.signals import MetricsSettings
from gonogo.series import parse_selector
from gonogo.signals import Signals, UnmappedSignal, increase
from gonogo.watch.triggers import rules, triggers_for
from tests.conftest import refused_table

PROM_CLIENT = """\
# HELP rate_limit_exceeded_total Requests refused by the rate limiter
# TYPE rate_limit_exceeded_total counter
# HELP audit_signer_fail_total Audit entries that could not be signed
# TYPE audit_signer_fail_total counter
# HELP stream_processed_total Ingest messages
# TYPE stream_processed_total counter
stream_processed_total 7
# HELP traefik_service_requests_total How many HTTP requests
# TYPE traefik_service_requests_total counter
traefik_service_requests_total{code="200",service="gw"} 10
traefik_service_requests_total{code="429",service="gw"} 2
"""


def settings(**metrics: Any) -> EnvSettings:
    return EnvSettings(
        name="x", base_url="http://127.0.0.1:9", production=False, metrics=metrics or {}
    )


def read(signal: str, text: str = PROM_CLIENT, **metrics: Any) -> float | None:
    signals = Signals(settings(**metrics), metrics=None)  # type: ignore[arg-type]
    return signals.read(signal, MetricsSnapshot.parse(text)).value


def test_selectors_match_as_promql_does() -> None:
    s = parse_selector('http_requests_total{code=~"5..",route!="/healthz",job=""}')
    assert s.matches("http_requests_total", {"code": "503", "route": "/api"})
    assert not s.matches("http_requests_total", {"code": "5031"})  # anchored, like PromQL
    assert not s.matches("http_requests_total", {"code": "500", "route": "/healthz"})
    assert not s.matches("http_requests_total", {"code": "500", "job": "x"})
    assert s.promql() == 'http_requests_total{code=~"5..",route!="/healthz",job=""}'


def test_an_absent_counter_is_zero_when_its_family_is_declared() -> None:
    # prom-client: a labelled counter has HELP and TYPE but no sample until it moves.
    assert read("rate_limited") == 0.0
    assert read("audit_signer_failures") == 0.0
    assert read("stream_processed") == 7.0


def test_an_absent_gauge_has_no_value() -> None:
    assert read("consumer_lag") is None


def test_a_counter_exported_nowhere_is_a_mapping_to_fix() -> None:
    with pytest.raises(UnmappedSignal) as caught:
        read("auth_failures")
    assert str(caught.value) == (
        "env 'x': [metrics] auth_failures is auth_failure_total, which its /metrics does not "
        "export at all (no sample, no # TYPE line); map it to the deployment's series: "
        '[environments.x.metrics.signals] auth_failures = {series = "..."} '
        '(or preset = "traefik" / "otel")'
    )


def test_presets_and_own_mappings() -> None:
    assert read("rate_limited", preset="traefik") == 2.0  # the edge's 429s
    own = {"signals": {"rate_limited": {"series": 'traefik_service_requests_total{code="200"}'}}}
    assert read("rate_limited", **own) == 10.0
    assert str(MetricsSettings(preset="otel").mapping("requests").series) == (
        "http_server_request_duration_seconds_count"
    )


def test_the_watch_and_rules_read_the_same_mapping() -> None:
    exported = rules("x", triggers_for(settings(preset="traefik")))
    alerts = {r["labels"]["trigger"]: r for r in exported["groups"][0]["rules"]}
    assert alerts["5xx-ratio"]["expr"] == (
        '(sum(rate(traefik_service_requests_total{code=~"5.."}[5m])) / '
        "(sum(rate(traefik_service_requests_total[5m])))) >= 0.002"
    )
    assert "traefik_service_request_duration_seconds_bucket[5m]" in alerts["api-p95"]["expr"]
    otel = rules("x", triggers_for(settings(preset="otel")))
    ratio = {r["labels"]["trigger"]: r for r in otel["groups"][0]["rules"]}["5xx-ratio"]["expr"]
    assert 'http_response_status_code=~"5.."' in ratio


def test_the_watch_refuses_a_promql_mapping_for_a_share_in_one_line() -> None:
    own = {"signals": {"requests": {"promql": "sum(rate(x[5m]))"}}}
    with pytest.raises(Exception) as caught:
        triggers_for(settings(**own))
    assert str(caught.value).startswith("the watch reads [metrics] requests as a series")


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ('preset = "nginx"', "environments.x.metrics.preset: Input should be 'gonogo', 'traefik' or 'otel'"),
        ('signals = {requests = {series = "http_requests_total{code=5}"}}', "label matcher 'code=5' is not label=\"value\""),
        ('signals = {rate_limitted = {series = "x_total"}}', "unknown signal(s) rate_limitted; signals: requests, latency"),
        ('signals = {requests = {series = "a", promql = "b"}}', 'give one of series = "metric{label=...}" or promql = "EXPR"'),
        ('signals = {latency = {series = "x{le=~\\"(\\"}"}}', "is not a regular expression"),
    ],
)  # fmt: skip
def test_bad_mappings_are_one_line(tmp_path: Path, table: str, says: str) -> None:
    assert says in refused_table(tmp_path, "metrics", table)


def test_metrics_url_must_be_a_url_without_credentials(tmp_path: Path) -> None:
    message = refused_table(tmp_path, "", 'metrics_url = "http://user:pw@127.0.0.1:9464/metrics"')
    assert "environments.x.metrics_url: must not carry credentials" in message


def test_a_promql_mapping_is_asked_of_prometheus(stack: Any) -> None:
    from gonogo.env import Environment

    if stack.info.prometheus_url is None:
        pytest.skip("Prometheus is not installed (apt-get install prometheus)")
    own = {"signals": {"audit_signer_failures": {"promql": "sum(audit_signer_fail_total)"}}}
    local = EnvSettings(name="local", sandbox=True, production=False, metrics=own)
    env = Environment.open(local, stack.info)
    try:
        reading = env.signals.read("audit_signer_failures", env.metrics.scrape())
    finally:
        env.close()
    assert reading.value == 0.0 and reading.source == "PromQL sum(audit_signer_fail_total)"


def test_a_counter_rises_series_by_series_and_a_drop_is_a_reset() -> None:
    """As Prometheus's increase(): pod b restarted (7 -> 2) and counted 2 since; a sum taken
    first (15 -> 14) would say nothing rose and hide pod a's 5 and pod c's first 3."""
    before = MetricsSnapshot.parse(
        'http_requests_total{pod="a",code="200"} 8\nhttp_requests_total{pod="b",code="200"} 7\n'
    )
    after = MetricsSnapshot.parse(
        'http_requests_total{pod="a",code="200"} 13\nhttp_requests_total{pod="b",code="200"} 2\n'
        'http_requests_total{pod="c",code="500"} 3\n'
    )
    series = parse_selector("http_requests_total")
    assert increase(before, after, series) == 10.0
    assert increase(before, after, series.and_label("code", "=~", "5..")) == 3.0
