"""The one-pager's T-60 "freeze non-cutover deploys", held for the rest of the day."""

from __future__ import annotations

import datetime as dt

from gonogo import freeze
from gonogo.checks import says
from gonogo.clients.cluster import ClusterClient
from gonogo.env import Environment
from gonogo.evidence import Captures
from gonogo.release import Release
from gonogo.supplychain import inputs


def test_no_rollout_during_freeze(
    freeze_since: dt.datetime,  # first: with no freeze on, n/a before any [cluster] is asked
    env: Environment,
    cluster: ClusterClient,
    release: Release,
    evidence: Captures,
) -> None:
    """Rule: since the freeze began (--freeze-since; the cutover day passes T-60's time), no
    Deployment, StatefulSet or DaemonSet in [cutover] freeze_namespaces (default the
    [cluster] namespace) rolled out, except the release's own: no generation above its
    observedGeneration, no Deployment's ReplicaSet created since, no StatefulSet or
    DaemonSet mid-rollout. n/a when no freeze is on.

    Fault: freeze-violated
    """
    namespaces = env.settings.cutover.freeze_namespaces or [cluster.settings.namespace]
    workloads: list[freeze.Workload] = []
    replica_sets = []
    for ns in namespaces:
        workloads += [freeze.Workload("Deployment", d) for d in cluster.deployments(ns)]
        workloads += [freeze.Workload("StatefulSet", s) for s in cluster.stateful_sets(ns)]
        workloads += [freeze.Workload("DaemonSet", d) for d in cluster.daemon_sets(ns)]
        replica_sets += cluster.replica_sets(ns)
    digests = set(inputs.image_digests(release.path / "manifest.json").values())
    found, exempt = freeze.rolled_out(workloads, replica_sets, freeze_since, digests)
    path = evidence.save(
        "freeze.json",
        {
            "since": freeze_since.isoformat(),
            "namespaces": namespaces,
            "workloads": [w.name for w in workloads],
            "release_own": exempt,
            "rolled_out": found,
        },
    )
    assert not found, says(
        f"no rollout in {', '.join(namespaces)} since the freeze began at "
        f"{freeze_since.isoformat()} (the release's own excepted)",
        "; ".join(found[:4]),
        path,
    )
