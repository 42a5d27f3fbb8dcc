"""The public status page, as the one-pager's T+30 leaves it: Operational, banner lifted."""

from __future__ import annotations

from gonogo import statuspage
from gonogo.checks import says
from gonogo.env import Environment
from gonogo.evidence import Captures


def test_status_page_operational(
    env: Environment, expected_operational: bool, evidence: Captures
) -> None:
    """Rule: from T+30 (--expect-operational), the env's component on its status page
    ([statuspage] component, by id or name) reads operational, and no maintenance is in
    progress on the page (its banner lifted), through Atlassian Statuspage's API v1.

    Fault: status-degraded
    """
    table = env.settings.require("statuspage", "the status page")
    page = statuspage.read(env)
    found = statuspage.problems(page, table.component)
    path = evidence.save(
        "status_page.json",
        {
            "page": page.where,
            "component": page.component,
            "active_maintenance": page.maintenances,
            "problems": found,
        },
    )
    assert not found, says(
        f"'{table.component}' operational on {page.where} and no maintenance in progress",
        "; ".join(found),
        path,
    )
