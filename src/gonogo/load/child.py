"""The Locust side of the load engine: run only as a child process.

    python -m gonogo.load.child master --plan PLAN.json --out DIR --port P --workers N
    python -m gonogo.load.child worker --master-host HOST --master-port P

Importing Locust monkey-patches the whole process with gevent (sockets,
threads, ssl), which breaks pytest, xdist and asyncio clients; so Locust
lives only here, in processes gonogo starts and stops (gonogo.load.engine).

Locust is used for what it does well: a master and workers on any number
of machines (its own ZeroMQ protocol), fast HTTP (geventhttpclient), its
event hooks and its HTML report. What it does not do is replaced:

- the open model: Locust users wait for a response before the next
  request, so a slow server receives fewer requests and looks faster than it
  is (coordinated omission). Each worker's one `Shard` user instead starts
  iterations on a schedule (k6's constant- and ramping-arrival-rate),
  each in its own greenlet, up to max_concurrency; an iteration due when
  all slots are busy is dropped and counted, never silently delayed;
- latency from the scheduled start as well as from the send;
- HDR histograms (gonogo.load.stats) instead of Locust's rounded buckets,
  sent to the master on Locust's `report_to_master` event and merged there
  on `worker_report`, so the statistics are fed only by events.

A worker on another machine runs the same module (`gonogo load-worker
--master-host HOST`, see docs/load.md); the plan comes from the master with
the spawn message, the secrets from the worker's own environment.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import errno
import gc
import json
import logging
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from gevent import monkey

monkey.patch_all()

import gevent  # noqa: E402
from gevent.event import Event  # noqa: E402
from geventhttpclient import HTTPClient  # noqa: E402
from geventhttpclient._parser import HTTPParseError, HTTPResponseParser  # noqa: E402
from geventhttpclient.response import HTTPConnectionClosed  # noqa: E402
from geventhttpclient.url import URL  # noqa: E402
from hdrh.histogram import HdrHistogram  # noqa: E402
from locust import User, events, task  # noqa: E402
from locust import argument_parser as locust_args  # noqa: E402
from locust.env import Environment  # noqa: E402

from gonogo.config.load import LoadRequest, LoadScenario  # noqa: E402
from gonogo.load.engine import GRAPH_PASSWORD_VARIABLE, PROGRESS_FILE, TOKEN_VARIABLE  # noqa: E402
from gonogo.load.plan import (  # noqa: E402
    METRICS,
    SCHEMA,
    Plan,
    request_method,
    scenario_duration,
)
from gonogo.load.schedule import arrivals  # noqa: E402
from gonogo.load.stats import (  # noqa: E402
    SATURATED_START_DELAY_MS,
    Store,
    Tags,
    Timeline,
    fill,
    judge,
    k6_series,
    new_histogram,
)
from gonogo.vocabulary import parse_duration  # noqa: E402

REPORT_INTERVAL_S = 1.0  # worker -> master; the timeline's resolution
CONNECT_WAIT_S = float(os.environ.get("GONOGO_LOAD_CONNECT_WAIT_S", "30"))
WINDOW_KEEP_S = 5  # a second's histogram is summarised once no worker can add to it

log = logging.getLogger("gonogo.load")


# -- the schedule (gonogo.load.schedule) --------------------------------------------


# Below this wait, arrivals are so dense that a wake for each costs more than it buys.
PRECISE_WAKE_MIN_S = 0.0005


class Waker:
    """Sleeps a scenario's scheduler until an arrival is due, to within ~0.1 ms.

    gevent.sleep rounds every wait up to libev's epoll resolution, 1 ms: iterations started
    uniformly 0-1 ms late (p95 1.17 ms at 200/s against nginx, an idle worker). A timerfd
    armed for the due time (CLOCK_MONOTONIC, as time.perf_counter) wakes epoll itself, on
    time: p95 0.13 ms at 200/s, the same CPU. At dense schedules (a wait under
    PRECISE_WAKE_MIN_S, more than 2,000/s on a worker) a wake per arrival costs ~50 us of
    CPU each (4,000/s: 210 against 160 us a request), so those wait for the loop's next turn
    and start in small bursts, at most ~1 ms late, as before. Linux only; elsewhere (or if
    the C library will not give a timerfd) every wait is gevent.sleep."""

    def __init__(self) -> None:
        self._fd = -1
        try:
            # The process's own symbols (libc among them): no find_library, which runs
            # ldconfig in a subprocess.
            libc = ctypes.CDLL(None, use_errno=True)
            self._settime = libc.timerfd_settime
            self._fd = int(libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC))
        except (OSError, AttributeError, TypeError):
            self._fd = -1
        if self._fd >= 0:
            self._spec = _ITimerSpec()
            self._hub = gevent.get_hub()
            self._watcher = self._hub.loop.io(self._fd, 1)

    def sleep_until(self, due: float) -> None:
        wait = due - time.perf_counter()
        if wait <= 0:
            return
        if self._fd < 0 or wait < PRECISE_WAKE_MIN_S:
            gevent.sleep(wait)
            return
        if wait > 0.002:  # the loop's timer for the bulk, the timerfd for the last stretch
            gevent.sleep(wait - 0.0015)
            if due <= time.perf_counter():
                return
        seconds = int(due)
        self._spec.it_value.tv_sec = seconds
        self._spec.it_value.tv_nsec = int((due - seconds) * 1e9)
        if self._settime(self._fd, _TFD_TIMER_ABSTIME, ctypes.byref(self._spec), None) != 0:
            gevent.sleep(max(0.0, due - time.perf_counter()))
            return
        self._hub.wait(self._watcher)
        with contextlib.suppress(BlockingIOError):
            os.read(self._fd, 8)  # the expiry count: read, so the fd is quiet again

    def close(self) -> None:
        if self._fd >= 0:
            self._watcher.close()
            os.close(self._fd)
            self._fd = -1


_CLOCK_MONOTONIC = 1  # <time.h>; time.perf_counter reads this clock on Linux
_TFD_NONBLOCK, _TFD_CLOEXEC, _TFD_TIMER_ABSTIME = 0o4000, 0o2000000, 1  # <sys/timerfd.h>


class _TimeSpec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _ITimerSpec(ctypes.Structure):
    _fields_ = [("it_interval", _TimeSpec), ("it_value", _TimeSpec)]


# -- worker side: one Shard user per worker process ----------------------------------


class Window:
    """One second of one scenario's metric on this worker, until the next report: the samples
    held since the last fill, their histogram, the failures among them."""

    __slots__ = ("failed", "held", "hist")

    def __init__(self) -> None:
        self.held: list[float] = []
        self.hist: HdrHistogram | None = None
        self.failed = 0


class Recorder:
    """Turns Locust's request events into HDR series, per-second windows and counts.

    Latency samples are held as plain floats and put into their histograms every
    FILL_EVERY_S, counted (stats.fill): a request costs list appends, not five HDR records
    (~20 us of a worker's ~150 us a request at capacity)."""

    def __init__(self) -> None:
        self.store = Store()
        self.samples: dict[tuple[str, Tags], list[float]] = {}  # (metric, tags) -> ms, held
        self.windows: dict[tuple[int, str, str], Window] = {}  # (second, scenario, metric)
        self.started = time.perf_counter()
        self.health: list[dict[str, float]] = []  # closed seconds, from Health

    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        response: Any = None,
        context: dict[str, Any] | None = None,
        exception: BaseException | None = None,
        **_: Any,
    ) -> None:
        ctx = context or {}
        if "gonogo" not in ctx:
            return
        info = ctx["gonogo"]
        tags: Tags = info["tags"]  # sorted once per request of the plan (Sent.tags)
        waited = response_time + (info["called"] - info["intended"]) * 1000.0
        failed = exception is not None
        store = self.store
        if info["kind"] == "cypher":
            self.record("graph_query_duration", tags, waited)
            store.mark("graph_query_failed", tags, failed)
            store.add("graph_queries", tags)
            metric = "graph_query_duration"
        else:
            status = int(getattr(response, "status_code", 0) or 0)
            self.record("http_req_duration", tags, waited)
            self.record("http_req_service", tags, response_time)
            store.mark("http_req_failed", tags, failed)
            store.mark("auth_success", tags, status != 401)
            store.add("http_reqs", tags)
            metric = "http_req_duration"
        self.window(info["intended"], info["scenario"], metric, waited, failed)

    def record(self, metric: str, tags: Tags, ms: float) -> None:
        """A trend's sample, held until the next fill."""
        held = self.samples.get((metric, tags))
        if held is None:
            held = self.samples[(metric, tags)] = []
        held.append(ms)

    def window(
        self, intended: float, scenario: str, metric: str, ms: float, failed: bool = False
    ) -> None:
        """One sample into its second's window (by when it was due, not when it ended)."""
        key = (int(intended - self.started), scenario, metric)
        found = self.windows.get(key)
        if found is None:
            found = self.windows[key] = Window()
        found.held.append(ms)
        if failed:
            found.failed += 1

    def fill(self) -> None:
        """The held samples into their histograms (series and windows)."""
        for (metric, tags), held in self.samples.items():
            if held:
                self.store.record_many(metric, tags, held)
                held.clear()
        for found in self.windows.values():
            if found.held:
                if found.hist is None:
                    found.hist = new_histogram()
                fill(found.hist, found.held)
                found.held.clear()

    def fill_every(self, seconds: float) -> None:
        """Fill in small steps through the run, so the report never holds the loop long."""
        while True:
            gevent.sleep(seconds)
            self.fill()

    def drain(self) -> dict[str, Any]:
        self.fill()
        windows = [
            {
                "t": second,
                "scenario": scenario,
                "metric": metric,
                "hdr": found.hist.encode().decode("ascii"),
                "failed": found.failed,
            }
            for (second, scenario, metric), found in self.windows.items()
            if found.hist is not None  # always, after the fill: a window begins with a sample
        ]
        self.samples.clear()
        self.windows.clear()
        health, self.health = self.health, []
        return {"series": self.store.drain(), "windows": windows, "health": health}


