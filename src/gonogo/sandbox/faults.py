"""The named faults of the local environment: one registry for the app, the CLI and pytest.

Each fault is something that really goes wrong in a release, and each check
in the packs names the fault that must turn it red. A fault is switched on
at start (`--fault NAME[=VALUE]`) or at run time (POST /api/admin/faults,
admin role), and parsed here so a typo is a one-line error, not a no-op.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from gonogo.errors import ConfigError


@dataclass(frozen=True)
class Fault:
    name: str
    summary: str
    value: str | None = None  # the VALUE's form, or None for an on/off fault
    default: str | None = None


FAULTS: dict[str, Fault] = {
    f.name: f
    for f in [
        Fault(
            "latency",
            "added latency on a route (or every /api and /graphql route)",
            "[ROUTE:]MS",
            "300",
        ),
        Fault("graph-latency", "added latency on every graph query", "MS", "500"),
        Fault("error-rate", "a share of /api and /graphql requests answer 500", "SHARE", "0.2"),
        Fault(
            "error-spike",
            "a share of /api and /graphql requests that come through the edge answer 500 "
            "(users' traffic after the flip; the smoke's own direct requests are spared)",
            "SHARE",
            "0.3",
        ),
        Fault("auth-optional", "requests with no token are let through as anonymous"),
        Fault("abac-fail-open", "the ABAC policy permits every request with a valid token"),
        Fault(
            "jwt-unverified",
            "tokens are decoded without checking signature or expiry (any forged token passes)",
        ),
        Fault(
            "persisted-off", "ad-hoc GraphQL documents are accepted (persisted ops not enforced)"
        ),
        Fault("cost-guard-off", "the GraphQL cost guard lets any query through"),
        Fault("stream-drop", "the ingest consumer drops a share of messages", "SHARE", "0.5"),
        Fault(
            "stream-dup", "the ingest producer publishes a share of messages twice", "SHARE", "0.5"
        ),
        Fault("consumer-stall", "the ingest consumer stops consuming: lag grows"),
        Fault("audit-signer-fail", "audit entries are written unsigned; the failure is counted"),
        Fault("readyz-fail", "/readyz reports a dependency down (503)"),
        Fault(
            "alert-firing",
            "a critical alert (IntelGraphCriticalCondition) fires in the local Prometheus and "
            "Alertmanager",
        ),
        Fault("healthz-fail", "/healthz answers 500: the process is alive but unhealthy"),
        Fault("graph-down", "the graph server is stopped once the app is up (start only)"),
        Fault("kafka-down", "the Kafka broker is stopped once the app is up (start only)"),
        Fault("write-freeze-ignored", "the write freeze is accepted but not enforced"),
        Fault(
            "weights-stuck",
            "the edge's declared weights change (Ingress / TraefikService), the traffic does not",
        ),
        Fault(
            "shadow-off",
            "the mirroring TraefikService declares green as a mirror, the edge mirrors nothing",
        ),
        Fault(
            "backup-stale",
            "WAL archiving fails (archive_command refuses every segment): no point-in-time "
            "recovery past the last archived one",
        ),
        Fault(
            "status-degraded",
            "the status page shows the gateway's component degraded and the cutover's "
            "maintenance still in progress (its banner up)",
        ),
        Fault(
            "sync-delta",
            "the database's streaming standby stops replaying and the primary takes a write "
            "after: the final sync delta is not applied on the other side",
        ),
        Fault("blue-cold", "blue, the rollback target, is not ready (its /readyz answers 503)"),
        Fault("field-renamed", "GraphQL Widget.type is renamed to Widget.kind"),
        Fault("graph-schema-drift", "the graph lacks its :Note(id) index"),
        Fault("migration-edited", "an applied SQL migration was edited after it was applied"),
        Fault("migration-pending", "the release has a migration the database has not applied"),
        Fault("migration-destructive", "the release has a migration with DROP COLUMN (applied)"),
        Fault(
            "migration-not-idempotent",
            "a release migration fails when applied twice (CREATE INDEX without IF NOT EXISTS)",
        ),
        Fault("down-unrated", "a down migration's row in the release's data-ops.md has no risk"),
        Fault(
            "pod-unknown-image", "a pod in the namespace runs a digest the release never shipped"
        ),
        Fault("image-unsigned", "one image of the release has no cosign signature"),
        Fault(
            "freeze-violated",
            "a team's Deployment in the namespace rolled out (a new ReplicaSet) as the stack "
            "started, inside any freeze that began earlier",
        ),
        Fault(
            "under-scaled",
            "the gateway Deployment has one ready replica and its autoscaler's floor is one",
        ),
        Fault("attestation-spdx-missing", "one image of the release has no SBOM attestation"),
        Fault("ci-check-failed", "the release commit's typecheck job failed (ci/checks)"),
        Fault("coverage-low", "the release's coverage report says 52 % of lines"),
        Fault("provenance-missing-image", "the release's provenance does not cover one image"),
        Fault(
            "provenance-wrong-source",
            "the release's provenance says it was built from another repository",
        ),
        Fault("unpinned-init-container", "an init container runs a mutable tag, not a digest"),
        Fault("values-tagged", "an image block in the chart's values has a tag and no digest"),
        Fault("vuln-high", "the release's Trivy report has a HIGH finding with no exception"),
        Fault(
            "replica-down",
            "the env expects a streaming replica (database.replicas = 1) and none is connected",
        ),
        Fault(
            "restore-point-refused",
            "the read-only role may not call pg_create_restore_point (grant missing)",
        ),
        Fault(
            "graph-slow",
            "the graph answers gonogo's own Bolt clients late (a delaying proxy)",
            "MS",
            "1500",
        ),
        Fault("write-latency", "writes (CreateNote) take this much longer", "MS", "800"),
        Fault(
            "auth-flaky",
            "a share of valid tokens are refused (401), as when a key rotation half-lands",
            "SHARE",
            "0.05",
        ),
        Fault("outbox-lag", "the ingest outbox publishes each event late", "MS", "1500"),
        Fault("outbox-loss", "the ingest outbox loses a share of events", "SHARE", "0.2"),
        Fault("fanout-slow", "subscription events reach clients late (slow fan-out)", "MS", "400"),
        Fault("rate-limit", "requests over N per second per caller are refused (429)", "N", "5"),
    ]
}


def _check_value(fault: Fault, value: str) -> None:
    try:
        if fault.value == "SHARE":
            share = float(value)
            if not 0.0 <= share <= 1.0:
                raise ValueError
        elif fault.value in {"MS", "N"}:
            if float(value) < 0:
                raise ValueError
        elif fault.value == "[ROUTE:]MS":
            route, _, ms = value.rpartition(":")
            if route and not route.startswith("/"):
                raise ValueError
            if float(ms) < 0:
                raise ValueError
    except ValueError:
        raise ConfigError(
            f"fault {fault.name}={value}: the value must be {fault.value} "
            f"(like --fault {fault.name}={fault.default})"
        ) from None


def parse(spec: str) -> tuple[str, str | None]:
    """'NAME' or 'NAME=VALUE' -> (name, value), validated; unknown names suggest the nearest."""
    name, sep, value = spec.partition("=")
    name = name.strip()
    fault = FAULTS.get(name)
    if fault is None:
        near = difflib.get_close_matches(name, FAULTS, n=1)
        hint = f"did you mean '{near[0]}'? " if near else ""
        raise ConfigError(f"unknown fault '{name}': {hint}see `gonogo sandbox faults` for the list")
    if fault.value is None:
        if sep:
            raise ConfigError(f"fault {name} takes no value (use --fault {name})")
        return name, None
    chosen = value.strip() if sep else (fault.default or "")
    _check_value(fault, chosen)
    return name, chosen


def parse_all(specs: list[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for spec in specs:
        name, value = parse(spec)
        out[name] = value
    return out


def describe() -> list[str]:
    lines = []
    for fault in FAULTS.values():
        form = f"{fault.name}={fault.value}" if fault.value else fault.name
        default = f" (default {fault.default})" if fault.default else ""
        lines.append(f"{form:<28} {fault.summary}{default}")
    return lines


def as_json(faults: dict[str, str | None]) -> dict[str, Any]:
    return {name: value for name, value in sorted(faults.items())}
