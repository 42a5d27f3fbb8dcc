"""An env behind a proxy (issue: hardening, second round, 15): HTTP_PROXY / HTTPS_PROXY /
NO_PROXY as httpx reads them, and [proxy] per env, through a real local CONNECT proxy."""

from __future__ import annotations

import contextlib
import select
import socket
import socketserver
from collections.abc import Iterator
from pathlib import Path

import pytest

from gonogo.clients.http import HttpClient
from gonogo.config import EnvSettings
from gonogo.env import Environment
from gonogo.errors import ConfigError, Unreachable
from tests.conftest import Ok, refused_table, self_signed, serving


class _Proxy(socketserver.BaseRequestHandler):
    """CONNECT tunnels (https://) and absolute-URI forwarding (http://), as Squid does."""

    seen: list[str]

    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
        line, _, rest = head.partition(b"\r\n")
        method, target, version = line.decode().split(" ")
        self.seen.append(f"{method} {target}")
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)), timeout=5)
            self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            first = b""
        else:
            without = target.split("://", 1)[1]
            hostport, _, path = without.partition("/")
            host, _, port = hostport.partition(":")
            upstream = socket.create_connection((host, int(port or 80)), timeout=5)
            first = f"{method} /{path} {version}\r\n".encode() + rest
        with upstream:
            if first:
                upstream.sendall(first)
            self._pipe(upstream)

    def _pipe(self, upstream: socket.socket) -> None:
        sockets = [self.request, upstream]
        while True:
            ready, _, _ = select.select(sockets, [], [], 5)
            if not ready:
                return
            for sock in ready:
                data = sock.recv(65536)
                if not data:
                    return
                (upstream if sock is self.request else self.request).sendall(data)


@contextlib.contextmanager
def proxy() -> Iterator[tuple[str, list[str]]]:
    """The proxy on a loopback port for the block (conftest's serving), and what it was asked."""
    seen: list[str] = []
    with serving(type("Proxy", (_Proxy,), {"seen": seen})) as url:
        yield url, seen


@pytest.fixture
def no_proxy_variables(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    return monkeypatch


def test_http_proxy_and_no_proxy_are_honoured(no_proxy_variables: pytest.MonkeyPatch) -> None:
    with proxy() as (via, seen), serving(Ok) as url:
        no_proxy_variables.setenv("HTTP_PROXY", via)
        client = HttpClient(url, timeout_s=5)
        assert client.get("/healthz").status_code == 200
        client.close()
        assert seen == [f"GET {url}/healthz"]
        no_proxy_variables.setenv("NO_PROXY", "127.0.0.1")
        direct = HttpClient(url, timeout_s=5)
        assert direct.get("/healthz").status_code == 200
        direct.close()
        assert len(seen) == 1  # NO_PROXY: straight to the target


def test_https_goes_through_a_connect_tunnel_with_tls_verified_end_to_end(
    no_proxy_variables: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    cert, key = self_signed(tmp_path)
    with proxy() as (via, seen), serving(Ok, tls=(cert, key)) as url:
        no_proxy_variables.setenv("HTTPS_PROXY", via)
        client = HttpClient(url, timeout_s=5, verify=str(cert))
        assert client.get("/healthz").status_code == 200
        client.close()
        assert seen == [f"CONNECT {url.removeprefix('https://')}"]


def test_an_envs_own_proxy_table_sends_its_requests_through_it(
    no_proxy_variables: pytest.MonkeyPatch,
) -> None:
    no_proxy_variables.setenv("GONOGO_P_TOKEN", "proxy-selftest-token-9b2d")
    with proxy() as (via, seen), serving(Ok) as url:
        settings = EnvSettings.model_validate(
            {
                "name": "p",
                "base_url": url,
                "production": False,
                "proxy": {"url": via},
                "token_env": "GONOGO_P_TOKEN",
            }
        )
        env = Environment.open(settings)
        assert env.http.get("/healthz").status_code == 200
        env.close()
        assert seen == [f"GET {url}/healthz"]
        bypass = settings.model_copy(
            update={"proxy": settings.proxy.model_copy(update={"no_proxy": ["127.0.0.1"]})}  # type: ignore[union-attr]
        )
        env = Environment.open(bypass)
        assert env.http.get("/healthz").status_code == 200
        env.close()
        assert len(seen) == 1


def test_a_proxy_that_is_down_is_one_line_and_keeps_the_deadline(
    no_proxy_variables: pytest.MonkeyPatch, closed_port: int
) -> None:
    no_proxy_variables.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port}")
    client = HttpClient("http://intelgraph.invalid", timeout_s=2)
    with pytest.raises(Unreachable, match=r"cannot reach http://intelgraph\.invalid/healthz"):
        client.get("/healthz")


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ('url = "http://user:hunter2@proxy.example.com:3128"', "put the token in HTTPS_PROXY"),
        ('url = "proxy.example.com:3128"', "must be an http:// or https:// URL"),
        ('no_proxy = ["a"]', "environments.x.proxy.url: required key is missing"),
    ],
)
def test_bad_proxy_settings_are_one_line(tmp_path: Path, table: str, says: str) -> None:
    message = refused_table(tmp_path, "proxy", table, base_url="http://x.example.com")
    assert says in message, message
    assert "hunter2" not in message, message


def test_an_unusable_proxy_scheme_is_one_line(no_proxy_variables: pytest.MonkeyPatch) -> None:
    no_proxy_variables.setenv("HTTPS_PROXY", "ftp://127.0.0.1:21")
    with pytest.raises(ConfigError, match=r"proxy 'ftp://127.0.0.1:21' \(the \*_PROXY variables\)"):
        HttpClient("https://intelgraph.invalid", timeout_s=1)
