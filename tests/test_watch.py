"""The rollback-trigger watch: windows, no data, burn rate, rules, and a real rollback.

Engine tests feed expositions written by prometheus-client itself (the same
library the app uses) through a fake clock, so ten-minute windows take ten
ticks. The end-to-end tests watch the local environment with a fault: by its
own scrapes under a fake clock, and through its real Prometheus in real time.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from gonogo.clients.metrics import MetricsSnapshot
from gonogo.config import EnvSettings
from gonogo.env import Environment
from gonogo.errors import ConfigError
from gonogo.evidence import Bundle
from gonogo.sandbox.stack import Stack
from gonogo.series import parse_selector
from gonogo.vocabulary import parse_duration
from gonogo.watch.evaluate import SampledSource, Watch
from gonogo.watch.run import EXIT_QUIET, EXIT_ROLLBACK, WatchRun
from gonogo.watch.triggers import Quantile, Ratio, Trigger, histogram_quantile, rules, triggers_for
from tests.conftest import reply, serving
from tests.packs import REPO

# The fake servers here ask for a bearer token, as the gateway does: envs read it from here.
# Long and unlike any text: a value read is a secret to the process's redactor for good, and
# a short one ("t") would be masked wherever it stands alone in a later run's report.html.
TOKEN_ENV = "GONOGO_WATCH_TEST_TOKEN"


@pytest.fixture(autouse=True)
def _token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "watch-selftest-token-4c1e")


class FakeClock:
    def __init__(self, on_sleep: object = None) -> None:
        self.t = 1_800_000_000.0
        self.on_sleep = on_sleep

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        if callable(self.on_sleep):
            self.on_sleep()
        self.t += seconds


class App:
    """An app's metrics, written by prometheus-client, advanced by the test."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("http_requests", "", ["route", "code"], registry=self.registry)
        self.latency = Histogram(
            "http_request_duration_seconds",
            "",
            ["route"],
            registry=self.registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0),
        )
        self.lag = Gauge("consumer_lag", "", registry=self.registry)

    def traffic(self, ok: int, errors: int = 0, seconds: float = 0.02) -> None:
        self.requests.labels("/api/ping", "200").inc(ok)
        self.requests.labels("/api/ping", "500").inc(errors)
        for _ in range(ok + errors):
            self.latency.labels("/api/ping").observe(seconds)

    def scrape(self) -> MetricsSnapshot:
        return MetricsSnapshot.parse(generate_latest(self.registry).decode())


@contextlib.contextmanager
def app_metrics(app: App) -> Iterator[str]:
    """A loopback /metrics serving the App's registry: a real scrape for the watch."""
    from http.server import BaseHTTPRequestHandler

    from tests.conftest import reply, serving

    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            reply(self, 200, generate_latest(app.registry), "text/plain; version=0.0.4")

        def log_message(self, format: str, *args: object) -> None:
            pass

    with serving(Metrics) as url:
        yield url


SHARE = Ratio(
    parse_selector('http_requests_total{code=~"5.."}'), (parse_selector("http_requests_total"),)
)


def watch_of(app: App, *triggers: Trigger, clock: FakeClock) -> Watch:
    return Watch(list(triggers), SampledSource(app.scrape), clock)


def test_a_trigger_fires_only_after_holding_for_its_whole_window() -> None:
    app, clock = App(), FakeClock()
    trigger = Trigger("5xx", "5xx share", SHARE, ">=", 0.002, "%", 100.0, for_s=600, window_s=60)
    watch = watch_of(app, trigger, clock=clock)
    states = []
    for minute in range(14):
        app.traffic(ok=990, errors=10 if minute != 4 else 0)  # 1 % errors, but a clean minute
        watch.evaluate()
        states.append(watch.statuses["5xx"].state)
        clock.sleep(60)
    # minute 0: one scrape, no rate yet; 1-3 pending; 4 clean resets; 5 starts again; 15 fires
    assert states[0] == "no-data"
    assert states[1:4] == ["pending"] * 3 and states[4] == "ok"
    assert states[5:14] == ["pending"] * 9  # 5..13 is 8 minutes of holding: not yet
    app.traffic(ok=990, errors=10)
    clock.t += 60 * 2
    fired = watch.evaluate()
    assert [s.trigger.name for s in fired] == ["5xx"]
    assert watch.statuses["5xx"].value == pytest.approx(0.01)


