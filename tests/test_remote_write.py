"""[load] remote_write: the canary pushed to a real Prometheus under k6's names, read back.

Prometheus (Debian's) runs with its remote-write receiver on, as the local env's does; a
plan runs against gonogo's echo server; its series are queried back with PromQL and
compared with summary.json. The refusals (a password in the URL, the extra not
installed, a receiver that refuses) are one line each, and never stop the plan.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest

from gonogo.clients.http import HttpClient, RequestRecord
from gonogo.config import EnvSettings
from gonogo.load.engine import Engine, LoadResult
from gonogo.load.plan import Plan
from gonogo.load.remotewrite import MAX_FAILED_PUSHES, RemoteWrite, encode, for_plan
from gonogo.sandbox import servers
from tests.conftest import refused_table, reply, serving
from tests.test_load import echo_server, one_scenario

needs_prometheus = pytest.mark.skipif(
    servers.prometheus_binary() is None,
    reason="needs Debian's prometheus (apt-get install prometheus): the receiver under test",
)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("prometheus")
    started = servers.start_prometheus(folder, folder / "work", app_port=9)
    assert started is not None
    try:
        yield f"http://127.0.0.1:{started.port}"
    finally:
        started.child.stop()


def query(prometheus: str, promql: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": promql}, timeout=5)
    answer.raise_for_status()
    result: list[dict[str, Any]] = answer.json()["data"]["result"]
    return result


def run_pushed(
    tmp_path: Path, url: str, plan: Plan, testid: str
) -> tuple[LoadResult, list[str], list[RequestRecord]]:
    said: list[str] = []
    records: list[RequestRecord] = []
    client = HttpClient(url, timeout_s=2.0, on_request=records.append)
    pusher = RemoteWrite(
        url, {"plan": plan.name, "env": "t", "testid": testid}, client=client, say=said.append
    )
    engine = Engine(workers=1, say=said.append, remote_write=pusher)
    return engine.run(plan, tmp_path / plan.name), said, records


@needs_prometheus
def test_the_canary_reaches_prometheus_under_k6s_names(tmp_path: Path, prometheus: str) -> None:
    """Pushed once a second while the plan runs, then its end from summary.json: what the
    dashboard ends on is what the verdict judged (times in seconds, as k6 writes them)."""
    with echo_server() as port:
        result, said, records = run_pushed(
            tmp_path, f"{prometheus}/api/v1/write", one_scenario("rw", port, 20, "3s"), "run-1"
        )
    assert not [line for line in said if "remote write" in line], said
    metrics = result.summary["metrics"]
    selector = '{plan="rw",env="t",testid="run-1",scenario="gateway"}'

    def value(name: str) -> float:
        found = query(prometheus, name + selector)
        assert len(found) == 1, (name, found)
        return float(found[0]["value"][1])

    assert value("k6_http_reqs_total") == metrics["http_reqs"]["scenario:gateway"]["count"] == 60
    assert value("k6_iterations_total") == 60
    assert value("k6_dropped_iterations_total") == 0  # written at 0: nothing was dropped
    assert value("k6_http_req_failed_rate") == metrics["http_req_failed"]["all"]["rate"] == 0
    p95_ms = metrics["http_req_duration"]["scenario:gateway"]["p95"]
    assert value("k6_http_req_duration_p95") == pytest.approx(p95_ms / 1000.0, rel=1e-9)
    assert value("k6_http_req_duration_p99") > 0
    # Once a second while it ran, not only at the end: the dashboard watches it live.
    samples = query(prometheus, f"count_over_time(k6_http_reqs_total{selector}[5m])")
    assert int(samples[0]["value"][1]) >= 3
    record = json.loads((tmp_path / "rw" / "remote_write.json").read_text())
    assert record["failed"] == 0 and record["pushed"] >= 3
    assert "k6_http_req_duration_p95" in record["series"]
    # Through the one HTTP seam: every push is in the request log.
    assert len(records) == record["pushed"] and {r.status for r in records} == {204}


@needs_prometheus
def test_a_receiver_that_refuses_is_said_once_and_the_plan_goes_on(
    tmp_path: Path, prometheus: str
) -> None:
    """A wrong path answers 404: one line naming the URL, the answer and the fix; pushing
    stops after MAX_FAILED_PUSHES in a row; the plan's result is whole."""
    url = f"{prometheus}/api/v1/writ"
    with echo_server() as port:
        result, said, _ = run_pushed(tmp_path, url, one_scenario("rw404", port, 20, "5s"), "r")
    assert result.summary["metrics"]["http_reqs"]["all"]["count"] == 100
    failed = [line for line in said if "remote write to" in line]
    assert len(failed) == 1, said
    assert f"remote write to {url} failed (HTTP 404" in failed[0]
    assert "--web.enable-remote-write-receiver" in failed[0]
    assert any(f"stopped after {MAX_FAILED_PUSHES} failed pushes" in line for line in said)
    record = json.loads((tmp_path / "rw404" / "remote_write.json").read_text())
    assert record["pushed"] == 0 and record["failed"] == MAX_FAILED_PUSHES + 1  # + the final


