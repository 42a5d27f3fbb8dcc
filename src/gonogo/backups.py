"""T-50 "verify snapshots": whether the database can be recovered to a point in time now.

Point-in-time recovery replays archived WAL on top of a base backup, so what can be lost
is the WAL not yet archived. PostgreSQL says where archiving stands in pg_stat_archiver:
the newest segment archived and when, the newest failure and when. Three rules:

- archiving is on (archive_mode) and has archived something;
- no failure since the newest success: a failing archive_command (a full or unreachable
  archive) leaves every later segment waiting, and the recovery point stops moving;
- the newest archived segment is no older than the RPO, unless nothing was written after
  it. An idle database archives nothing and loses nothing, so age alone is not a fault:
  the current WAL position past the end of the archived segment is what puts data at risk.
  `archive_timeout` below the RPO keeps a quiet but not idle database inside it.

A base backup's own age belongs to the backup tool's catalogue (pgBackRest `info`, WAL-G
`backup-list`), which PostgreSQL does not keep; it is not read here.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

_SEGMENT = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})")


def lsn(text: str) -> int:
    """A pg_lsn as PostgreSQL prints it ("16/B374D848") as a byte position."""
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def segment_end(wal_name: str | None, segment_bytes: int) -> int | None:
    """The byte position just past an archived segment (its name is timeline, log, segment
    in hex); None for a name that is not a segment (a timeline history file)."""
    match = _SEGMENT.match(wal_name or "")
    if match is None or segment_bytes <= 0:
        return None
    log, seg = int(match.group(2), 16), int(match.group(3), 16)
    per_log = 0x1_0000_0000 // segment_bytes
    return (log * per_log + seg + 1) * segment_bytes


def _when(value: Any) -> str:
    return value.isoformat(timespec="seconds") if isinstance(value, dt.datetime) else str(value)


def problems(status: dict[str, Any], rpo_s: float, rpo: str) -> list[str]:
    """What keeps the database from a recovery within the RPO, one line each."""
    if str(status.get("archive_mode")) == "off":
        return [
            "archive_mode is off: no WAL is archived, so no point-in-time recovery; set "
            "archive_mode = on and an archive_command (or archive_library)"
        ]
    found = []
    archived_at, failed_at = status.get("last_archived_time"), status.get("last_failed_time")
    if not status.get("archived_count") or archived_at is None:
        found.append(
            "nothing archived since the statistics were reset (pg_stat_archiver.archived_count "
            "is 0): check archive_command and the server log"
        )
    if failed_at is not None and (archived_at is None or failed_at > archived_at):
        segment, failures = status.get("last_failed_wal"), status.get("failed_count")
        found.append(
            f"WAL archiving failing since {_when(failed_at)}: segment {segment} not archived "
            f"({failures} failures in all); the server log names the archive_command's error"
        )
    if archived_at is None or not isinstance(status.get("now"), dt.datetime):
        return found
    age_s = (status["now"] - archived_at).total_seconds()
    end = segment_end(status.get("last_archived_wal"), int(status.get("segment_bytes") or 0))
    waiting = lsn(str(status["current_lsn"])) - end if end is not None else 0
    if age_s > rpo_s and waiting > 0:
        found.append(
            f"newest archived WAL {status.get('last_archived_wal')} is {age_s / 60:.0f} min old "
            f"(at {_when(archived_at)}), over the RPO of {rpo}, with {waiting} bytes of WAL "
            "written since and not archived; set archive_timeout below the RPO"
        )
    return found