RECORDER = Recorder()

# How often a worker puts its held samples into their histograms. Filled only at each report
# (once a second), they held the loop 12-21 ms at 3,000/s against nginx: the iterations due
# then started that late (p99 10-16 ms a second). 50 ms of samples at 5,000/s take ~0.9 ms
# (median, timed in the worker), and repeated values are still counted together.
FILL_EVERY_S = 0.05
# The loop-lag probe's period: 100 wake-ups a second cost ~0.2 % of a core.
LAG_PROBE_S = 0.01


class Health:
    """The worker's own state each second of the schedule: its CPU share (process CPU time
    over wall time: 1.0 is a whole core) and its event loop's lag (how late a greenlet that
    asked to sleep LAG_PROBE_S woke, at worst). Beside the iterations' start delay, these
    say why a second was saturated: the worker's core was full, or its loop was held.
    Closed seconds go to the master with the next report (Recorder.health)."""

    def __init__(self, worker: int) -> None:
        self.worker = worker
        self.running = True

    def run(self) -> None:
        started = RECORDER.started
        second = 0
        worst = 0.0
        wall, cpu = time.perf_counter(), time.process_time()
        while self.running:
            asked = time.perf_counter()
            gevent.sleep(LAG_PROBE_S)
            now = time.perf_counter()
            lag_ms = max(0.0, (now - asked - LAG_PROBE_S) * 1000.0)
            at = int(now - started)
            if at != second:
                used = time.process_time()
                RECORDER.health.append(
                    {"t": second, "worker": self.worker, "lag_ms": round(worst, 3),
                     "cpu": round((used - cpu) / max(1e-9, now - wall), 3)}
                )  # fmt: skip
                second, worst, wall, cpu = at, 0.0, now, used
            worst = max(worst, lag_ms)
        now = time.perf_counter()
        RECORDER.health.append(
            {"t": second, "worker": self.worker, "lag_ms": round(worst, 3),
             "cpu": round((time.process_time() - cpu) / max(1e-9, now - wall), 3)}
        )  # fmt: skip


