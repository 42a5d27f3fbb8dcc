"""The load canaries: each threshold of each plan is its own check (and JUnit testcase).

The plans are the env's (`[environments.NAME.load.plans.PLAN]`) or gonogo's
built-ins (gonogo.load.plan): `canary` replaces the k6 canary (gateway 50/s,
gql 20/s, 2 minutes), `api` is the release checklist's non-functional pack,
`graph` a Cypher canary. Each plan runs once per env per gonogo run, in
Locust child processes, on an open-model schedule; its thresholds are judged
on HDR histograms of latency measured from each iteration's scheduled start.
"""

from __future__ import annotations

import pytest

from gonogo.evidence import Captures
from gonogo.load.engine import LoadResult
from gonogo.load.session import judge_item
from gonogo.load.threshold import Threshold


@pytest.mark.gate("C")  # the release checklist's Gate C: canary thresholds, Lighthouse
@pytest.mark.load("canary")
def test_canary(threshold: Threshold, load_result: LoadResult, evidence: Captures) -> None:
    """Rule: the seed canary's thresholds hold: http_req_failed rate < [slo] error_rate,
    p(95) < api_p95_ms on gateway and < graphql_p95_ms on gql, no dropped iteration.

    Fault: latency=/api/ping:2500 (gateway p95 and dropped_iterations: 50/s held 2.5 s
    each needs 125 slots of 100), latency=/graphql:1600 (gql p95), error-rate=0.2
    (http_req_failed)
    """
    ok, message = judge_item(load_result, threshold, evidence)
    assert ok, message


@pytest.mark.gate("slo")
@pytest.mark.load("api")
def test_api(threshold: Threshold, load_result: LoadResult, evidence: Captures) -> None:
    """Rule: reads p(95) <= 350 ms, writes p(95) <= 700 ms, every request p(99) < 1500 ms,
    errors < 1 %, and the gateway accepts >= 99.9 % of valid tokens over the run.

    Fault: latency=/graphql:1600 (reads, writes and p99), write-latency=800 (writes
    alone), error-rate=0.2 (errors), auth-flaky=0.2 (auth_success)
    """
    ok, message = judge_item(load_result, threshold, evidence)
    assert ok, message


@pytest.mark.gate("slo")
@pytest.mark.load("graph")
def test_graph(threshold: Threshold, load_result: LoadResult, evidence: Captures) -> None:
    """Rule: the Cypher canary (`[load] graph_queries`) at a fixed rate: p(95) <= 1200 ms,
    under 1 % failed queries.

    Fault: graph-slow=1500 (p95), graph-down (failed queries)
    """
    ok, message = judge_item(load_result, threshold, evidence)
    assert ok, message
