"""The team's own checks: they run beside gonogo's packs, with the same fixtures and markers.

Written by `gonogo init`. A check here is a pytest test that:
- asks for `env` (or a client of it: http, graphql, graph, stream, database, metrics,
  cluster, release) and `evidence`, the bundle it saves what it saw into;
- states its rule in its docstring, and the fault that turns it red;
- fails with `says(expected, got, capture)`, the one message the war room reads;
- carries a pack's marker (`-m smoke` selects it; it counts in the smoke gate) or a gate
  (`@pytest.mark.gate("A")`): the verdict counts it, the report lists it.
"""

from __future__ import annotations

import pytest

from gonogo.checks import says, short
from gonogo.env import Environment
from gonogo.evidence import Captures


@pytest.mark.smoke
def test_api_ping_answers(env: Environment, evidence: Captures) -> None:
    """Rule: GET {api_path}/ping with the env's token answers 200.

    Fault: the gateway's /ping route removed, or the token refused
    """
    r = env.http.get(f"{env.settings.api_path}/ping")
    path = evidence.save("ping.json", {"status": r.status_code, "body": r.text})
    assert r.status_code == 200, says(
        f"200 from {env.settings.api_path}/ping", f"{r.status_code} {short(r.text)}", path
    )
