"""The load engine's parts: thresholds, plans, the schedule, HDR merging, and its guards.

The engine end to end (Locust children against the sandbox, every threshold red
on its fault) is proven in tests/test_slo_pack.py; the figures against a server
of known latency are measured by benchmarks/load_accuracy.py.
"""

from __future__ import annotations

import contextlib
import gc
import itertools
import json
import os
import random
import re
import socketserver
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hdrh.histogram import HdrHistogram

from gonogo.config import EnvSettings
from gonogo.config.load import LoadScenario
from gonogo.load.engine import LoadError, read_summary
from gonogo.load.plan import Plan, build_plan
from gonogo.load.schedule import arrivals
from gonogo.load.stats import HIGHEST_US, LOWEST_US, Store, Timeline, new_histogram
from gonogo.load.threshold import PlanError, judge, parse_threshold, thresholds_of
from tests.conftest import Ok, reply, self_signed, serving
from tests.packs import REPO


def settings(**load: object) -> EnvSettings:
    return EnvSettings.model_validate(
        {"name": "t", "base_url": "http://127.0.0.1:9", "production": False, "load": load}
    )


# -- thresholds -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "expression", "id_"),
    [
        ("http_req_duration{scenario:gateway}", "p(95)<150", "http_req_duration{scenario:gateway}: p(95)<150"),
        ("http_req_failed", "rate<0.001", "http_req_failed: rate<0.001"),
        ("dropped_iterations", "count==0", "dropped_iterations: count==0"),
        ("http_req_duration{ kind : read , scenario:reads }", " p(99.9) <= 350 ", "http_req_duration{kind:read,scenario:reads}: p(99.9)<=350"),
        ("http_req_duration", "avg<100", "http_req_duration: avg<100"),
        ("auth_success", "rate>=0.999", "auth_success: rate>=0.999"),
    ],
)  # fmt: skip
def test_k6_threshold_syntax(key: str, expression: str, id_: str) -> None:
    assert parse_threshold(key, expression).id == id_


@pytest.mark.parametrize(
    ("key", "expression", "says"),
    [
        ("http_req_duration{scenario}", "p(95)<1", "tag 'scenario' is not tag:value"),
        ("http_req_duration", "p95<150", "is not AGG OP NUMBER"),
        ("http_req_duration", "p(95)=<150", "is not AGG OP NUMBER"),
        ("http_req_duration", "p(0)<150", "the percentile must be in (0, 100]"),
        ("HTTP duration", "avg<1", "is not metric{tag:value}"),
    ],
)
def test_malformed_thresholds_say_the_accepted_form(key: str, expression: str, says: str) -> None:
    with pytest.raises(PlanError, match=None) as caught:
        parse_threshold(key, expression)
    assert says in str(caught.value)


@pytest.mark.parametrize(
    ("thresholds", "says"),
    [
        ({"http_req_durations": ["p(95)<1"]}, "unknown metric 'http_req_durations'"),
        ({"http_req_duration{scenaro:gateway}": ["p(95)<1"]}, "no request carries the tag 'scenaro'"),
        ({"http_req_duration{scenario:gatway}": ["p(95)<1"]}, "no request has scenario:gatway; values: gateway, gql"),
        ({"http_req_failed": ["p(95)<1"]}, "http_req_failed is a rate; it has rate, count"),
        ({"graph_query_duration": ["p(95)<1"]}, "no request of this plan produces graph_query_duration"),
        ({"dropped_iterations": ["avg<1"]}, "dropped_iterations is a counter; it has count, rate"),
    ],
)  # fmt: skip
def test_unjudgeable_thresholds_are_refused_before_any_load(
    thresholds: dict[str, list[str]], says: str
) -> None:
    with pytest.raises(PlanError) as caught:
        build_plan(settings(), "canary", thresholds=thresholds)
    assert says in str(caught.value)
    assert str(caught.value).startswith("plan 'canary', threshold '")


def test_builtin_plans_follow_the_env() -> None:
    plan = build_plan(settings(duration="5s"), "canary")
    assert plan.describe() == "gateway 50/s for 5 s, gql 20/s for 5 s"
    assert [t.id for t in plan.thresholds] == [
        "http_req_failed: rate<0.001",
        "http_req_duration{scenario:gateway}: p(95)<150",
        "http_req_duration{scenario:gql}: p(95)<1200",
        "dropped_iterations: count==0",
    ]
    assert build_plan(settings(), "canary").duration_s() == 120  # the k6 canary's 2 minutes
    with pytest.raises(PlanError, match="has no load plan 'soak' \\(plans: api, canary\\)"):
        build_plan(settings(), "soak")


# -- the open-model schedule ----------------------------------------------------------


def arrivals_of(scenario: dict[str, object], shard: int = 0, shards: int = 1) -> list[float]:
    # The schedule is pure (gonogo.load.schedule never imports gevent): read it in-process.
    return list(arrivals(LoadScenario.model_validate(scenario), shard, shards))


REQ = [{"name": "ping", "path": "/api/ping"}]


