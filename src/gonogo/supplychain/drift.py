"""Cluster drift: what the namespace really runs, against what was released and signed.

The digest a node pulled is in each container status's `imageID`, spelled by
the runtime: `docker-pullable://repo@sha256:...` (Docker) or
`registry/repo@sha256:...` (containerd, CRI-O). Init containers, native
sidecars and ephemeral containers have their own status lists and count too:
a sidecar running an unreleased image is drift like any other.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_DIGEST = re.compile(r"@(sha256:[a-f0-9]{64})$")
STATUS_LISTS = (
    ("containerStatuses", "containers"),
    ("initContainerStatuses", "initContainers"),
    ("ephemeralContainerStatuses", "ephemeralContainers"),
)


@dataclass(frozen=True)
class Running:
    pod: str
    container: str
    kind: str
    image: str
    digest: str | None  # None until the image is pulled

    def __str__(self) -> str:
        pulled = self.digest or "no imageID yet"
        return f"pod {self.pod} {self.kind} {self.container} ({self.image}, {pulled})"


def digest_of(image_id: str) -> str | None:
    match = _DIGEST.search(image_id or "")
    return match.group(1) if match else None


def running(pods: list[dict[str, Any]]) -> list[Running]:
    """Every container status of every pod, with the digest its node pulled."""
    out = []
    for pod in pods:
        name = f"{pod['metadata'].get('namespace', '')}/{pod['metadata']['name']}".lstrip("/")
        status = pod.get("status") or {}
        for key, kind in STATUS_LISTS:
            for container in status.get(key) or []:
                out.append(
                    Running(
                        pod=name,
                        container=str(container.get("name")),
                        kind=kind,
                        image=str(container.get("image", "")),
                        digest=digest_of(str(container.get("imageID", ""))),
                    )
                )
    return out


def drift(
    containers: list[Running], released: dict[str, str], signed: Callable[[str], str | None]
) -> list[str]:
    """What is wrong with each container: unknown digest, or a released one not signed.

    `signed(digest)` returns None when a signature verifies, else why not.
    """
    known = set(released.values())
    problems = []
    verdicts: dict[str, str | None] = {}
    for c in containers:
        if c.digest is None:
            problems.append(f"{c}: no image digest reported yet")
        elif c.digest not in known:
            problems.append(f"{c}: digest not in the release's manifest.json")
        else:
            if c.digest not in verdicts:
                verdicts[c.digest] = signed(c.digest)
            if verdicts[c.digest]:
                problems.append(f"{c}: not signed ({verdicts[c.digest]})")
    return problems
