"""Acceptance on /metrics across the run: scraped before the first check and again here."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gonogo.checks import says
from gonogo.clients.metrics import MetricsSnapshot
from gonogo.env import Environment
from gonogo.evidence import Captures
from tests_smoke.conftest import MetricsWindow

RISE_WAIT_S = 3.0
LAG_FACTOR = 1.5


def _scrape(env: Environment, evidence: Captures) -> tuple[MetricsSnapshot, Path | None]:
    snapshot = env.metrics.scrape()
    return snapshot, evidence.save("metrics-end.prom", snapshot.text)


def test_audit_signer_failures_zero(
    env: Environment, evidence: Captures, metrics_window: MetricsWindow
) -> None:
    """Rule: audit_signer_fail_total is 0.

    Fault: audit-signer-fail
    """
    snapshot, path = _scrape(env, evidence)
    value = snapshot.value("audit_signer_fail_total")
    assert value == 0, says("audit_signer_fail_total == 0", repr(value), path)


def test_rate_limit_did_not_rise(
    env: Environment, evidence: Captures, metrics_window: MetricsWindow
) -> None:
    """Rule: rate_limit_exceeded_total did not rise during the run.

    Fault: rate-limit=3
    """
    snapshot, path = _scrape(env, evidence)
    before = metrics_window.start.value("rate_limit_exceeded_total")
    after = snapshot.value("rate_limit_exceeded_total")
    assert before is not None and after is not None, says(
        "rate_limit_exceeded_total in both scrapes", f"{before} then {after}", path
    )
    assert after <= before, says(
        "no rise in rate_limit_exceeded_total", f"{before:g} -> {after:g}", path
    )


def test_stream_processed_increased(
    env: Environment, evidence: Captures, metrics_window: MetricsWindow
) -> None:
    """Rule: stream_processed_total increased during the run (waiting up to 3 s for it).

    Fault: consumer-stall
    """
    before = metrics_window.start.value("stream_processed_total")
    deadline = time.monotonic() + RISE_WAIT_S
    while True:
        snapshot = env.metrics.scrape()
        after = snapshot.value("stream_processed_total")
        if before is None or after is None or after > before or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    path = evidence.save("metrics-end.prom", snapshot.text)
    assert before is not None and after is not None and after > before, says(
        f"stream_processed_total to increase within {RISE_WAIT_S:g} s", f"{before} -> {after}", path
    )


def test_consumer_lag_within_baseline(
    env: Environment, evidence: Captures, metrics_window: MetricsWindow
) -> None:
    """Rule: consumer_lag is within 1.5x the env's baseline ([baseline] consumer_lag).

    Fault: consumer-stall
    """
    baseline = env.settings.baseline.consumer_lag
    if baseline is None:
        pytest.skip(
            f"env '{env.name}' has no [baseline] consumer_lag to judge consumer_lag against"
        )
    snapshot, path = _scrape(env, evidence)
    lag = snapshot.value("consumer_lag")
    limit = LAG_FACTOR * baseline
    if lag is not None:
        evidence.measured(lag, limit)
    assert lag is not None and lag <= limit, says(
        f"consumer_lag <= {limit:g} ({LAG_FACTOR}x baseline {baseline:g})", repr(lag), path
    )
