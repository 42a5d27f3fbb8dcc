"""The graph's schema and server: what the app's queries and plugins rely on.

The release's `graph-schema.json` lists the indexes and constraints the app
needs (a missing index turns a lookup into a scan of every node) and, for
Neo4j, the server and plugin versions the app image was built against.
"""

from __future__ import annotations

from gonogo.checks import says
from gonogo.clients.graph import GraphClient
from gonogo.dataops import schema_items, version_problems
from gonogo.env import Environment
from gonogo.errors import NotApplicable
from gonogo.evidence import Captures
from gonogo.release import Release

SCHEMA_FILE = "graph-schema.json"


def test_graph_schema_matches_release(
    env: Environment, graph: GraphClient, release: Release, evidence: Captures
) -> None:
    """Rule: the graph answers, and its indexes and constraints equal the release's
    graph-schema.json: none missing, none unexpected.

    Fault: graph-schema-drift
    """
    expected = release.json(SCHEMA_FILE, "the graph's expected indexes and constraints")
    found = graph.schema()
    want, have = schema_items(expected), schema_items(found)
    missing, unexpected = sorted(want - have), sorted(have - want)
    path = evidence.save(
        "graph_schema.json",
        {
            "expected": sorted(want),
            "found": sorted(have),
            "missing": missing,
            "unexpected": unexpected,
        },
    )
    assert not missing and not unexpected, says(
        f"the {len(want)} index(es)/constraint(s) of {release.path / SCHEMA_FILE}",
        f"missing from the graph: {missing or 'none'}; in the graph, not in the release: "
        f"{unexpected or 'none'}",
        path,
    )


def test_graph_server_versions(
    env: Environment, graph: GraphClient, release: Release, evidence: Captures
) -> None:
    """Rule: on Neo4j, dbms.components() and the APOC/GDS versions equal what the release's
    graph-schema.json says the app image expects.

    Fault: n/a (Neo4j only: not applicable on the sandbox's FalkorDB; the comparison is
    proven in tests/test_dataops_pack.py on recorded dbms.components() answers)
    """
    if graph.settings.flavor != "neo4j":
        raise NotApplicable(
            f"the graph at {graph.settings.uri} is {graph.settings.flavor}: dbms.components(), "
            "APOC and GDS are Neo4j's"
        )
    expected = release.json(SCHEMA_FILE, "the graph's expected server versions").get("neo4j")
    if not expected:
        raise NotApplicable(f"{release.path / SCHEMA_FILE} names no Neo4j versions")
    found = graph.components()
    problems = version_problems(expected, found)
    path = evidence.save("graph_versions.json", {"expected": expected, "found": found})
    assert not problems, says(
        "the Neo4j and plugin versions the app image expects", "; ".join(problems), path
    )
