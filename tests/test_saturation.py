"""A starved load generator is not the service's failure: the rule on seconds the generator
fell behind, the threshold judged without them, and the verdict it leads to (INCOMPLETE).

The rule is proven on recorded windows, built here as the worker would send them; that a
busy runner really produces such seconds is measured by benchmarks/load_saturation.py
(tests assert behaviour, not timing)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gonogo.config import EnvSettings
from gonogo.load.engine import GeneratorSaturated, LoadResult
from gonogo.load.plan import build_plan
from gonogo.load.stats import SATURATED_START_DELAY_MS, Store, Timeline, fill, new_histogram
from gonogo.load.threshold import Threshold, parse_threshold

GATEWAY = (("scenario", "gateway"),)


def window(second: int, scenario: str, metric: str, values: list[float]) -> dict[str, Any]:
    hist = new_histogram()
    fill(hist, values)
    return {"t": second, "scenario": scenario, "metric": metric, "hdr": hist.encode().decode()}


def a_run(busy_seconds: int, busy_delay_ms: float, busy_latency_ms: float) -> LoadResult:
    """Four seconds of the canary's gateway scenario, 50 samples a second: the first
    `busy_seconds` with the given start delay and latency, the rest at 0.5 ms and 10 ms."""
    settings = EnvSettings.model_validate(
        {"name": "x", "base_url": "https://x.example.com", "load": {"duration": "4s"}}
    )
    plan = build_plan(settings, "canary")
    timeline, store = Timeline(), Store()
    for second in range(4):
        busy = second < busy_seconds
        delay, latency = (busy_delay_ms, busy_latency_ms) if busy else (0.5, 10.0)
        timeline.merge(
            [
                window(second, "gateway", "iteration_start_delay", [delay] * 50),
                window(second, "gateway", "http_req_duration", [latency] * 50),
            ]
        )
        for _ in range(50):
            store.record("http_req_duration", dict(GATEWAY), latency)
            store.mark("http_req_failed", dict(GATEWAY), False)
    timeline.close()
    summary = {
        "saturation": {
            "rule": f"iteration_start_delay p95 > {SATURATED_START_DELAY_MS:g} ms in a second",
            "seconds": timeline.saturated,
            "clean": [
                {"scenario": s, "metric": m, "hdr": h.encode().decode("ascii")}
                for (s, m), h in timeline.clean.items()
            ],
        }
    }
    return LoadResult(plan, Path("/nonexistent"), summary, store)


def p95_under(limit: float) -> Threshold:
    return parse_threshold("http_req_duration{scenario:gateway}", f"p(95)<{limit:g}")


def test_the_seconds_a_starved_generator_set_the_pace_are_marked() -> None:
    run = a_run(busy_seconds=2, busy_delay_ms=20.0, busy_latency_ms=250.0)
    assert [s["t"] for s in run.summary["saturation"]["seconds"]] == [0, 1]
    assert run.summary["saturation"]["seconds"][0]["start_delay_p95"] == pytest.approx(20.0, 0.01)


def test_a_verdict_that_turns_on_those_seconds_is_no_verdict() -> None:
    run = a_run(busy_seconds=2, busy_delay_ms=20.0, busy_latency_ms=250.0)
    threshold = p95_under(150)
    judged = run.judge(threshold)
    assert not judged.ok  # 250 ms at p95 over the whole run
    why = run.saturation(threshold, judged)
    assert why is not None
    assert why.startswith(
        "load generator saturated for 2 of 4 s (iteration_start_delay p95 > 5 ms in a "
        "second; worst 20.0 ms): http_req_duration{scenario:gateway}: p(95)<150 is 250.1 ms "
        "with those seconds and 10.0 ms without them"
    ), why
    assert why.endswith("rerun on a quieter runner or add --load-workers")


def test_a_service_slow_in_every_second_still_fails() -> None:
    """Busy seconds do not excuse a threshold that fails in the generator's healthy ones."""
    run = a_run(busy_seconds=2, busy_delay_ms=20.0, busy_latency_ms=250.0)
    threshold = p95_under(5)
    assert run.saturation(threshold, run.judge(threshold)) is None


def test_a_threshold_that_holds_either_way_stands() -> None:
    run = a_run(busy_seconds=2, busy_delay_ms=20.0, busy_latency_ms=250.0)
    threshold = p95_under(500)
    assert run.saturation(threshold, run.judge(threshold)) is None


def test_a_healthy_generator_marks_nothing() -> None:
    run = a_run(busy_seconds=2, busy_delay_ms=2.0, busy_latency_ms=250.0)
    assert run.summary["saturation"]["seconds"] == []
    threshold = p95_under(150)
    assert run.saturation(threshold, run.judge(threshold)) is None


def test_failure_rates_are_not_the_generators_to_excuse() -> None:
    run = a_run(busy_seconds=2, busy_delay_ms=20.0, busy_latency_ms=250.0)
    threshold = parse_threshold("http_req_failed", "rate<0.01")
    assert run.saturation(threshold, run.judge(threshold)) is None


CHECK = '''
from gonogo.load.engine import GeneratorSaturated


def test_canary(env):
    """Rule: the canary's p95 holds.

    Fault: latency=/api/ping:300
    """
    raise GeneratorSaturated("load generator saturated for 2 of 4 s: ...")
'''


def test_a_saturated_check_is_an_error_and_the_verdict_incomplete(
    pytester: pytest.Pytester, make_envs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GONOGO_GREEN_TOKEN", "green-token-value-0001")
    make_envs("green", extra="")
    path = pytester.path / "environments.toml"
    path.write_text(path.read_text() + 'required_gates = ["slo"]\n')
    (pytester.path / "slo").mkdir()
    (pytester.path / "slo" / "test_l.py").write_text(CHECK)
    result = pytester.runpytest_subprocess("--env", "green", "-m", "slo")
    result.stdout.fnmatch_lines(["*gonogo verdict: INCOMPLETE*"])
    bundle = next(pytester.path.glob("reports/green/*"))
    tests = json.loads((bundle / "bundle.json").read_text())["tests"]
    assert [(t["outcome"], t["message"]) for t in tests] == [
        ("error", "load generator saturated for 2 of 4 s: ...")
    ]
    assert json.loads((bundle / "verdict.json").read_text())["decision"] == "INCOMPLETE"
    assert issubclass(GeneratorSaturated, Exception)
