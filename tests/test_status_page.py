"""T+30's status page: Statuspage's API v1 as its vendor documents it, read healthy and
degraded on the local env's recorded page, and its odd answers in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from gonogo import statuspage
from tests.packs import outcomes, run_pack


@pytest.mark.stack
def test_the_page_reads_operational_and_degraded_is_red(tmp_path: Path) -> None:
    done, manifest = run_pack(tmp_path / "ok", "smoke", "-k", "status_page", "--expect-operational")
    assert outcomes(manifest)["test_status_page_operational"]["outcome"] == "passed", done.stdout[
        -3000:
    ]
    _, manifest = run_pack(
        tmp_path / "bad", "smoke", "-k", "status_page", "--expect-operational",
        "--fault", "status-degraded",
    )  # fmt: skip
    result = outcomes(manifest)["test_status_page_operational"]
    assert result["outcome"] == "failed", result
    assert "expected 'IntelGraph API' operational on http://127.0.0.1:" in result["message"]
    assert (
        "/statuspage/v1/pages/kctbh9vrtdwd and no maintenance in progress; got 'IntelGraph "
        "API' is degraded_performance; maintenance 'IntelGraph v3 cutover' is in_progress: its "
        "banner is still on the page; capture: " in result["message"]
    ), result["message"]


def test_a_component_not_on_the_page_is_named_with_what_is() -> None:
    page = statuspage.Page(
        "https://api.statuspage.io/v1/pages/p1",
        None,
        [{"id": "a1", "name": "Web", "status": "operational"}],
        [],
    )
    assert statuspage.problems(page, "IntelGraph API") == [
        "no component 'IntelGraph API' on the page (it has: Web)"
    ]
