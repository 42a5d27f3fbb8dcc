"""The local edge as Kubernetes shows it: the Ingress with Traefik's service-weights
annotation, and the same route as a weighted TraefikService.

No API server runs here; Traefik does (sandbox/traefik.py). The recorded API
answers GET and PATCH on both objects, shaped as the API server serves them,
and does what Traefik's Kubernetes provider would do with a change: it writes
the route Traefik's file provider runs, and answers once Traefik runs it. With
`weights-stuck` the object changes and the traffic does not, the fault the
observed weights exist to catch.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from gonogo.config.day import SERVICE_WEIGHTS_ANNOTATION
from gonogo.day.edge import EdgeError, format_annotation, parse_annotation, traefik_shares
from gonogo.sandbox import traefik

SLOT_HEADER = "X-IntelGraph-Slot"
SERVICES = {slot: traefik.service_name(slot) for slot in ("blue", "green")}
EDGE_NAME = traefik.ROUTE
TRAEFIK_GROUP = "traefik.io"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (what `application/merge-patch+json` means); for an
    annotation map, strategic merge means the same."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class TraefikEdge:
    """Where the running Traefik takes its route from, and what it routes to."""

    def __init__(self, routes: str, internal_url: str, slots: dict[str, int]) -> None:
        self.routes = Path(routes)
        self.internal_url = internal_url
        self.slots = slots


class RecordedEdge:
    """Both objects, kept in step: a change to either is the route's change."""

    def __init__(
        self,
        namespace: str,
        weights: dict[str, float],
        traefik_edge: TraefikEdge | None = None,
        mirror_percent: float = 0.0,
    ) -> None:
        self.namespace = namespace
        self.traefik_edge = traefik_edge
        self.mirror_percent = mirror_percent
        self.version = 1
        self.weights = dict(weights)
        self.ingress: dict[str, Any] = {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {
                "name": EDGE_NAME,
                "namespace": namespace,
                "annotations": {SERVICE_WEIGHTS_ANNOTATION: self._annotation()},
                "resourceVersion": "1",
            },
            "spec": {
                "ingressClassName": "traefik",
                "rules": [
                    {
                        "host": "intelgraph.example.com",
                        "http": {
                            "paths": [
                                {
                                    "path": "/",
                                    "pathType": "Prefix",
                                    "backend": {"service": {"name": svc, "port": {"number": 80}}},
                                }
                                for svc in SERVICES.values()
                            ]
                        },
                    }
                ],
            },
        }
        self.traefik: dict[str, Any] = {
            "apiVersion": f"{TRAEFIK_GROUP}/v1alpha1",
            "kind": "TraefikService",
            "metadata": {"name": EDGE_NAME, "namespace": namespace, "resourceVersion": "1"},
            "spec": {"weighted": {"services": self._services()}},
        }
        # T-40's shadow traffic: a TraefikService in front of the weighted one, mirroring
        # a share of every request to green (an IngressRoute would name it).
        self.mirror: dict[str, Any] = {
            "apiVersion": f"{TRAEFIK_GROUP}/v1alpha1",
            "kind": "TraefikService",
            "metadata": {"name": traefik.MIRRORED, "namespace": namespace, "resourceVersion": "1"},
            "spec": {
                "mirroring": {
                    "name": EDGE_NAME,
                    "kind": "TraefikService",
                    "mirrors": [
                        {"name": SERVICES["green"], "port": 80, "percent": round(mirror_percent)}
                    ],
                }
            },
        }

    def _annotation(self) -> str:
        return format_annotation({SERVICES[slot]: w for slot, w in self.weights.items()})

    def _services(self) -> list[dict[str, Any]]:
        return [
            {"name": SERVICES[slot], "port": 80, "weight": round(w)}
            for slot, w in self.weights.items()
        ]

    def _bump(self) -> None:
        self.version += 1
        for obj in (self.ingress, self.traefik, self.mirror):
            obj["metadata"]["resourceVersion"] = str(self.version)

    def patch_ingress(self, patch: dict[str, Any]) -> dict[str, float]:
        changed = merge_patch(self.ingress, patch)
        annotations = changed.get("metadata", {}).get("annotations") or {}
        per_service = parse_annotation(
            annotations.get(SERVICE_WEIGHTS_ANNOTATION, ""), list(SERVICES.values())
        )
        self.ingress = changed
        self.weights = {slot: per_service.get(svc, 0.0) for slot, svc in SERVICES.items()}
        self.traefik["spec"]["weighted"]["services"] = self._services()
        self._bump()
        return self.weights

    def patch_mirror(self, patch: dict[str, Any]) -> dict[str, float]:
        changed = merge_patch(self.mirror, patch)
        mirrors = changed.get("spec", {}).get("mirroring", {}).get("mirrors") or []
        if not isinstance(mirrors, list):
            raise EdgeError("spec.mirroring.mirrors is a list of {name, port, percent}")
        self.mirror = changed
        self.mirror_percent = sum(
            float(m.get("percent") or 0)
            for m in mirrors
            if isinstance(m, dict) and m.get("name") == SERVICES["green"]
        )
        self._bump()
        return self.weights

    def patch_traefik(self, patch: dict[str, Any]) -> dict[str, float]:
        changed = merge_patch(self.traefik, patch)
        services = changed.get("spec", {}).get("weighted", {}).get("services") or []
        by_name = traefik_shares(services)
        self.traefik = changed
        self.weights = {slot: by_name.get(svc, 0.0) for slot, svc in SERVICES.items()}
        self.ingress["metadata"]["annotations"][SERVICE_WEIGHTS_ANNOTATION] = self._annotation()
        self._bump()
        return self.weights


