"""The local edge as Kubernetes shows it: the Ingress with Traefik's service-weights
annotation, and the same route as a weighted TraefikService.

No API server or Traefik runs here. The recorded API answers GET and PATCH on
both objects, shaped as the API server serves them, and does what Traefik
would do with a change: it sets the weights of HAProxy's two servers (blue,
green) through HAProxy's runtime API. With `weights-stuck` the object changes
and the traffic does not, the fault the observed weights exist to catch.
"""

from __future__ import annotations

import asyncio
import copy
import socket
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from gonogo.config.day import SERVICE_WEIGHTS_ANNOTATION
from gonogo.day.edge import EdgeError, format_annotation, parse_annotation, traefik_shares

SLOT_HEADER = "X-IntelGraph-Slot"
SERVICES = {"blue": "intelgraph-blue", "green": "intelgraph-green"}
EDGE_NAME = "intelgraph"
BACKEND = "slots"  # HAProxy's backend; its servers are named after the slots
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


def set_runtime_weights(socket_path: str, weights: dict[str, float]) -> str:
    """`set weight slots/NAME W` per slot on HAProxy's runtime API; '' when all took."""
    said = []
    for slot, percent in weights.items():
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(2)
            conn.connect(socket_path)
            conn.sendall(f"set weight {BACKEND}/{slot} {round(percent)}\n".encode())
            answer = conn.recv(4096).decode(errors="replace").strip()
        if answer:
            said.append(f"{slot}: {answer}")
    return "; ".join(said)


class RecordedEdge:
    """Both objects, kept in step: a change to either is the route's change."""

    def __init__(self, namespace: str, socket_path: str | None, weights: dict[str, float]) -> None:
        self.namespace = namespace
        self.socket_path = socket_path
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

    def _annotation(self) -> str:
        return format_annotation({SERVICES[slot]: w for slot, w in self.weights.items()})

    def _services(self) -> list[dict[str, Any]]:
        return [
            {"name": SERVICES[slot], "port": 80, "weight": round(w)}
            for slot, w in self.weights.items()
        ]

    def _bump(self) -> None:
        self.version += 1
        for obj in (self.ingress, self.traefik):
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

    def patch_traefik(self, patch: dict[str, Any]) -> dict[str, float]:
        changed = merge_patch(self.traefik, patch)
        services = changed.get("spec", {}).get("weighted", {}).get("services") or []
        by_name = traefik_shares(services)
        self.traefik = changed
        self.weights = {slot: by_name.get(svc, 0.0) for slot, svc in SERVICES.items()}
        self.ingress["metadata"]["annotations"][SERVICE_WEIGHTS_ANNOTATION] = self._annotation()
        self._bump()
        return self.weights


def mount(
    app: FastAPI, edge: RecordedEdge, stuck: Callable[[], bool], log: Callable[[str], None]
) -> None:
    """GET and PATCH both objects under /k8s, as the API server's paths have them."""
    ingress_path = "/k8s/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses/{name}"
    traefik_path = (
        f"/k8s/apis/{TRAEFIK_GROUP}/v1alpha1/namespaces/{{namespace}}/traefikservices/{{name}}"
    )

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

    def found(namespace: str, name: str) -> bool:
        return namespace == edge.namespace and name == EDGE_NAME

    async def apply(weights: dict[str, float]) -> None:
        """What Traefik does on a change: the route's servers get the new weights."""
        if stuck():
            log(f"edge: weights-stuck: {weights} declared, traffic left as it was")
            return
        if edge.socket_path is None:
            return
        try:
            said = await asyncio.to_thread(set_runtime_weights, edge.socket_path, weights)
        except OSError as exc:
            said = f"runtime API unreachable: {exc}"
        if said:
            log(f"edge: HAProxy said {said}")

    objects: dict[str, tuple[str, Callable[[], dict[str, Any]], Callable[[Any], Any]]] = {
        ingress_path: ("ingresses.networking.k8s.io", lambda: edge.ingress, edge.patch_ingress),
        traefik_path: (
            f"traefikservices.{TRAEFIK_GROUP}",
            lambda: edge.traefik,
            edge.patch_traefik,
        ),
    }

    def routes(
        kind: str, current: Callable[[], dict[str, Any]], patch: Callable[[Any], Any]
    ) -> tuple[Callable[..., Any], Callable[..., Any]]:
        async def get(namespace: str, name: str) -> JSONResponse:
            if not found(namespace, name):
                return missing(kind, namespace, name)
            return JSONResponse(current())

        async def patched(namespace: str, name: str, request: Request) -> JSONResponse:
            if not found(namespace, name):
                return missing(kind, namespace, name)
            try:
                weights = patch(await request.json())
            except (EdgeError, ValueError, TypeError) as exc:
                return JSONResponse(
                    {"kind": "Status", "status": "Failure", "message": str(exc), "code": 422},
                    status_code=422,
                )
            await apply(weights)
            return JSONResponse(current())

        return get, patched

    for path, (kind, current, patch) in objects.items():
        get, patched = routes(kind, current, patch)
        app.add_api_route(path, get, methods=["GET"])
        app.add_api_route(path, patched, methods=["PATCH"])
