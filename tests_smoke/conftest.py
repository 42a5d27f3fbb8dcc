"""The smoke pack's shared fixtures: the metrics window that spans the run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from gonogo.clients.metrics import MetricsSnapshot
from gonogo.env import Environment
from gonogo.evidence import Captures


@dataclass
class MetricsWindow:
    """/metrics scraped before the pack's first check; the acceptance checks scrape again."""

    start: MetricsSnapshot
    start_path: Path | None


@pytest.fixture(scope="session")
def metrics_window(env: Environment, env_evidence: Captures) -> MetricsWindow:
    snapshot = env.metrics.scrape()
    return MetricsWindow(
        start=snapshot, start_path=env_evidence.save("metrics.prom", snapshot.text)
    )


@pytest.fixture(autouse=True)
def _opening_scrape(request: pytest.FixtureRequest) -> None:
    """Open the window before the first check of each env runs."""
    if "env" in request.fixturenames:
        request.getfixturevalue("metrics_window")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The metrics acceptance checks close the window: they run after the rest."""
    items.sort(key=lambda item: item.path.name == "test_metrics.py")
