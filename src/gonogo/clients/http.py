"""HTTP to the gateway: httpx with bearer auth, a timeout on every call, and timing.

Each request is recorded (method, URL, status, milliseconds, the test that
made it) through the `on_request` callback, which the plugin points at the
evidence bundle. The `transport` argument is the one seam for tests, as in
httpx itself; the project's own tests use real local servers instead.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable, Generator
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from gonogo import __version__
from gonogo.errors import Unreachable
from gonogo.evidence import CURRENT_TEST, iso, utcnow


@dataclass(frozen=True)
class RequestRecord:
    method: str
    url: str
    status: int | None
    elapsed_ms: float
    started: str
    test: str | None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


RequestSink = Callable[[RequestRecord], None]


class BearerAuth(httpx.Auth):
    """Reads the token at send time, so a missing variable fails the check that needs it."""

    def __init__(self, token: Callable[[], str]) -> None:
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token()}"
        yield request


def tls_verify(setting: bool | str) -> bool | ssl.SSLContext:
    if isinstance(setting, bool):
        return setting
    return ssl.create_default_context(cafile=setting)


class HttpClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout_s: float,
        token: Callable[[], str] | None = None,
        verify: bool | str = True,
        on_request: RequestSink | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._on_request = on_request
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout_s),
            auth=BearerAuth(token) if token else None,
            verify=tls_verify(verify),
            transport=transport,
            follow_redirects=False,
            headers={"User-Agent": f"gonogo/{__version__}"},
        )

    def url(self, path: str) -> str:
        """`path` on the base URL, or `path` itself when it is a whole URL (httpx would add a
        slash to a base URL with an empty path: a webhook's exact URL must be sent as is)."""
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}{path}"

    def request(
        self,
        method: str,
        path: str,
        *,
        auth: bool = True,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request; `auth=False` sends none (to prove the gateway refuses that)."""
        started = utcnow()
        t0 = time.perf_counter()
        extra: dict[str, Any] = {} if auth else {"auth": None}
        try:
            response = self._client.request(method, path, headers=headers, **kwargs, **extra)
        except httpx.TimeoutException as exc:
            self._record(method, path, None, t0, started, f"timeout: {type(exc).__name__}")
            raise Unreachable(self.url(path), self.timeout_s, "timed out") from exc
        except httpx.TransportError as exc:
            self._record(method, path, None, t0, started, f"{type(exc).__name__}: {exc}")
            raise Unreachable(self.url(path), self.timeout_s, exc) from exc
        self._record(method, path, response.status_code, t0, started, None)
        return response

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", path, **kwargs)

    def _record(
        self,
        method: str,
        path: str,
        status: int | None,
        t0: float,
        started: Any,
        error: str | None,
    ) -> float:
        elapsed_ms = (time.perf_counter() - t0) * 1000.0
        if self._on_request is not None:
            self._on_request(
                RequestRecord(
                    method=method,
                    url=self.url(path),
                    status=status,
                    elapsed_ms=round(elapsed_ms, 3),
                    started=iso(started),
                    test=CURRENT_TEST.get(),
                    error=error,
                )
            )
        return elapsed_ms

    def close(self) -> None:
        self._client.close()


def elapsed_ms(response: httpx.Response) -> float:
    """Time from sending the request to the end of the body, as httpx measured it."""
    return response.elapsed.total_seconds() * 1000.0
