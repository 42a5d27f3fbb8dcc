"""The one-pager's T-5: "Final sync delta; confirm no schema drift", exit "Delta applied"."""

from __future__ import annotations

import time
from typing import Any

from gonogo.checks import says
from gonogo.clients.database import DatabaseClient
from gonogo.env import Environment
from gonogo.errors import NotApplicable
from gonogo.evidence import Captures

# Replay is read again for this long: a write just before T-5 is still on its way.
SYNC_WAIT_S = 10.0


def _caught_up(database: DatabaseClient, limit: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + SYNC_WAIT_S
    while True:
        replicas = database.replay_positions()
        behind = [r for r in replicas if r["state"] != "streaming" or r["behind_bytes"] > limit]
        if not behind or time.monotonic() > deadline:
            return replicas
        time.sleep(0.5)


def _both_sides(
    database: DatabaseClient,
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """checksum_tables on the primary and on sync_dsn, read again while they differ (for up
    to SYNC_WAIT_S): a write between the two reads is in flight, not a delta left behind."""
    deadline = time.monotonic() + SYNC_WAIT_S
    while True:
        here = {t: database.checksum(t) for t in database.settings.checksum_tables}
        there = database.sync_checksums() if database.settings.sync_dsn else {}
        if all(there.get(t, sums) == sums for t, sums in here.items()):
            return here, there
        if time.monotonic() > deadline:
            return here, there
        time.sleep(0.5)


def test_final_sync_delta_applied(
    env: Environment, database: DatabaseClient, evidence: Captures
) -> None:
    """Rule: every replica the primary streams to has replayed what it was sent, within
    [dataops] max_replay_lag_bytes (0), read again for up to 10 s (pg_stat_replication), as
    many as database.replicas expects; and checksum_tables read the same on [database]
    sync_dsn, the other side. n/a when the env names neither a replica nor a sync_dsn.

    Fault: sync-delta
    """
    settings, limit = database.settings, env.settings.dataops.max_replay_lag_bytes
    replicas = _caught_up(database, limit)
    if not replicas and settings.replicas == 0 and settings.sync_dsn is None:
        raise NotApplicable(
            f"no replica streams from {database.where} and [database] sync_dsn names no other "
            "side: nothing to sync"
        )
    problems = [
        f"{r['replica']} ({r['state']}) replayed to {r['replay_lsn']}, {r['behind_bytes']} "
        f"bytes behind the {r['sent_lsn']} sent"
        for r in replicas
        if r["state"] != "streaming" or r["behind_bytes"] > limit
    ]
    streaming = [r for r in replicas if r["state"] == "streaming"]
    if len(streaming) < settings.replicas:
        problems.append(f"{len(streaming)} of {settings.replicas} expected replica(s) streaming")
    here, there = _both_sides(database)
    problems += [
        f"{table}: {sums['rows']} rows here, {there[table]['rows']} on the other side"
        f" (md5 {sums['md5'][:8] or 'of nothing'} vs {there[table]['md5'][:8] or 'of nothing'})"
        for table, sums in here.items()
        if table in there and sums != there[table]
    ]
    path = evidence.save(
        "sync_delta.json",
        {
            "primary": database.where,
            "replicas": replicas,
            "max_replay_lag_bytes": limit,
            "checksums": {"here": here, "sync_dsn": there},
            "problems": problems,
        },
    )
    assert not problems, says(
        f"the final sync delta applied: replicas replayed within {limit} bytes of what "
        f"{database.where} sent, and checksum_tables equal on both sides",
        "; ".join(problems),
        path,
    )