def test_constant_arrival_rate_keeps_the_schedule_and_shards_interleave() -> None:
    scenario = {"rate": 50, "duration": "4s", "requests": REQ}
    one = arrivals_of(scenario)
    assert len(one) == 200 and one[:3] == [0.0, 0.02, 0.04]
    halves = arrivals_of(scenario, 0, 2) + arrivals_of(scenario, 1, 2)
    assert sorted(halves) == pytest.approx(one)
    per_minute = arrivals_of({"rate": 120, "time_unit": "1m", "duration": "10s", "requests": REQ})
    assert len(per_minute) == 20


def test_ramping_arrival_rate_integrates_its_stages() -> None:
    scenario = {
        "executor": "ramping-arrival-rate",
        "start_rate": 0,
        "stages": [{"duration": "10s", "target": 10}, {"duration": "5s", "target": 10}],
        "requests": REQ,
    }
    times = arrivals_of(scenario)
    assert len(times) == 50 + 50  # the ramp's area (0 -> 10/s over 10 s), then 10/s for 5 s
    assert times == sorted(times) and times[-1] < 15
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert gaps[5] > gaps[40]  # starts sparse, gets denser


# -- HDR statistics ---------------------------------------------------------------------


def test_histograms_merge_losslessly_across_workers() -> None:
    rng = random.Random(7)
    values = [rng.lognormvariate(3, 0.8) for _ in range(20_000)]
    single = Store()
    workers = [Store() for _ in range(3)]
    for i, v in enumerate(values):
        tags = {"scenario": "gateway", "name": "ping", "method": "GET"}
        single.record("http_req_duration", tags, v)
        workers[i % 3].record("http_req_duration", tags, v)
    master = Store()
    for w in workers:
        master.merge(w.drain())  # what the workers send on report_to_master
    for q in (50, 90, 95, 99, 99.9):
        assert master.aggregate("http_req_duration").percentile_ms(q) == single.aggregate(
            "http_req_duration"
        ).percentile_ms(q)
    exact = sorted(values)[int(0.95 * len(values)) - 1]
    assert master.aggregate("http_req_duration").percentile_ms(95) == pytest.approx(
        exact, rel=0.002
    )
    assert not workers[0].series  # drained: a worker's memory does not grow with the run


def test_samples_recorded_at_once_give_the_same_histogram_as_one_by_one() -> None:
    """Workers hold samples and fill them in counted (stats.fill): nothing about the
    histogram may change against one hdrh record_value per sample in microseconds, values
    out of range included (clamped to the histogram's lowest and highest)."""
    rng = random.Random(11)
    values = [rng.lognormvariate(0, 1.5) for _ in range(30_000)] + [0.0, -1.0, 5e9]
    one_by_one = new_histogram()
    for v in values:
        one_by_one.record_value(max(LOWEST_US, min(HIGHEST_US, round(v * 1000.0))))
    at_once = Store()
    at_once.record_many("http_req_duration", (("scenario", "gateway"),), values)
    (drained,) = at_once.drain()
    assert drained["hdr"] == one_by_one.encode().decode("ascii")
    assert drained["count"] == len(values) == one_by_one.get_total_count()


def test_judgement_gives_value_limit_margin_and_sample_count() -> None:
    store = Store()
    for v in [100.0] * 90 + [200.0] * 10:
        store.record("http_req_duration", {"scenario": "gateway"}, v)
    failing = judge(store, parse_threshold("http_req_duration{scenario:gateway}", "p(95)<150"), 4)
    assert not failing.ok
    assert failing.line() == (
        "http_req_duration{scenario:gateway} p(95) = 200.1 ms against <150.0 ms "
        "(50.1 ms over the limit, 33.4%) on 100 sample(s)"
    )
    few = Store()
    for v in (10.0, 11.0, 12.0):
        few.record("http_req_duration", {"scenario": "gateway"}, v)
    thin = judge(few, parse_threshold("http_req_duration", "p(99)<150"), 4)
    assert thin.ok and "too few samples: p(99) needs at least 100" in thin.line()
    empty = judge(Store(), parse_threshold("http_req_failed", "rate<0.01"), 4)
    assert not empty.ok and "no samples to judge" in empty.line()


def test_counters_judge_count_and_rate_per_second() -> None:
    store = Store()
    store.add("dropped_iterations", {"scenario": "gateway"}, 3)
    (t,) = thresholds_of({"dropped_iterations": "count==0"})
    assert judge(store, t, 4).line().startswith("dropped_iterations count = 3.00 against ==0.0")
    (r,) = thresholds_of({"dropped_iterations": "rate<0.5"})
    assert judge(store, r, 4).value == 0.75


def test_a_missing_summary_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(LoadError) as caught:
        read_summary(tmp_path)
    assert (
        str(caught.value)
        == f"no load summary at {tmp_path / 'summary.json'}: the load run did not finish"
    )


# -- isolation and guards -----------------------------------------------------------


