"""Acceptance on /metrics across the run: scraped before the first check and again here.

Each rule reads a signal where the env's `[metrics]` table says the deployment keeps
it (gonogo.series), as Prometheus means it: a counter never incremented may be absent,
and absent is 0; a gauge that is absent has no value.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from gonogo.checks import says
from gonogo.clients.metrics import MetricsSnapshot
from gonogo.env import Environment
from gonogo.evidence import Captures
from gonogo.packs.smoke.conftest import MetricsWindow

RISE_WAIT_S = 3.0


def _scrape(env: Environment, evidence: Captures) -> tuple[MetricsSnapshot, Path | None]:
    snapshot = env.metrics.scrape()
    return snapshot, evidence.save("metrics-end.prom", snapshot.text)


def test_audit_signer_failures_zero(
    env: Environment, evidence: Captures, metrics_window: MetricsWindow
) -> None:
    """Rule: the audit signer failure counter is 0 (absent counts as 0: never incremented).

    Fault: audit-signer-fail
    """
    snapshot, path = _scrape(env, evidence)
    reading = env.signals.read("audit_signer_failures", snapshot)
    assert reading.value == 0, says(f"{reading.source} == 0", f"{reading.value:g}", path)


def test_rate_limit_did_not_rise(
    env: Environment, evidence: Captures, metrics_window: MetricsWindow
) -> None:
    """Rule: rate-limit refusals did not rise during the run (absent counts as 0).

    Fault: rate-limit=3
    """
    snapshot, path = _scrape(env, evidence)
    before = metrics_window.reading("rate_limited").value or 0.0  # a counter: absent is 0
    after = env.signals.read("rate_limited", snapshot)
    rose = (after.value or 0.0) - before
    assert rose <= 0, says(
        f"no rise in {after.source}", f"{before:g} -> {after.value or 0.0:g}", path
    )


def test_stream_processed_increased(
    env: Environment, evidence: Captures, metrics_window: MetricsWindow
) -> None:
    """Rule: stream processed rose during the run (waiting up to 3 s for it); a counter
    absent from both scrapes is not exported at all, which is a failure too.

    Fault: consumer-stall
    """
    before = metrics_window.reading("stream_processed")
    started = env.signals.exported("stream_processed", metrics_window.start)
    deadline = time.monotonic() + RISE_WAIT_S
    while True:
        snapshot = env.metrics.scrape()
        after = env.signals.read("stream_processed", snapshot)
        rose = (after.value or 0.0) > (before.value or 0.0)
        if rose or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    path = evidence.save("metrics-end.prom", snapshot.text)
    exported = started or env.signals.exported("stream_processed", snapshot)
    assert exported, says(
        f"{after.source} to increase within {RISE_WAIT_S:g} s",
        "not exported at all (absent from both scrapes)",
        path,
    )
    assert rose, says(
        f"{after.source} to increase within {RISE_WAIT_S:g} s",
        f"{before.value:g} -> {after.value:g}",
        path,
    )


def test_consumer_lag_within_baseline(
    env: Environment, evidence: Captures, metrics_window: MetricsWindow
) -> None:
    """Rule: consumer lag is within [dataops] lag_factor (1.5) x the env's baseline
    ([baseline] consumer_lag), the same setting the data-ops lag check reads; a gauge that
    is not exported fails, saying so.

    Fault: consumer-stall
    """
    baseline = env.settings.baseline.consumer_lag
    if baseline is None:
        pytest.skip(
            f"env '{env.name}' has no [baseline] consumer_lag to judge consumer_lag against"
        )
    snapshot, path = _scrape(env, evidence)
    reading = env.signals.read("consumer_lag", snapshot)
    factor = env.settings.dataops.lag_factor
    limit = factor * baseline
    expected = f"{reading.source} <= {limit:g} ({factor:g}x baseline {baseline:g})"
    assert reading.value is not None, says(expected, "not exported at all", path)
    evidence.measured(reading.value, limit)
    assert reading.value <= limit, says(expected, f"{reading.value:g}", path)