def test_nothing_listening_is_a_line_not_a_traceback(tmp_path: Path) -> None:
    said: list[str] = []
    client = HttpClient("http://127.0.0.1:9/api/v1/write", timeout_s=1.0)
    pusher = RemoteWrite(client.base_url, {"plan": "p"}, client=client, say=said.append)
    pusher.push([("k6_http_reqs_total", "gateway", 1.0)])
    assert len(said) == 1
    assert said[0].startswith("gonogo load: remote write to http://127.0.0.1:9/api/v1/write ")
    assert "could not" in said[0] or "refused" in said[0].lower(), said[0]


def test_the_wire_format_is_snappy_compressed_protobuf() -> None:
    """Decoded by hand (protobuf's wire format, snappy's block format): labels sorted by name,
    as remote write 1.0 requires, one sample at the given millisecond."""
    import cramjam
    from google.protobuf import descriptor_pb2  # noqa: F401 - the extra is installed

    from gonogo.load.remotewrite import _write_request_class

    body = encode([("k6_http_reqs_total", "gateway", 7.0)], {"plan": "canary", "env": "e"}, 1234)
    raw = bytes(cramjam.snappy.decompress_raw(body))
    message = _write_request_class()()
    message.ParseFromString(raw)
    (series,) = message.timeseries
    assert [(label.name, label.value) for label in series.labels] == [
        ("__name__", "k6_http_reqs_total"),
        ("env", "e"),
        ("plan", "canary"),
        ("scenario", "gateway"),
    ]
    assert [(s.value, s.timestamp) for s in series.samples] == [(7.0, 1234)]


def env_settings(**load: object) -> EnvSettings:
    return EnvSettings.model_validate(
        {"name": "t", "base_url": "http://127.0.0.1:9", "production": False, "load": load}
    )


@pytest.mark.parametrize(
    ("load", "says"),
    [
        (
            'remote_write = "https://u:hunter2@rw.example.com/api/v1/write"',
            "holds a password in the URL; put the user in remote_write_user",
        ),
        (
            'remote_write = "https://rw.example.com/w"\nremote_write_user = "u"',
            "needs both remote_write_user and remote_write_password_env",
        ),
        (
            'remote_write = "https://rw.example.com/w"\nremote_write_token_env = "T"\n'
            'remote_write_user = "u"\nremote_write_password_env = "P"',
            "a bearer token (remote_write_token_env) or basic auth",
        ),
        ('remote_write_token_env = "hunter2 hunter2"', "must be the NAME of an environment"),
        ('remote_write = "rw.example.com:9090"', "remote_write: must be the receiver's whole URL"),
    ],
)
def test_bad_remote_write_settings_are_one_line(tmp_path: Path, load: str, says: str) -> None:
    message = refused_table(tmp_path, "load", load)
    assert says in message, message
    assert "hunter2" not in message


def test_an_unset_secret_is_said_and_the_plan_runs_unpushed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GONOGO_RW_TOKEN_UNSET", raising=False)
    settings = env_settings(
        remote_write="https://rw.example.com/api/v1/write",
        remote_write_token_env="GONOGO_RW_TOKEN_UNSET",
    )
    said: list[str] = []
    plan = one_scenario("canary", 9, 1, "1s")
    assert for_plan(settings, plan, "id", said.append) is None
    assert len(said) == 1 and "is not pushed to [load] remote_write" in said[0]
    assert "GONOGO_RW_TOKEN_UNSET" in said[0]