def _tags(name: str, s: LoadScenario, r: LoadRequest, method: str) -> Tags:
    """A request's tags as the store keys them (sorted): made once per request of the plan,
    not once per sample."""
    tags = {**s.tags, **r.tags, "scenario": name, "name": r.name, "method": method}
    return tuple(sorted(tags.items()))


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
    not kept: geventhttpclient's response indexed each one in Python (~8 % of a saturated
    worker's CPU, py-spy) for an answer of which the engine reads only the status and the
    body (a GraphQL answer's errors)."""

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
    user agent, request and response wrappers, redirects, cookies) cost ~80 us of CPU a
    request (231 against 148 us, sequential, against nginx: benchmarks/load_capacity.py);
    HTTPClient's own pool and response another 12 % at capacity (a semaphore, a queue and a
    select() through gevent per request, a gevent timer per blocking read, each header
    indexed in Python): 161 against 141 us a request at 5,500/s, 4 interleaved pairs. The
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
        # In flight: greenlet -> when its request's timeout_s is up. A timer per read (the
        # sockets' own timeout) cost ~5 % of a saturated worker's CPU; one timer looks at
        # all of them, so a request ends within a tenth of its timeout after it.
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


class Prepared:
    """A scenario's means on this worker: its slots, connections, waker and requests."""

    def __init__(self, run: ShardRun, name: str, s: LoadScenario) -> None:
        slots = max(1, math.ceil(s.max_concurrency / run.shards))
        self.pool = Slots(slots)
        self.http = Http(run.target, slots)
        self.waker = Waker()
        self.name = name
        self.scenario = s
        self.sent = [Sent(name, s, r) for r in s.requests]
        for sent in self.sent:
            if sent.request.kind != "cypher":
                sent.wire = self.http.prepare(*run.http_request(sent.request))
        self.tags: Tags = tuple(sorted({**s.tags, "scenario": name}.items()))


