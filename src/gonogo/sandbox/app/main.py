"""The gateway app: routes, the ingest path, metrics and faults.

The ingest path is the real one: CreateNote writes the note to Postgres and
publishes it to Kafka; a consumer thread in the app reads it back (assigned
partition, no group join) and writes it into the graph, where GetNotes reads
it. A heartbeat keeps the stream moving so `stream_processed_total` rises
whenever the consumer is healthy.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import random
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import neo4j
import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from graphql import GraphQLError
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel
from starlette.routing import WebSocketRoute
from strawberry.asgi import GraphQL as StrawberryASGI
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from gonogo.abac import RegoPolicy, rego_input
from gonogo.errors import ConfigError
from gonogo.sandbox import faults as fault_registry
from gonogo.sandbox.app import edge, gql
from gonogo.sandbox.app.edge import SLOT_HEADER
from gonogo.sandbox.app.security import (
    AUTHZ_POLICY,
    AUTHZ_QUERY,
    AuditChain,
    AuthFailed,
    verify,
)
from gonogo.sandbox.cluster import NAMESPACE as cluster_namespace
from gonogo.sandbox.tokens import AUDIENCE, ISSUER, jwk

INGEST_TOPIC = "intelgraph.ingest"
CANARY_TOPIC = "intelgraph.canary"
INGEST_GROUP = "intelgraph-ingest"
FAULTED_PREFIXES = ("/api/", "/graphql")
# Four events a second: a stalled consumer shows as lag within about a second.
HEARTBEAT_S = 0.25
STARTUP_BURST = 12


class AppConfig(BaseModel):
    port: int
    postgres_dsn: str
    bolt_uri: str
    graph_database: str = "falkordb"
    kafka_bootstrap: str
    jwt_public_key: str  # path
    faults: dict[str, str | None] = {}
    # gonogo.sandbox.dialects: how this gateway speaks (healthy either way).
    dialects: list[str] = []
    metrics_port: int | None = None  # the metrics-port dialect's exporter
    # Recorded Kubernetes API answers (a PodList) served under /k8s: no API server runs here.
    k8s_pods: str | None = None
    # Which slot this app is (every answer says so in edge.SLOT_HEADER). Blue, the previous
    # release, shares the data stores and runs no background work (green consumes).
    slot: str = "green"
    background: bool = True
    # Green serves the recorded edge (Ingress + TraefikService) at these starting weights,
    # and applies a change to HAProxy through its runtime API socket.
    edge_weights: dict[str, float] | None = None
    edge_socket: str | None = None


class FaultChange(BaseModel):
    """POST /api/admin/faults: faults to set (NAME[=VALUE]), to clear, or reset all first."""

    set: list[str] = []
    clear: list[str] = []
    reset: bool = False


LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.35, 0.5, 0.7, 1.0, 1.5, 2.5, 5.0)
# The traefik and otel dialects' request series, as those stacks name them.
TRAEFIK_SERVICE = "intelgraph-gateway@kubernetes"


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)
    dialects: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        r = self.registry
        if "traefik" in self.dialects:
            self.traefik_requests = Counter(
                "traefik_service_requests",
                "How many HTTP requests processed on a service, by code",
                ["code", "method", "protocol", "service"],
                registry=r,
            )
            self.traefik_latency = Histogram(
                "traefik_service_request_duration_seconds",
                "How long it took to process the request on a service",
                ["code", "method", "protocol", "service"],
                registry=r,
                buckets=LATENCY_BUCKETS,
            )
        elif "otel" in self.dialects:
            self.otel_latency = Histogram(
                "http_server_request_duration_seconds",
                "Duration of HTTP server requests",
                ["http_request_method", "http_response_status_code", "http_route"],
                registry=r,
                buckets=LATENCY_BUCKETS,
            )
        else:
            self.requests = Counter(
                "http_requests", "Requests by route and code", ["route", "code"], registry=r
            )
            self.latency = Histogram(
                "http_request_duration_seconds",
                "Request latency by route",
                ["route"],
                registry=r,
                buckets=LATENCY_BUCKETS,
            )
        self.graph_latency = Histogram(
            "graph_query_duration_seconds",
            "Graph (Bolt) query latency",
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0),
        )
        self.processed = Counter(
            "stream_processed", "Ingest messages written to the graph", registry=r
        )
        self.dropped = Counter("stream_dropped", "Ingest messages dropped (fault)", registry=r)
        self.lag = Gauge("consumer_lag", "Ingest consumer lag, in messages", registry=r)
        self.rate_limited = Counter(
            "rate_limit_exceeded", "Requests refused by the rate limiter", registry=r
        )
        self.audit_fail = Counter(
            "audit_signer_fail", "Audit entries that could not be signed", registry=r
        )
        self.auth_ok = Counter("auth_success", "Requests with a valid token", registry=r)
        self.auth_fail = Counter(
            "auth_failure", "Requests refused at authentication", ["reason"], registry=r
        )
        if "prom-client" not in self.dialects:
            # Present from the start, so a scrape always lists them.
            for reason in ("missing", "expired", "bad-signature", "invalid"):
                self.auth_fail.labels(reason=reason)

    def request(self, route: str, method: str, code: int, seconds: float) -> None:
        """One answered request, in the series this gateway's dialect names."""
        if "traefik" in self.dialects:
            labels = {"code": str(code), "method": method, "protocol": "http"}
            labels["service"] = TRAEFIK_SERVICE
            self.traefik_requests.labels(**labels).inc()
            self.traefik_latency.labels(**labels).observe(seconds)
        elif "otel" in self.dialects:
            self.otel_latency.labels(
                http_request_method=method, http_response_status_code=str(code), http_route=route
            ).observe(seconds)
        else:
            self.requests.labels(route=route, code=str(code)).inc()
            self.latency.labels(route=route).observe(seconds)

    def exposition(self) -> bytes:
        """The text exposition; prom-client's leaves out counters never incremented (and has
        no _created series), which is what an absent counter means to Prometheus: zero."""
        text = generate_latest(self.registry)
        if "prom-client" not in self.dialects:
            return text
        counters = {
            m.name for m in self.registry.collect() if m.type == "counter"
        }  # names without _total
        kept = []
        for line in text.decode().splitlines():
            words = line.split(" ", 3)
            comment = line.startswith("#")
            name = (words[2] if comment and len(words) > 2 else words[0]).split("{", 1)[0]
            if name.endswith("_created"):
                continue  # prom-client has no _created series, not even declared
            if comment or not name:
                kept.append(line)
            elif name.removesuffix("_total") in counters and float(line.rsplit(" ", 1)[1]) == 0:
                continue
            else:
                kept.append(line)
        return ("\n".join(kept) + "\n").encode()


