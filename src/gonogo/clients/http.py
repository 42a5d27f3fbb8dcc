"""HTTP to the gateway: httpx with bearer auth, a deadline on every call, and timing.

Each request is recorded (method, URL, status, milliseconds, the test that
made it) through the `on_request` callback, which the plugin points at the
evidence bundle. The `transport` argument is the one seam for tests, as in
httpx itself; the project's own tests use real local servers instead.

Two limits hold for every request, because a gateway that misbehaves must
give a finding, not a run with no verdict:

- `timeout_s` is a deadline for the whole exchange (connect, send, headers,
  body). httpx's timeouts are per socket operation, so a server that sends a
  byte every second would never time out; here each socket operation gets
  what is left of the deadline (a network backend wrapped around httpcore's).
- The body is read up to `max_body_bytes` and no further: a 50 MB /healthz
  is a failure (`TooLarge`), recorded in requests.jsonl as "truncated at N
  MB", never a 50 MB capture or a 1 GB process.
"""

from __future__ import annotations

import contextvars
import ssl
import time
from collections.abc import Callable, Generator, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import httpcore
import httpx

from gonogo import __version__
from gonogo.config.api import DEFAULT_MAX_BODY_MB
from gonogo.errors import BadAnswer, ConfigError, TooLarge, Unreachable
from gonogo.times import iso, utcnow

_MB = 1024 * 1024

# The monotonic time by which the request in progress on this thread must be done.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "gonogo_http_deadline", default=None
)


def _left(timeout: float | None) -> float | None:
    """A socket operation's timeout: httpx's own, cut to what is left of the deadline."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise httpcore.ReadTimeout("the request's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, _left(timeout)))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_tcp(host, port, _left(timeout), local_address, socket_options)
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self._inner.connect_unix_socket(path, _left(timeout), socket_options)
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's own transport on a connection pool whose every socket operation keeps the
    request's deadline. httpx builds its pool without a `network_backend` argument, so the
    pool is rebuilt here with one (httpx keeps it as `_pool`, as it has since 0.18), on the
    TLS context httpx just made for it: a second one loaded the CA bundle again, ~30 of the
    65 ms a transport took."""

    def __init__(self, verify: bool | ssl.SSLContext = True, proxy: str | None = None) -> None:
        super().__init__(verify=verify, proxy=proxy)
        if proxy is not None:
            # httpx's proxy pool (httpcore.HTTPProxy) keeps its backend as `_network_backend`,
            # as every httpcore pool has since 0.15: given the deadline's, a request through a
            # proxy keeps the same whole-request deadline.
            if not hasattr(self._pool, "_network_backend"):
                raise ConfigError(
                    "this httpcore keeps no _network_backend on its proxy pool; install the "
                    "httpcore gonogo declares (pip install 'httpcore>=1,<2')"
                )
            self._pool._network_backend = _DeadlineBackend()
            return
        made = getattr(self._pool, "_ssl_context", None)
        context = made if isinstance(made, ssl.SSLContext) else httpx.create_ssl_context(verify)
        self._pool = httpcore.ConnectionPool(
            ssl_context=context, network_backend=_DeadlineBackend()
        )


def proxy_mounts(
    verify: bool | ssl.SSLContext, proxy: str | None = None, no_proxy: Iterable[str] = ()
) -> dict[str, httpx.BaseTransport | None]:
    """httpx's mounts for the env's proxy ([proxy]), else for HTTP_PROXY, HTTPS_PROXY,
    ALL_PROXY and NO_PROXY as httpx itself reads them (a client given its own transport
    reads none of them): each pattern a deadline transport through its proxy, or None
    (direct) for what NO_PROXY names."""
    from httpx._utils import get_environment_proxies  # httpx's own reading of the variables

    if proxy is not None:
        wanted: dict[str, str | None] = {"all://": proxy}
        for host in no_proxy:
            host = host.strip()
            if host == "*":
                return {}
            if host:
                wanted[f"all://*{host}" if host.startswith(".") else f"all://{host}"] = None
    else:
        wanted = get_environment_proxies()
    mounts: dict[str, httpx.BaseTransport | None] = {}
    for pattern, url in wanted.items():
        try:
            mounts[pattern] = DeadlineTransport(verify, url) if url else None
        except (ImportError, ValueError) as exc:  # socks5:// without socksio, an odd scheme
            where = "[proxy] url" if proxy is not None else "the *_PROXY variables"
            raise ConfigError(
                f"proxy {url!r} ({where}) cannot be used: {exc}; give an http:// proxy "
                "(a CONNECT proxy carries https:// too)"
            ) from None
    return mounts