def missing(kind: str, namespace: str, name: str) -> JSONResponse:
    return JSONResponse(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "message": f'{kind} "{name}" not found',
            "reason": "NotFound",
            "code": 404,
        },
        status_code=404,
    )


def mount(
    app: FastAPI,
    edge: RecordedEdge,
    on: Callable[[str], bool],
    log: Callable[[str], None],
) -> None:
    """GET and PATCH the objects under /k8s, as the API server's paths have them."""
    ingress_path = "/k8s/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses/{name}"
    traefik_path = (
        f"/k8s/apis/{TRAEFIK_GROUP}/v1alpha1/namespaces/{{namespace}}/traefikservices/{{name}}"
    )

    async def apply(weights: dict[str, float]) -> None:
        """What Traefik does on a change: the route's servers get the new weights, and the
        mirror its share (none with shadow-off: declared, never applied)."""
        if on("weights-stuck"):
            log(f"edge: weights-stuck: {weights} declared, traffic left as it was")
            return
        if edge.traefik_edge is None:
            return
        t = edge.traefik_edge
        try:
            mirror = 0.0 if on("shadow-off") else edge.mirror_percent
            said = await asyncio.to_thread(
                traefik.apply, t.routes, t.internal_url, t.slots, weights, mirror
            )
        except OSError as exc:
            said = f"cannot write Traefik's route {t.routes}: {exc}"
        if said:
            log(f"edge: {said}")

    Object = tuple[Callable[[], dict[str, Any]], Callable[[Any], Any]]
    kinds: dict[str, tuple[str, dict[str, Object]]] = {
        ingress_path: (
            "ingresses.networking.k8s.io",
            {EDGE_NAME: (lambda: edge.ingress, edge.patch_ingress)},
        ),
        traefik_path: (
            f"traefikservices.{TRAEFIK_GROUP}",
            {
                EDGE_NAME: (lambda: edge.traefik, edge.patch_traefik),
                traefik.MIRRORED: (lambda: edge.mirror, edge.patch_mirror),
            },
        ),
    }

    def routes(kind: str, objects: dict[str, Object]) -> tuple[Callable[..., Any], ...]:
        def find(namespace: str, name: str) -> Object | None:
            return objects.get(name) if namespace == edge.namespace else None

        async def get(namespace: str, name: str) -> JSONResponse:
            if (found := find(namespace, name)) is None:
                return missing(kind, namespace, name)
            return JSONResponse(found[0]())

        async def patched(namespace: str, name: str, request: Request) -> JSONResponse:
            if (found := find(namespace, name)) is None:
                return missing(kind, namespace, name)
            current, patch = found
            try:
                weights = patch(await request.json())
            except (EdgeError, ValueError, TypeError, AttributeError) as exc:
                return JSONResponse(
                    {"kind": "Status", "status": "Failure", "message": str(exc), "code": 422},
                    status_code=422,
                )
            await apply(weights)
            return JSONResponse(current())

        return get, patched

    for path, (kind, objects) in kinds.items():
        get, patched = routes(kind, objects)
        app.add_api_route(path, get, methods=["GET"])
        app.add_api_route(path, patched, methods=["PATCH"])
