"""The sandbox's recorded cluster: its namespace as a Kubernetes API server lists it.

No API server runs here, so the stack serves recorded answers shaped as
`kubectl get pods|deploy|hpa -o json` shows them, through a kubeconfig the real
kubernetes client reads; `pod-unknown-image` puts a digest the release never
shipped on the ingest pod, `under-scaled` leaves the gateway at one replica,
`freeze-violated` rolls out a team's workload (a new ReplicaSet) as the stack starts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
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


def _deployment(name: str, container: str, image: str, replicas: int) -> dict[str, Any]:
    """A Deployment as `kubectl get deploy -o json` shows it, rolled out and ready."""
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "generation": 4,
            "creationTimestamp": "2026-11-02T09:00:00Z",
            "labels": labels,
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": container, "image": image}]},
            },
        },
        "status": {
            "observedGeneration": 4,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        },
    }


def _replica_set(deployment: str, template_hash: str, created: str) -> dict[str, Any]:
    """A ReplicaSet a Deployment's rollout made, as `kubectl get rs -o json` shows it."""
    labels = {"app": deployment, "pod-template-hash": template_hash}
    owner = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment,
        "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, deployment)),
        "controller": True,
        "blockOwnerDeletion": True,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{deployment}-{template_hash}",
            "namespace": NAMESPACE,
            "creationTimestamp": created,
            "labels": labels,
            "ownerReferences": [owner],
        },
        "spec": {"selector": {"matchLabels": labels}},
        "status": {"replicas": 0, "observedGeneration": 1},
    }


def _write_list(path: Path, api_version: str, kind: str, items: list[dict[str, Any]]) -> None:
    listing = {"apiVersion": api_version, "kind": kind, "metadata": {}, "items": items}
    path.write_text(json.dumps(listing, indent=2))


def _autoscaler(target: str, floor: int) -> dict[str, Any]:
    """An autoscaling/v2 HorizontalPodAutoscaler on a Deployment's CPU."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": target, "namespace": NAMESPACE},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": floor,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": 70},
                    },
                }
            ],
        },
        "status": {"currentReplicas": floor, "desiredReplicas": floor},
    }


def _write_workloads(dest: Path, gateway: str, ingest: str, faults: dict[str, str | None]) -> None:
    """The namespace's Deployments, ReplicaSets, StatefulSets, DaemonSets and autoscalers."""
    scaled = 1 if "under-scaled" in faults else 3
    registry = "ghcr.io/intelgraph"
    # A team's workload beside the release's: not the cutover's to roll out. With
    # freeze-violated it was rolled out (a new ReplicaSet) when the stack started.
    reports = f"{registry}/reports@sha256:{hashlib.sha256(b'reports 1.4.2').hexdigest()}"
    deployments = [
        _deployment("intelgraph-gateway", "gateway", f"{registry}/gateway@{gateway}", scaled),
        _deployment("intelgraph-ingest", "ingest", f"{registry}/ingest@{ingest}", 2),
        _deployment("intelgraph-reports", "reports", reports, 1),
    ]
    _write_list(dest / "deployments.json", "apps/v1", "DeploymentList", deployments)
    rolled = (
        dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if "freeze-violated" in faults
        else "2026-11-02T09:00:00Z"
    )
    replica_sets = [
        _replica_set("intelgraph-gateway", "7d9f8", "2026-11-02T09:00:00Z"),
        _replica_set("intelgraph-ingest", "5c4b7", "2026-11-02T09:00:00Z"),
        _replica_set("intelgraph-reports", "66c1a", "2026-10-20T15:30:00Z"),
        _replica_set("intelgraph-reports", "8f2e3", rolled),
    ]
    _write_list(dest / "replicasets.json", "apps/v1", "ReplicaSetList", replica_sets)
    _write_list(dest / "statefulsets.json", "apps/v1", "StatefulSetList", [])
    _write_list(dest / "daemonsets.json", "apps/v1", "DaemonSetList", [])
    autoscalers = [_autoscaler("intelgraph-gateway", scaled), _autoscaler("intelgraph-ingest", 2)]
    _write_list(
        dest / "autoscalers.json", "autoscaling/v2", "HorizontalPodAutoscalerList", autoscalers
    )


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
    _write_list(dest / "pods.json", "v1", "PodList", pods)
    _write_workloads(dest, gateway, ingest, faults)
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
