"""Recovery markers and replication: what a rollback of the database would start from.

Before cutover the pack records a PostgreSQL restore point, the WAL position
and checksums of the env's chosen tables; the newest marker per database is
kept beside the runs (`reports/.gonogo/recovery-markers/<env>.json`), so the run
after cutover reports which tables changed since. Changes are reported, not
judged: live tables are expected to change.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gonogo import backups
from gonogo.checks import says
from gonogo.clients.database import DatabaseClient
from gonogo.env import Environment
from gonogo.errors import NotApplicable, TargetError
from gonogo.evidence import Captures
from gonogo.times import utcnow
from gonogo.vocabulary import parse_duration

MARKERS = Path(".gonogo") / "recovery-markers"


def _previous(marker_file: Path | None, system_id: str, database: str) -> dict[str, Any] | None:
    if marker_file is None or not marker_file.is_file():
        return None
    try:
        earlier: dict[str, Any] = json.loads(marker_file.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    same = earlier.get("system_id") == system_id and earlier.get("database") == database
    return earlier if same else None


def test_recovery_marker_recorded(
    env: Environment, database: DatabaseClient, evidence: Captures
) -> None:
    """Rule: a restore point is created and the WAL position and table checksums are recorded
    (what a point-in-time recovery would start from); changes since the previous marker of
    the same database are reported.

    Fault: restore-point-refused
    """
    name = f"gonogo-{env.name}-{utcnow().strftime('%Y%m%dT%H%M%SZ')}"
    try:
        marker: dict[str, Any] = database.restore_point(name)
        refused = None
    except TargetError as exc:
        marker, refused = {"name": name}, str(exc)
    marker["database"] = database.where
    marker["at"] = utcnow().isoformat()
    marker["tables"] = {t: database.checksum(t) for t in database.settings.checksum_tables}
    # Beside the runs, outside any run folder: reports/.gonogo/recovery-markers/<env>.json
    bundle = evidence.bundle
    kept = bundle.root.parent.parent / MARKERS / f"{env.name}.json" if bundle else None
    earlier = _previous(kept, marker.get("system_id", ""), database.where)
    if earlier is not None:
        marker["since_previous"] = {
            "previous": earlier.get("name"),
            "changed": sorted(
                t
                for t, sums in marker["tables"].items()
                if (earlier.get("tables") or {}).get(t, {}).get("md5") != sums["md5"]
            ),
        }
        evidence.step(
            f"tables changed since {earlier.get('name')}: {marker['since_previous']['changed']}"
        )
    path = evidence.save("recovery_marker.json", marker)
    assert refused is None, says(
        f"pg_create_restore_point('{name}') to succeed as the pack's role "
        "(GRANT EXECUTE ON FUNCTION pg_create_restore_point(text), wal_level replica or higher)",
        refused or "",
        path,
    )
    if kept is not None:
        kept.parent.mkdir(parents=True, exist_ok=True)
        kept.write_text(json.dumps(marker, indent=2))
    evidence.step(f"restore point {name} at {marker['restore_point_lsn']}")


def test_replication_healthy(
    env: Environment, database: DatabaseClient, evidence: Captures
) -> None:
    """Rule: as many replicas as the env expects are streaming, each replaying within
    database.max_replica_lag_s.

    Fault: replica-down
    """
    settings = database.settings
    replicas = database.replication()
    path = evidence.save("replication.json", {"expected": settings.replicas, "found": replicas})
    if settings.replicas == 0 and not replicas:
        raise NotApplicable(
            f"no replicas expected (database.replicas = 0) and none connected to {database.where}"
        )
    streaming = [r for r in replicas if r["state"] == "streaming"]
    assert len(streaming) >= settings.replicas, says(
        f"{settings.replicas} replica(s) streaming from {database.where}",
        f"{len(streaming)} streaming ({len(replicas)} connected)",
        path,
    )
    worst = max((r["replay_lag_s"] for r in streaming), default=0.0)
    evidence.measured(worst, settings.max_replica_lag_s, " s")
    assert worst <= settings.max_replica_lag_s, says(
        f"replay lag <= {settings.max_replica_lag_s:g} s", f"{worst:g} s", path
    )


def test_wal_archive_within_rpo(
    env: Environment, database: DatabaseClient, evidence: Captures
) -> None:
    """Rule: the database can be recovered to a point in time within [dataops] rpo (15m):
    WAL archiving is on, nothing failed since the newest archived segment (pg_stat_archiver),
    and that segment is no older than the RPO while WAL written after it waits. The
    one-pager's T-50 "verify snapshots"; a base backup's age is the backup tool's to say.

    Fault: backup-stale
    """
    rpo = env.settings.dataops.rpo
    status = database.archiver()
    found = backups.problems(status, parse_duration(rpo), rpo)
    path = evidence.save(
        "wal_archive.json",
        {"database": database.where, "rpo": rpo, "pg_stat_archiver": status, "problems": found},
    )
    assert not found, says(
        f"WAL archived within the RPO of {rpo} on {database.where}, no failure since",
        "; ".join(found),
        path,
    )