class Slots:
    """At most `size` iterations at once (a scenario's max_concurrency on this worker): a
    count and raw greenlets. gevent's Pool did the same with a group, links and a semaphore
    per spawn: ~7 % of a saturated worker's CPU (py-spy), for bookkeeping the open model
    does not need: a full pool drops the arrival, it never waits for a slot."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.running: set[Any] = set()
        self._idle = Event()
        self._idle.set()

    def full(self) -> bool:
        return len(self.running) >= self.size

    def spawn(self, function: Any, *args: Any) -> None:
        self._idle.clear()
        self.running.add(gevent.spawn_raw(self._run, function, args))

    def _run(self, function: Any, args: tuple[Any, ...]) -> None:
        try:
            function(*args)
        finally:
            self.running.discard(gevent.getcurrent())
            if not self.running:
                self._idle.set()

    def join(self, timeout: float) -> None:
        self._idle.wait(timeout)

    def kill(self, timeout: float) -> None:
        """Iterations still running after the grace period are stopped (each counted as sent;
        its request event never fires, as k6's interrupted iterations)."""
        for running in list(self.running):
            gevent.kill(running)
        self._idle.wait(timeout)


class Sent:
    """One request of a scenario as this worker sends it: its tags made once."""

    __slots__ = ("request", "scenario", "tags", "wire")

    def __init__(self, scenario: str, s: LoadScenario, request: LoadRequest) -> None:
        self.scenario = scenario
        self.request = request
        self.tags = _tags(scenario, s, request, request_method(request))
        self.wire: Wire | None = None  # an HTTP or GraphQL request's bytes (Prepared)

    def context(self, intended: float, called: float) -> dict[str, Any]:
        """What the Recorder reads off the request event: the sample's tags and its times."""
        return {
            "gonogo": {
                "tags": self.tags,
                "scenario": self.scenario,
                "intended": intended,
                "called": called,
                "kind": self.request.kind,
            }
        }


class Failed(Exception):
    """A request that was answered, and failed: its text is what the failure message shows
    (Locust groups failures by repr, so the repr is the text: "HTTP 500", not a class)."""

    def __repr__(self) -> str:
        return str(self)


class BadStatus(Failed):
    """An answer outside 200-399."""


class GraphQLErrors(Failed):
    """A GraphQL answer with errors, or not JSON."""


def _graphql_errors(content: bytes) -> GraphQLErrors | None:
    try:
        errors = (json.loads(content) or {}).get("errors")
    except (ValueError, AttributeError):
        return GraphQLErrors("the answer is not JSON")
    return GraphQLErrors(f"GraphQL errors: {str(errors)[:200]}") if errors else None


class Shard(User):
    """One per worker: runs this worker's share of every scenario's schedule, once."""

    host = "http://localhost"

    @task
    def run_plan(self) -> None:
        runner: Any = self.environment.runner
        options = self.environment.parsed_options
        plan = Plan.from_json(json.loads(options.gonogo_plan))
        shards = int(options.gonogo_shards)
        # Locust numbers workers in the order they joined; a worker that rejoined gets a
        # new number, so wrap it (a shard run twice is visible in summary.json's shards).
        shard = max(0, int(getattr(runner, "worker_index", 0))) % shards
        outcome = ShardRun(self.environment, plan, shard, shards).run()
        sender = getattr(runner, "_send_stats", None)
        if callable(sender):
            sender()  # the last samples reach the master before "done"
        runner.send_message("gonogo-done", {"shard": shard, **outcome})
        while True:  # the master ends the run (quit); never start the plan again
            gevent.sleep(3600)


# Bolt connections opened before a graph plan's schedule (at most its concurrency).
WARM_CONNECTIONS = 8


class ShardRun:
    def __init__(self, environment: Environment, plan: Plan, shard: int, shards: int) -> None:
        self.environment = environment
        self.plan = plan
        self.shard = shard
        self.shards = shards
        self.target = plan.target
        self.budget = math.ceil(plan.max_requests / shards)
        self.sent = 0
        self.bounded = False
        self.scheduled = 0
        self.dropped = 0
        self.token = os.environ.get(TOKEN_VARIABLE, "")
        self._graph: Any = None

    def run(self) -> dict[str, Any]:
        self._warm_graph()
        # Everything a scenario needs is made before the clock starts: the first arrivals are
        # due at once. Made inside the schedule (with libc found by ldconfig), the api and
        # graph plans' first second had a start delay p95 of 22-24 ms beside the other packs
        # and busy loops, marked saturated; made here, 0.2-0.5 ms.
        ready = [Prepared(self, name, s) for name, s in self.plan.scenarios.items()]
        # What is alive now (Locust, gevent, the plan, the connections) lives all run: moved
        # out of the collector's reach, a full collection scans only what the run made. A
        # full collection over all of it held the loop 47 ms at 3-5 s into a 4,000/s run
        # (that second's start delay p95 7-11 ms, max 16-34 ms); with the freeze, 0.9 ms
        # (gc.callbacks timing). 4 interleaved pairs at 4,000/s for 10 s: 11 seconds marked
        # saturated before, 4 after, on a noisy hour.
        gc.collect()
        gc.freeze()
        start = time.perf_counter()
        RECORDER.started = start
        health = Health(self.shard)
        probe = gevent.spawn(health.run)
        filler = gevent.spawn(RECORDER.fill_every, FILL_EVERY_S)
        jobs = [gevent.spawn(self._scenario, made, start) for made in ready]
        gevent.joinall(jobs)
        health.running = False
        probe.join(timeout=1)
        filler.kill(block=False)
        if self._graph is not None:
            self._graph.close()
        errors = [f"{type(j.exception).__name__}: {j.exception}" for j in jobs if j.exception]
        return {
            "errors": errors,
            "scheduled": self.scheduled,
            "dropped": self.dropped,
            "bounded": self.bounded,
            "elapsed_s": time.perf_counter() - start,
        }

    def _scenario(self, made: Prepared, start: float) -> None:
        s, pool, http, waker, tags = made.scenario, made.pool, made.http, made.waker, made.tags
        try:
            for due in arrivals(s, self.shard, self.shards):
                if self.sent >= self.budget:
                    self.bounded = True
                    break
                intended = start + due
                waker.sleep_until(intended)
                self.scheduled += 1
                if pool.full():
                    self.dropped += 1
                    RECORDER.store.add("dropped_iterations", tags)
                    continue
                RECORDER.store.add("iterations", tags)
                self.sent += len(s.requests)
                pool.spawn(self._iteration, made, intended)
        finally:
            waker.close()
        grace = parse_duration(s.graceful_stop)
        pool.join(timeout=grace)
        pool.kill(timeout=5)
        http.close()

    def _iteration(self, made: Prepared, due: float) -> None:
        """An iteration's start delay is taken here, when it begins, not when the scheduler
        woke for it. The loop runs a new greenlet only after the answers that were ready with
        the wake: that span is the generator's delay too, and it is inside every latency
        measured from the scheduled start, so the saturation rule must see it. Against nginx
        at 4,000/s (3 interleaved rounds) p95 taken at the wake was 4.0 ms, here 12.6 ms; at
        a sparse rate the two are the same."""
        late = max(0.0, (time.perf_counter() - due) * 1000.0)
        RECORDER.record("iteration_start_delay", made.tags, late)
        RECORDER.window(due, made.name, "iteration_start_delay", late)
        http = made.http
        intended = due
        for request in made.sent:
            try:
                self._request(request, http, intended)
            except Exception as exc:
                log.warning("request %s failed in the client: %s", request.request.name, exc)
            intended = time.perf_counter()  # the next request is due when this one ends

    def http_request(self, request: LoadRequest) -> tuple[str, str, bytes | None, dict[str, str]]:
        """An HTTP or GraphQL request of the plan: method, path, body and headers."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        method = request_method(request)
        if request.kind == "http":
            return method, str(request.path), None, headers
        headers["Content-Type"] = "application/json"
        path = self.target.get("graphql_path", "/graphql")
        return method, path, json.dumps(self._graphql_body(request)).encode(), headers

    def _request(self, sent: Sent, http: Http, intended: float) -> None:
        request = sent.request
        wire = sent.wire
        if wire is None:
            self._cypher(sent, intended)
            return
        called = time.perf_counter()
        answer: Answer | None = None
        exception: BaseException | None = None
        try:
            answer = http.send(wire)
            if not 200 <= answer.status_code < 400:
                exception = BadStatus(f"HTTP {answer.status_code}")
            elif request.kind == "graphql":
                exception = _graphql_errors(answer.content)
        except Exception as exc:  # a connection refused, reset or timed out: a failure
            exception = exc
        self.environment.events.request.fire(
            request_type=wire.method,
            name=request.name,
            response_time=(time.perf_counter() - called) * 1000.0,
            response_length=len(answer.content) if answer is not None else 0,
            response=answer,
            context=sent.context(intended, called),
            exception=exception,
        )

    def _graphql_body(self, request: LoadRequest) -> dict[str, Any]:
        operations: dict[str, Any] = self.target.get("operations", {})
        named = operations.get(str(request.operation))  # an [operations] key, or an id
        op = str(named["id"]) if isinstance(named, dict) else str(request.operation)
        if self.target.get("persisted") == "apq":
            digest = op.removeprefix("sha256:")
            return {
                "variables": request.variables,
                "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}},
            }
        if self.target.get("persisted") == "documentId":
            return {"documentId": op, "variables": request.variables}
        return {"id": op, "variables": request.variables}

    def _cypher(self, sent: Sent, intended: float) -> None:
        request = sent.request
        called = time.perf_counter()
        exception: BaseException | None = None
        try:
            driver = self._driver()
            with driver.session(database=self.target.get("graph_database")) as session:
                list(session.run(str(request.query)))
        except Exception as exc:
            exception = exc
        self.environment.events.request.fire(
            request_type="BOLT",
            name=request.name,
            response_time=(time.perf_counter() - called) * 1000.0,
            response_length=0,
            response=None,
            context=sent.context(intended, called),
            exception=exception,
        )

    def _warm_graph(self) -> None:
        """Open the Bolt connections a graph plan will use before its schedule starts, as an
        app's driver pool is warm: a plan measures queries, not connection setup. Measured:
        the first second of the local graph plan held every new connection's handshake (p95
        over 5 s, one in 40 failing at the 5 s limit under -n 2), the rest 5 ms. Nothing here
        is recorded; a connection that cannot be opened is tried three times, and if it still
        cannot, the plan runs and its queries' failures are counted as usual."""
        graph = [
            s for s in self.plan.scenarios.values() if any(r.kind == "cypher" for r in s.requests)
        ]
        if not graph:
            return
        driver = self._driver()
        database = self.target.get("graph_database")
        wanted = min(
            WARM_CONNECTIONS, max(math.ceil(s.max_concurrency / self.shards) for s in graph)
        )
        timeout = float(self.target.get("timeout_s", 10.0))
        # One after another, each held open while the next is made: the stalls came at the
        # plan's start, with concurrent handshakes (eight at once did not cure them). Here
        # the schedule starts once the server has answered, so a stall at startup is waited
        # out (up to three tries a connection), not measured.
        with contextlib.ExitStack() as held:
            for _ in range(wanted):
                for attempt in range(3):
                    try:
                        session = held.enter_context(driver.session(database=database))
                        session.run("RETURN 1").consume()
                        break
                    except Exception as exc:  # the plan counts real failures
                        log.info("graph warm-up (attempt %d): %s", attempt + 1, exc)
                        gevent.sleep(min(1.0, timeout / 5))

    def _driver(self) -> Any:
        if self._graph is None:
            import neo4j

            timeout = float(self.target.get("timeout_s", 10.0))
            self._graph = neo4j.GraphDatabase.driver(
                self.target["graph_uri"],
                auth=(
                    self.target.get("graph_user", "neo4j"),
                    os.environ.get(GRAPH_PASSWORD_VARIABLE, ""),
                ),
                connection_timeout=timeout,
                connection_acquisition_timeout=timeout,
                max_connection_pool_size=max(
                    1,
                    max(
                        math.ceil(s.max_concurrency / self.shards)
                        for s in self.plan.scenarios.values()
                    ),
                ),
            )
        return self._graph


