"""The sandbox's recorded cluster: its namespace as a Kubernetes API server lists it.

No API server runs here, so the stack serves recorded answers shaped as
`kubectl get pods -o json` shows them, through a kubeconfig the real
kubernetes client reads; `pod-unknown-image` puts a digest the release never
shipped on the ingest pod.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

NAMESPACE = "intelgraph"


def _pod(name: str, node: str, statuses: dict[str, list[tuple[str, str, str]]]) -> dict[str, Any]:
    """A Pod as `kubectl get pod -o json` shows it, with the fields drift checks read."""
    spec: dict[str, Any] = {}
    status: dict[str, Any] = {"phase": "Running"}
    for kind, containers in statuses.items():
        spec[kind] = [{"name": n, "image": image} for n, image, _ in containers]
        status[kind.removesuffix("s") + "Statuses"] = [
            {
                "name": n,
                "image": image,
                "imageID": image_id,
                "ready": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": "2026-11-23T00:00:00Z"}},
            }
            for n, image, image_id in containers
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {"app": name.rsplit("-", 2)[0]},
        },
        "spec": {"nodeName": node, **spec},
        "status": status,
    }


def write_cluster(dest: Path, release: Path, server: str, faults: dict[str, str | None]) -> Path:
    """The namespace as an API server would list it, and a kubeconfig pointing at it.

    The pods run the release's images (containerd's imageID spelling); with
    `pod-unknown-image` the ingest pod runs a digest the release never shipped.
    """
    images = json.loads((release / "manifest.json").read_text())["images"]
    gateway = next(d for r, d in images.items() if "/gateway:" in r)
    ingest = next(d for r, d in images.items() if "/ingest:" in r)
    if "pod-unknown-image" in faults:
        ingest = (
            "sha256:" + hashlib.sha256(b"an ingest hotfix built outside the release").hexdigest()
        )
    pods = [
        _pod(
            "intelgraph-gateway-7d9f8-abcde",
            "node-a",
            {
                "initContainers": [
                    (
                        "migrate",
                        f"ghcr.io/intelgraph/gateway@{gateway}",
                        f"ghcr.io/intelgraph/gateway@{gateway}",
                    )
                ],
                "containers": [
                    (
                        "gateway",
                        f"ghcr.io/intelgraph/gateway@{gateway}",
                        f"ghcr.io/intelgraph/gateway@{gateway}",
                    )
                ],
            },
        ),
        _pod(
            "intelgraph-ingest-5c4b7-fghij",
            "node-b",
            {
                "containers": [
                    (
                        "ingest",
                        f"ghcr.io/intelgraph/ingest@{ingest}",
                        f"ghcr.io/intelgraph/ingest@{ingest}",
                    )
                ],
            },
        ),
    ]
    (dest / "pods.json").write_text(
        json.dumps({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": pods}, indent=2)
    )
    kubeconfig = dest / "kubeconfig.yaml"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: sandbox\n  cluster:\n    server: {server}\n"
        "users:\n- name: gonogo\n  user: {}\n"
        f"contexts:\n- name: sandbox\n  context:\n    cluster: sandbox\n    user: gonogo\n"
        f"    namespace: {NAMESPACE}\n"
        "current-context: sandbox\n"
    )
    return kubeconfig
