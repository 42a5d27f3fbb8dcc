"""When iterations are due: k6's arrival-rate executors as a pure schedule.

Kept apart from child/, which patches the process with gevent on import,
so the schedule can be read and tested in any process.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

from gonogo.config.load import LoadScenario
from gonogo.vocabulary import parse_duration


def segments(s: LoadScenario) -> list[tuple[float, float, float]]:
    """(duration s, rate at start /s, rate at end /s) pieces of the arrival rate."""
    unit = parse_duration(s.time_unit)
    if s.executor == "constant-arrival-rate":
        rate = (s.rate or 0.0) / unit
        return [(parse_duration(s.duration or "0s"), rate, rate)]
    out = []
    current = s.start_rate / unit
    for stage in s.stages:
        target = stage.target / unit
        out.append((parse_duration(stage.duration), current, target))
        current = target
    return out


def arrivals(s: LoadScenario, shard: int = 0, shards: int = 1) -> Iterator[float]:
    """Scheduled starts (seconds from the scenario's start) of this shard's iterations.

    The j-th iteration of the whole scenario is due when the integral of the rate
    reaches j; shard k takes every j with j % shards == k, so N workers interleave
    into exactly the one schedule a single worker would keep.
    """
    j = shard
    offset = 0.0  # the segment's start time
    done = 0.0  # arrivals due before the segment
    for duration, r0, r1 in segments(s):
        while True:
            need = j - done
            if r0 == r1:
                if r0 <= 0:
                    break
                u = need / r0
            else:
                a = (r1 - r0) / (2 * duration)
                disc = r0 * r0 + 4 * a * need
                if disc < 0:
                    break
                u = (-r0 + math.sqrt(disc)) / (2 * a)
            if u >= duration or u < 0:
                break
            yield offset + u
            j += shards
        done += duration * (r0 + r1) / 2
        offset += duration