# -- master side ----------------------------------------------------------------------


def _options(plan: Plan, shards: int) -> argparse.Namespace:
    parser = locust_args.get_empty_argument_parser()
    locust_args.setup_parser_arguments(parser)
    options = parser.parse(args=[])
    options.headless = True
    # Custom options travel to every worker with the spawn message.
    options.gonogo_plan = json.dumps(plan.to_json())
    options.gonogo_shards = shards
    return options


def write_progress(out: Path, plan: Plan, store: Store, elapsed_s: float, k6: bool = False) -> None:
    """The run so far, once a second, for the parent to show and push (gonogo.load.engine):
    per scenario the iterations started against those due by now, p95 so far, failures, drops.
    Written whole and renamed, so the reader never sees half a file."""
    scenarios = {}
    for name, s in plan.scenarios.items():
        tags = (("scenario", name),)
        due = _DUES.setdefault(id(s), _Due(s)).upto(elapsed_s)
        started = store.aggregate("iterations", tags).count
        latency = next(
            (a for m in ("http_req_duration", "graph_query_duration")
             if (a := store.aggregate(m, tags)).histogram is not None and a.count),
            None,
        )  # fmt: skip
        failed = sum(
            store.aggregate(m, tags).hits for m in ("http_req_failed", "graph_query_failed")
        )
        scenarios[name] = {
            "started": started,
            "due": due,
            "p95_ms": round(latency.percentile_ms(95), 3) if latency else None,
            "failed": failed,
            "dropped": store.aggregate("dropped_iterations", tags).count,
        }
    data = {"plan": plan.name, "elapsed_s": round(elapsed_s, 1), "total_s": plan.duration_s(),
            "scenarios": scenarios}  # fmt: skip
    if k6:  # what [load] remote_write pushes (gonogo.load.remotewrite): k6's series so far
        data["k6"] = k6_series(store, plan.scenarios)
    tmp = out / f".{PROGRESS_FILE}"
    tmp.write_text(json.dumps(data), encoding="utf-8")
    tmp.replace(out / PROGRESS_FILE)


