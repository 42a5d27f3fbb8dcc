"""The SLO pack against the local environment: every threshold green when healthy,
and each turned red by the sandbox fault its check names.

A load check is one function per plan, and each threshold of the plan is its own
item; so the matrix here is per threshold: which fault must turn which item red.
Runs are combined where one fault proves several thresholds (each run is a sandbox
start and a few seconds of load).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gonogo.sandbox import servers
from tests.packs import PACKS, assert_red_with_a_message, pack_checks, run_pack

CHECKS = pack_checks("slo")

CANARY_GATEWAY = "test_canary[local-canary-http_req_duration{scenario:gateway}: p(95)<150]"
CANARY_GQL = "test_canary[local-canary-http_req_duration{scenario:gql}: p(95)<1200]"
CANARY_FAILED = "test_canary[local-canary-http_req_failed: rate<0.001]"
CANARY_DROPPED = "test_canary[local-canary-dropped_iterations: count==0]"
API_READS = "test_api[local-api-http_req_duration{kind:read}: p(95)<=350]"
API_WRITES = "test_api[local-api-http_req_duration{kind:write}: p(95)<=700]"
API_P99 = "test_api[local-api-http_req_duration: p(99)<1500]"
API_FAILED = "test_api[local-api-http_req_failed: rate<0.01]"
API_AUTH = "test_api[local-api-auth_success: rate>=0.999]"
GRAPH_P95 = "test_graph[local-graph-graph_query_duration: p(95)<=1200]"
GRAPH_FAILED = "test_graph[local-graph-graph_query_failed: rate<0.01]"
STREAM = "test_stream_end_to_end[local]"
FANOUT = "test_subscriptions_fan_out[local]"
LOAD_ITEMS = {STREAM, FANOUT,
    CANARY_GATEWAY, CANARY_GQL, CANARY_FAILED, CANARY_DROPPED,
    API_READS, API_WRITES, API_P99, API_FAILED, API_AUTH, GRAPH_P95, GRAPH_FAILED,
}  # fmt: skip

# fault -> (the checks to run, the items it must turn red, items that must stay green).
# Only limits far above a loaded machine's noise are asserted green beside a fault run
# (those runs share the machine with other self-tests; the healthy run does not).
MATRIX: dict[str, tuple[str, set[str], set[str]]] = {
    "latency=/api/ping:2500": ("test_canary", {CANARY_GATEWAY, CANARY_DROPPED}, {CANARY_GQL}),
    "latency=/graphql:1600": (
        "test_canary or test_api",
        {CANARY_GQL, API_READS, API_WRITES, API_P99},
        {CANARY_DROPPED},
    ),
    "error-rate=0.2": ("test_canary or test_api", {CANARY_FAILED, API_FAILED}, set()),
    "write-latency=800": ("test_api", {API_WRITES}, {API_AUTH}),
    "auth-flaky=0.2": ("test_api", {API_AUTH}, set()),
    "graph-slow=1500": ("test_graph", {GRAPH_P95}, set()),
    "graph-down": ("test_graph", {GRAPH_FAILED}, set()),
    "outbox-lag=1500": ("end_to_end", {STREAM}, set()),
    "outbox-loss=0.3": ("end_to_end", {STREAM}, set()),
    "stream-dup=0.5": ("end_to_end", {STREAM}, set()),
    "fanout-slow=400": ("end_to_end or fan_out", {FANOUT}, {STREAM}),
}


def items(manifest: dict) -> dict[str, dict]:
    return {
        t["nodeid"].split("::")[-1]: t for t in manifest["tests"] if t["outcome"] != "not collected"
    }


def test_every_load_check_names_the_faults_the_matrix_proves() -> None:
    from gonogo.sandbox.faults import parse

    docs = {}
    for path in sorted((PACKS / "slo").glob("test_*.py")):
        for match in re.finditer(r'def (test_\w+)\(.*?"""(.*?)"""', path.read_text(), re.S):
            docs[match.group(1)] = match.group(2)
    assert all(CHECKS.values()), CHECKS
    for fault, (_checks, red, _green) in MATRIX.items():
        parse(fault)
        for item in red:
            check = item.split("[")[0]
            assert fault in " ".join(docs[check].split()), (check, fault)
    proven = set().union(*(red for _c, red, _g in MATRIX.values()))
    assert proven == LOAD_ITEMS, LOAD_ITEMS - proven


@pytest.mark.stack
def test_healthy_every_threshold_green_with_its_evidence(tmp_path: Path) -> None:
    # Alone on the machine: its latency thresholds must measure the sandbox, not a neighbour.
    done, manifest = run_pack(tmp_path, "slo", "-n", "2", "--load-workers", "2", alone=True)
    assert done.returncode == 0, done.stdout[-4000:]
    results = items(manifest)
    for item in LOAD_ITEMS:
        assert results[item]["outcome"] == "passed", (item, results[item])
    # The target is printed before any load is sent.
    assert "gonogo load: plan 'canary' will send load to http://127.0.0.1:" in done.stdout
    root = next((tmp_path / "evidence").glob("local/*"))
    for plan in ("canary", "api", "graph"):
        folder = root / "captures" / "load" / plan
        for name in ("summary.json", "locust.html", "latency.png", "distribution.png", "rate.png"):
            assert (folder / name).is_file(), (plan, name)
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["schema"] == "gonogo.load.summary/1" and summary["complete"]
        assert all(t["ok"] for t in summary["thresholds"])
        assert any("hdr" in s for s in summary["series"])  # encoded histograms
        if servers.prometheus_binary() is not None:
            # The local env pushes each plan to its Prometheus, as a team's [load]
            # remote_write does (read back with PromQL in tests/test_remote_write.py).
            pushed = json.loads((folder / "remote_write.json").read_text())
            assert pushed["failed"] == 0 and pushed["pushed"] >= 2, pushed
            assert pushed["labels"] == {"plan": plan, "env": "local", "testid": root.name}
            assert "k6_dropped_iterations_total" in pushed["series"]
    canary = json.loads((root / "captures/load/canary/summary.json").read_text())
    # 50/s and 20/s for the local env's 4 s: the open model sends what the schedule says.
    assert canary["metrics"]["http_reqs"]["scenario:gateway"]["count"] == 200
    assert canary["metrics"]["http_reqs"]["scenario:gql"]["count"] == 80
    # Two worker processes shared the schedule; their histograms were merged at the master.
    assert canary["workers"] == 2
    assert [s["scheduled"] for s in canary["shards"]] == [140, 140]
    html = (root / "report.html").read_text()
    assert "data:image/png;base64," in html and "latency.png" in html and "rate.png" in html
    bundle = json.loads((root / "bundle.json").read_text())
    files = {f["path"] for f in bundle["files"]}
    assert "captures/load/canary/summary.json" in files


@pytest.mark.stack
@pytest.mark.parametrize("fault", sorted(MATRIX))
def test_each_fault_turns_its_thresholds_red(tmp_path: Path, fault: str) -> None:
    checks, red, green = MATRIX[fault]
    done, manifest = run_pack(tmp_path, "slo", "--fault", fault, "-k", checks)
    results = items(manifest)
    for item in red:
        assert_red_with_a_message(results[item], item, fault)
        if item not in (STREAM, FANOUT):  # a threshold: the value, the limit and the margin
            assert re.search(
                r"= [\d.]+.* against [<>=!]+[\d.]+.*\(.* (over|under|above|below)",
                results[item]["message"],
            ), results[item]["message"]
    for item in green:
        assert results[item]["outcome"] == "passed", (fault, item, results[item])
    assert done.returncode == 1
