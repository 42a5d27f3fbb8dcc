"""Pre-scale as the cluster's objects say it (gonogo.scale); the fault (under-scaled) is in the
smoke pack's matrix, on the local env's recorded Kubernetes API."""

from __future__ import annotations

from typing import Any

from gonogo import scale

RELEASED = "sha256:" + "a" * 64


def deployment(name: str, image: str, replicas: int, ready: int | None) -> dict[str, Any]:
    status: dict[str, Any] = {"replicas": replicas, "observedGeneration": 1}
    if ready is not None:  # the API server omits a zero
        status["readyReplicas"] = ready
    return {
        "metadata": {"name": name, "namespace": "ns"},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"image": image}]}}},
        "status": status,
    }


def autoscaler(target: str, floor: int | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"scaleTargetRef": {"kind": "Deployment", "name": target}}
    if floor is not None:
        spec["minReplicas"] = floor
    return {"metadata": {"name": f"{target}-hpa"}, "spec": spec}


def test_only_the_releases_deployments_are_judged_and_defaults_are_kubernetes() -> None:
    found = scale.of_release(
        [
            deployment("gateway", f"reg/gw@{RELEASED}", 3, 3),
            deployment("ingest", f"reg/in@{RELEASED}", 2, None),  # none ready yet
            deployment("team-cron", "reg/cron:latest", 1, 1),  # not the release's
        ],
        [autoscaler("gateway", None), autoscaler("ingest", 2)],  # minReplicas defaults to 1
        {RELEASED},
    )
    assert [s.deployment for s in found] == ["gateway", "ingest"]
    assert [p for s in found for p in s.problems(2)] == [
        "gateway: HorizontalPodAutoscaler gateway-hpa minReplicas 1 (need 2: it may scale back "
        "down)",
        "ingest: 0 ready of 2 (need 2)",
    ]
    assert [p for s in found for p in s.problems(1)] == ["ingest: 0 ready of 2 (need 1)"]