def test_no_data_is_its_own_state_and_fails_only_when_told() -> None:
    app, clock = App(), FakeClock()
    reported = Trigger("a", "share", SHARE, ">=", 0.5, for_s=120, window_s=60)
    failing = Trigger("b", "share", SHARE, ">=", 0.5, for_s=120, window_s=60, no_data="fail")
    watch = watch_of(app, reported, failing, clock=clock)
    fired = []
    for _ in range(4):  # no traffic at all: no rate can be computed
        fired += watch.evaluate()
        clock.sleep(60)
    assert watch.statuses["a"].state == "no-data" and watch.statuses["a"].fired_at is None
    assert [s.trigger.name for s in fired] == ["b"]


def test_the_burn_rate_needs_both_windows() -> None:
    app, clock = App(), FakeClock()
    burn = Trigger(
        "burn",
        "share vs budget",
        SHARE,
        ">",
        14.4 * 0.001,
        "%",
        100.0,
        for_s=0,
        window_s=3600,
        short_window_s=300,
    )
    watch = watch_of(app, burn, clock=clock)
    for _ in range(12):  # an hour of 3 % errors
        app.traffic(ok=970, errors=30)
        watch.evaluate()
        clock.sleep(300)
    assert watch.statuses["burn"].state == "firing"
    watch2 = watch_of(app2 := App(), burn, clock=(clock2 := FakeClock()))
    for step in range(12):  # an hour of errors that stopped in the last 5 minutes
        app2.traffic(ok=970, errors=30 if step < 11 else 0)
        watch2.evaluate()
        clock2.sleep(300)
    assert watch2.statuses["burn"].state == "ok"


