"""Firing alerts, read as Alertmanager and Prometheus mean them (gonogo.alerts).

The fault that turns test_no_critical_alerts_firing red (alert-firing) is proven with the
smoke pack's fault matrix (tests/test_smoke_pack.py) and, through Alertmanager, with the
dialects (tests/test_dialects.py). Here: the always-firing Watchdog of a healthy
deployment is not a reason for NO-GO, both sources say the same, and odd answers are one
line naming the fix.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

import httpx
import pytest

from gonogo.alerts import firing
from gonogo.config import EnvSettings
from gonogo.env import Environment
from gonogo.errors import ConfigError, NotConfigured, TargetError
from tests.conftest import serving

needs_both = pytest.mark.skipif(
    not (shutil.which("prometheus") and shutil.which("prometheus-alertmanager")),
    reason="needs Debian's prometheus and prometheus-alertmanager (.ci/run installs them)",
)


def opened(stack: Any, **alerts: Any) -> Environment:
    base = EnvSettings.model_validate(
        {"name": "local", "sandbox": True, "production": False, "alerts": alerts}
    )
    return Environment.open(stack.info.env_settings(base), sandbox=stack.info)


def _watchdog_firing(stack: Any) -> None:
    """Wait for the first rule evaluation to reach both, so 'nothing firing' is not just
    'nothing evaluated yet'."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        query = {"query": 'ALERTS{alertname="Watchdog",alertstate="firing"}'}
        seen = httpx.get(f"{stack.info.prometheus_url}/api/v1/query", params=query).json()
        sent = httpx.get(f"{stack.info.alertmanager_url}/api/v2/alerts").json()
        if seen["data"]["result"] and any(a["labels"]["alertname"] == "Watchdog" for a in sent):
            return
        time.sleep(0.25)
    raise AssertionError("Watchdog never fired in the local Prometheus and Alertmanager")


@pytest.mark.stack
@needs_both
def test_a_healthy_deployments_watchdog_is_not_a_critical_alert(stack: Any) -> None:
    _watchdog_firing(stack)
    for source in ({}, {"alertmanager_url": stack.info.alertmanager_url}):
        env = opened(stack, **source)
        try:
            assert firing(env).alerts == []
            everything = firing(opened(stack, selector='severity=~".+"', **source))
            assert everything.names() == ['Watchdog{severity="none"}'], everything.source
        finally:
            env.close()


class OddAlertmanager(BaseHTTPRequestHandler):
    answers: ClassVar[dict[str, tuple[int, str, bytes]]] = {
        "/html/api/v2/alerts": (200, "text/html", b"<html>Grafana</html>"),
        "/shape/api/v2/alerts": (200, "application/json", b'{"data": []}'),
        "/down/api/v2/alerts": (503, "text/plain", b"upstream connect error"),
    }

    def do_GET(self) -> None:
        status, kind, body = self.answers.get(
            self.path.split("?")[0], (404, "text/plain", b"no such path")
        )
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def odd() -> Iterator[str]:
    with serving(OddAlertmanager) as url:
        yield url


def real_env(**table: Any) -> Environment:
    settings = EnvSettings.model_validate(
        {"name": "prod", "base_url": "http://127.0.0.1:9", "timeout_s": 2, **table}
    )
    return Environment.open(settings)


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("html", "answered '<html>Grafana</html>', not Alertmanager's API v2 list of alerts"),
        ("shape", 'not Alertmanager\'s API v2 list of alerts (each with "labels")'),
        ("down", "answered 503, expected 200 with the active alerts: upstream connect error"),
    ],
)
def test_an_odd_alertmanager_answer_is_one_line_naming_it(odd: str, path: str, says: str) -> None:
    env = real_env(alerts={"alertmanager_url": f"{odd}/{path}"})
    try:
        with pytest.raises(TargetError) as caught:
            firing(env)
    finally:
        env.close()
    message = str(caught.value)
    assert says in message and f"{odd}/{path}/api/v2/alerts" in message and "\n" not in message


def test_an_env_with_no_alert_source_is_not_configured_saying_which_keys() -> None:
    env = real_env()
    with pytest.raises(NotConfigured, match=r"\[alerts\] alertmanager_url\) and no \[prometheus\]"):
        firing(env)


def test_a_selector_that_is_not_label_matchers_is_refused_in_one_line(tmp_path: Any) -> None:
    from gonogo.config import load_env_file

    path = tmp_path / "envs.toml"
    path.write_text("[environments.prod]\nbase_url = 'https://x'\n[environments.prod.alerts]\n"
                    "selector = 'severity=critical'\n")  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        load_env_file(path)
    message = str(caught.value)
    assert "alerts.selector" in message and 'is not label="value"' in message
    assert "\n" not in message
