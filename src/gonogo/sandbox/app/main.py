"""The gateway app: its routes, each group a function over the app's State and Guard.

The ingest path is the real one (gonogo.sandbox.app.state): CreateNote writes the note to
Postgres and publishes it to Kafka; a consumer thread in the app reads it back and writes it
into the graph, where GetNotes reads it. The GraphQL routes are in app/graphql_routes.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import faulthandler
import json
import random
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import psycopg
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST

from gonogo.errors import ConfigError
from gonogo.sandbox import faults as fault_registry
from gonogo.sandbox.app import edge, statuspage
from gonogo.sandbox.app.edge import SLOT_HEADER
from gonogo.sandbox.app.graphql_routes import graphql_routes
from gonogo.sandbox.app.guard import Guard
from gonogo.sandbox.app.state import (
    FAULTED_PREFIXES,
    STARTUP_BURST,
    AppConfig,
    FaultChange,
    State,
    _bearer,
    _exporter,
    _log,
)
from gonogo.sandbox.cluster import NAMESPACE as cluster_namespace
from gonogo.sandbox.tokens import jwk

STARTUP_DUMP_S = 20.0


def create_app(config: AppConfig) -> FastAPI:
    state = State(config)
    guard = Guard(state)
    app = FastAPI(
        title="IntelGraph sandbox gateway",
        lifespan=_lifespan(state, guard),
        docs_url=None,
        redoc_url=None,
    )
    app.state.gonogo = state
    _measure(app, state)
    _health_routes(app, state)
    _api_routes(app, state, guard)
    _admin_routes(app, state, guard)
    graphql_routes(app, state, guard)
    _metrics_route(app, state)
    return app


def _recorded_list(pods: str | None, name: str, namespace: str) -> Response:
    """A recorded list (stack.py writes them beside pods.json), the namespace's items only."""
    if pods is None:
        return JSONResponse({"kind": "Status", "code": 404}, status_code=404)
    listing = json.loads((Path(pods).parent / name).read_text())
    listing["items"] = [i for i in listing["items"] if i["metadata"].get("namespace") == namespace]
    return JSONResponse(listing)


