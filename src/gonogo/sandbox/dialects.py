"""Dialects of the local environment: the ways real gateways differ from gonogo's own.

A fault makes the local environment unhealthy; a dialect keeps it healthy but
speaks as another stack does: prom-client's counters, metrics on their own
port, Traefik's or OpenTelemetry's series names, GraphQL-over-HTTP persisted
documents, root fields and variables named by another team. The stack fills
the env's settings for each dialect the way a release manager would write them
for such a deployment, so a run with every dialect on proves that those
settings, not gonogo's defaults, are what the checks read; a healthy run must
still be GO.
"""

from __future__ import annotations

import difflib

from gonogo.errors import ConfigError

DIALECTS: dict[str, str] = {
    "prom-client": "counters are exported only after their first increment (no _created series)",
    "metrics-port": "/metrics only on an exporter port of its own (metrics_url is absolute)",
    "traefik": "request series as Traefik's edge names them (traefik_service_requests_total ...)",
    "otel": "request series by OpenTelemetry's HTTP conventions (http_server_request_duration_...)",
    "document-id": 'persisted documents in the GraphQL-over-HTTP style: {"documentId": ...}',
    "audit-jwk": "audit entries with prevHash, signature and time, canonicalized as RFC 8785 "
    "(JCS) with non-ASCII names; the key as a JWK",
    "root-fields": "GraphQL root fields and variables named otherwise (recentNotes(first:) ...)",
    "alertmanager": "firing alerts read from Alertmanager's API v2 ([alerts] alertmanager_url), "
    "not Prometheus's ALERTS",
    "standby": "PostgreSQL with a streaming standby (pg_basebackup -R): [database] replicas = 1, "
    "sync_dsn its address",
}
# Series vocabularies: one of them at a time names the request series.
EXCLUSIVE = ("traefik", "otel")


def parse_all(names: list[str]) -> list[str]:
    """--dialect values (repeatable, comma-separated) -> names, or one line naming the fix."""
    chosen: list[str] = []
    for value in names:
        for name in (part.strip() for part in value.split(",")):
            if not name:
                continue
            if name not in DIALECTS:
                near = difflib.get_close_matches(name, list(DIALECTS), n=1)
                hint = f"did you mean '{near[0]}'? " if near else ""
                raise ConfigError(
                    f"unknown dialect '{name}'; {hint}dialects: {', '.join(DIALECTS)} "
                    "(list them with `gonogo sandbox dialects`)"
                )
            if name not in chosen:
                chosen.append(name)
    both = [d for d in EXCLUSIVE if d in chosen]
    if len(both) > 1:
        raise ConfigError(
            f"dialects {' and '.join(both)} both rename the request series; choose one"
        )
    return chosen


def describe() -> list[str]:
    return [f"{name:<13} {summary}" for name, summary in DIALECTS.items()]
