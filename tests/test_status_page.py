"""T+30's status page, on recorded inputs. On the local env's recorded page: healthy in
tests/test_smoke_pack.py (the healthy run passes --expect-operational), degraded in
tests/test_edge.py (status-degraded, message and all)."""

from __future__ import annotations

from gonogo import statuspage


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
