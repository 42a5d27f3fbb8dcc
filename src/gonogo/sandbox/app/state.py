"""The gateway app's state: its settings, metrics, and the ingest path behind the routes.

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
from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import neo4j
import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient
from fastapi import Request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel

from gonogo.abac import RegoPolicy
from gonogo.sandbox.app.security import (
    AUTHZ_POLICY,
    AUTHZ_QUERY,
    AuditChain,
)

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
    # and applies a change to Traefik (sandbox/traefik.py): the route file it watches, its
    # internal entry point (API), the slots' ports.
    edge_weights: dict[str, float] | None = None
    edge_routes: str | None = None
    edge_internal_url: str | None = None
    edge_slots: dict[str, int] = {}
    edge_mirror_percent: float = 0.0  # the mirroring TraefikService's share to green


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
        # What the local Prometheus's critical rule watches (servers.SANDBOX_RULES): read at
        # each scrape, so the fault set at run time (POST /__sandbox/faults) counts too.
        Gauge(
            "intelgraph_critical_condition",
            "1 while the sandbox's alert-firing fault is on",
            registry=self.metrics.registry,
        ).set_function(lambda: 1.0 if self.on("alert-firing") else 0.0)
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
