"""The change freeze (the one-pager's T-60 "freeze non-cutover deploys"), read from the
cluster's own objects.

A workload "rolled out" during the freeze when the API server shows it:

- its spec changed and the controller has not caught up (metadata.generation above
  status.observedGeneration): a rollout pending or in progress;
- a Deployment: a ReplicaSet it owns was created after the freeze began (each rollout
  of a Deployment's pod template makes a new ReplicaSet, as `kubectl rollout history`
  lists them);
- a StatefulSet: status.updateRevision differs from currentRevision (rolling);
- a DaemonSet: status.updatedNumberScheduled is below desiredNumberScheduled (rolling).

The release's own workloads (a pod template naming one of its digests) are exempt: the
cutover rolls them out. A finished StatefulSet or DaemonSet rollout leaves only a
ControllerRevision behind, which is not read here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from gonogo.errors import ConfigError
from gonogo.scale import runs_release


def parse_since(value: str) -> dt.datetime:
    """--freeze-since TIME, with its UTC offset; one line naming the form otherwise."""
    try:
        since = dt.datetime.fromisoformat(value)
    except ValueError:
        since = None
    if since is None or since.tzinfo is None:
        raise ConfigError(
            f"--freeze-since {value!r}: give the moment the freeze began with its UTC offset, "
            "like 2026-12-01T01:00-07:00"
        )
    return since


@dataclass(frozen=True)
class Workload:
    kind: str  # Deployment, StatefulSet, DaemonSet
    body: dict[str, Any]

    @property
    def name(self) -> str:
        meta = self.body.get("metadata") or {}
        return f"{self.kind} {meta.get('namespace')}/{meta.get('name')}"


def _time(value: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def rolled_out(
    workloads: list[Workload],
    replica_sets: list[dict[str, Any]],
    since: dt.datetime,
    release_digests: set[str],
) -> tuple[list[str], list[str]]:
    """(what rolled out since the freeze began, each a line; the release's own, exempt)."""
    owned: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for rs in replica_sets:
        meta = rs.get("metadata") or {}
        for ref in meta.get("ownerReferences") or []:
            if ref.get("kind") == "Deployment":
                owned.setdefault((str(meta.get("namespace")), str(ref.get("name"))), []).append(rs)
    found, exempt = [], []
    for workload in workloads:
        if runs_release(workload.body, release_digests):
            exempt.append(workload.name)
            continue
        meta = workload.body.get("metadata") or {}
        status = workload.body.get("status") or {}
        generation, observed = meta.get("generation"), status.get("observedGeneration")
        if isinstance(generation, int) and isinstance(observed, int) and generation > observed:
            found.append(f"{workload.name}: generation {generation}, observed {observed} (pending)")
        if workload.kind == "Deployment":
            key = (str(meta.get("namespace")), str(meta.get("name")))
            for rs in owned.get(key, []):
                created = _time((rs.get("metadata") or {}).get("creationTimestamp"))
                if created is not None and created > since:
                    name = (rs.get("metadata") or {}).get("name")
                    found.append(
                        f"{workload.name}: ReplicaSet {name} created {created.isoformat()}"
                    )
        elif workload.kind == "StatefulSet":
            if status.get("updateRevision") not in (None, status.get("currentRevision")):
                found.append(f"{workload.name}: rolling to {status.get('updateRevision')}")
        elif workload.kind == "DaemonSet":
            desired = status.get("desiredNumberScheduled") or 0
            if (status.get("updatedNumberScheduled") or 0) < desired:
                found.append(f"{workload.name}: {status.get('updatedNumberScheduled') or 0} of "
                             f"{desired} pods updated (rolling)")  # fmt: skip
    return found, exempt