def _lifespan(
    state: State, guard: Guard
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """The app's background work, started and stopped with it."""
    config = state.config

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # uvicorn listens only once this startup is done, and logs at warning: an app stuck
        # here would leave an empty log. If it has not finished in 20 s, every thread's
        # stack goes to the log (the sandbox's message points at it).
        faulthandler.dump_traceback_later(STARTUP_DUMP_S, exit=False)
        state.loop = asyncio.get_running_loop()
        state.pg = await psycopg.AsyncConnection.connect(config.postgres_dsn, autocommit=True)
        threads = []
        if config.background:
            await asyncio.to_thread(state.apply_graph_schema)
            # The app audits its own start, so the log is never empty and signing is exercised.
            # As a Node gateway logs its operator: a non-ASCII name and a whole-number float,
            # which JCS and Python's json.dumps write differently.
            operator = {"operator": "José Müller", "weight": 1.0} if state.audit.jcs else {}
            guard.record("system", "startup", {"faults": dict(state.faults), **operator})
            await asyncio.to_thread(state.replay_outbox)
            threads = [
                threading.Thread(target=state.consume_forever, name="ingest-consumer", daemon=True),
                threading.Thread(target=state.heartbeat_forever, name="heartbeat", daemon=True),
            ]
        for t in threads:
            t.start()
        exporter = _exporter(state.metrics, config.metrics_port) if config.metrics_port else None
        faulthandler.cancel_dump_traceback_later()
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

    return lifespan


def _measure(app: FastAPI, state: State) -> None:
    """Every request measured, and faults injected on the way (latency, errors, rate limits)."""
    config = state.config

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
        # error-spike: only what users send through the edge (Traefik says X-Forwarded-For).
        share = state.share("error-rate") + (
            state.share("error-spike") if "x-forwarded-for" in request.headers else 0.0
        )
        if faulted and random.random() < share:  # noqa: S311
            response = JSONResponse({"error": "internal error (injected)"}, status_code=500)
        elif faulted and _rate_limited(request):
            state.metrics.rate_limited.inc()
            response = JSONResponse({"error": "rate limit exceeded"}, status_code=429)
        else:
            response = await call_next(request)
        route_obj = request.scope.get("route")
        route = getattr(route_obj, "path", "unmatched")
        seconds = time.perf_counter() - t0
        if not path.startswith("/__sandbox/"):  # the stack's own start-up probe: no user's
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


def _health_routes(app: FastAPI, state: State) -> None:
    """/healthz, /readyz and the orchestrator's own readiness probe."""
    config = state.config

    @app.get("/healthz")
    async def healthz() -> JSONResponse:
        if state.on("healthz-fail"):
            return JSONResponse({"status": "failing", "reason": "injected fault"}, status_code=500)
        return JSONResponse({"status": "ok", "service": "intelgraph-gateway", "version": "sandbox"})

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        checks = await dependencies(state)
        if state.on("readyz-fail"):
            checks["graph"] = "down: injected fault"
        if config.slot == "blue" and state.on("blue-cold"):
            checks["pods"] = "down: scaled to zero after the cutover (blue-cold)"
        return readiness(checks)

    _orchestrator_probe(app, state)


def _orchestrator_probe(app: FastAPI, state: State) -> None:
    """/__sandbox/ready, which the stack waits on (not /readyz: a fault may fail that)."""
    config = state.config

    @app.get("/__sandbox/ready")
    async def sandbox_ready() -> JSONResponse:
        """The orchestrator's probe: the real dependencies, whatever faults are injected,
        and (unless the consumer is stalled on purpose) the startup replay consumed, so a
        pack that starts at once does not read the replay as lag."""
        checks = await dependencies(state)
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


async def dependencies(state: State) -> dict[str, str]:
    """Each dependency's answer to a trivial request within 2 s: ok, or why not."""
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


def _api_routes(app: FastAPI, state: State, guard: Guard) -> None:
    """The REST API, the recorded Kubernetes API and, with weights, the recorded edge."""
    config = state.config

    @app.get("/.well-known/jwks.json")
    async def jwks() -> dict[str, Any]:
        return {"keys": [jwk(state.public_key)]}

    @app.get("/api/ping")
    async def ping(request: Request) -> dict[str, Any]:
        guard.principal(request)
        return {"pong": True, "ts": time.time()}

    @app.get("/api/secure/{resource}")
    async def secure(resource: str, request: Request) -> dict[str, Any]:
        claims = guard.principal(request)
        guard.permit(claims, resource, request.url.path)
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

    @app.get("/k8s/apis/apps/v1/namespaces/{namespace}/{plural}")
    async def k8s_apps(namespace: str, plural: str) -> Response:
        """Deployments, ReplicaSets, StatefulSets, DaemonSets (recorded, sandbox/cluster.py)."""
        if plural not in ("deployments", "replicasets", "statefulsets", "daemonsets"):
            return JSONResponse({"kind": "Status", "code": 404}, status_code=404)
        return _recorded_list(config.k8s_pods, f"{plural}.json", namespace)

    @app.get("/k8s/apis/autoscaling/v2/namespaces/{namespace}/horizontalpodautoscalers")
    async def k8s_autoscalers(namespace: str) -> Response:
        return _recorded_list(config.k8s_pods, "autoscalers.json", namespace)

    if config.edge_weights is not None:
        running = (
            edge.TraefikEdge(config.edge_routes, config.edge_internal_url, config.edge_slots)
            if config.edge_routes and config.edge_internal_url
            else None
        )
        recorded = edge.RecordedEdge(
            cluster_namespace, dict(config.edge_weights), running, config.edge_mirror_percent
        )
        edge.mount(app, recorded, state.on, _log)
    statuspage.mount(app, state.public_key, lambda: state.on("status-degraded"))

    @app.get("/api/audit")
    async def audit(request: Request) -> dict[str, Any]:
        guard.principal(request)
        return state.audit.log()


def _admin_routes(app: FastAPI, state: State, guard: Guard) -> None:
    """The audit log and the admin endpoints (write-freeze, faults)."""

    @app.post("/api/admin/write-freeze")
    async def write_freeze(enable: bool, request: Request) -> dict[str, Any]:
        claims = guard.principal(request)
        if "admin" not in (claims.get("roles") or []):
            raise HTTPException(403, "forbidden: write-freeze needs the admin role")
        state.write_frozen = enable
        guard.record(claims["sub"], "write-freeze", {"enabled": enable})
        return {"write_frozen": state.write_frozen}

    @app.get("/api/admin/faults")
    async def get_faults(request: Request) -> dict[str, Any]:
        guard.permit_admin(request)
        return {"faults": state.faults, "known": sorted(fault_registry.FAULTS)}

    @app.post("/api/admin/faults")
    async def set_faults(change: FaultChange, request: Request) -> dict[str, Any]:
        claims = guard.permit_admin(request)
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
        guard.record(claims["sub"], "faults", {"faults": dict(state.faults)})
        return {"faults": state.faults}


def _metrics_route(app: FastAPI, state: State) -> None:
    """/metrics, unless the metrics-port dialect serves it on its own port."""

    @app.get("/metrics")
    async def metrics() -> Response:
        if state.config.metrics_port is not None:  # the metrics-port dialect: not here
            return PlainTextResponse("not found: metrics are on their own port\n", 404)
        return Response(state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
