"""The metrics a load plan records, in k6's names: their kind, unit and meaning, and the
aggregations a threshold may take of each. Below the plan, the statistics and the
thresholds, which all read it."""

from __future__ import annotations

from typing import Literal

Kind = Literal["trend", "rate", "counter"]

# name -> (kind, unit, what it is, which request kinds produce it; empty = any plan)
METRICS: dict[str, tuple[Kind, str, str, frozenset[str]]] = {
    "http_req_duration": (
        "trend",
        "ms",
        "from the iteration's scheduled start to the response: what a user waits",
        frozenset({"http", "graphql"}),
    ),
    "http_req_service": (
        "trend",
        "ms",
        "from the request's actual send to the response (k6's http_req_duration)",
        frozenset({"http", "graphql"}),
    ),
    "http_req_failed": (
        "rate",
        "",
        "share of requests that failed (status >= 400, GraphQL errors, no answer)",
        frozenset({"http", "graphql"}),
    ),
    "auth_success": (
        "rate",
        "",
        "share of requests whose token was accepted (not answered 401)",
        frozenset({"http", "graphql"}),
    ),
    "http_reqs": ("counter", "", "requests sent", frozenset({"http", "graphql"})),
    "graph_query_duration": (
        "trend",
        "ms",
        "from the iteration's scheduled start to the query's last record",
        frozenset({"cypher"}),
    ),
    "graph_query_failed": (
        "rate",
        "",
        "share of Cypher queries that failed",
        frozenset({"cypher"}),
    ),
    "graph_queries": ("counter", "", "Cypher queries sent", frozenset({"cypher"})),
    "iterations": ("counter", "", "iterations started", frozenset()),
    "dropped_iterations": (
        "counter",
        "",
        "iterations due when every slot of max_concurrency was busy (never started)",
        frozenset(),
    ),
    "iteration_start_delay": (
        "trend",
        "ms",
        "how late iterations started against their schedule (a saturated load generator)",
        frozenset(),
    ),
}
AGGREGATIONS: dict[Kind, tuple[str, ...]] = {
    "trend": ("avg", "min", "max", "med", "p", "count"),
    "rate": ("rate", "count"),
    "counter": ("count", "rate"),
}