@dataclass(frozen=True)
class RequestRecord:
    method: str
    url: str
    status: int | None
    elapsed_ms: float
    started: str
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


RequestSink = Callable[[RequestRecord], None]


class BearerAuth(httpx.Auth):
    """Reads the token at send time, so a missing variable fails the check that needs it.
    The scheme is Bearer but for APIs that name theirs otherwise (Statuspage's `OAuth`)."""

    def __init__(self, token: Callable[[], str], scheme: str = "Bearer") -> None:
        self._token = token
        self._scheme = scheme

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"{self._scheme} {self._token()}"
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
        auth_scheme: str = "Bearer",
        verify: bool | str = True,
        on_request: RequestSink | None = None,
        transport: httpx.BaseTransport | None = None,
        max_body_mb: float = DEFAULT_MAX_BODY_MB,
        proxy: str | None = None,
        no_proxy: Iterable[str] = (),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.max_body_mb = max_body_mb
        self._on_request = on_request
        context = tls_verify(verify)
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout_s),
            auth=BearerAuth(token, auth_scheme) if token else None,
            transport=transport or DeadlineTransport(context),
            mounts=proxy_mounts(context, proxy, no_proxy) if transport is None else None,
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
        deadline = _DEADLINE.set(time.monotonic() + self.timeout_s)
        try:
            with self._client.stream(method, path, headers=headers, **kwargs, **extra) as streamed:
                content = self._capped(streamed)
            response = _whole(streamed, content)
        except httpx.TimeoutException as exc:
            self._record(method, path, None, t0, started, f"timeout: {type(exc).__name__}")
            why = "timed out before the whole answer came; timeout_s bounds the whole request"
            raise Unreachable(self.url(path), self.timeout_s, why) from exc
        except httpx.TransportError as exc:
            self._record(method, path, None, t0, started, f"{type(exc).__name__}: {exc}")
            raise Unreachable(self.url(path), self.timeout_s, exc) from exc
        except httpx.InvalidURL as exc:
            self._record(method, path, None, t0, started, f"InvalidURL: {exc}")
            raise ConfigError(
                f"{self.url(path)!r} is not a URL a request can be sent to ({exc}); fix the "
                "address in the env file"
            ) from exc
        except (httpx.HTTPError, httpx.StreamError) as exc:
            # Everything else httpx raises (DecodingError: a body that does not decode as its
            # Content-Encoding says): the target's answer, said in one line, never a crash.
            self._record(method, path, None, t0, started, f"{type(exc).__name__}: {exc}")
            raise BadAnswer(self.url(path), f"{type(exc).__name__}: {exc}") from exc
        except TooLarge as exc:
            self._record(method, path, exc.status, t0, started, exc.recorded)
            raise
        finally:
            _DEADLINE.reset(deadline)
        self._record(method, path, response.status_code, t0, started, None)
        return response

    def _capped(self, response: httpx.Response) -> bytes:
        """The decoded body, up to the cap (so a compressed bomb is capped too)."""
        limit = int(self.max_body_mb * _MB)
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:  # no need to read what was announced
            raise TooLarge(str(response.url), response.status_code, self.max_body_mb)
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > limit:
                raise TooLarge(str(response.url), response.status_code, self.max_body_mb)
            chunks.append(chunk)
        return b"".join(chunks)

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
                    error=error,
                )
            )
        return elapsed_ms

    def close(self) -> None:
        self._client.close()


def _whole(streamed: httpx.Response, content: bytes) -> httpx.Response:
    """A plain response holding the body already read: the checks use `.text`, `.json()` and
    `.elapsed` as on any httpx response. The body is decoded, so the encoding header goes."""
    headers = [(k, v) for k, v in streamed.headers.raw if k.lower() != b"content-encoding"]
    whole = httpx.Response(
        streamed.status_code,
        headers=headers,
        content=content,
        request=streamed.request,
        extensions=streamed.extensions,
    )
    whole.elapsed = streamed.elapsed  # set by httpx when the stream closed
    return whole


def elapsed_ms(response: httpx.Response) -> float:
    """Time from sending the request to the end of the body, as httpx measured it."""
    return response.elapsed.total_seconds() * 1000.0
