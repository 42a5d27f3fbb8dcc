"""What a load run does and what it must prove: scenarios and k6-style thresholds.

A plan is built on the pytest side (from the env's `[load]` table, or a
test's own), validated there, and handed to the Locust child processes as
JSON. Nothing here imports Locust or gevent.

Thresholds use k6's syntax so the canary's old thresholds read the same:

    http_req_duration{scenario:gateway}: ["p(95)<150"]
    http_req_failed: ["rate<0.001"]
    dropped_iterations: ["count==0"]

A threshold naming a metric the plan cannot produce, a tag no request
carries, or an aggregation its metric does not have is a `PlanError` before
any load is sent: a silent pass on a typo is the worst outcome of a gate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gonogo.config import EnvSettings
from gonogo.config.load import LoadPlanTable, LoadRequest, LoadScenario
from gonogo.errors import NotConfigured
from gonogo.load.metrics import AGGREGATIONS, METRICS
from gonogo.load.threshold import PlanError, Threshold, threshold, thresholds_of
from gonogo.vocabulary import parse_duration

SCHEMA = "gonogo.load.summary/1"


@dataclass
class Plan:
    """A named load run: its scenarios, its thresholds and its bounds."""

    name: str
    scenarios: dict[str, LoadScenario]
    thresholds: list[Threshold] = field(default_factory=list)
    max_requests: int = 200_000
    # The settings the children need to reach the target (no secret values).
    target: dict[str, Any] = field(default_factory=dict)

    # -- what the plan produces --------------------------------------------------

    def request_kinds(self) -> set[str]:
        return {r.kind for s in self.scenarios.values() for r in s.requests}

    def tag_values(self) -> dict[str, set[str]]:
        """Every tag a sample of this plan can carry, with the values it can take."""
        values: dict[str, set[str]] = {"scenario": set(self.scenarios)}
        for _name, scenario in self.scenarios.items():
            for key, value in scenario.tags.items():
                values.setdefault(key, set()).add(value)
            for request in scenario.requests:
                values.setdefault("name", set()).add(request.name)
                values.setdefault("method", set()).add(request_method(request))
                for key, value in request.tags.items():
                    values.setdefault(key, set()).add(value)
        return values

    def scenarios_matching(self, tags: tuple[tuple[str, str], ...]) -> set[str]:
        """The scenarios whose samples can carry all of `tags` (per-second windows are kept
        by scenario; a request-level tag selects the scenarios that send such a request)."""
        chosen = set()
        for name, scenario in self.scenarios.items():
            own = {"scenario": name, **scenario.tags}
            requests = [
                {"name": r.name, "method": request_method(r), **r.tags} for r in scenario.requests
            ]
            if all(own.get(k) == v or any(r.get(k) == v for r in requests) for k, v in tags):
                chosen.add(name)
        return chosen

    def validate(self) -> None:
        """Refuse thresholds that could never be judged (unknown metric, tag or value)."""
        kinds = self.request_kinds()
        tags = self.tag_values()
        for t in self.thresholds:
            where = f"plan '{self.name}', threshold '{t.source}'"
            if t.metric not in METRICS:
                raise PlanError(
                    f"{where}: unknown metric '{t.metric}'; metrics: {', '.join(METRICS)}"
                )
            kind, _, _, producers = METRICS[t.metric]
            if producers and not producers & kinds:
                raise PlanError(
                    f"{where}: no request of this plan produces {t.metric} "
                    f"(it comes from {'/'.join(sorted(producers))} requests)"
                )
            if t.aggregation not in AGGREGATIONS[kind]:
                allowed = ", ".join("p(N)" if a == "p" else a for a in AGGREGATIONS[kind])
                raise PlanError(f"{where}: {t.metric} is a {kind}; it has {allowed}")
            for name, value in t.tags:
                if name not in tags:
                    raise PlanError(
                        f"{where}: no request carries the tag '{name}'; "
                        f"tags: {', '.join(sorted(tags))}"
                    )
                if value not in tags[name]:
                    raise PlanError(
                        f"{where}: no request has {name}:{value}; values: "
                        f"{', '.join(sorted(tags[name]))}"
                    )

    def duration_s(self) -> float:
        return max(scenario_duration(s) for s in self.scenarios.values())

    def bound_s(self) -> float:
        """The longest the run may take: schedule plus graceful stop."""
        return max(
            scenario_duration(s) + parse_duration(s.graceful_stop) for s in self.scenarios.values()
        )

    def destination(self) -> str:
        """Where the requests go (from `target`): the gateway, the graph, or both."""
        kinds = self.request_kinds()
        http = str(self.target.get("base_url", "?"))
        graph = self.target.get("graph_uri")
        if "cypher" not in kinds or not graph:
            return http
        return str(graph) if kinds == {"cypher"} else f"{http} and {graph}"

    def describe(self) -> str:
        parts = []
        for name, s in self.scenarios.items():
            unit = parse_duration(s.time_unit)
            if s.executor == "constant-arrival-rate":
                rate = (s.rate or 0) / unit
                parts.append(f"{name} {rate:g}/s for {scenario_duration(s):g} s")
            else:
                peak = max([s.start_rate, *(st.target for st in s.stages)]) / unit
                parts.append(f"{name} ramping to {peak:g}/s over {scenario_duration(s):g} s")
        return ", ".join(parts)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scenarios": {k: v.model_dump(mode="json") for k, v in self.scenarios.items()},
            "thresholds": [t.as_dict() | {"source": t.source} for t in self.thresholds],
            "max_requests": self.max_requests,
            "target": self.target,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Plan:
        thresholds = [
            Threshold(
                metric=t["metric"],
                tags=tuple(sorted(t["tags"].items())),
                aggregation=t["aggregation"],
                q=t["q"],
                op=t["op"],
                limit=t["limit"],
                source=t["source"],
            )
            for t in data.get("thresholds", [])
        ]
        return cls(
            name=data["name"],
            scenarios={k: LoadScenario.model_validate(v) for k, v in data["scenarios"].items()},
            thresholds=thresholds,
            max_requests=int(data.get("max_requests", 200_000)),
            target=dict(data.get("target", {})),
        )


def request_method(request: LoadRequest) -> str:
    """A request's method as it goes on the wire and as its samples are tagged: one answer
    for both, so a threshold on `method:GET` selects the samples of `method = "get"`."""
    if request.kind == "graphql":
        return "POST"
    if request.kind == "cypher":
        return "BOLT"
    return request.method.upper()


def scenario_duration(s: LoadScenario) -> float:
    if s.executor == "constant-arrival-rate":
        return parse_duration(s.duration or "0s")
    return sum(parse_duration(st.duration) for st in s.stages)


# -- the built-in plans --------------------------------------------------------------


def _builtin_tables(settings: EnvSettings) -> dict[str, tuple[dict[str, Any], list[Threshold]]]:
    """The seed canary, the release checklist's API pack and the graph canary: each plan's
    scenarios (as the env file would write them) and its thresholds (as values)."""
    slo = settings.slo
    duration = settings.load.duration
    ops = settings.operations
    api = settings.api_path

    def scenario(rate: float, length: str, requests: list[dict[str, Any]], **extra: Any) -> Any:
        return {
            "executor": "constant-arrival-rate",
            "rate": rate,
            "duration": duration or length,
            "pre_allocated": 20,
            "max_concurrency": 100,
            "requests": requests,
            **extra,
        }

    duration_ = "http_req_duration"
    plans: dict[str, tuple[dict[str, Any], list[Threshold]]] = {
        # The k6 canary it replaces: gateway 50 req/s and gql 20 req/s for 2 minutes.
        "canary": (
            {
                "gateway": scenario(
                    50, "2m", [{"name": "ping", "path": f"{api}{settings.smoke.ping_path}"}]
                ),
                "gql": scenario(
                    20, "2m", [{"name": "health", "kind": "graphql", "operation": ops.health.id}]
                ),
            },
            [
                threshold("http_req_failed", ("rate", "<", slo.error_rate)),
                threshold(duration_, ("p", "<", slo.api_p95_ms), {"scenario": "gateway"}, q=95),
                threshold(duration_, ("p", "<", slo.graphql_p95_ms), {"scenario": "gql"}, q=95),
                threshold("dropped_iterations", ("count", "==", 0)),
            ],
        ),
        # The release checklist's non-functional pack, and auth over the whole run.
        "api": (
            {
                "reads": scenario(
                    20,
                    "1m",
                    [
                        {
                            "name": "notes",
                            "kind": "graphql",
                            "operation": ops.notes.id,
                            "variables": {ops.notes.var("limit"): 5},
                        }
                    ],
                    tags={"kind": "read"},
                ),
                "writes": scenario(
                    5,
                    "1m",
                    [
                        {
                            "name": "create-note",
                            "kind": "graphql",
                            "operation": ops.create_note.id,
                            "variables": {ops.create_note.var("text"): "gonogo load probe"},
                        }
                    ],
                    tags={"kind": "write"},
                ),
            },
            [
                threshold(duration_, ("p", "<=", 350), {"kind": "read"}, q=95),
                threshold(duration_, ("p", "<=", 700), {"kind": "write"}, q=95),
                threshold(duration_, ("p", "<", 1500), q=99),
                threshold("http_req_failed", ("rate", "<", 0.01)),
                threshold("auth_success", ("rate", ">=", 0.999)),
            ],
        ),
    }
    graph_over_bolt = settings.graph is not None and not settings.graph.over_http
    if graph_over_bolt or settings.sandbox:
        plans["graph"] = (
            {
                "cypher": scenario(
                    10,
                    "1m",
                    [
                        {"name": f"q{i + 1}", "kind": "cypher", "query": query}
                        for i, query in enumerate(settings.load.graph_queries)
                    ],
                )
            },
            [
                threshold("graph_query_duration", ("p", "<=", 1200), q=95),
                threshold("graph_query_failed", ("rate", "<", 0.01)),
            ],
        )
    return plans


def plan_names(settings: EnvSettings) -> list[str]:
    return sorted({*_builtin_tables(settings), *settings.load.plans})


def build_plan(
    settings: EnvSettings,
    name: str,
    *,
    thresholds: dict[str, list[str]] | None = None,
    scenarios: dict[str, Any] | None = None,
) -> Plan:
    """The env's plan by name (its own, else the built-in), with a test's overrides.

    A test's thresholds replace the plan's on the same metric selection and add
    the rest; its scenarios replace the plan's whole.
    """
    own = settings.load.plans.get(name)
    if own is not None:
        table = own.model_dump(mode="json")
        base_scenarios, base_thresholds = table["scenarios"], thresholds_of(table["thresholds"])
    else:
        builtin = _builtin_tables(settings)
        if name == "graph" and settings.graph is not None and settings.graph.over_http:
            raise NotConfigured(
                settings.name,
                "graph",
                "the graph load plan (Cypher canary)",
                "it runs over Bolt; [graph] uri is Neo4j's HTTP API: declare a plan of your own "
                "with a bolt:// or neo4j:// graph, or leave it skipped",
            )
        if name == "graph" and name not in builtin:
            raise NotConfigured(settings.name, "graph", "the graph load plan (Cypher canary)")
        if name not in builtin:
            known = ", ".join(plan_names(settings))
            raise PlanError(
                f"env '{settings.name}' has no load plan '{name}' (plans: {known}); "
                f"declare [environments.{settings.name}.load.plans.{name}]"
            )
        base_scenarios, base_thresholds = builtin[name]
    try:
        parsed = LoadPlanTable.model_validate({"scenarios": scenarios or base_scenarios})
    except Exception as exc:  # pydantic's error, made one line
        raise PlanError(f"plan '{name}': {str(exc).splitlines()[-1].strip()}") from None
    plan = Plan(
        name=name,
        scenarios=dict(parsed.scenarios),
        thresholds=_merged(base_thresholds, thresholds_of(thresholds or {})),
        max_requests=settings.load.max_requests,
    )
    plan.validate()
    return plan


def _merged(base: list[Threshold], overrides: list[Threshold]) -> list[Threshold]:
    """k6's table merged by key: an override's selection replaces the plan's, in place."""
    by_selector: dict[str, list[Threshold]] = {}
    for t in base:
        by_selector.setdefault(t.selector, []).append(t)
    replaced: set[str] = set()
    for t in overrides:
        if t.selector not in replaced:
            by_selector[t.selector] = []
            replaced.add(t.selector)
        by_selector[t.selector].append(t)
    return [t for group in by_selector.values() for t in group]
