"""The whole local environment: start it, describe it, stop it.

`Stack.start()` brings up Kafka, the graph and Postgres, applies the migrations, creates the topics,
makes the token keys, then starts the app and waits for /readyz. Any failure
stops whatever already started before raising, so nothing is left behind.
The description (`StackInfo`, sandbox/info.py) is what the pytest plugin turns into an env,
and what xdist workers receive from the controller.
"""

from __future__ import annotations

import contextlib
import dataclasses
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

from gonogo.errors import SandboxError
from gonogo.processes import Child, free_port, last_line, spawn, spawn_reaper
from gonogo.sandbox import cluster, database, release_copy, servers, traefik
from gonogo.sandbox.app.state import CANARY_TOPIC, INGEST_TOPIC, AppConfig
from gonogo.sandbox.info import StackInfo
from gonogo.sandbox.tokens import make_keys

# The app is ready once its dependencies answer and it has consumed its startup replay:
# ~3 s alone. On a two-core CI running two stacks and their packs at once, an app twice
# stayed silent past this; such an app is restarted once (Stack._apps).
APP_READY_TIMEOUT_S = 30.0
# After the flip, as a local env under test is: green serves, blue stands by (the rollback's).
DEFAULT_EDGE_WEIGHTS = {"blue": 0.0, "green": 100.0}
# The faults that concern blue itself; every other fault is green's, the release under test.
BLUE_FAULTS = ("blue-cold", "write-freeze-ignored")


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