def test_pytest_side_never_imports_locust_or_gevent() -> None:
    code = (
        "import sys, gonogo.plugin, gonogo.load.engine, gonogo.load.session, gonogo.load.plots;"
        "bad = [m for m in ('gevent', 'locust') if m in sys.modules]; print(bad)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "[]", done.stderr


ENV_FILE = """
[environments.x]
base_url = "http://127.0.0.1:9"
production = {production}

[environments.x.load.plans.canary]
scenarios.gateway = {{ rate = 5, duration = "1s", requests = [{{ name = "ping", path = "/api/ping" }}] }}
thresholds = {{ {thresholds} }}
"""


def pytest_run(
    tmp_path: Path, production: bool, thresholds: str, *args: str
) -> subprocess.CompletedProcess[str]:
    env_file = tmp_path / "envs.toml"
    env_file.write_text(ENV_FILE.format(production=str(production).lower(), thresholds=thresholds))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "src/gonogo/packs/slo", "-m", "slo", "-k", "canary", "--env", "x",
         f"--env-file={env_file}", f"--evidence-dir={tmp_path / 'ev'}", "-p", "no:cacheprovider",
         *args],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_an_unknown_tag_is_a_collection_error_naming_it(tmp_path: Path) -> None:
    done = pytest_run(tmp_path, False, '"http_req_duration{scenario:gatway}" = ["p(95)<150"]')
    assert done.returncode == 2, done.stdout[-2000:]
    assert (
        "plan 'canary', threshold 'http_req_duration{scenario:gatway}: p(95)<150': no request "
        "has scenario:gatway; values: gateway" in done.stdout
    )
    assert "Traceback" not in done.stdout and "gonogo load:" not in done.stdout


def test_production_is_refused_without_allow_load(tmp_path: Path) -> None:
    done = pytest_run(tmp_path, True, '"http_req_failed" = ["rate<0.01"]')
    assert done.returncode == 4
    assert done.stderr.strip() == (
        "ERROR: load plan 'canary' (1 threshold check(s)) targets env 'x', which is production; "
        "add --allow-load if that load is really intended, or deselect it (-m 'slo and not load')"
    )


def test_production_is_refused_under_xdist_too(tmp_path: Path) -> None:
    done = pytest_run(tmp_path, True, '"http_req_failed" = ["rate<0.01"]', "-n", "2")
    assert done.returncode == 1, done.stdout[-2000:]
    assert "gonogo load: refused: load plan 'canary'" in done.stdout
    assert "env 'x' is production: gonogo sends no load to it unless --allow-load" in done.stdout
    assert not list((tmp_path / "ev").glob("x/*/captures/load/canary/summary.json"))


class Counting(BaseHTTPRequestHandler):
    """Counts every request (a WebSocket upgrade included) and answers 200 {}."""

    seen: ClassVar[list[str]] = []

    def _answer(self) -> None:
        Counting.seen.append(f"{self.command} {self.path}")
        reply(self, 200, {})

    do_GET = do_POST = _answer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.mark.parametrize(
    "args",
    [
        ("-m", "slo"),
        ("-m", "slo", "-n", "2"),
        ("-m", "slo and not load"),  # what the refusal suggests
    ],
    ids=["one-process", "xdist", "as-suggested"],
)
def test_probes_send_nothing_to_production_without_consent(
    tmp_path: Path, closed_port: int, args: tuple[str, ...]
) -> None:
    """The stream end-to-end probe (CreateNote writes) and the subscription fan-out (100
    WebSocket clients) are load too: a counting gateway sees none of their requests."""
    Counting.seen = []
    with serving(Counting) as url:
        env_file = tmp_path / "envs.toml"
        env_file.write_text(
            f'[environments.x]\nbase_url = "{url}"\nproduction = true\ntimeout_s = 2\n'
            'token_env = "GONOGO_X_TOKEN"\n[environments.x.stream]\n'
            f'bootstrap = "127.0.0.1:{closed_port}"\ningest_topic = "intelgraph.ingest"\n'
        )
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "src/gonogo/packs/slo/test_end_to_end.py", *args, "--env", "x",
             f"--env-file={env_file}", f"--evidence-dir={tmp_path / 'ev'}", "-p",
             "no:cacheprovider"],
            cwd=REPO, capture_output=True, text=True, timeout=120,
            env={**os.environ, "GONOGO_X_TOKEN": "x-token-0001", "COLUMNS": "200"},
        )  # fmt: skip
    assert Counting.seen == [], Counting.seen
    refusal = (
        "sends load or writes beyond the smoke's single requests to env 'x', which is "
        "production; add --allow-load if that is really intended, or deselect it "
        "(-m 'slo and not load')"
    )
    if args == ("-m", "slo"):
        assert done.returncode == 4 and refusal in done.stderr, done.stderr
    elif "-n" in args:
        # Each probe refused once, by name. Not a count of the line: pytest's short summary
        # repeats the message in full only when it thinks it runs on CI ($CI set).
        assert done.returncode == 1, done.stdout[-3000:]
        for probe in ("test_subscriptions_fan_out[x]", "test_stream_end_to_end[x]"):
            assert f"{probe} {refusal}" in done.stdout, done.stdout[-3000:]
    else:
        assert done.returncode == 5, done.stdout[-2000:]  # both deselected: nothing ran


