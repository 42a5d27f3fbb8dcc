"""A hostile gateway: answers that drip, answers that never end, answers that weigh 50 MB.

Each must give a finding and a sealed bundle, never a hung run, a huge
capture or a swollen process (#16: "nothing hangs").
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from gonogo.cli import main as gonogo
from gonogo.clients.http import HttpClient
from gonogo.errors import TooLarge, Unreachable
from tests.conftest import Ok, self_signed, serving

REPO = Path(__file__).resolve().parents[1]
MB = 1024 * 1024


class Hostile(BaseHTTPRequestHandler):
    """/drip-body and /healthz: a byte every 0.3 s; /drip-headers: the status line the same
    way; /readyz: 60 MB with no length announced; /metrics: 20 MB announced up front."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        try:
            if self.path in ("/healthz", "/drip-body"):
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "1000")
                self.end_headers()
                self._drip(b"{" * 1000)
            elif self.path == "/drip-headers":
                self._drip(b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000)
            elif self.path == "/readyz":
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                chunk = b"x" * MB
                for _ in range(60):
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.write(b"0\r\n\r\n")
            else:
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(20 * MB))
                self.end_headers()
                self.wfile.write(b"# x\n" * (5 * MB))
        except OSError:  # the client gave up, as it should
            pass

    def _drip(self, data: bytes) -> None:
        for i in range(len(data)):
            self.wfile.write(data[i : i + 1])
            self.wfile.flush()
            time.sleep(0.3)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


@pytest.fixture(scope="module")
def hostile() -> Iterator[str]:
    with serving(Hostile) as url:
        yield url


@pytest.mark.parametrize("path", ["/drip-body", "/drip-headers"])
def test_timeout_s_is_a_deadline_for_the_whole_answer(hostile: str, path: str) -> None:
    client = HttpClient(hostile, timeout_s=1.5)
    t0 = time.monotonic()
    with pytest.raises(Unreachable) as caught:
        client.get(path)
    took = time.monotonic() - t0
    client.close()
    # Every read arrives within 0.3 s, so a per-read timeout would wait 300 s.
    assert took < 5, f"{path} held the client {took:.1f} s against a 1.5 s deadline"
    assert "timed out before the whole answer came" in str(caught.value)


@pytest.mark.parametrize("path", ["/readyz", "/metrics"])
def test_a_body_over_the_cap_is_refused_not_kept(hostile: str, path: str) -> None:
    records: list[Any] = []
    client = HttpClient(hostile, timeout_s=20, max_body_mb=1, on_request=records.append)
    with pytest.raises(TooLarge) as caught:
        client.get(path)
    client.close()
    assert "truncated at 1 MB" in str(caught.value)
    assert "raise [limits] max_body_mb" in str(caught.value)
    assert records[-1].status == 200 and "truncated at 1 MB" in str(records[-1].error)


def test_a_hostile_gateway_gets_findings_and_a_sealed_bundle(hostile: str, tmp_path: Path) -> None:
    path = tmp_path / "envs.toml"
    path.write_text(
        f'[environments.odd]\nbase_url = "{hostile}"\nproduction = false\ntimeout_s = 2\n'
        'token_env = "GONOGO_ODD_TOKEN"\n[environments.odd.limits]\nmax_body_mb = 1\n'
    )
    environ = {**os.environ, "GONOGO_ODD_TOKEN": "odd-token-0001", "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--env-file={path}",
         f"--evidence-dir={tmp_path / 'evidence'}", "src/gonogo/packs/smoke/test_health.py",
         "src/gonogo/packs/smoke/test_metrics.py", "-m", "smoke", "--env", "odd"],
        cwd=REPO, capture_output=True, text=True, timeout=120, env=environ,
    )  # fmt: skip
    assert "INTERNALERROR" not in done.stdout + done.stderr
    bundle = next((tmp_path / "evidence").glob("odd/*/bundle.json")).parent
    results = {
        t["nodeid"].split("::")[-1].split("[")[0]: t
        for t in json.loads((bundle / "bundle.json").read_text())["tests"]
    }
    assert results["test_healthz"]["outcome"] == "failed"
    assert "timed out before the whole answer came" in results["test_healthz"]["message"]
    assert results["test_readyz"]["outcome"] == "failed"
    assert "truncated at 1 MB" in results["test_readyz"]["message"]
    metrics = [r for name, r in results.items() if "metric" in name or "rate_limit" in name]
    assert metrics and all(r["outcome"] != "passed" for r in metrics), metrics
    weight = sum(f.stat().st_size for f in bundle.rglob("*") if f.is_file())
    assert weight < 2 * MB, f"the bundle weighs {weight / MB:.1f} MB"
    assert "body truncated at 1 MB" in (bundle / "captures/requests.jsonl").read_text()
    assert json.loads((bundle / "verdict.json").read_text())["decision"] == "NO-GO"
    assert gonogo(["verify-bundle", str(bundle)]) == 0


@pytest.mark.parametrize("verify", ["ca", "system", "off"])
def test_the_http_seam_verifies_tls_as_the_env_says(tmp_path: Path, verify: str) -> None:
    """Every request passes through one transport (DeadlineTransport), whose pool is rebuilt
    on the TLS context httpx made from verify_tls: the env's own CA bundle is trusted, the
    system's CAs alone refuse a self-signed gateway (one line naming the certificate), and
    verify_tls = false trusts it."""
    cert, key = self_signed(tmp_path)
    setting: bool | str = {"ca": str(cert), "system": True, "off": False}[verify]
    with serving(Ok, tls=(cert, key)) as url:
        client = HttpClient(url, timeout_s=5, verify=setting)
        try:
            if verify == "system":
                with pytest.raises(Unreachable) as refused:
                    client.get("/healthz")
                assert "CERTIFICATE_VERIFY_FAILED" in str(refused.value), str(refused.value)
            else:
                assert client.get("/healthz").json() == {"ok": True}
        finally:
            client.close()