@dataclasses.dataclass(frozen=True)
class _Dependencies:
    """What the apps are configured with, once the servers under them are up."""

    dsn: str
    pg_at: str
    standby_at: str | None
    bootstrap: str
    bolt_port: int
    release: Path
    private_key: Path
    public_key: Path
    timings: dict[str, float]


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
        mirror_percent: float = 0.0,
    ) -> None:
        self.faults = dict(faults or {})
        self.dialects = list(dialects or [])
        self._owns_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="gonogo-sandbox-"))
        self.logs = logs or (self.workdir / "logs")
        self.app_module = app_module
        self.edge_weights = dict(edge_weights or DEFAULT_EDGE_WEIGHTS)
        # T-40's shadow traffic: the share of requests the edge mirrors to green.
        self.mirror_percent = mirror_percent
        # Blue and Traefik start only when asked (a second app's start is ~2 s of CPU).
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
        deps = self._dependencies()
        timings = {**deps.timings, "dependencies": time.monotonic() - t0}
        port, blue_port = free_port(), free_port()
        metrics_port = free_port() if "metrics-port" in self.dialects else None
        kubeconfig = cluster.write_cluster(
            self.workdir, deps.release, f"http://127.0.0.1:{port}/k8s", self.faults
        )
        with_edge = self.edge and traefik.binary() is not None
        edge_plan = traefik.Plan.at(self.workdir / "edge")
        slots = {"blue": blue_port, "green": port}
        config = AppConfig(
            port=port,
            postgres_dsn=deps.dsn,
            # The app and gonogo's clients alike: FalkorDB only ever sees the proxy's connections.
            bolt_uri=self._bolt_proxy(deps.bolt_port, 0.0, "graph proxy"),
            kafka_bootstrap=deps.bootstrap,
            jwt_public_key=str(deps.public_key),
            faults=self.faults,
            dialects=self.dialects,
            metrics_port=metrics_port,
            k8s_pods=str(self.workdir / "pods.json"),
            edge_weights=self.edge_weights,
            edge_routes=str(edge_plan.routes) if with_edge else None,
            edge_internal_url=edge_plan.internal_url if with_edge else None,
            edge_slots=slots,
            edge_mirror_percent=self.mirror_percent,
        )
        timings |= self._apps(config, blue_port if with_edge else None)
        public_url = self._edge(edge_plan, slots, timings) if with_edge else None

        # Outages that only the stack can cause: the server goes away under a running app.
        for fault, name in (
            ("graph-down", "graph (FalkorDB)"),
            ("kafka-down", "kafka (tansu)"),
            ("replica-down", "postgres standby"),
        ):
            if fault in self.faults:
                for child in self.children:
                    if child.name == name:
                        child.stop()
        external_bolt = config.bolt_uri
        if "graph-slow" in self.faults:
            delay = float(self.faults["graph-slow"] or 0)
            external_bolt = self._bolt_proxy(deps.bolt_port, delay, "graph proxy (graph-slow)")

        prometheus_url, alertmanager_url = self._monitoring(metrics_port or port, timings)
        timings["total"] = time.monotonic() - t0
        self.info = StackInfo(
            base_url=f"http://127.0.0.1:{port}",
            bolt_uri=external_bolt,
            kafka_bootstrap=deps.bootstrap,
            postgres_dsn=deps.dsn,
            dataops_dsn=f"postgresql://{database.READ_ONLY_ROLE}@{deps.pg_at}/postgres",
            standby_dsn=f"postgresql://{database.READ_ONLY_ROLE}@{deps.standby_at}/postgres"
            if deps.standby_at
            else None,
            scratch_dsn=f"postgresql://{database.SCRATCH}@{deps.pg_at}/{database.SCRATCH}",
            release_dir=str(deps.release),
            kubeconfig=str(kubeconfig),
            prometheus_url=prometheus_url,
            alertmanager_url=alertmanager_url,
            jwt_private_key=str(deps.private_key),
            workdir=str(self.workdir),
            logs=str(self.logs),
            faults=self.faults,
            dialects=self.dialects,
            metrics_url=f"http://127.0.0.1:{metrics_port}/metrics" if metrics_port else None,
            public_url=public_url,
            edge_internal_url=edge_plan.internal_url if public_url else None,
            blue_url=f"http://127.0.0.1:{blue_port}" if public_url else None,
            pids={c.name: c.pid for c in self.children},
            startup_s={k: round(v, 3) for k, v in timings.items()},
        )
        (self.workdir / "stack.json").write_text(self.info.model_dump_json(indent=2))
        return self.info

    def _dependencies(self) -> _Dependencies:
        """Kafka, the graph and Postgres, started one after another from this (long-lived)
        thread: children die with the thread that spawned them (PR_SET_PDEATHSIG), so no
        short-lived pool threads. Then the release's migrations, the topics and the keys."""
        kafka = servers.start_kafka(self.logs)
        self.children.append(kafka.child)
        graph, bolt_port = servers.start_graph(self.logs, self.workdir / "graph")
        self.children.append(graph.child)
        pg = servers.start_postgres(
            self.logs, self.workdir / "postgres", archive_fails="backup-stale" in self.faults
        )
        self.children.append(pg.child)
        dsn = f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
        standby_at = None
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
            database.archive_now(dsn)
        except Exception as exc:
            raise SandboxError(f"postgres: migrations failed: {exc}") from None
        if "standby" in self.dialects or "sync-delta" in self.faults:
            standby = servers.start_standby(self.logs, self.workdir / "postgres", pg.port)
            self.children.append(standby.child)
            standby_at = f"127.0.0.1:{standby.port}"
            if "sync-delta" in self.faults:
                database.fall_behind(dsn, f"postgresql://postgres@{standby_at}/postgres")
        bootstrap = f"127.0.0.1:{kafka.port}"
        _create_topics(bootstrap)
        private, public = make_keys(self.workdir)
        return _Dependencies(
            dsn=dsn,
            pg_at=f"127.0.0.1:{pg.port}",
            standby_at=standby_at,
            bootstrap=bootstrap,
            bolt_port=bolt_port,
            release=release,
            private_key=private,
            public_key=public,
            timings={"kafka": kafka.ready_s, "graph": graph.ready_s, "postgres": pg.ready_s},
        )

    def _apps(self, config: AppConfig, blue_port: int | None) -> dict[str, float]:
        """Green's app, and blue's beside it when the edge runs; both start at once and each
        is waited for. Their start-up times, by name."""
        apps = [("app (gateway)", config, "app")]
        if blue_port is not None:
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
            apps.append(("blue (previous release)", blue, "blue"))
        started = []
        for name, app_config, stem in apps:
            config_path = self.workdir / f"{stem}.json"
            config_path.write_text(app_config.model_dump_json(indent=2))
            child = self._spawn_app(name, config_path, stem)
            started.append((child, f"http://127.0.0.1:{app_config.port}", stem, config_path))
        timings = {}
        for child, url, stem, config_path in started:

            def ready(url: str = url) -> bool:
                # Not /readyz: a fault may make that fail on purpose.
                answer = httpx.get(f"{url}/__sandbox/ready", timeout=2)
                if answer.status_code != 200:
                    # Which dependency it still waits on, for the message if time runs out.
                    raise SandboxError(f"{answer.status_code} {answer.text[:200]}")
                return True

            what = f"answer /readyz at {url}"
            try:
                timings[stem] = child.wait_ready(ready, APP_READY_TIMEOUT_S, what)
            except SandboxError as first:
                if not child.alive():
                    raise
                # Started but never ready, as a Kubernetes startup probe sees it: restarted
                # once. Its first log (with every thread's stack, app.main dumps them) is kept.
                child.stop()
                self.children.remove(child)
                kept = child.log.with_suffix(".first-start.log")
                child.log.replace(kept)
                again = self._spawn_app(child.name, config_path, stem)
                try:
                    timings[stem] = again.wait_ready(ready, APP_READY_TIMEOUT_S, what)
                except SandboxError as second:
                    raise SandboxError(
                        f"{second} (restarted once; the first start's log: {kept}: {first})"
                    ) from None
        return timings

    def _monitoring(
        self, scrape_port: int, timings: dict[str, float]
    ) -> tuple[str | None, str | None]:
        """Prometheus scraping the app, with the sandbox's alerting rules, sending to an
        Alertmanager; each only when installed. Their URLs."""
        prometheus_url = alertmanager_url = None
        am = servers.start_alertmanager(self.logs, self.workdir / "alertmanager")
        if am is not None:
            self.children.append(am.child)
            alertmanager_url = f"http://127.0.0.1:{am.port}"
            timings["alertmanager"] = am.ready_s
        if "alertmanager" in self.dialects and am is None:
            raise SandboxError(
                "the alertmanager dialect reads a real Alertmanager, and none is installed: "
                "apt-get install prometheus-alertmanager"
            )
        prom = servers.start_prometheus(
            self.logs, self.workdir / "prometheus", scrape_port, am.port if am else None
        )
        if prom is not None:
            self.children.append(prom.child)
            prometheus_url = f"http://127.0.0.1:{prom.port}"
            timings["prometheus"] = prom.ready_s
            if "alert-firing" in self.faults:
                timings["alert"] = _alert_fired(prom.child, prometheus_url, alertmanager_url)
        return prometheus_url, alertmanager_url

    def _spawn_app(self, name: str, config_path: Path, stem: str) -> Child:
        child = spawn(
            name,
            [sys.executable, "-m", self.app_module, str(config_path)],
            self.logs / f"{stem}.log",
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.children.append(child)
        return child

    def _edge(
        self, plan: traefik.Plan, slots: dict[str, int], timings: dict[str, float]
    ) -> str | None:
        """Traefik in front of blue and green at the runtime weights: the public URL."""
        mirror = 0.0 if "shadow-off" in self.faults else self.mirror_percent
        edge = traefik.start(plan, self.logs, slots, self._runtime_weights(), mirror)
        if edge is None:
            return None
        self.children.append(edge.child)
        timings["edge"] = edge.ready_s
        return plan.public_url

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


def _alert_fired(prometheus: Child, url: str, alertmanager_url: str | None) -> float:
    """With alert-firing, the stack is up once the critical alert fires where the checks
    read it: the first scrape and rule evaluation take a second or two, and a check that
    ran before them would see a quiet Prometheus under the fault."""
    name = "IntelGraphCriticalCondition"

    def fired() -> bool:
        query = f'ALERTS{{alertname="{name}",alertstate="firing"}}'
        answer = httpx.get(f"{url}/api/v1/query", params={"query": query}, timeout=2).json()
        if not answer["data"]["result"]:
            return False
        if alertmanager_url is None:
            return True
        alerts = httpx.get(
            f"{alertmanager_url}/api/v2/alerts", params={"filter": f'alertname="{name}"'}, timeout=2
        ).json()
        return bool(alerts)

    return prometheus.wait_ready(
        fired, servers.READY_TIMEOUT_S, f"fire {name} (fault alert-firing)"
    )