class State:
    def __init__(self, config: AppConfig) -> None:
        self.config = config
        self.faults: dict[str, str | None] = dict(config.faults)
        self.write_frozen = False
        self.metrics = Metrics(dialects=list(config.dialects))
        jcs = "audit-jwk" in config.dialects  # a Node gateway: JWK key, JCS entries
        self.audit = AuditChain(jwk=jcs, jcs=jcs)
        self.authz = RegoPolicy(AUTHZ_POLICY, AUTHZ_QUERY)
        self.public_key = Path(config.jwt_public_key).read_bytes()
        self.graph = neo4j.GraphDatabase.driver(
            config.bolt_uri,
            auth=("falkordb", ""),
            connection_timeout=1,
            connection_acquisition_timeout=1,
            max_transaction_retry_time=0,
        )
        self.producer = Producer(
            {
                "bootstrap.servers": config.kafka_bootstrap,
                "acks": "all",
                "linger.ms": 0,
                "message.timeout.ms": 5000,
            }
        )
        self.admin = AdminClient({"bootstrap.servers": config.kafka_bootstrap})
        self.pg: psycopg.AsyncConnection[Any] | None = None
        self.pg_lock = asyncio.Lock()
        self.stop = threading.Event()
        self.committed_once = False
        self.lag: int | None = None  # as last measured; None until the first measure
        self.handled = 0  # messages the consumer took off the topic (ingested or dropped)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self.calls: dict[str, deque[float]] = defaultdict(deque)

    # -- faults -------------------------------------------------------------------

    def fault(self, name: str) -> str | None:
        return self.faults.get(name)

    def on(self, name: str) -> bool:
        return name in self.faults

    def share(self, name: str) -> float:
        return float(self.faults[name] or 0) if name in self.faults else 0.0

    # -- graph --------------------------------------------------------------------

    def cypher(self, query: str, **params: Any) -> list[dict[str, Any]]:
        with self.metrics.graph_latency.time():
            return self._cypher(query, **params)

    def _cypher(self, query: str, **params: Any) -> list[dict[str, Any]]:
        if self.on("graph-latency"):
            time.sleep(float(self.faults["graph-latency"] or 0) / 1000.0)
        # FalkorDB's Bolt listener stalls the first handshake after any client's
        # clean disconnect (GOODBYE); a second attempt on a new connection works.
        for attempt in (1, 2):
            try:
                with self.graph.session(database=self.config.graph_database) as session:
                    return [r.data() for r in session.run(query, params)]
            except neo4j.exceptions.ServiceUnavailable:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def apply_graph_schema(self) -> None:
        indexes = self.cypher("CALL db.indexes() YIELD label, properties RETURN label, properties")
        has = any(i.get("label") == "Note" and "id" in (i.get("properties") or []) for i in indexes)
        if self.on("graph-schema-drift") and has:
            self.cypher("DROP INDEX FOR (n:Note) ON (n.id)")
        elif not self.on("graph-schema-drift") and not has:
            self.cypher("CREATE INDEX FOR (n:Note) ON (n.id)")

    # -- ingest -------------------------------------------------------------------

    def publish(self, value: dict[str, Any], key: str | None = None) -> None:
        payload = json.dumps(value).encode()
        copies = 2 if random.random() < self.share("stream-dup") else 1  # noqa: S311
        for _ in range(copies):
            self.producer.produce(INGEST_TOPIC, value=payload, key=key)
        self.producer.poll(0)

    def consume_forever(self) -> None:
        consumer = Consumer(
            {
                "bootstrap.servers": self.config.kafka_bootstrap,
                "group.id": INGEST_GROUP,
                "enable.auto.commit": False,
                "socket.timeout.ms": 5000,
                # The broker holds an empty fetch this long; librdkafka's 500 ms default
                # would add up to half a second to every note's way into the graph.
                "fetch.wait.max.ms": 20,
            }
        )
        tp = TopicPartition(INGEST_TOPIC, 0, OFFSET_BEGINNING)
        consumer.assign([tp])
        last_lag = 0.0
        try:
            while not self.stop.is_set():
                now = time.monotonic()
                if now - last_lag > 0.5:
                    self._update_lag(consumer)
                    last_lag = now
                # A consumer that hangs mid-run: it has caught up and committed once.
                if self.on("consumer-stall") and self.committed_once:
                    time.sleep(0.2)
                    continue
                msg = consumer.poll(0.2)
                if msg is None:
                    continue
                error = msg.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        time.sleep(0.2)
                    continue
                self.handled += 1
                if random.random() < self.share("stream-drop"):  # noqa: S311
                    self.metrics.dropped.inc()
                    continue
                try:
                    self._ingest(json.loads(msg.value() or b"{}"))
                    self.metrics.processed.inc()
                except Exception:  # noqa: S112 - a bad message must not stop the consumer
                    continue
                with contextlib.suppress(Exception):
                    # librdkafka sends it in the background, even while a stall sleeps.
                    consumer.commit(message=msg, asynchronous=True)
                    self.committed_once = True
        finally:
            with contextlib.suppress(Exception):
                consumer.close()

    def _update_lag(self, consumer: Consumer) -> None:
        with contextlib.suppress(Exception):
            tp = TopicPartition(INGEST_TOPIC, 0)
            _low, high = consumer.get_watermark_offsets(tp, timeout=1)
            position = consumer.position([tp])[0].offset
            self.lag = max(0, high - position) if position >= 0 else high
            self.metrics.lag.set(self.lag)

    def _fan_out(self, event: dict[str, Any]) -> None:
        for queue in list(self.subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(event)

    def _ingest(self, event: dict[str, Any]) -> None:
        if isinstance(event.get("payload"), dict):  # the root-fields dialect's outbox event
            event = {**event, "text": event["payload"].get("body", "")}
        if event.get("kind") == "note":
            self._ingest_note(event)
            if self.loop is not None:  # subscribers live on the app's event loop
                delay = float(self.fault("fanout-slow") or 0) / 1000.0
                if delay:
                    loop = self.loop
                    loop.call_soon_threadsafe(lambda: loop.call_later(delay, self._fan_out, event))
                else:
                    self.loop.call_soon_threadsafe(self._fan_out, event)
        else:
            self.cypher(
                "MERGE (f:Feed {name: 'heartbeat'}) SET f.lastSeen = $ts", ts=event.get("ts", "")
            )

    def _ingest_note(self, event: dict[str, Any]) -> None:
        self.cypher(
            "MERGE (n:Note {id: $id}) SET n.text = $text, n.author = $author, n.createdAt = $ts",
            id=event["id"],
            text=event["text"],
            author=event["author"],
            ts=event["createdAt"],
        )

    def replay_outbox(self) -> None:
        """A burst at start, as a real app replays its outbox on boot, published before the
        consumer starts: a healthy consumer drains it before the app reports ready; a
        stalled one (consumer-stall) is well behind at once, not only after the seconds it
        takes the heartbeat alone to build a lag."""
        for _ in range(STARTUP_BURST):
            with contextlib.suppress(Exception):
                self.publish({"kind": "heartbeat", "ts": time.time(), "startup": True})
        self.producer.flush(5)

    def heartbeat_forever(self) -> None:
        while not self.stop.wait(HEARTBEAT_S):
            with contextlib.suppress(Exception):
                self.publish({"kind": "heartbeat", "ts": time.time()})


def _exporter(metrics: Metrics, port: int) -> http.server.ThreadingHTTPServer:
    """The metrics-port dialect: /metrics on an exporter port of its own, as prom-client's
    and OpenTelemetry's Prometheus exporters often serve it (no token asked)."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            found = self.path.split("?", 1)[0] == "/metrics"
            body = metrics.exposition() if found else b"not found\n"
            self.send_response(200 if found else 404)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST if found else "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, name="metrics-exporter", daemon=True).start()
    return server


def _log(message: str) -> None:
    print(message, flush=True)  # the app's log (app.log in the sandbox's logs)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    return header[7:].strip() if header.lower().startswith("bearer ") else None


def create_app(config: AppConfig) -> FastAPI:
    state = State(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state.loop = asyncio.get_running_loop()
        state.pg = await psycopg.AsyncConnection.connect(config.postgres_dsn, autocommit=True)
        threads = []
        if config.background:
            await asyncio.to_thread(state.apply_graph_schema)
            # The app audits its own start, so the log is never empty and signing is exercised.
            # As a Node gateway logs its operator: a non-ASCII name and a whole-number float,
            # which JCS and Python's json.dumps write differently.
            operator = {"operator": "José Müller", "weight": 1.0} if state.audit.jcs else {}
            record("system", "startup", {"faults": dict(state.faults), **operator})
            await asyncio.to_thread(state.replay_outbox)
            threads = [
                threading.Thread(target=state.consume_forever, name="ingest-consumer", daemon=True),
                threading.Thread(target=state.heartbeat_forever, name="heartbeat", daemon=True),
            ]
        for t in threads:
            t.start()
        exporter = _exporter(state.metrics, config.metrics_port) if config.metrics_port else None
        try:
            yield
        finally:
            state.stop.set()
            if exporter is not None:
                exporter.shutdown()
                exporter.server_close()
            for t in threads:
                t.join(timeout=3)
            state.producer.flush(2)
            state.graph.close()
            await state.pg.close()

    app = FastAPI(
        title="IntelGraph sandbox gateway", lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.gonogo = state

    def principal(request: Request) -> dict[str, Any]:
        if state.on("auth-optional") and _bearer(request) is None:
            return {"sub": "anonymous", "roles": ["analyst"]}
        try:
            if state.on("jwt-unverified") and _bearer(request):
                claims: dict[str, Any] = jwt.decode(
                    _bearer(request) or "", options={"verify_signature": False}
                )
            else:
                claims = verify(_bearer(request), state.public_key, ISSUER, AUDIENCE)
        except AuthFailed as exc:
            state.metrics.auth_fail.labels(reason=exc.reason).inc()
            raise HTTPException(401, f"unauthorized: {exc.reason} token") from None
        if random.random() < state.share("auth-flaky"):  # noqa: S311
            state.metrics.auth_fail.labels(reason="invalid").inc()
            raise HTTPException(401, "unauthorized: signing key not found (injected)")
        state.metrics.auth_ok.inc()
        return claims

    def permit(claims: dict[str, Any], resource: str, path: str = "") -> None:
        if state.on("abac-fail-open"):
            return
        if state.authz.allows(rego_input(claims, resource, "GET", path)) is not True:
            raise HTTPException(403, f"forbidden: policy denies {resource}")

    @app.middleware("http")
    async def measure(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        t0 = time.perf_counter()
        path = request.url.path
        faulted = path.startswith(FAULTED_PREFIXES) and not path.startswith("/api/admin")
        response: Response
        if faulted and state.on("latency"):
            route, _, ms = (state.fault("latency") or "").rpartition(":")
            if not route or route == path:
                await asyncio.sleep(float(ms) / 1000.0)
        if faulted and random.random() < state.share("error-rate"):  # noqa: S311
            response = JSONResponse({"error": "internal error (injected)"}, status_code=500)
        elif faulted and _rate_limited(request):
            state.metrics.rate_limited.inc()
            response = JSONResponse({"error": "rate limit exceeded"}, status_code=429)
        else:
            response = await call_next(request)
        route_obj = request.scope.get("route")
        route = getattr(route_obj, "path", "unmatched")
        seconds = time.perf_counter() - t0
        state.metrics.request(route, request.method, response.status_code, seconds)
        response.headers[SLOT_HEADER] = config.slot
        return response

    def _rate_limited(request: Request) -> bool:
        limit = float(state.fault("rate-limit") or 0) if state.on("rate-limit") else 1000.0
        caller = _bearer(request) or (request.client.host if request.client else "?")
        window = state.calls[caller[-32:]]
        now = time.monotonic()
        while window and now - window[0] > 1.0:
            window.popleft()
        window.append(now)
        return len(window) > limit

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        if state.on("healthz-fail"):
            return JSONResponse({"status": "failing", "reason": "injected fault"}, status_code=500)
        return JSONResponse({"status": "ok", "service": "intelgraph-gateway", "version": "sandbox"})

    async def dependencies() -> dict[str, str]:
        checks: dict[str, str] = {}

        async def probe(name: str, fn: Callable[[], Awaitable[Any]]) -> None:
            try:
                await asyncio.wait_for(fn(), timeout=2)
                checks[name] = "ok"
            except Exception as exc:
                checks[name] = f"down: {type(exc).__name__}"

        async def pg() -> None:
            async with state.pg_lock:
                assert state.pg is not None
                await state.pg.execute("SELECT 1")

        await probe("postgres", pg)
        await probe("graph", lambda: asyncio.to_thread(state.cypher, "RETURN 1"))
        await probe("kafka", lambda: asyncio.to_thread(state.admin.list_topics, timeout=1))
        return checks

    def readiness(checks: dict[str, str]) -> JSONResponse:
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        checks = await dependencies()
        if state.on("readyz-fail"):
            checks["graph"] = "down: injected fault"
        if config.slot == "blue" and state.on("blue-cold"):
            checks["pods"] = "down: scaled to zero after the cutover (blue-cold)"
        return readiness(checks)

    @app.get("/__sandbox/ready")
    async def sandbox_ready() -> JSONResponse:
        """The orchestrator's probe: the real dependencies, whatever faults are injected,
        and (unless the consumer is stalled on purpose) the startup replay consumed, so a
        pack that starts at once does not read the replay as lag."""
        checks = await dependencies()
        # The broker's high watermark can trail a fresh publish, so a low lag alone is not
        # proof: the replay must also have been taken off the topic.
        replayed = state.handled >= STARTUP_BURST and state.lag is not None and state.lag <= 1
        if not config.background:
            pass  # blue consumes nothing: green does
        elif state.on("consumer-stall"):
            # Ready once the stall has begun (after the first commit), so no check sees
            # the one message it takes before stalling as progress.
            if not state.committed_once:
                checks["ingest"] = "consumer not started yet"
        elif not state.on("graph-latency") and not replayed:  # a slowed graph never catches up
            checks["ingest"] = f"replaying the startup backlog ({state.handled}/{STARTUP_BURST})"
        return readiness(checks)

    @app.get("/.well-known/jwks.json")
    async def jwks() -> dict[str, Any]:
        return {"keys": [jwk(state.public_key)]}

    @app.get("/api/ping")
    async def ping(request: Request) -> dict[str, Any]:
        principal(request)
        return {"pong": True, "ts": time.time()}

    @app.get("/api/secure/{resource}")
    async def secure(resource: str, request: Request) -> dict[str, Any]:
        claims = principal(request)
        permit(claims, resource, request.url.path)
        return {"resource": resource, "decision": "permit", "sub": claims["sub"]}

    @app.get("/k8s/api/v1/namespaces/{namespace}/pods")
    async def k8s_pods(namespace: str) -> Response:
        """The namespace's pods as the Kubernetes API lists them (recorded, see stack.py)."""
        if config.k8s_pods is None:
            return JSONResponse({"kind": "Status", "code": 404}, status_code=404)
        listing = json.loads(Path(config.k8s_pods).read_text())
        listing["items"] = [
            p for p in listing["items"] if p["metadata"].get("namespace") == namespace
        ]
        return JSONResponse(listing)

    if config.edge_weights is not None:
        recorded = edge.RecordedEdge(
            cluster_namespace, config.edge_socket, dict(config.edge_weights)
        )
        edge.mount(app, recorded, lambda: state.on("weights-stuck"), _log)

    @app.get("/api/audit")
    async def audit(request: Request) -> dict[str, Any]:
        principal(request)
        return state.audit.log()

    def record(actor: str, action: str, detail: dict[str, Any]) -> None:
        if not state.audit.append(actor, action, detail, sign=not state.on("audit-signer-fail")):
            state.metrics.audit_fail.inc()

    @app.post("/api/admin/write-freeze")
    async def write_freeze(enable: bool, request: Request) -> dict[str, Any]:
        claims = principal(request)
        if "admin" not in (claims.get("roles") or []):
            raise HTTPException(403, "forbidden: write-freeze needs the admin role")
        state.write_frozen = enable
        record(claims["sub"], "write-freeze", {"enabled": enable})
        return {"write_frozen": state.write_frozen}

    @app.get("/api/admin/faults")
    async def get_faults(request: Request) -> dict[str, Any]:
        permit_admin(request)
        return {"faults": state.faults, "known": sorted(fault_registry.FAULTS)}

    @app.post("/api/admin/faults")
    async def set_faults(change: FaultChange, request: Request) -> dict[str, Any]:
        claims = permit_admin(request)
        unknown = [name for name in change.clear if name not in fault_registry.FAULTS]
        if unknown:
            raise HTTPException(400, f"unknown fault(s) to clear: {', '.join(unknown)}")
        try:
            parsed = fault_registry.parse_all(change.set)
        except ConfigError as exc:
            raise HTTPException(400, str(exc)) from None
        if change.reset:
            state.faults.clear()
        for name in change.clear:
            state.faults.pop(name, None)
        state.faults.update(parsed)
        await asyncio.to_thread(state.apply_graph_schema)
        record(claims["sub"], "faults", {"faults": dict(state.faults)})
        return {"faults": state.faults}

    def permit_admin(request: Request) -> dict[str, Any]:
        claims = principal(request)
        if "admin" not in (claims.get("roles") or []):
            raise HTTPException(403, "forbidden: needs the admin role")
        return claims

    async def list_notes(limit: int) -> list[dict[str, Any]]:
        return await asyncio.to_thread(
            state.cypher,
            "MATCH (n:Note) RETURN n.id AS id, n.text AS text, n.createdAt AS createdAt "
            "ORDER BY n.createdAt DESC LIMIT $limit",
            limit=limit,
        )

    async def create_note(text: str, claims: dict[str, Any]) -> dict[str, Any]:
        if state.write_frozen and not state.on("write-freeze-ignored"):
            raise GraphQLError(
                "WriteFrozen: writes are frozen by an operator", extensions={"code": "WRITE_FROZEN"}
            )
        write = rego_input(claims, "notes:write", "POST", "/graphql")
        if not (state.on("abac-fail-open") or state.authz.allows(write) is True):
            raise GraphQLError(
                "Forbidden: policy denies notes:write", extensions={"code": "FORBIDDEN"}
            )
        note_id = str(uuid.uuid4())
        async with state.pg_lock:
            assert state.pg is not None
            cur = await state.pg.execute(
                "INSERT INTO notes (id, text, author) VALUES (%s, %s, %s) RETURNING created_at",
                (note_id, text, claims["sub"]),
            )
            row = await cur.fetchone()
        created = row[0].isoformat() if row else ""
        event: dict[str, Any] = {
            "kind": "note",
            "id": note_id,
            "text": text,
            "author": claims["sub"],
            "createdAt": created,
        }
        if "root-fields" in config.dialects:  # that team's outbox nests the text
            event["payload"] = {"body": event.pop("text")}
        if state.on("write-latency"):
            await asyncio.sleep(float(state.fault("write-latency") or 0) / 1000.0)
        lag = float(state.fault("outbox-lag") or 0) / 1000.0
        if random.random() < state.share("outbox-loss"):  # noqa: S311
            pass  # the outbox lost it: the write succeeded, the event never leaves
        elif lag:
            asyncio.get_running_loop().call_later(lag, state.publish, event, note_id)
        else:
            await asyncio.to_thread(state.publish, event, note_id)
        record(claims["sub"], "create-note", {"id": note_id})
        return {"id": note_id, "text": text, "createdAt": created}

    @app.get("/graphql")
    async def graphql_get(request: Request) -> JSONResponse:
        """GraphQL-over-HTTP's GET (the document-id dialect): queries only, never a mutation."""
        if "document-id" not in config.dialects:
            return JSONResponse({"errors": [{"message": "use POST"}]}, status_code=405)
        body: dict[str, Any] = dict(request.query_params)
        for key in ("variables", "extensions"):
            if key in body:
                try:
                    body[key] = json.loads(body[key])
                except ValueError:
                    return JSONResponse({"errors": [{"message": f"{key} is not JSON"}]}, 400)
        return await run_graphql(request, body, get=True)

    @app.post("/graphql")
    async def graphql(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"errors": [{"message": "body must be JSON"}]}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse(
                {"errors": [{"message": "body must be a JSON object"}]}, status_code=400
            )
        return await run_graphql(request, body, get=False)

    async def run_graphql(request: Request, body: dict[str, Any], *, get: bool) -> JSONResponse:
        claims = principal(request)
        variables = body.get("variables") or {}
        try:
            document, _op = gql.resolve_document(
                body,
                enforce_persisted=not state.on("persisted-off"),
                document_ids="document-id" in config.dialects,
                roots="root-fields" in config.dialects,
            )
            if get and document.lstrip().startswith("mutation"):
                raise gql.Refused("BAD_REQUEST", "a mutation cannot be sent by GET; use POST")
            spent = gql.cost(document, variables)
            if spent > gql.MAX_COST and not state.on("cost-guard-off"):
                raise gql.Refused(
                    "COST_LIMIT_EXCEEDED", f"query cost {spent} exceeds the limit of {gql.MAX_COST}"
                )
        except gql.Refused as refused:
            return JSONResponse(
                {"errors": [{"message": str(refused), "extensions": {"code": refused.code}}]},
                status_code=refused.status,
            )
        schema = gql.SCHEMAS[(state.on("field-renamed"), "root-fields" in config.dialects)]
        backend = gql.Backend(list_notes=list_notes, create_note=create_note, claims=claims)
        result = await schema.execute(document, variable_values=variables, context_value=backend)
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [e.formatted for e in result.errors]
        return JSONResponse(payload, status_code=200)

    def subscribe() -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        state.subscribers.add(queue)
        return queue

    class Subscriptions(StrawberryASGI):
        """graphql-transport-ws at /graphql/ws: the token comes in connection_init."""

        async def get_context(self, request: Any, response: Any) -> gql.Backend:  # type: ignore[override]
            return gql.Backend(
                list_notes=list_notes,
                create_note=create_note,
                claims={},
                subscribe=subscribe,
                unsubscribe=state.subscribers.discard,
                enforce_persisted=lambda: not state.on("persisted-off"),
            )

        async def on_ws_connect(self, context: Any) -> Any:
            params = context.connection_params or {}
            header = str(params.get("Authorization") or params.get("authorization") or "")
            token = header[7:].strip() if header.lower().startswith("bearer ") else None
            try:
                context.claims = verify(token, state.public_key, ISSUER, AUDIENCE)
            except AuthFailed as exc:
                state.metrics.auth_fail.labels(reason=exc.reason).inc()
                raise ConnectionRejectionError(
                    {"reason": f"unauthorized: {exc.reason} token"}
                ) from None
            state.metrics.auth_ok.inc()
            return None

    # An exact websocket route: a Mount would only match "/graphql/ws/..." paths.
    subscriptions = Subscriptions(
        gql.SCHEMAS[(False, "root-fields" in config.dialects)],
        graphql_ide=None,
        allow_queries_via_get=False,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
    )
    app.router.routes.append(WebSocketRoute("/graphql/ws", subscriptions))

    @app.get("/metrics")
    async def metrics() -> Response:
        if state.config.metrics_port is not None:  # the metrics-port dialect: not here
            return PlainTextResponse("not found: metrics are on their own port\n", 404)
        return Response(state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return app