def test_histogram_quantile_matches_prometheus() -> None:
    # 100 observations: 50 under 0.1, 40 in (0.1, 0.25], 10 in (0.25, 0.5]
    buckets = [(0.1, 50.0), (0.25, 90.0), (0.5, 100.0), (float("inf"), 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.1)
    assert histogram_quantile(0.95, buckets) == pytest.approx(0.375)
    assert histogram_quantile(0.95, [(0.1, 0.0), (float("inf"), 0.0)]) is None
    app = App()
    old = app.scrape()
    app.traffic(ok=100, seconds=0.3)
    p95 = Quantile(parse_selector('http_request_duration_seconds{route=~"/api.*"}'), 0.95)
    assert p95.sampled(old, app.scrape()) == pytest.approx(0.4875)


def test_overrides_tune_and_unknown_names_are_one_line() -> None:
    settings = EnvSettings.model_validate(
        {
            "name": "green",
            "token_env": TOKEN_ENV,
            "base_url": "https://g.example.com",
            "baseline": {"consumer_lag": 10},
            "watch": {
                "triggers": {
                    "api-p95": {"threshold": 0.4, "for_s": 60},
                    "graph-p95": {"enabled": False},
                }
            },
        }
    )
    by_name = {t.name: t for t in triggers_for(settings)}
    assert by_name["api-p95"].threshold == 0.4 and by_name["api-p95"].for_s == 60
    assert "graph-p95" not in by_name and by_name["consumer-lag"].threshold == 50
    bad = settings.model_copy(
        update={
            "watch": settings.watch.model_copy(
                update={"triggers": {"api-p59": settings.watch.triggers["api-p95"]}}
            )
        }
    )
    with pytest.raises(ConfigError, match=r"unknown trigger\(s\) in \[watch.triggers\]: api-p59;"):
        triggers_for(bad)
    with pytest.raises(ConfigError) as caught:
        parse_duration("ten minutes", "--for")
    assert str(caught.value) == "--for 'ten minutes': give a duration like 90s, 10m, 1h or 1h30m"
    assert parse_duration("1h30m", "--for") == 5400 and parse_duration("45", "--for") == 45


def test_gonogo_rules_exports_what_the_watch_evaluates(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gonogo.cli", "rules", "--env", "green"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    exported = yaml.safe_load(done.stdout)
    green = EnvSettings.model_validate(
        {"name": "green", "base_url": "https://g.example.com", "baseline": {"consumer_lag": 200}}
    )
    assert exported == rules("green", triggers_for(green))
    alerts = {r["labels"]["trigger"]: r for r in exported["groups"][0]["rules"]}
    assert alerts["5xx-ratio"]["for"] == "10m" and alerts["5xx-page"]["for"] == "5m"
    assert alerts["consumer-lag"]["expr"] == "(max(max_over_time(consumer_lag[5m]))) > 1000"
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool (Debian's prometheus package) is not here to check the rule file")
    (tmp_path / "rules.yml").write_text(done.stdout)
    checked = subprocess.run(
        [promtool, "check", "rules", str(tmp_path / "rules.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


# -- against the local environment ------------------------------------------------------------


def _env(stack: Stack, **watch: object) -> Environment:
    assert stack.info is not None
    base = EnvSettings.model_validate(
        {
            "name": "local",
            "sandbox": True,
            "production": False,
            "timeout_s": 5,
            "baseline": {"consumer_lag": 4},
            "watch": watch,
        }
    )
    return Environment.open(base, stack.info)


def _traffic(stack: Stack) -> None:
    assert stack.info is not None
    headers = {"Authorization": f"Bearer {stack.info.token('analyst')}"}
    with httpx.Client(base_url=stack.info.base_url, headers=headers, timeout=5) as client:
        for _ in range(20):
            client.get("/api/ping")


def test_a_quiet_watch_of_a_healthy_environment(stack: Stack, tmp_path: Path) -> None:
    env = _env(stack, source="metrics")
    clock = FakeClock(on_sleep=lambda: _traffic(stack))
    bundle = Bundle.create(tmp_path, ["local"])
    lines: list[str] = []
    code = WatchRun(env, bundle, clock, duration_s=900, interval_s=60, say=lines.append).run()
    env.close()
    assert code == EXIT_QUIET, lines
    timeline = (bundle.root / "watch" / "timeline.jsonl").read_text().splitlines()
    assert len(timeline) == 16
    last = json.loads(timeline[-1])["triggers"]
    assert last["5xx-ratio"] == {"state": "ok", "value": 0.0}
    assert not (bundle.root / "comms" / "rollback.txt").exists()


def test_a_fault_fires_the_rollback_with_notice_and_after_action(
    stack: Stack, tmp_path: Path
) -> None:
    stack.set_faults(set_=["error-rate=0.3"])
    try:
        # The fast burn would page first (no `for:`); this test follows the 5xx triggers.
        env = _env(stack, source="metrics", triggers={"burn-rate-fast": {"enabled": False}})
        clock = FakeClock(on_sleep=lambda: _traffic(stack))
        bundle = Bundle.create(tmp_path, ["local"])
        lines: list[str] = []
        code = WatchRun(env, bundle, clock, duration_s=3600, interval_s=60, say=lines.append).run()
        env.close()
    finally:
        stack.set_faults(reset=True)
    assert code == EXIT_ROLLBACK, lines
    notice = (bundle.root / "comms" / "rollback.txt").read_text()
    assert notice.startswith(
        ":octagonal_sign: IntelGraph ROLLBACK — local\nTrigger: 5xx-page fired"
    )
    assert "(5xx share > 1% for 5m; held for 300 s)" in notice
    rollback = [line for line in lines if "ROLLBACK" in line]
    assert rollback and rollback[0].startswith("T+06:00 ROLLBACK: 5xx-page fired"), "\n".join(lines)
    after = (bundle.root / "after-action.md").read_text()
    assert "- Trigger: **5xx-page** (page), 5xx share > 1% for 5m" in after
    summary = json.loads((bundle.root / "watch" / "summary.json").read_text())
    assert summary["outcome"] == "rollback"


def test_grafana_panels_are_saved_at_the_checkpoints(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.conftest import GRAFANA_TOKEN

    monkeypatch.setenv("GONOGO_TEST_GRAFANA", GRAFANA_TOKEN)
    settings = EnvSettings.model_validate(
        {
            "name": "green",
            "base_url": target,
            "production": False,
            "grafana": {
                "url": target,
                "token_env": "GONOGO_TEST_GRAFANA",
                "panels": [{"dashboard": "intelgraph-api", "panel": 4, "name": "api-p95"}],
            },
        }
    )
    env = Environment.open(settings)
    bundle = Bundle.create(tmp_path, ["green"])
    code = WatchRun(
        env, bundle, FakeClock(), duration_s=900, interval_s=60, say=lambda _: None
    ).run()
    env.close()
    assert code == EXIT_QUIET
    saved = sorted(p.name for p in (bundle.root / "watch" / "grafana").iterdir())
    assert saved == ["T+05m-api-p95.png", "T+15m-api-p95.png"]
    assert (bundle.root / "watch" / "grafana" / saved[0]).read_bytes().startswith(b"\x89PNG")


@pytest.mark.stack
def test_an_unreleased_image_in_the_namespace_pages_at_once(tmp_path: Path) -> None:
    from gonogo.sandbox.stack import Stack

    with Stack(faults={"pod-unknown-image": None}) as info:
        base = EnvSettings.model_validate(
            {"name": "local", "sandbox": True, "production": False, "watch": {"source": "metrics"}}
        )
        env = Environment.open(base, info)
        bundle = Bundle.create(tmp_path, ["local"])
        lines: list[str] = []
        code = WatchRun(env, bundle, FakeClock(), 600, 60, say=lines.append).run()
        env.close()
    assert code == EXIT_ROLLBACK, lines
    assert lines[2].startswith("T+00:00 ROLLBACK: unsigned-image fired: 1 "), lines
    steps = (bundle.root / "steps.log").read_text()
    assert "digest not in the release's manifest.json" in steps
    rollback = (bundle.root / "comms" / "rollback.txt").read_text()
    assert "Trigger: unsigned-image fired" in rollback


def test_the_probe_reads_zero_on_a_healthy_namespace(stack: Stack, tmp_path: Path) -> None:
    env = _env(stack, source="metrics")
    bundle = Bundle.create(tmp_path, ["local"])
    run = WatchRun(env, bundle, FakeClock(), 60, 60, say=lambda _: None)
    assert run.run() == EXIT_QUIET
    env.close()
    assert run.watch.statuses["unsigned-image"].value == 0.0


@pytest.mark.parametrize("burst", [True, False], ids=["transient-breach", "quiet"])
def test_a_transient_breach_gets_an_after_action_note(tmp_path: Path, burst: bool) -> None:
    """One bad minute lifts the 5-minute 5xx share over its threshold for 5 minutes, short of
    its 10-minute `for`: no rollback, but the checklist's after-action note, "even transient"."""
    app, minute = App(), [0]

    def traffic() -> None:
        minute[0] += 1
        app.traffic(ok=990, errors=10 if burst and minute[0] == 3 else 0)

    with app_metrics(app) as url:
        settings = EnvSettings.model_validate(
            {
                "name": "g",
                "base_url": url,
                "production": False,
                "token_env": TOKEN_ENV,
                "watch": {"source": "metrics"},
            }
        )
        env = Environment.open(settings)
        bundle = Bundle.create(tmp_path, ["g"])
        lines: list[str] = []
        code = WatchRun(env, bundle, FakeClock(on_sleep=traffic), 1200, 60, say=lines.append).run()
        env.close()
    assert code == EXIT_QUIET, lines
    note = bundle.root / "after-action.md"
    summary = json.loads((bundle.root / "watch" / "summary.json").read_text())
    if not burst:
        assert not note.exists() and summary["breaches"] == []
        return
    assert (
        "| 5xx-ratio | T+03:00 | T+08:00 | 0.3356% | transient | 5xx share >= 0.2% for 10m |"
        in (note.read_text())
    )
    assert summary["breaches"] == [
        {"trigger": "5xx-ratio", "rule": "5xx share >= 0.2% for 10m", "from": "T+03:00",
         "to": "T+08:00", "worst": "0.3356%", "fired": False}
    ]  # fmt: skip
    assert lines[-1].endswith("(1 breach(es), none sustained)")


def test_the_watch_posts_its_status_every_comms_cadence(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seed's "Comms Cadence": a status message every [comms] cadence (30 min by
    default), written to comms/ and posted to the war room's webhook."""
    from tests.conftest import POSTED

    app = App()
    monkeypatch.setenv("GONOGO_TEST_WEBHOOK", f"{target}/hooks/war-room")
    before = len(POSTED)
    lines: list[str] = []
    with app_metrics(app) as url:
        settings = EnvSettings.model_validate(
            {"name": "g", "base_url": url, "production": False, "token_env": TOKEN_ENV,
             "watch": {"source": "metrics"}, "comms": {"webhook_env": "GONOGO_TEST_WEBHOOK"}}
        )  # fmt: skip
        env = Environment.open(settings)
        bundle = Bundle.create(tmp_path, ["g"])
        clock = FakeClock(on_sleep=lambda: app.traffic(ok=100))
        code = WatchRun(env, bundle, clock, 3900, 300, say=lines.append).run()
        env.close()
    assert code == EXIT_QUIET
    written = sorted(p.name for p in (bundle.root / "comms").glob("status-*.txt"))
    assert written == ["status-T+30m.txt", "status-T+60m.txt"]
    text = (bundle.root / "comms" / "status-T+30m.txt").read_text()
    assert text.startswith(":information_source: IntelGraph watch — g, T+30:00 in (every 30m)")
    assert "Breaches so far: none" in text
    posts = [p for p in POSTED[before:] if p["path"] == "/hooks/war-room"]
    assert [p["json"]["text"].splitlines()[0] for p in posts] == [
        ":information_source: IntelGraph watch — g, T+30:00 in (every 30m)",
        ":information_source: IntelGraph watch — g, T+60:00 in (every 30m)",
    ]


class NullSamples(BaseHTTPRequestHandler):
    """A Prometheus (or a proxy in front of one) whose samples' values are null."""

    def do_GET(self) -> None:
        body = {"status": "success", "data": {"resultType": "vector", "result": [
            {"metric": {"job": "intelgraph"}, "value": [1764900000.0, None]}]}}  # fmt: skip
        reply(self, 200, body)

    def log_message(self, *_: Any) -> None:
        pass


def test_a_null_sample_is_no_data_with_its_reason_never_a_crash(tmp_path: Path) -> None:
    from gonogo.errors import TargetError

    app = App()
    with serving(NullSamples) as prom, app_metrics(app) as url:
        settings = EnvSettings.model_validate(
            {
                "name": "g",
                "base_url": url,
                "production": False,
                "token_env": TOKEN_ENV,
                "prometheus": {"url": prom},
            }
        )
        env = Environment.open(settings)
        with pytest.raises(TargetError) as caught:
            env.metrics.promql("up")
        assert "a sample's value is None, not a number" in str(caught.value)
        bundle = Bundle.create(tmp_path, ["g"])
        lines: list[str] = []
        code = WatchRun(env, bundle, FakeClock(), 180, 60, say=lines.append).run()
        env.close()
    assert code == EXIT_QUIET, lines
    said = [line for line in lines if ": no data: PromQL " in line]
    assert said and "the answer is malformed" in said[0], lines
    assert len(said) == len({line.split()[1] for line in said})  # once per trigger, not per tick
    first = json.loads((bundle.root / "watch" / "timeline.jsonl").read_text().splitlines()[0])
    assert all(t["state"] == "no-data" for t in first["triggers"].values())
    assert any("malformed" in t.get("no_data_reason", "") for t in first["triggers"].values())


def test_gonogo_rules_exports_unsigned_image_from_the_release(tmp_path: Path) -> None:
    release = REPO / "src" / "gonogo" / "sandbox" / "release"
    env_file = tmp_path / "envs.toml"
    env_file.write_text(
        '[environments.green]\nbase_url = "https://g.example.com"\nproduction = false\n'
        f'release = "{release}"\n[environments.green.cluster]\nnamespace = "intelgraph"\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "gonogo.cli", "rules", "--env", "green", f"--env-file={env_file}"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    exported = yaml.safe_load(done.stdout)["groups"][0]["rules"]
    (unsigned,) = [r for r in exported if r["labels"]["trigger"] == "unsigned-image"]
    digests = json.loads((release / "manifest.json").read_text())["images"].values()
    assert all(d in unsigned["expr"].replace("\\\\", "") for d in digests), unsigned["expr"]
    assert 'namespace="intelgraph"' in unsigned["expr"] and unsigned["for"] == "0s"
