"""The smoke pack's shared fixtures: the metrics window that spans the run."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from gonogo.clients.metrics import MetricsSnapshot
from gonogo.env import Environment
from gonogo.errors import GonogoError
from gonogo.evidence import Captures
from gonogo.signals import Reading

# The counters whose change across the run the acceptance checks judge.
WINDOW_SIGNALS = ("rate_limited", "stream_processed")


@dataclass
class MetricsWindow:
    """/metrics scraped before the pack's first check; the acceptance checks scrape again.

    PromQL-mapped signals cannot be read off a scrape later, so every windowed
    signal is read at the start, whatever its source; an unmapped one keeps its error
    for the check that reads it.
    """

    start: MetricsSnapshot
    start_path: Path | None
    readings: dict[str, Reading | GonogoError]

    def reading(self, signal: str) -> Reading:
        value = self.readings[signal]
        if isinstance(value, GonogoError):
            raise value
        return value


@pytest.fixture(scope="session")
def metrics_window(env: Environment, env_evidence: Captures) -> MetricsWindow:
    snapshot = env.metrics.scrape()
    readings: dict[str, Reading | GonogoError] = {}
    for signal in WINDOW_SIGNALS:
        try:
            readings[signal] = env.signals.read(signal, snapshot)
        except GonogoError as exc:  # raised again by the check that reads it
            readings[signal] = exc
    return MetricsWindow(
        start=snapshot,
        start_path=env_evidence.save("metrics.prom", snapshot.text),
        readings=readings,
    )


@pytest.fixture(autouse=True)
def _opening_scrape(request: pytest.FixtureRequest) -> None:
    """Open the window before the first check of each env runs.

    A /metrics that cannot be read is the metrics checks' finding, raised again for each
    of them; /healthz and the rest still run and say what they saw.
    """
    if "env" in request.fixturenames:
        with contextlib.suppress(GonogoError):
            request.getfixturevalue("metrics_window")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The metrics acceptance checks close the window: they run after the rest."""
    items.sort(key=lambda item: item.path.name == "test_metrics.py")
