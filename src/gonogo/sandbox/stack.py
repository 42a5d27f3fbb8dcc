"""The whole local environment: start it, describe it, stop it.

`Stack.start()` brings up Kafka, the graph and Postgres, applies the migrations, creates the topics,
makes the token keys, then starts the app and waits for /readyz. Any failure
stops whatever already started before raising, so nothing is left behind.
The description (`StackInfo`) is what the pytest plugin turns into an env,
and what xdist workers receive from the controller.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel

from gonogo.config import EnvSettings
from gonogo.config.api import DEFAULT_OPERATIONS, Operations
from gonogo.config.data import DatabaseSettings, GraphSettings, StreamSettings
from gonogo.config.day import ClusterSettings, EdgeSettings
from gonogo.config.release import CiSettings
from gonogo.config.security import AbacSettings, AuditSettings, ProvenanceSettings, SecuritySettings
from gonogo.config.signals import PrometheusSettings
from gonogo.config.slo import LoadSettings
from gonogo.errors import SandboxError
from gonogo.processes import Child, free_port, last_line, spawn, spawn_reaper
from gonogo.sandbox import cluster, database, release_copy, servers
from gonogo.sandbox.app.main import CANARY_TOPIC, INGEST_GROUP, INGEST_TOPIC, AppConfig
from gonogo.sandbox.app.security import AUTHZ_POLICY, AUTHZ_QUERY, AUTHZ_RESOURCES
from gonogo.sandbox.tokens import make_keys, mint

APP_READY_TIMEOUT_S = 30.0
# After the flip, as a local env under test is: green serves, blue stands by (the rollback's).
DEFAULT_EDGE_WEIGHTS = {"blue": 0.0, "green": 100.0}
# The faults that concern blue itself; every other fault is green's, the release under test.
BLUE_FAULTS = ("blue-cold", "write-freeze-ignored")
SANDBOX_PROVENANCE = ProvenanceSettings(
    builder_id=["https://github.com/intelgraph/intelgraph/.github/workflows/release.yml"],
    source_uri="github.com/intelgraph/intelgraph",
    source_tag="v2.4.0",
)


class StackInfo(BaseModel):
    """Where everything listens. Holds a key path, never a key or a token."""

    base_url: str
    bolt_uri: str
    graph_user: str = "falkordb"
    graph_database: str = "falkordb"
    kafka_bootstrap: str
    canary_topic: str = CANARY_TOPIC
    ingest_topic: str = INGEST_TOPIC
    postgres_dsn: str
    # What the data-ops pack gets: a read-only role, a scratch database, the release copy.
    dataops_dsn: str = ""
    scratch_dsn: str = ""
    release_dir: str = ""
    kubeconfig: str = ""
    prometheus_url: str | None = None
    jwt_private_key: str
    workdir: str
    logs: str
    faults: dict[str, str | None] = {}
    dialects: list[str] = []
    metrics_url: str | None = None  # the metrics-port dialect's exporter
    # The edge (HAProxy) in front of blue and green, and blue's own address; None when
    # HAProxy is not installed.
    public_url: str | None = None
    blue_url: str | None = None
    pids: dict[str, int] = {}
    startup_s: dict[str, float] = {}

    def token(self, role: str = "analyst") -> str:
        return mint(Path(self.jwt_private_key).read_bytes(), role)

    def env_settings(self, base: EnvSettings) -> EnvSettings:
        """The sandbox env's settings with every address filled in.

        Tables the env file gives for the sandbox (say [database] replicas = 1, to see
        the replication check fail) keep their other keys; only addresses are replaced.
        """
        db: dict[str, Any] = {
            "dsn": self.dataops_dsn,
            "scratch_dsn": self.scratch_dsn,
            "checksum_tables": ["public.schema_migrations"],
        }
        if base.database is not None:
            db = {**base.database.model_dump(), **db}
        if "replica-down" in self.faults:
            db["replicas"] = max(1, int(str(db.get("replicas", 0))))
        security = base.security.model_copy(
            update={
                # The gateway's own Rego policy, unless the env file names a policy.
                "abac": base.security.abac
                if base.security.abac_policy or base.security.abac.rego
                else AbacSettings(
                    rego=str(AUTHZ_POLICY),
                    query=AUTHZ_QUERY,
                    resources=AUTHZ_RESOURCES,
                    cases=base.security.abac.cases,
                ),
                "cosign_public_key": base.security.cosign_public_key
                or str(Path(self.release_dir) / "cosign.pub"),
                # Who builds the shipped release (its provenance.json says so).
                "provenance": base.security.provenance or SANDBOX_PROVENANCE,
            }
        )
        stream = StreamSettings(
            bootstrap=self.kafka_bootstrap,
            canary_topic=self.canary_topic,
            groups=[INGEST_GROUP],
            ingest_topic=self.ingest_topic,
        )
        if base.slot == "blue" and self.blue_url is None:
            raise SandboxError(
                f"env '{base.name}' is the local blue slot, which runs behind the local edge "
                "(HAProxy): apt-get install haproxy"
            )
        return base.model_copy(
            update={
                "base_url": self.blue_url if base.slot == "blue" else self.base_url,
                "graph": GraphSettings(
                    uri=self.bolt_uri,
                    user=self.graph_user,
                    database=self.graph_database,
                    flavor="falkordb",
                ),
                "stream": stream,
                "database": DatabaseSettings.model_validate(db),
                "cluster": ClusterSettings(
                    namespace=cluster.NAMESPACE, context="sandbox", kubeconfig=self.kubeconfig
                ),
                "security": security,
                # The release's CI results come as files (ci/): no CI server runs here.
                "ci": base.ci or CiSettings(provider="files"),
                # --release (or the env file) wins: a real release checked against the sandbox.
                "release": base.release or self.release_dir,
                "prometheus": PrometheusSettings(url=self.prometheus_url)
                if self.prometheus_url
                else None,
                "faults": [
                    f"{k}={v}" if v is not None else k for k, v in sorted(self.faults.items())
                ],
                "edge": self._edge(base),
                "load": self._load(base),
                **self._dialect_settings(base, security, stream),
            }
        )

    def _load(self, base: EnvSettings) -> LoadSettings:
        """The canary pushed to the local Prometheus (its remote-write receiver is on), as a
        team's env file points [load] remote_write at theirs; the env file's own wins."""
        if base.load.remote_write or not self.prometheus_url:
            return base.load
        return base.load.model_copy(update={"remote_write": f"{self.prometheus_url}/api/v1/write"})

    def _edge(self, base: EnvSettings) -> EdgeSettings | None:
        """The edge as an env file describes Traefik's: the recorded Ingress, the slots'
        Services, the slot header; the env file's [edge] keeps its keys but the address."""
        if self.public_url is None:
            return base.edge
        # The local edge applies a change at once: a rollback rehearsal need not wait 30 s.
        edge = base.edge or EdgeSettings(settle_s=5)
        return edge.model_copy(update={"public_url": self.public_url})

    def _dialect_settings(
        self, base: EnvSettings, filled_security: SecuritySettings, filled_stream: StreamSettings
    ) -> dict[str, Any]:
        """What a release manager writes for a deployment that speaks these dialects: the
        proof that the checks read these settings, not the local environment's names."""
        update: dict[str, Any] = {}
        if self.metrics_url:
            update["metrics_url"] = self.metrics_url
        preset = next((d for d in ("traefik", "otel") if d in self.dialects), None)
        if preset is not None:
            update["metrics"] = base.metrics.model_copy(update={"preset": preset})
        if "audit-jwk" in self.dialects:
            update["security"] = filled_security.model_copy(
                update={
                    "audit": AuditSettings(
                        key="publicKeyJwk",
                        key_format="jwk",
                        previous="prevHash",
                        signature="signature",
                        signed="digest-text",
                        canonical="jcs",
                    )
                }
            )
        ops = base.operations
        if "root-fields" in self.dialects:
            from gonogo.sandbox.app import gql

            ops = Operations.model_validate(gql.ROOT_FIELDS_OPERATIONS)
            update["operations"] = ops
            update["slo"] = base.slo.model_copy(update=gql.ROOT_FIELDS_SLO)
            update["stream"] = filled_stream.model_copy(update=gql.ROOT_FIELDS_STREAM)
        if "document-id" in self.dialects:
            from gonogo.sandbox.app.gql import document_id

            update["graphql"] = base.graphql.model_copy(
                update={"persisted": "documentId", "method": "GET"}
            )
            update["operations"] = ops.model_copy(
                update={
                    key: getattr(ops, key).model_copy(
                        update={"id": document_id(getattr(ops, key).id)}
                    )
                    for key in DEFAULT_OPERATIONS
                }
            )
        return update