class _Due:
    """Arrivals of a scenario (all shards) due by a time, counted as time goes on: the
    schedule is walked once, never held whole (a long plan has millions)."""

    def __init__(self, s: LoadScenario) -> None:
        self._upcoming = iter(arrivals(s, 0, 1))
        self._next = next(self._upcoming, None)
        self.count = 0

    def upto(self, t: float) -> int:
        while self._next is not None and self._next <= t:
            self.count += 1
            self._next = next(self._upcoming, None)
        return self.count


_DUES: dict[int, _Due] = {}


def master(plan_path: Path, out: Path, bind: str, port: int, workers: int, k6: bool = False) -> int:
    import locust.runners as locust_runners

    locust_runners.WORKER_REPORT_INTERVAL = REPORT_INTERVAL_S
    plan = Plan.from_json(json.loads(plan_path.read_text(encoding="utf-8")))
    store = Store()
    timeline = Timeline()
    done: dict[int, dict[str, Any]] = {}
    environment = Environment(
        user_classes=[Shard],
        events=events,
        parsed_options=_options(plan, workers),
        host=plan.target.get("base_url"),
    )
    runner = environment.create_master_runner(master_bind_host=bind, master_bind_port=port)
    began = time.perf_counter()

    def on_worker_report(client_id: str, data: dict[str, Any]) -> None:
        ours = data.get("gonogo")
        if ours:
            store.merge(ours["series"])
            timeline.merge(ours["windows"])
            timeline.merge_health(ours.get("health", []))
            timeline.close(before=int(time.perf_counter() - began) - WINDOW_KEEP_S)

    def on_done(environment: Any, msg: Any, **_: Any) -> None:
        done[int(msg.data.get("shard", len(done)))] = msg.data

    environment.events.worker_report.add_listener(on_worker_report)
    runner.register_message("gonogo-done", on_done)

    deadline = time.monotonic() + CONNECT_WAIT_S
    while len(runner.clients.ready) < workers:
        if time.monotonic() > deadline:
            print(
                f"gonogo load: {len(runner.clients.ready)} of {workers} worker(s) connected to "
                f"{bind}:{port} within {CONNECT_WAIT_S:g} s",
                file=sys.stderr,
            )
            runner.quit()
            return 3
        gevent.sleep(0.05)

    started_wall = time.time()
    # What lives all run (Locust, gevent, the plan) out of the collector's reach, as on the
    # workers: a full collection over it takes 34-45 ms (72,000 objects), CPU taken from a
    # worker whenever the two share a core; after the freeze, one scans what the run made.
    gc.collect()
    gc.freeze()
    began = time.perf_counter()
    runner.start(workers, spawn_rate=workers)
    limit = plan.bound_s() + 15.0
    shown = 0.0
    while len(done) < workers and time.perf_counter() - began < limit:
        gevent.sleep(0.1)
        if time.perf_counter() - shown >= 1.0:  # the master's view; the workers never wait
            shown = time.perf_counter()
            write_progress(out, plan, store, shown - began, k6)
    elapsed = max(float(d.get("elapsed_s", 0.0)) for d in done.values()) if done else 0.0
    timed_out = len(done) < workers
    runner.quit()
    timeline.close()
    seconds = elapsed or (time.perf_counter() - began)
    judged = [judge(store, t, plan.duration_s()) for t in plan.thresholds]
    summary = {
        "schema": SCHEMA,
        "plan": plan.to_json(),
        "workers": workers,
        "started": started_wall,
        "elapsed_s": seconds,
        "complete": not timed_out,
        "shards": [done.get(i) for i in range(workers)],
        "bounded": any(bool(d.get("bounded")) for d in done.values()),
        "errors": sorted({e for d in done.values() for e in d.get("errors", [])}),
        "metrics": _metric_summaries(store, plan),
        "thresholds": [j.as_dict() for j in judged],
        "series": store.encoded(),
        "timeline": timeline.rows,
        # The generator's own health: seconds it fell behind its schedule, and the latency
        # of the seconds it kept it (judged against when a threshold fails: gonogo.load.engine).
        "saturation": {
            "rule": f"iteration_start_delay p95 > {SATURATED_START_DELAY_MS:g} ms in a second",
            "seconds": timeline.saturated,
            # Every second: start delay p95, the busiest worker's CPU share, the worst loop lag.
            "generator": timeline.generator,
            "clean": [
                {"scenario": scenario, "metric": metric, "hdr": hist.encode().decode("ascii")}
                for (scenario, metric), hist in sorted(timeline.clean.items())
                if hist.get_total_count()
            ],
        },
        "locust": _locust_figures(environment),
        "failures": _failures(environment),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")
    try:
        from locust.html import get_html_report

        (out / "locust.html").write_text(
            get_html_report(environment, show_download_link=False), encoding="utf-8"
        )
    except Exception as exc:
        print(f"gonogo load: Locust's HTML report could not be written: {exc}", file=sys.stderr)
    return 4 if timed_out else 0


def _metric_summaries(store: Store, plan: Plan) -> dict[str, Any]:
    """Each metric overall, per scenario and per request name; counters with their rate
    per second of schedule (what the plan asked for is the yardstick, not the tail)."""
    seconds = plan.duration_s()
    out: dict[str, Any] = {}
    metrics = sorted({m for (m, _t) in store.series})
    selections = sorted(
        {(k, v) for (_m, t) in store.series for k, v in t if k in ("scenario", "name")}
    )
    for metric in metrics:
        out[metric] = {"all": _summary(store, metric, (), seconds)}
        for key, value in selections:
            length = seconds
            if key == "scenario" and value in plan.scenarios:
                length = scenario_duration(plan.scenarios[value])
            found = _summary(store, metric, ((key, value),), length)
            if found["count"]:
                out[metric][f"{key}:{value}"] = found
    return out


def _summary(store: Store, metric: str, tags: tuple[tuple[str, str], ...], seconds: float) -> Any:
    agg = store.aggregate(metric, tags)
    found = agg.summary()
    if METRICS[metric][0] == "counter" and seconds > 0:
        found["rate_per_s"] = round(agg.count / seconds, 3)
    return found


def _locust_figures(environment: Environment) -> dict[str, Any]:
    """Locust's own figures for the same requests, kept beside gonogo's (bucketed, from send)."""
    stats = environment.runner.stats if environment.runner is not None else None
    if stats is None:
        return {}
    out = {}
    for (name, method), entry in stats.entries.items():
        if not entry.num_requests:
            continue
        out[f"{method} {name}"] = {
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "avg": entry.avg_response_time,
            "p50": entry.get_response_time_percentile(0.50),
            "p95": entry.get_response_time_percentile(0.95),
            "p99": entry.get_response_time_percentile(0.99),
        }
    return out


def _failures(environment: Environment) -> list[dict[str, Any]]:
    """What the failed requests said, most frequent first (Locust groups them)."""
    stats = environment.runner.stats if environment.runner is not None else None
    if stats is None:
        return []
    rows = [
        {"method": e.method, "name": e.name, "error": str(e.error), "count": e.occurrences}
        for e in stats.errors.values()
    ]
    return sorted(rows, key=lambda r: -int(str(r["count"])))[:20]


def worker(master_host: str, master_port: int, connect_timeout_s: float = 60.0) -> int:
    import locust.runners as locust_runners

    locust_runners.WORKER_REPORT_INTERVAL = REPORT_INTERVAL_S
    # Locust retries for CONNECT_TIMEOUT x CONNECT_RETRY_COUNT (5 minutes): bounded to ours.
    locust_runners.CONNECT_RETRY_COUNT = max(1, math.ceil(connect_timeout_s / 5))
    environment = Environment(user_classes=[Shard], events=events)
    environment.events.request.add_listener(RECORDER.on_request)

    def on_report(client_id: str, data: dict[str, Any]) -> None:
        data["gonogo"] = RECORDER.drain()

    environment.events.report_to_master.add_listener(on_report)
    try:
        runner = environment.create_worker_runner(master_host, master_port)
    except ConnectionError:
        print(
            f"gonogo load-worker: the load master at {master_host}:{master_port} did not answer "
            f"within {connect_timeout_s:g} s; is the gonogo run still waiting for workers?",
            file=sys.stderr,
        )
        return 1
    runner.greenlet.join()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gonogo.load.child")
    sub = parser.add_subparsers(dest="role", required=True)
    m = sub.add_parser("master")
    m.add_argument("--plan", type=Path, required=True)
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--bind", default="127.0.0.1")
    m.add_argument("--port", type=int, required=True)
    m.add_argument("--workers", type=int, default=1)
    m.add_argument("--k6-series", action="store_true", help="k6's series in progress.json")
    w = sub.add_parser("worker")
    w.add_argument("--master-host", default="127.0.0.1")
    w.add_argument("--master-port", type=int, default=5557)
    w.add_argument("--connect-timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    if args.role == "master":
        return master(args.plan, args.out, args.bind, args.port, args.workers, args.k6_series)
    return worker(args.master_host, args.master_port, args.connect_timeout)


if __name__ == "__main__":
    sys.exit(main())
