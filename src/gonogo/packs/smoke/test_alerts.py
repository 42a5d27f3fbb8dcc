"""The bash smoke's last acceptance line: "Metrics file present, with no critical alerts raised"."""

from __future__ import annotations

from gonogo.alerts import firing
from gonogo.checks import says
from gonogo.env import Environment
from gonogo.evidence import Captures


def test_no_critical_alerts_firing(env: Environment, evidence: Captures) -> None:
    """Rule: no alert matching [alerts] selector (default severity critical or page) is
    firing: read from Alertmanager's API v2 when [alerts] alertmanager_url is set (silenced
    and inhibited alerts are not counted), else from Prometheus's ALERTS series.

    Fault: alert-firing
    """
    found = firing(env)
    path = evidence.save(
        "alerts.json",
        {
            "source": found.source,
            "query": found.query,
            "firing": found.alerts,
            "answer": found.answer,
        },
    )
    names = found.names()
    assert not names, says(
        f"no firing alert matching {env.settings.alerts.selector} ({found.source})",
        f"{len(names)} firing: {'; '.join(names[:5])}" + (" ..." if len(names) > 5 else ""),
        path,
    )
