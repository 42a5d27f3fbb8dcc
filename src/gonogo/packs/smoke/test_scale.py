"""The one-pager's T-45 "pre-scale green", as the cluster itself says it."""

from __future__ import annotations

from gonogo import scale
from gonogo.checks import says
from gonogo.clients.cluster import ClusterClient
from gonogo.env import Environment
from gonogo.evidence import Captures
from gonogo.release import Release
from gonogo.supplychain import inputs


def test_release_deployments_pre_scaled(
    env: Environment, cluster: ClusterClient, release: Release, evidence: Captures
) -> None:
    """Rule: every Deployment in the env's namespace that runs an image of the release
    (by digest) has at least [cutover] min_replicas (2) ready replicas, and the
    HorizontalPodAutoscaler that targets it has minReplicas at least as high.

    Fault: under-scaled
    """
    minimum = env.settings.cutover.min_replicas
    digests = set(inputs.image_digests(release.path / "manifest.json").values())
    found = scale.of_release(cluster.deployments(), cluster.autoscalers(), digests)
    problems = [p for s in found for p in s.problems(minimum)]
    path = evidence.save(
        "prescale.json",
        {
            "namespace": cluster.settings.namespace,
            "min_replicas": minimum,
            "deployments": [s.__dict__ for s in found],
            "problems": problems,
        },
    )
    assert found, says(
        f"Deployments in {cluster.settings.namespace} running the release's images",
        "none (no Deployment's pod template names a release digest)",
        path,
    )
    assert not problems, says(
        f"each of {len(found)} release Deployment(s) with >= {minimum} ready replicas and an "
        f"autoscaler floor as high",
        "; ".join(problems[:4]),
        path,
    )
