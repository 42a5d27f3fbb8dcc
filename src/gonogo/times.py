"""The one way gonogo tells and writes the time: UTC, ISO 8601 to the millisecond, "Z".

At the bottom of the import graph, so the transport seam, the evidence bundle and every
record stamp time alike without importing each other.
"""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
