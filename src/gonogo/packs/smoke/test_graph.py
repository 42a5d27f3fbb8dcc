"""The graph over Bolt."""

from __future__ import annotations

from gonogo.checks import says
from gonogo.clients.graph import GraphClient
from gonogo.evidence import Captures


def test_graph_probe(graph: GraphClient, evidence: Captures) -> None:
    """Rule: MATCH (n) RETURN count(n) AS c over Bolt returns one integer; result and latency saved.

    Fault: graph-down
    """
    result = graph.query("MATCH (n) RETURN count(n) AS c")
    count = result.single_value()
    path = evidence.save(
        "neo4j_count.json", {"count": count, "elapsed_ms": round(result.elapsed_ms, 3)}
    )
    assert isinstance(count, int) and count >= 0, says(
        "a non-negative integer count", repr(count), path
    )