def _create_topics(bootstrap: str) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 5000})
    futures = admin.create_topics(
        [NewTopic(INGEST_TOPIC, 1, 1), NewTopic(CANARY_TOPIC, 1, 1)], operation_timeout=5
    )
    for topic, future in futures.items():
        try:
            future.result(timeout=10)
        except Exception as exc:
            if "already exists" not in str(exc).lower():
                raise SandboxError(
                    f"kafka (tansu): could not create topic {topic}: {exc}"
                ) from None


class Stack:
    def __init__(
        self,
        faults: dict[str, str | None] | None = None,
        logs: Path | None = None,
        dialects: list[str] | None = None,
        workdir: Path | None = None,
        app_module: str = "gonogo.sandbox.app",
        edge_weights: dict[str, float] | None = None,
        edge: bool = False,
    ) -> None:
        self.faults = dict(faults or {})
        self.dialects = list(dialects or [])
        self._owns_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="gonogo-sandbox-"))
        self.logs = logs or (self.workdir / "logs")
        self.app_module = app_module
        self.edge_weights = dict(edge_weights or DEFAULT_EDGE_WEIGHTS)
        # Blue and HAProxy start only when asked (a second app's start is ~2 s of CPU).
        self.edge = edge
        self.children: list[Child] = []
        self.info: StackInfo | None = None

    def __enter__(self) -> StackInfo:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> StackInfo:
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> StackInfo:
        t0 = time.monotonic()
        self.logs.mkdir(parents=True, exist_ok=True)
        if self._owns_workdir:  # first: stopped last, and there before any file is written
            self.children.append(spawn_reaper(self.workdir))
        # Sequential, from this (long-lived) thread: children die with the thread
        # that spawned them (PR_SET_PDEATHSIG), so no short-lived pool threads.
        kafka = servers.start_kafka(self.logs)
        self.children.append(kafka.child)
        graph, bolt_port = servers.start_graph(self.logs, self.workdir / "graph")
        self.children.append(graph.child)
        pg = servers.start_postgres(self.logs, self.workdir / "postgres")
        self.children.append(pg.child)
        dsn = f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
        bootstrap = f"127.0.0.1:{kafka.port}"
        # In the logs folder, which outlives the stack: messages cite files in it.
        release, held_back = release_copy.prepare_release(self.logs / "release", self.faults)
        try:
            database.apply(
                dsn,
                release / "migrations",
                edited="migration-edited" in self.faults,
                hold_back=held_back,
            )
            database.create_roles(dsn, restore_point="restore-point-refused" not in self.faults)
        except Exception as exc:
            raise SandboxError(f"postgres: migrations failed: {exc}") from None
        pg_at = f"127.0.0.1:{pg.port}"
        _create_topics(bootstrap)
        private, public = make_keys(self.workdir)
        timings = {
            "kafka": kafka.ready_s,
            "graph": graph.ready_s,
            "postgres": pg.ready_s,
            "dependencies": time.monotonic() - t0,
        }

        port = free_port()
        blue_port = free_port()
        edge_socket = self.workdir / "edge" / "haproxy.sock"
        metrics_port = free_port() if "metrics-port" in self.dialects else None
        kubeconfig = cluster.write_cluster(
            self.workdir, release, f"http://127.0.0.1:{port}/k8s", self.faults
        )
        config = AppConfig(
            port=port,
            postgres_dsn=dsn,
            # The app and gonogo's clients alike: FalkorDB only ever sees the proxy's connections.
            bolt_uri=self._bolt_proxy(bolt_port, 0.0, "graph proxy"),
            kafka_bootstrap=bootstrap,
            jwt_public_key=str(public),
            faults=self.faults,
            dialects=self.dialects,
            metrics_port=metrics_port,
            k8s_pods=str(self.workdir / "pods.json"),
            edge_weights=self.edge_weights,
            edge_socket=str(edge_socket),
        )
        with_edge = self.edge and servers.haproxy_binary() is not None
        blue = config.model_copy(
            update={
                "port": blue_port,
                "slot": "blue",
                "background": False,
                "faults": {k: v for k, v in self.faults.items() if k in BLUE_FAULTS},
                "metrics_port": None,
                "k8s_pods": None,
                "edge_weights": None,
            }
        )
        apps = [("app (gateway)", config, "app")]
        if with_edge:
            apps.append(("blue (previous release)", blue, "blue"))
        started = []
        for name, app_config, stem in apps:
            config_path = self.workdir / f"{stem}.json"
            config_path.write_text(app_config.model_dump_json(indent=2))
            child = spawn(
                name,
                [sys.executable, "-m", self.app_module, str(config_path)],
                self.logs / f"{stem}.log",
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            self.children.append(child)
            started.append((child, f"http://127.0.0.1:{app_config.port}", stem))
        base_url = f"http://127.0.0.1:{port}"
        for child, url, stem in started:  # both start at once; each is waited for

            def ready(url: str = url) -> bool:
                # Not /readyz: a fault may make that fail on purpose.
                return httpx.get(f"{url}/__sandbox/ready", timeout=2).status_code == 200

            timings[stem] = child.wait_ready(ready, APP_READY_TIMEOUT_S, f"answer /readyz at {url}")
        public_url = None
        if with_edge:
            edge = servers.start_haproxy(
                self.logs,
                edge_socket.parent,
                {"blue": blue_port, "green": port},
                self._runtime_weights(),
            )
            if edge is not None:
                self.children.append(edge[0].child)
                public_url = f"http://127.0.0.1:{edge[0].port}"
                timings["edge"] = edge[0].ready_s

        # Outages that only the stack can cause: the server goes away under a running app.
        for fault, name in (("graph-down", "graph (FalkorDB)"), ("kafka-down", "kafka (tansu)")):
            if fault in self.faults:
                for child in self.children:
                    if child.name == name:
                        child.stop()

        external_bolt = config.bolt_uri
        if "graph-slow" in self.faults:
            delay = float(self.faults["graph-slow"] or 0)
            external_bolt = self._bolt_proxy(bolt_port, delay, "graph proxy (graph-slow)")

        prometheus_url = None
        prom = servers.start_prometheus(
            self.logs, self.workdir / "prometheus", metrics_port or port
        )
        if prom is not None:
            self.children.append(prom.child)
            prometheus_url = f"http://127.0.0.1:{prom.port}"
            timings["prometheus"] = prom.ready_s
        timings["total"] = time.monotonic() - t0

        self.info = StackInfo(
            base_url=base_url,
            bolt_uri=external_bolt,
            kafka_bootstrap=bootstrap,
            postgres_dsn=dsn,
            dataops_dsn=f"postgresql://{database.READ_ONLY_ROLE}@{pg_at}/postgres",
            scratch_dsn=f"postgresql://{database.SCRATCH}@{pg_at}/{database.SCRATCH}",
            release_dir=str(release),
            kubeconfig=str(kubeconfig),
            prometheus_url=prometheus_url,
            jwt_private_key=str(private),
            workdir=str(self.workdir),
            logs=str(self.logs),
            faults=self.faults,
            dialects=self.dialects,
            metrics_url=f"http://127.0.0.1:{metrics_port}/metrics" if metrics_port else None,
            public_url=public_url,
            blue_url=f"http://127.0.0.1:{blue_port}" if public_url else None,
            pids={c.name: c.pid for c in self.children},
            startup_s={k: round(v, 3) for k, v in timings.items()},
        )
        (self.workdir / "stack.json").write_text(self.info.model_dump_json(indent=2))
        return self.info

    def _runtime_weights(self) -> dict[str, float]:
        """The traffic the edge starts with: the declared weights. With weights-stuck and
        weights other than the usual (a rehearsed step's, like T-10's 10/90), the traffic is
        where it was before the day: all on blue. Later changes do not reach it either."""
        if "weights-stuck" in self.faults and self.edge_weights != DEFAULT_EDGE_WEIGHTS:
            return {"blue": 100.0, "green": 0.0}
        return self.edge_weights

    def _bolt_proxy(self, bolt_port: int, delay_ms: float, name: str) -> str:
        """FalkorDB's Bolt through gonogo.sandbox.proxy: no GOODBYE reaches the server (it
        drops the next handshake after one), and with graph-slow every answer is late."""
        port = free_port(below=32768)
        proxy = spawn(
            name,
            [
                sys.executable,
                "-m",
                "gonogo.sandbox.proxy",
                str(port),
                f"127.0.0.1:{bolt_port}",
                str(delay_ms),
            ],
            self.logs / ("graph-proxy-slow.log" if delay_ms else "graph-proxy.log"),
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.children.append(proxy)

        def listening() -> bool:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True

        proxy.wait_ready(listening, 10, f"listen on 127.0.0.1:{port}")
        return f"bolt://127.0.0.1:{port}"

    def stop(self) -> None:
        """Stop every child, newest first, then remove the data (keys, pgdata) but not the logs.

        Safe to call twice and from a signal path.
        """
        while self.children:
            child = self.children.pop()
            try:
                child.stop()
            except Exception as exc:  # keep stopping the others
                print(
                    f"gonogo sandbox: stopping {child.name} failed: {exc}; log {child.log}: "
                    f"{last_line(child.log)}",
                    file=sys.stderr,
                )
        if self._owns_workdir and self.workdir.exists():
            for entry in self.workdir.iterdir():
                if entry != self.logs:
                    if entry.is_dir():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
                        entry.unlink(missing_ok=True)
            with contextlib.suppress(OSError):  # gone when empty (the logs were elsewhere)
                self.workdir.rmdir()

    def set_faults(
        self, set_: list[str] | None = None, clear: list[str] | None = None, reset: bool = False
    ) -> dict[str, Any]:
        """Switch faults at run time through the admin endpoint."""
        assert self.info is not None
        response = httpx.post(
            f"{self.info.base_url}/api/admin/faults",
            json={"set": set_ or [], "clear": clear or [], "reset": reset},
            headers={"Authorization": f"Bearer {self.info.token('admin')}"},
            timeout=10,
        )
        if response.status_code != 200:
            raise SandboxError(
                f"setting faults failed: {response.status_code} {response.text[:200]}"
            )
        result: dict[str, Any] = json.loads(response.text)
        return result
