"""Cluster drift (Gate B): the namespace runs only what was released and signed."""

from __future__ import annotations

import pytest

from gonogo.checks import says
from gonogo.clients.cluster import ClusterClient
from gonogo.env import Environment
from gonogo.evidence import Captures
from gonogo.release import Release
from gonogo.supplychain import drift, inputs
from gonogo.supplychain.signatures import image_signature_problem


@pytest.mark.gate("B")
def test_cluster_runs_only_released_signed_images(
    env: Environment, cluster: ClusterClient, release: Release, evidence: Captures
) -> None:
    """Rule: every container of every pod in the env's namespace (init, sidecar and ephemeral
    ones too) runs, by the digest its node pulled (imageID), an image of the release's
    manifest.json whose signature verifies.

    Fault: pod-unknown-image
    """
    released = inputs.image_digests(release.path / "manifest.json")
    by_digest = {digest: ref for ref, digest in released.items()}
    pods = [cluster.core.api_client.sanitize_for_serialization(p) for p in cluster.pods()]
    containers = drift.running(pods)

    def signed(digest: str) -> str | None:
        return image_signature_problem(
            env.settings.security,
            release.path,
            digest,
            by_digest[digest],
            env.settings.timeout_s,
            env.on_request,
        )

    problems = drift.drift(containers, released, signed)
    path = evidence.save(
        "cluster_images.json",
        {
            "namespace": cluster.settings.namespace,
            "running": [str(c) for c in containers],
            "problems": problems,
        },
    )
    assert containers, says(
        f"pods running in namespace {cluster.settings.namespace}", "no pods at all", path
    )
    assert not problems, says(
        f"all {len(containers)} running containers on released, signed digests",
        "; ".join(problems[:4]),
        path,
    )