def test_without_the_extra_the_line_names_the_install(tmp_path: Path) -> None:
    """A plain install (no protobuf, no cramjam) that sets remote_write is told what to
    install, once; the plan runs unpushed."""
    blocker = tmp_path / "sitecustomize.py"
    blocker.write_text(
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('google', 'cramjam'):\n"
        "            raise ImportError(f'blocked: {name}')\n"
        "sys.meta_path.insert(0, Block())\n"
    )
    script = (
        "from gonogo.config import EnvSettings\n"
        "from gonogo.load.remotewrite import for_plan\n"
        "from tests.test_load import one_scenario\n"
        "s = EnvSettings.model_validate({'name': 't', 'base_url': 'http://127.0.0.1:9',"
        " 'production': False, 'load': {'remote_write': 'http://127.0.0.1:9/api/v1/write'}})\n"
        "print(for_plan(s, one_scenario('canary', 9, 1, '1s'), 'id', print))\n"
    )
    from tests.packs import REPO

    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO, capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONPATH": f"{tmp_path}:{REPO}:{os.environ.get('PYTHONPATH', '')}"},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    assert lines[-1] == "None"
    assert lines[0] == (
        "gonogo load: plan 'canary' is not pushed to [load] remote_write: [load] remote_write "
        "needs the remote-write extra: pip install 'gonogo[remote-write]' (protobuf and cramjam)"
    )


class EchoAuth(BaseHTTPRequestHandler):
    """A careless receiver: its refusal echoes the Authorization header it was sent."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        reply(self, 401, {"error": f"unauthorized: {self.headers.get('Authorization')}"})

    def log_message(self, *_: Any) -> None:
        pass


@pytest.mark.parametrize("auth", ["basic", "bearer"])
def test_an_echoed_credential_is_masked_in_every_form_it_was_sent(
    auth: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64

    from gonogo.redact import REDACTOR

    password = "rw-Pa55word-echoed-0042"
    monkeypatch.setenv("GONOGO_RW_SECRET", password)
    with serving(EchoAuth) as url:
        load: dict[str, object] = {"remote_write": f"{url}/api/v1/write"}
        if auth == "basic":
            load |= {"remote_write_user": "grafana-cloud", "remote_write_password_env": "GONOGO_RW_SECRET"}  # fmt: skip
        else:
            load |= {"remote_write_token_env": "GONOGO_RW_SECRET"}
        settings = env_settings(**load)
        assert "GONOGO_RW_SECRET" in settings.secret_variables()
        said: list[str] = []
        pusher = for_plan(settings, one_scenario("canary", 9, 1, "1s"), "id", said.append)
        assert pusher is not None
        pusher.push([("k6_http_reqs_total", "gateway", 1.0)])
    encoded = base64.b64encode(f"grafana-cloud:{password}".encode()).decode()
    echoed = [line for line in said if "unauthorized" in line]
    assert echoed, said
    written = REDACTOR.text(echoed[0])  # what steps.log and remote_write.json receive
    assert password not in written and encoded not in written, written
    assert "[REDACTED]" in written


def test_the_basic_shape_is_masked_unregistered_and_prose_is_not() -> None:
    from gonogo.redact import Redactor

    fresh = Redactor()
    assert fresh.text("Authorization: Basic dXNlcjpodW50ZXIy") == "Authorization: Basic [REDACTED]"
    for prose in ("basic checks passed", "Basic authentication is on", "basic YWJj"):
        assert fresh.text(prose) == prose


def test_a_short_remote_write_password_is_warned_about(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GONOGO_RW_SHORT", "abc")
    settings = env_settings(
        remote_write="https://rw.example.com/api/v1/write",
        remote_write_user="u",
        remote_write_password_env="GONOGO_RW_SHORT",
    )
    (warning,) = settings.register_secrets()
    assert "GONOGO_RW_SHORT holds only 3 character(s)" in warning