def test_load_workers_takes_a_count(tmp_path: Path) -> None:
    done = pytest_run(tmp_path, False, '"http_req_failed" = ["rate<0.01"]', "--load-workers", "0")
    assert done.returncode == 4
    assert (
        "--load-workers takes a number of processes from 1 to 64, like --load-workers 2 (got '0')"
        in done.stderr
    )


def test_a_down_target_is_a_red_threshold_with_a_message(tmp_path: Path) -> None:
    # Nothing listens on port 9: every request fails; the run still ends by itself.
    done = pytest_run(tmp_path, False, '"http_req_failed" = ["rate<0.01"]', "-q")
    assert done.returncode == 1, done.stdout[-2000:]
    assert (
        "expected http_req_failed: rate<0.01 (plan 'canary'); got http_req_failed rate = 1.00"
        in done.stdout
    )


def test_plan_round_trips_through_json() -> None:
    plan = build_plan(settings(), "api")
    again = Plan.from_json(plan.to_json())
    assert [t.id for t in again.thresholds] == [t.id for t in plan.thresholds]
    assert again.scenarios["writes"] == plan.scenarios["writes"]
    assert isinstance(again.scenarios["reads"], LoadScenario)


def test_a_worker_from_another_machine_joins_through_the_cli(tmp_path: Path) -> None:
    """`gonogo load-worker --master HOST:PORT` is how workers elsewhere join (docs/load.md);
    here the "other machine" is another process on loopback."""
    from gonogo.load.engine import Engine, free_port

    master_port = free_port()
    worker = None
    with echo_server() as port:
        try:
            worker = subprocess.Popen(
                [sys.executable, "-m", "gonogo.cli", "load-worker", "--master",
                 f"127.0.0.1:{master_port}"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
            lines: list[str] = []
            engine = Engine(
                workers=1, remote_workers=1, master=f"127.0.0.1:{master_port}", say=lines.append
            )
            result = engine.run(one_scenario("remote", port, 25, "2s"), tmp_path / "remote")
            assert "1 local worker process(es) + 1 remote, expected at 127.0.0.1:" in lines[0]
            assert result.summary["workers"] == 2
            assert sorted(s["scheduled"] for s in result.summary["shards"]) == [25, 25]
            assert result.summary["metrics"]["http_reqs"]["all"]["count"] == 50
            out, _ = worker.communicate(timeout=30)  # the master's quit ends the remote worker
            assert worker.returncode == 0 and "connecting to the load master" in out
        finally:
            if worker is not None and worker.poll() is None:
                worker.kill()
                worker.wait()


def test_ctrl_c_stops_every_load_process(tmp_path: Path, target: str) -> None:
    import os
    import signal
    import time

    env_file = tmp_path / "envs.toml"
    env_file.write_text(
        f'[environments.x]\nbase_url = "{target}"\nproduction = false\n'
        '[environments.x.load.plans.canary]\n'
        'scenarios.gateway = { rate = 5, duration = "60s", requests = [{ name = "ping", path = "/healthz" }] }\n'
        'thresholds = { "http_req_failed" = ["rate<0.01"] }\n'
    )  # fmt: skip
    evidence = tmp_path / "ev"
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "src/gonogo/packs/slo", "-m", "slo", "-k", "test_canary", "--env",
         "x", f"--env-file={env_file}", f"--evidence-dir={evidence}", "-p", "no:cacheprovider"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip

    def children() -> list[str]:
        out = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True).stdout
        lines = [line for line in out.splitlines() if "gonogo.load.child" in line]
        masters = [line for line in lines if str(evidence) in line]
        ports = {line.split("--port ")[1].split()[0] for line in masters}
        workers = [line for line in lines if any(f"--master-port {p}" in line for p in ports)]
        return masters + workers

    try:
        deadline = time.monotonic() + 60
        while not list(evidence.glob("x/*/captures/load/canary/.master.raw")):
            assert time.monotonic() < deadline and run.poll() is None, "the load never started"
            time.sleep(0.2)
        time.sleep(2)  # load is flowing
        assert len(children()) == 2  # the master and its worker
        os.kill(run.pid, signal.SIGINT)
        out, _ = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert "KeyboardInterrupt" in out or "Interrupted" in out or run.returncode != 0
    time.sleep(0.5)
    assert children() == [], children()


@pytest.mark.parametrize(
    ("master", "says"),
    [
        ("nowhere.invalid:1", "gonogo: --master nowhere.invalid:1: cannot resolve nowhere.invalid"),
        ("127.0.0.1:{closed}", "gonogo: cannot reach the load master at 127.0.0.1:{closed} within 2 s (Connection refused); start the gonogo run first"),
        ("127.0.0.1:99999", "gonogo: --master 127.0.0.1:99999: give HOST:PORT, like --master 10.0.0.5:5557"),
        (":5557", "gonogo: --master :5557: give HOST:PORT"),
    ],
)  # fmt: skip
def test_a_load_worker_without_a_master_says_so_within_its_deadline(
    closed_port: int, master: str, says: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gonogo.cli", "load-worker", "--master",
         master.format(closed=closed_port), "--connect-timeout", "2s"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.startswith(says.format(closed=closed_port)), done.stderr
    assert "Traceback" not in done.stderr


@contextlib.contextmanager
def echo_server() -> Iterator[int]:
    """gonogo's echo server (a known 5 ms delay) on a free loopback port, up and answering."""
    import socket
    import time

    from gonogo.load.engine import free_port

    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gonogo.sandbox.echo", str(port), "5"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield port
    finally:
        server.kill()
        server.wait()


def one_scenario(name: str, port: int, rate: int, duration: str) -> Plan:
    return Plan(
        name=name,
        scenarios={
            "gateway": LoadScenario.model_validate(
                {"rate": rate, "duration": duration, "requests": REQ}
            )
        },
        thresholds=thresholds_of({"http_req_failed": "rate<0.01"}),
        target={"base_url": f"http://127.0.0.1:{port}"},
    )


def test_live_progress_comes_from_the_master_and_says_where_the_run_stands(
    tmp_path: Path,
) -> None:
    """The master rewrites progress.json once a second; the parent shows it (a TTY line
    rewritten in place here; a line every 10 s in CI logs), and the last one matches the run."""
    from gonogo.load.engine import Engine, Progress

    written: list[str] = []
    with echo_server() as port:
        engine = Engine(workers=1, say=lambda _: None, progress=Progress(written.append, tty=True))
        result = engine.run(one_scenario("live", port, 20, "3s"), tmp_path / "live")
    lines = [w for w in written if w.startswith("\r")]
    assert lines and written[-1] == "\n", written
    assert lines[-1].startswith("\rgonogo load: live ") and "gateway " in lines[-1]
    assert "/s of " in lines[-1] and "0 failed, 0 dropped" in lines[-1]
    final = json.loads((tmp_path / "live" / "progress.json").read_text())
    assert final["plan"] == "live" and final["total_s"] == 3
    assert final["scenarios"]["gateway"]["started"] <= final["scenarios"]["gateway"]["due"] <= 60
    assert result.summary["metrics"]["http_reqs"]["all"]["count"] == 60
    # The worker's own health each second: its CPU share and its event loop's worst lag.
    generator = result.summary["saturation"]["generator"]
    assert [g["t"] for g in generator] == [0, 1, 2]
    assert all(0 < g["cpu_max"] < 1.5 and g["loop_lag_ms"] >= 0 for g in generator), generator
    from gonogo.load.plots import write_plots

    pictures = [p.name for p in write_plots(result)]
    assert pictures == ["latency.png", "distribution.png", "rate.png"]


def test_progress_off_a_terminal_is_a_line_every_ten_seconds(tmp_path: Path) -> None:
    from gonogo.load.engine import Progress, progress_line, read_progress

    data = {"plan": "canary", "elapsed_s": 12.0, "total_s": 120,
            "scenarios": {"gateway": {"started": 600, "due": 600, "p95_ms": 9.1, "failed": 0,
                                      "dropped": 0}}}  # fmt: skip
    assert progress_line(data) == (
        "gonogo load: canary 12/120 s | gateway 50.0/s of 50.0/s, p95 9.1 ms, 0 failed, 0 dropped"
    )
    path = tmp_path / "progress.json"
    path.write_text(json.dumps(data))
    assert read_progress(tmp_path / "not-yet.json") is None  # before the master's first write
    written: list[str] = []
    progress = Progress(written.append, tty=False, every_s=10.0)
    progress.show(read_progress(path) or {})  # too soon: CI logs get a line every ten seconds
    progress._last -= 10.0
    progress.show(read_progress(path) or {})
    progress.done()
    assert written == [progress_line(data) + "\n"]


def test_the_k6_summary_export_has_k6s_shape(tmp_path: Path) -> None:
    """--load-summary-export: k6's legacy JSON, its threshold booleans included (true = the
    threshold FAILED, as k6 writes it): every request here fails (nothing listens)."""
    export = tmp_path / "k6"
    done = pytest_run(
        tmp_path, False,
        '"http_req_failed" = ["rate<0.01"], "http_req_duration{scenario:gateway}" = ["p(95)<150"]',
        f"--load-summary-export={export}",
    )  # fmt: skip
    assert done.returncode == 1, done.stdout[-2000:]
    summary = json.loads((export / "x-canary.json").read_text())
    assert summary["root_group"] == {
        "name": "", "path": "", "id": "d41d8cd98f00b204e9800998ecf8427e", "groups": {},
        "checks": {},
    }  # fmt: skip
    failed = summary["metrics"]["http_req_failed"]
    assert failed["thresholds"] == {"rate<0.01": True}
    assert failed["passes"] == 5 and failed["fails"] == 0 and failed["value"] == 1.0
    assert summary["metrics"]["http_reqs"]["count"] == 5
    gateway = summary["metrics"]["http_req_duration{scenario:gateway}"]
    assert set(gateway) == {"avg", "min", "med", "max", "p(90)", "p(95)", "thresholds"}
    steps = next((tmp_path / "ev").glob("x/*/steps.log")).read_text()
    assert f"gonogo load: k6 summary export {export / 'x-canary.json'}" in steps


@pytest.mark.parametrize("verify", ["ca", "system", "off"])
def test_https_targets_are_verified_as_the_env_says(tmp_path: Path, verify: str) -> None:
    """The load engine's connections verify TLS as the env's other clients do: its own CA
    bundle (verify_tls = PATH) is trusted; the system's CAs alone refuse a self-signed
    gateway (every request failed, the certificate named); verify_tls = false trusts it."""
    from gonogo.load.engine import Engine

    cert, key = self_signed(tmp_path)
    with serving(Ok, tls=(cert, key)) as url:
        plan = one_scenario("tls", int(url.rsplit(":", 1)[1]), 10, "1s")
        setting = {"ca": str(cert), "system": True, "off": False}[verify]
        plan = Plan(
            name=plan.name, scenarios=plan.scenarios, thresholds=plan.thresholds,
            target={"base_url": url, "verify_tls": setting, "timeout_s": 5},
        )  # fmt: skip
        result = Engine(workers=1, say=lambda _: None).run(plan, tmp_path / "run")
    failed = result.summary["metrics"]["http_req_failed"]["all"]
    assert failed["count"] == 10
    if verify == "system":
        assert failed["rate"] == 1.0
        assert "CERTIFICATE_VERIFY_FAILED" in result.summary["failures"][0]["error"]
    else:
        assert failed["rate"] == 0.0, result.summary["failures"]


class _Scripted(socketserver.BaseRequestHandler):
    """Keep-alive HTTP/1.1 that answers each request with what `answer` gives for it: bytes
    to send, or None to close the connection unanswered. Every request is kept, and every
    connection counted."""

    seen: ClassVar[list[bytes]] = []
    connections: ClassVar[list[int]] = []

    def answer(self, method: bytes, path: bytes) -> bytes | None:
        raise NotImplementedError

    def handle(self) -> None:
        self.connections.append(1)
        self.request.settimeout(10)
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                chunk = self.request.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length: *(\d+)", head)
            size = int(length.group(1)) if length else 0
            while len(buffer) < size:
                chunk = self.request.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            request, buffer = head + b"\r\n\r\n" + buffer[:size], buffer[size:]
            method, path = head.split(b" ")[:2]
            answer = self.answer(method, path)
            self.seen.append(request)
            if answer is None:
                return
            self.request.sendall(answer)
            if b"Connection: close" in answer:
                return


def _child(handler: type[_Scripted], script: str) -> str:
    """A script's output, run in a child (the Locust side patches the process with gevent)
    with the base URL of a server answering with `handler` as its argument (sys.argv[1])."""
    handler.seen.clear()
    handler.connections.clear()
    with serving(handler) as url:
        done = subprocess.run(
            [sys.executable, "-c", script, url], capture_output=True, text=True, timeout=60
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class _Dropping(_Scripted):
    """Closes, unanswered, the first request to a path with /drop (a gateway that closed a
    pooled connection as it was reused)."""

    def answer(self, method: bytes, path: bytes) -> bytes | None:
        if b"/drop" in path and not any(r.split(b" ")[1] == path for r in self.seen):
            return None
        return b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def test_prepared_requests_are_the_clients_own_and_only_idempotent_ones_are_sent_again() -> None:
    """The worker sends each request of the plan as bytes built once (Http.prepare) by
    geventhttpclient's own code: the same bytes client.request sends. A connection closed
    under a request is replaced and a GET sent again; a POST is not (RFC 9110 9.2.2), it
    fails. In a child: the Locust side patches the process with gevent."""
    script = textwrap.dedent(
        """
        import sys
        from gonogo.load.child.httpclient import Http
        http = Http({"base_url": sys.argv[1] + "/base", "timeout_s": 5}, 2)
        auth = {"Authorization": "Bearer t"}
        prepared = http.prepare("GET", "/same", None, auth)
        assert prepared.data is not None, "not prepared"
        print(http.send(prepared).status_code)
        plain = http.prepare("GET", "/same", None, auth)
        plain.data = None  # through client.request
        print(http.send(plain).status_code)
        print(http.send(http.prepare("GET", "/drop-get", None, auth)).status_code)
        body = b'{"id": "x"}'
        try:
            got = http.send(http.prepare("POST", "/drop-post", body, {}))
            print("answered", got.status_code, got.content)
        except Exception as exc:
            print(type(exc).__name__)
        http.close()
        """
    )
    stdout = _child(_Dropping, script)
    assert stdout.split() == ["200", "200", "200", "HTTPConnectionClosed"], _Dropping.seen
    seen = _Dropping.seen
    same = [r for r in seen if r.startswith(b"GET /base/same ")]
    assert len(same) == 2 and same[0] == same[1], same
    assert b"Authorization: Bearer t" in same[0]
    assert sum(r.startswith(b"GET /base/drop-get ") for r in seen) == 2  # sent again
    posts = [r for r in seen if r.startswith(b"POST /base/drop-post ")]
    assert len(posts) == 1 and posts[0].endswith(b'{"id": "x"}')  # not sent again


class _Shapes(_Scripted):
    """Answers shaped as real servers shape them, beside a plain Content-Length."""

    def answer(self, method: bytes, path: bytes) -> bytes | None:
        return {
            b"/length": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            b"/chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"1\r\no\r\n1\r\nk\r\n0\r\n\r\n",
            b"/interim": b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n"
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            b"/head": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
            b"/close": b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nto-the-close",
            b"/cut": b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\nConnection: close\r\n\r\nabc",
            b"/silent": b"",  # the request is read, and nothing said until the client goes
        }[path]


def test_answers_are_read_as_servers_shape_them_and_timeout_s_ends_a_silent_one() -> None:
    """The worker reads answers with geventhttpclient's parser, keeping only status and
    body: chunked, after an interim 1xx, to a HEAD (no body, the connection used again),
    delimited by the close; one cut short is a failure that says so, and one that never
    comes ends at timeout_s (the one timer over all requests in flight, Http.expire) with
    a failure naming it. A connection is used again only after a whole keep-alive answer:
    10 requests, 4 connections. In a child: the Locust side patches the process."""
    script = textwrap.dedent(
        """
        import sys, time
        from gonogo.load.child.httpclient import Http
        http = Http({"base_url": sys.argv[1], "timeout_s": 1}, 2)
        for method, path in [("GET", "/length"), ("GET", "/chunked"), ("GET", "/interim"),
                             ("HEAD", "/head"), ("GET", "/length"), ("GET", "/close"),
                             ("GET", "/length"), ("GET", "/cut"), ("GET", "/silent"),
                             ("GET", "/length")]:
            began = time.perf_counter()
            try:
                got = http.send(http.prepare(method, path, None, {}))
                print(path, got.status_code, got.content.decode() or "-", len(http.idle))
            except Exception as exc:
                took = time.perf_counter() - began
                print(path, type(exc).__name__, round(took), str(exc).replace(" ", "_"))
        print("in-flight", len(http.deadlines))
        http.close()
        """
    )
    stdout = _child(_Shapes, script)
    assert stdout.splitlines() == [
        "/length 200 ok 1",
        "/chunked 200 ok 1",
        "/interim 200 ok 1",
        "/head 200 - 1",
        "/length 200 ok 1",
        "/close 200 to-the-close 0",
        "/length 200 ok 1",
        "/cut HTTPParseError 0 the_connection_closed_before_the_end_of_the_answer",
        "/silent TimeoutError 1 no_answer_within_timeout_s_=_1_s",
        "/length 200 ok 1",
        "in-flight 0",
    ], stdout
    assert len(_Shapes.connections) == 4, _Shapes.seen


def test_a_connection_on_a_descriptor_past_1024_is_used_again() -> None:
    """The liveness check before a connection is reused takes any descriptor: select()
    refuses those past 1,024 (FD_SETSIZE), so on a worker holding that many every such
    connection read as closed and was made anew. 3 requests, 1 connection."""
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip(f"this machine allows {hard} open files; the test needs 1,200")
    script = textwrap.dedent(
        f"""
        import os, resource, sys
        resource.setrlimit(resource.RLIMIT_NOFILE, (1200, {hard!r}))
        held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
        from gonogo.load.child.httpclient import Http
        http = Http({{"base_url": sys.argv[1], "timeout_s": 5}}, 2)
        wire = http.prepare("GET", "/length", None, {{}})
        for _ in range(3):
            print(http.send(wire).status_code, http.idle[0].fileno() > 1024)
        http.close()
        """
    )
    stdout = _child(_Shapes, script)
    assert stdout.split() == ["200", "True"] * 3, stdout
    assert len(_Shapes.connections) == 1, f"{len(_Shapes.connections)} connections for 3 requests"


def test_a_requests_method_is_one_spelling_on_the_wire_in_its_tags_and_in_the_plans_tags() -> None:
    """A plan may write `method = "get"`. What is sent, what its samples are tagged with and
    what a threshold's `method:` may name are one answer (plan.request_method): tagged as the
    plan spelled it, `http_req_duration{method:GET}` passed validation and then selected no
    sample. In a child: the Locust side patches the process with gevent."""
    script = textwrap.dedent(
        """
        from gonogo.load.child.shard import Sent, ShardRun
        from gonogo.load.plan import Plan
        plan = Plan.from_json({"name": "p", "target": {"base_url": "http://127.0.0.1:1"},
            "scenarios": {"s": {"rate": 1, "duration": "1s", "requests": [
                {"name": "ping", "path": "/api/ping", "method": "get"},
                {"name": "q", "kind": "graphql", "operation": "Q"}]}}})
        s = plan.scenarios["s"]
        run = ShardRun(None, plan, 0, 1)
        for request in s.requests:
            tags = dict(Sent("s", s, request).tags)
            print(run.http_request(request)[0], tags["method"])
        print(*sorted(plan.tag_values()["method"]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[:3] == ["GET GET", "POST POST", "GET POST"], done.stdout


def test_a_worker_filling_its_histograms_in_steps_reports_what_it_would_at_once() -> None:
    """The worker puts held samples into their histograms every FILL_EVERY_S, not all at the
    report (which held the loop 12-21 ms a second): what it reports is the same, series and
    per-second windows alike. In a child: the Locust side patches the process with gevent."""
    script = textwrap.dedent(
        """
        import json, random
        from gonogo.load.child.recorder import Recorder
        rng = random.Random(5)
        events = [(rng.random() * 3, rng.lognormvariate(0, 1), rng.random() < 0.1)
                  for _ in range(5000)]
        tags = (("scenario", "s"),)
        def feed(recorder, fill_every):
            recorder.started = 0.0
            for i, (due, ms, failed) in enumerate(events):
                recorder.record("http_req_duration", tags, ms)
                recorder.window(due, "s", "http_req_duration", ms, failed)
                if fill_every and i % fill_every == 0:
                    recorder.fill()
            return recorder.drain()
        stepped, at_once = feed(Recorder(), 97), feed(Recorder(), 0)
        key = lambda w: (w["t"], w["metric"])
        print(stepped["series"] == at_once["series"] and stepped["series"] != [],
              sorted(stepped["windows"], key=key) == sorted(at_once["windows"], key=key),
              len(stepped["windows"]))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "True", "3"]


def test_a_master_holds_only_the_histograms_it_keeps_without_the_cycle_collector(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """hdrh's histogram and its encoder refer to each other, so a dropped one (~190 KB of
    counts) waited for the cycle collector: a master held 64-202 at a time and its RSS rose
    15-25 MB in its first minutes, and collecting them once a second held a worker's loop
    8 ms at each report. stats makes every histogram (new or decoded) with its encoder's
    reference weak, so it goes when its last name goes. Here 30 seconds of two workers'
    reports are merged with the collector off: only what the master keeps is alive; with
    the cycle left in (stats._acyclic a no-op), all of them."""

    def alive() -> int:
        return sum(type(o) is HdrHistogram for o in gc.get_objects())  # not their proxies

    def worker_report(t: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        store = Store()
        for metric in ("http_req_duration", "iteration_start_delay"):
            store.record_many(metric, (("scenario", "s"),), [1.0 + t, 2.0])
        windows = [
            {"t": t, "scenario": "s", "metric": s["metric"], "hdr": s["hdr"], "failed": 0}
            for s in store.encoded()
        ]
        return store.drain(), windows

    def merged() -> int:
        gc.collect()
        gc.disable()
        try:
            before = alive()
            store, timeline = Store(), Timeline()
            for t in range(30):
                for _ in range(2):
                    series, windows = worker_report(t)
                    store.merge(series)
                    timeline.merge(windows)
                timeline.close(before=t - 5)
            return alive() - before
        finally:
            gc.enable()

    freed = merged()
    monkeypatch.setattr("gonogo.load.stats._acyclic", lambda histogram: histogram)
    left = merged()
    # kept: 2 series, 2 clean histograms and 2 metrics x 6 open seconds = 16
    assert freed <= 16 < 200 < left, (
        f"{freed} histograms alive after 30 s of reports (the master keeps 16); "
        f"{left} with the cycle"
    )


def test_the_scheduler_never_wakes_before_an_arrival_is_due() -> None:
    """The timerfd waker (and its gevent.sleep fallback for dense schedules) returns at or
    after the due time, never before: an iteration never starts ahead of its schedule. In a
    child: importing the Locust side patches the process with gevent."""
    script = textwrap.dedent(
        """
        import time
        from gonogo.load.child.timer import PRECISE_WAKE_MIN_S, Waker
        waker = Waker()
        assert waker._fd >= 0, "no timerfd on Linux"
        early = 0
        for i in range(300):
            gap = (0.0001, 0.001, 0.004)[i % 3]  # dense, precise, and timer + precise
            due = time.perf_counter() + gap
            waker.sleep_until(due)
            early += time.perf_counter() < due
        waker.close()
        assert waker._fd == -1
        print("early", early, PRECISE_WAKE_MIN_S)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[:2] == ["early", "0"]


def test_load_children_keep_large_blocks_mmapped_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The children's malloc keeps HDR histograms out of the heap (a 10-minute plan's master
    grew 26 % without it, benchmarks/load_capacity.py --only memory); a caller's own setting
    is kept, and the load secrets' variables are never inherited."""
    from gonogo.load.engine import Engine

    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.setenv("GONOGO_LOAD_TOKEN", "stale")
    env = Engine(token="t")._child_env()
    assert env["MALLOC_MMAP_THRESHOLD_"] == "131072"
    assert env["GONOGO_LOAD_TOKEN"] == "t"
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    monkeypatch.delenv("GONOGO_LOAD_TOKEN")
    env = Engine()._child_env()
    assert env["MALLOC_MMAP_THRESHOLD_"] == "65536" and "GONOGO_LOAD_TOKEN" not in env
