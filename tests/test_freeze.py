"""The change freeze as the cluster's objects say it (gonogo.freeze); the fault
(freeze-violated) is in the smoke pack's matrix, on the local env's recorded API."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from gonogo import freeze
from gonogo.errors import ConfigError

SINCE = dt.datetime(2026, 12, 1, 1, 0, tzinfo=dt.timezone(dt.timedelta(hours=-7)))
RELEASED = "sha256:" + "a" * 64


def workload(kind: str, name: str, image: str, status: dict[str, Any], generation: int = 3):
    return freeze.Workload(
        kind,
        {
            "metadata": {"name": name, "namespace": "ns", "generation": generation},
            "spec": {"template": {"spec": {"containers": [{"image": image}]}}},
            "status": {"observedGeneration": 3, **status},
        },
    )


def rs(owner: str, created: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": f"{owner}-abc",
            "namespace": "ns",
            "creationTimestamp": created,
            "ownerReferences": [{"kind": "Deployment", "name": owner}],
        }
    }


def test_each_kind_of_rollout_since_the_freeze_is_named_and_the_releases_own_is_exempt() -> None:
    found, exempt = freeze.rolled_out(
        [
            workload("Deployment", "gateway", f"reg/gw@{RELEASED}", {}),  # the cutover's own
            workload("Deployment", "reports", "reg/reports:1.4", {}),
            workload("Deployment", "billing", "reg/billing:2", {}, generation=4),
            workload(
                "StatefulSet",
                "cache",
                "reg/cache:7",
                {"currentRevision": "cache-1", "updateRevision": "cache-2"},
            ),
            workload(
                "DaemonSet",
                "agent",
                "reg/agent:3",
                {"desiredNumberScheduled": 3, "updatedNumberScheduled": 1},
            ),
            workload(
                "DaemonSet",
                "logs",
                "reg/logs:1",
                {"desiredNumberScheduled": 3, "updatedNumberScheduled": 3},
            ),
        ],
        [
            rs("gateway", "2026-12-01T08:30:00Z"),  # after the freeze, but the release's
            rs("reports", "2026-12-01T08:10:00Z"),  # 01:10-07:00: after 01:00-07:00
            rs("reports", "2026-11-20T08:10:00Z"),
        ],
        SINCE,
        {RELEASED},
    )
    assert exempt == ["Deployment ns/gateway"]
    assert found == [
        "Deployment ns/reports: ReplicaSet reports-abc created 2026-12-01T08:10:00+00:00",
        "Deployment ns/billing: generation 4, observed 3 (pending)",
        "StatefulSet ns/cache: rolling to cache-2",
        "DaemonSet ns/agent: 1 of 3 pods updated (rolling)",
    ]


@pytest.mark.parametrize("value", ["yesterday", "2026-12-01T01:00"])
def test_a_freeze_time_without_its_offset_is_one_line(value: str) -> None:
    with pytest.raises(ConfigError, match="with its UTC offset, like 2026-12-01T01:00-07:00"):
        freeze.parse_since(value)
