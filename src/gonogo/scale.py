"""Pre-scale (the one-pager's T-45 "pre-scale green"), read from the cluster's own objects.

"The release's" Deployments are those whose pod template runs an image of the release's
manifest (by digest), so a team's unrelated workloads in the namespace are not judged.
Ready replicas are `status.readyReplicas` (absent when none is ready, as the API server
omits a zero); an autoscaler is the HorizontalPodAutoscaler whose scaleTargetRef names
the Deployment, and its `spec.minReplicas` defaults to 1 as Kubernetes defaults it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Scaled:
    deployment: str
    ready: int
    replicas: int
    hpa: str | None
    hpa_min: int | None

    def problems(self, minimum: int) -> list[str]:
        out = []
        if self.ready < minimum:
            out.append(f"{self.deployment}: {self.ready} ready of {self.replicas} (need {minimum})")
        if self.hpa is not None and (self.hpa_min or 1) < minimum:
            out.append(
                f"{self.deployment}: HorizontalPodAutoscaler {self.hpa} minReplicas "
                f"{self.hpa_min or 1} (need {minimum}: it may scale back down)"
            )
        return out


def template_images(workload: dict[str, Any]) -> list[str]:
    """The images a workload's pod template names (init containers too)."""
    spec = ((workload.get("spec") or {}).get("template") or {}).get("spec") or {}
    return [
        str(c.get("image", ""))
        for kind in ("initContainers", "containers")
        for c in spec.get(kind) or []
    ]


def runs_release(workload: dict[str, Any], digests: set[str]) -> bool:
    """Whether the pod template runs one of the release's digests (`name@sha256:...`)."""
    return any(image.rsplit("@", 1)[-1] in digests for image in template_images(workload))


def of_release(
    deployments: list[dict[str, Any]], autoscalers: list[dict[str, Any]], digests: set[str]
) -> list[Scaled]:
    """Each Deployment running a release digest, with its ready count and its autoscaler."""
    by_target: dict[Any, dict[str, Any]] = {}
    for hpa in autoscalers:
        ref = (hpa.get("spec") or {}).get("scaleTargetRef") or {}
        if ref.get("kind") == "Deployment":
            by_target[ref.get("name")] = hpa
    out = []
    for deployment in deployments:
        if not runs_release(deployment, digests):
            continue
        name = str((deployment.get("metadata") or {}).get("name"))
        status = deployment.get("status") or {}
        found = by_target.get(name)
        out.append(
            Scaled(
                deployment=name,
                ready=int(status.get("readyReplicas") or 0),
                replicas=int((deployment.get("spec") or {}).get("replicas") or 0),
                hpa=str(found["metadata"]["name"]) if found else None,
                hpa_min=(found.get("spec") or {}).get("minReplicas") if found else None,
            )
        )
    return out
