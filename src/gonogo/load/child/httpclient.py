"""The open model's HTTP/1.1 connections, over geventhttpclient's pieces."""

from __future__ import annotations

import contextlib
import errno
import time
from typing import Any

import gevent
from gevent import monkey
from geventhttpclient import HTTPClient
from geventhttpclient._parser import HTTPParseError, HTTPResponseParser
from geventhttpclient.response import HTTPConnectionClosed
from geventhttpclient.url import URL


class Answer:
    """What the request event hands on about a response: its status and body."""

    __slots__ = ("content", "status_code")

    def __init__(self, status_code: int, content: bytes) -> None:
        self.status_code = status_code
        self.content = content


# RFC 9110 9.2.2: only these may be sent again after a connection broke under them.
IDEMPOTENT_METHODS = frozenset(("GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"))
# What one recv asks for: an API's answer in one read, well under glibc's mmap threshold.
RECV_BYTES = 16 * 1024
# The poll() gevent replaced: a liveness check must not wait, nor go through the hub (and,
# unlike select(), poll takes descriptors past 1,024: a worker may hold thousands).
_poll, _POLLIN = monkey.get_original("select", ["poll", "POLLIN"])


class Wire:
    """One request of a scenario, as the worker sends it (Http.prepare)."""

    __slots__ = ("body", "data", "headers", "method", "path")

    def __init__(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> None:
        self.method = method
        self.path = path
        self.body = body
        self.headers = headers
        self.data: bytes | None = None  # the whole request; None: sent by client.request


class Reply(HTTPResponseParser):
    """One answer, read by geventhttpclient's parser (llhttp) for what the load engine keeps
    of it: its status, its body, whether the connection may be used again. Its headers are
    not kept: geventhttpclient's response indexes each one in Python, a cost worth
    measuring at capacity (docs/load.md, "The load children"), for an answer of which the
    engine reads only the status and the body (a GraphQL answer's errors)."""

    def __init__(self, method: str) -> None:
        super().__init__()
        self.head = method == "HEAD"
        self.body = bytearray()
        self.begun = False
        self.done = False  # a final answer (not 1xx) is complete
        self.extra = False  # bytes after it: the connection is not used again
        self.status = 0

    def _on_message_begin(self) -> None:
        if self.done:
            self.extra = True
        self.begun = True

    def _on_status(self, _: str) -> None:
        pass

    def _on_header_field(self, _: str) -> None:
        pass

    def _on_header_value(self, _: str) -> None:
        pass

    def _on_headers_complete(self) -> bool:
        return self.head  # a HEAD answer has no body, whatever its length says

    def _on_body(self, chunk: bytearray) -> None:
        if not self.done:
            self.body += chunk

    def _on_message_complete(self) -> None:
        if not self.done:
            code = self.get_code()
            if code >= 200:  # an interim 1xx is followed by the answer on the same connection
                self.status = code
                self.done = True

    def reusable(self) -> bool:
        return self.done and not self.extra and bool(self.should_keep_alive())


class Http:
    """One scenario's HTTP connections on this worker, over geventhttpclient's pieces: its
    connection pool's code makes each connection (TLS settings and timeouts as the env says),
    its request builder the bytes, its parser the answers. FastHttpSession's layers (its
    user agent, request and response wrappers, redirects, cookies) and HTTPClient's own
    pool and response (a semaphore, a queue and a select() through gevent per request, a
    gevent timer per blocking read, each header indexed in Python) are CPU a saturated
    worker does not have (measured in docs/load.md, "The load children"). The
    open model needs none of them. Kept: keep-alive connections up to the scenario's
    concurrency (Slots bounds the requests in flight, so the idle ones are a list), a check
    that an idle connection was not closed by the server before it is used again, timeout_s
    as a deadline for each request (one timer for all of them, Http.expire), and the request
    event (Locust's statistics and gonogo's Recorder read it). A status outside 200-399 is a
    failure, as Locust counts it; redirects are not followed (an API under a canary answers,
    it does not send the client elsewhere)."""

    def __init__(self, target: dict[str, Any], concurrency: int) -> None:
        verify = target.get("verify_tls", True)
        self.timeout = float(target.get("timeout_s", 10.0))
        url = URL(target["base_url"])
        options: dict[str, Any] = {}
        if url.scheme == "https":
            from gevent import ssl as gevent_ssl
            from locust.contrib.fasthttp import insecure_ssl_context_factory

            if verify is False:
                options["ssl_context_factory"] = insecure_ssl_context_factory
                options["insecure"] = True
            elif isinstance(verify, str):  # the env's CA bundle, as its other clients use it
                options["ssl_context_factory"] = lambda: gevent_ssl.create_default_context(
                    cafile=verify
                )
            else:
                options["ssl_context_factory"] = gevent_ssl.create_default_context
        self.client = HTTPClient.from_url(
            url,
            concurrency=concurrency,
            network_timeout=self.timeout,
            connection_timeout=self.timeout,
            **options,
        )
        self.prefix = url.path.rstrip("/")  # a base URL with a path: requests go under it
        self.size = concurrency
        self.idle: list[Any] = []  # connections kept alive, the last used on top
        # What send() needs of the client's internals (geventhttpclient 2.x); without any of
        # them, requests go through client.request.
        inner = ("_connection_pool", "_build_request")
        known = all(hasattr(self.client, name) for name in inner)
        self._pool = self.client._connection_pool if known else None
        if self._pool is not None and not hasattr(self._pool, "_create_socket"):
            self._pool = None
        # In flight: greenlet -> when its request's timeout_s is up. One timer looks at all
        # of them (a timer per read, the sockets' own timeout, costs a saturated worker
        # CPU), so a request ends within a tenth of its timeout after it.
        self.deadlines: dict[Any, float] = {}
        period = min(0.25, self.timeout / 10)
        self._timer = gevent.get_hub().loop.timer(period, period)
        self._timer.ref = False  # it never keeps a finished worker's loop alive
        self._timer.start(self.expire)

    def prepare(self, method: str, path: str, body: bytes | None, headers: dict[str, str]) -> Wire:
        """A request of the plan as its bytes on the wire, made once before the clock starts:
        its method, path, headers and body never change within a run. Built by the client's
        own code, so the head is what client.request would send."""
        wire = Wire(method, self.prefix + path, body or b"", headers)
        if self._pool is not None:
            with contextlib.suppress(ValueError):  # an invalid path fails each request, as before
                head = self.client._build_request(
                    method, wire.path, body=wire.body, headers=headers
                )
                wire.data = head.encode("latin-1") + wire.body
        return wire

    def send(self, wire: Wire) -> Answer:
        """The prepared bytes on a keep-alive connection, the answer read whole.

        A connection the server closed while idle is replaced and the request sent again,
        for idempotent methods only (RFC 9110 9.2.2), at most pool size + 1 times, as
        geventhttpclient does. If the client's internals ever change shape, requests go
        through client.request."""
        if self._pool is None or wire.data is None:
            response = self.client.request(
                wire.method, wire.path, body=wire.body, headers=wire.headers
            )
            try:
                content = response.read()
            finally:
                response.release()
            return Answer(response.status_code, content)
        me = gevent.getcurrent()
        self.deadlines[me] = time.perf_counter() + self.timeout
        try:
            retries = self.size + 1 if wire.method in IDEMPOTENT_METHODS else 0
            while True:
                sock = self._connection()
                try:
                    reply = self._exchange(sock, wire)
                except HTTPConnectionClosed:
                    sock.close()
                    if retries > 0:
                        retries -= 1
                        continue
                    raise
                except BaseException:
                    sock.close()
                    raise
                if reply.reusable() and len(self.idle) < self.size:
                    self.idle.append(sock)
                else:
                    sock.close()
                return Answer(reply.status, bytes(reply.body))
        finally:
            self.deadlines.pop(me, None)

    def _connection(self) -> Any:
        """An idle connection the server has not closed, or a new one. An idle connection
        that reads as ready was closed by the server (or sent what nobody asked for)."""
        idle = self.idle
        while idle:
            sock = idle.pop()
            try:
                poll = _poll()
                poll.register(sock.fileno(), _POLLIN)
                if not poll.poll(0):  # nothing to read, no hang-up, no error: still open
                    return sock
            except (OSError, ValueError):  # closed under us
                pass
            sock.close()
        assert self._pool is not None
        sock = self._pool._create_socket()
        sock.settimeout(None)  # the deadline is Http.expire's
        return sock

    @staticmethod
    def _exchange(sock: Any, wire: Wire) -> Reply:
        data = wire.data
        assert data is not None
        try:
            sent = sock.send(data)
            if sent < len(data):
                sock.sendall(memoryview(data)[sent:])
        except OSError as exc:
            if exc.errno in (errno.ECONNRESET, errno.EPIPE):
                raise HTTPConnectionClosed("connection closed.") from exc
            raise
        reply = Reply(wire.method)
        while True:
            try:
                chunk = sock.recv(RECV_BYTES)
            except OSError as exc:
                if exc.errno == errno.ECONNRESET and not reply.begun:
                    raise HTTPConnectionClosed("connection closed.") from exc
                raise
            if not chunk:
                if not reply.begun:
                    raise HTTPConnectionClosed("connection closed.")
                with contextlib.suppress(HTTPParseError):
                    reply.feed(b"")  # an answer delimited by the close ends here
                if reply.done:
                    return reply
                raise HTTPParseError("the connection closed before the end of the answer")
            reply.feed(chunk)
            if reply.done:
                return reply

    def expire(self) -> None:
        """Ends each request whose timeout_s is up: its greenlet gets TimeoutError where it
        waits. Run by the loop (a timer), as gevent's own timeouts are."""
        now = time.perf_counter()
        late = [g for g, due in self.deadlines.items() if due <= now]
        for greenlet in late:
            del self.deadlines[greenlet]
            greenlet.throw(TimeoutError(f"no answer within timeout_s = {self.timeout:g} s"))

    def close(self) -> None:
        self._timer.stop()
        for sock in self.idle:
            sock.close()
        self.idle.clear()
        self.client.close()
