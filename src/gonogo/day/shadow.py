"""T-40's shadow traffic: green gets a copy of the users' requests before it gets any users.

The one-pager's exit for T-40 is "Shadow traffic OK". As with the weights, what the edge
was told is not what it does, so the mirror is read two ways:

- declared: the TraefikService `[edge] mirror`, whose `spec.mirroring.mirrors` lists
  green's Service with a `percent` (Traefik's mirroring);
- observed: `[edge] samples` probes through the public URL, and green's request counter
  (the `[metrics]` requests signal, narrowed by `[edge] green_match` when the env's
  metrics hold more than green's own) read before and after, series by series. What rose
  beyond the probes green answered itself is the mirrored copies; their share must be the
  declared one, and none of what green answered may be a 5xx.

Traefik sends a copy after the answer and drops a copy it cannot send, so the counter is
read again for up to MIRROR_WAIT_S, and MIRROR_LOSS of the copies may be missing before
"not mirrored" is said. Whatever else reaches green meanwhile (its own scrapes, a
Prometheus) counts as copies too: a few dozen at most here, far below 100 % of 200
probes, so at the one-pager's full mirror the check tells "on" from "off"; at a small
share, raise [edge] samples to keep that margin.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gonogo.day.edge import Edge, EdgeError, Observed, namespace, tolerance
from gonogo.errors import ConfigError
from gonogo.series import Selector
from gonogo.signals import increase

if TYPE_CHECKING:
    from gonogo.clients.metrics import MetricsSnapshot

MIRROR_WAIT_S = 5.0
# Each scrape may itself count on green: a handful of them, not a busy loop's hundred.
MIRROR_POLL_S = 1.0
MIRROR_LOSS = 0.05  # the share of copies Traefik may drop (best effort) before it is "off"


def parse_percent(text: str) -> float:
    """--expect-shadow's value, or one line naming the fix."""
    try:
        percent = float(str(text).strip().removesuffix("%"))
    except ValueError:
        percent = -1.0
    if not 0 < percent <= 100:
        raise ConfigError(
            f"--expect-shadow takes the share of requests mirrored to green, a percent above "
            f"0 and at most 100, like 100; got '{text}'"
        )
    return percent


@dataclass
class Mirror:
    percent: float  # of every request, copied to green
    where: str
    raw: dict[str, Any]


@dataclass
class Shadow:
    probes: Observed
    mirrored: float  # copies green answered: its counter's rise beyond what it served
    errors: float  # 5xx green answered in the window
    series: str
    expected: float  # copies the declared share makes of these probes
    scrapes: list[str] = field(default_factory=list, repr=False)  # captures, not messages


def declared(route: Edge) -> Mirror:
    s = route.settings
    where = f"traefikservices.{s.group} {namespace(route.env.settings) or ''}/{s.mirror}"
    obj = route.env.cluster.custom(s.group, "traefikservices", s.mirror, s.namespace)
    mirroring = (obj.get("spec") or {}).get("mirroring")
    if not isinstance(mirroring, dict):
        raise EdgeError(
            f"{where}: no spec.mirroring, so nothing is mirrored; T-40 enables shadow "
            "traffic there, or [edge] mirror names the TraefikService that does"
        )
    green = s.services["green"]
    mirrors = mirroring.get("mirrors") or []
    percent = sum(
        float(m.get("percent") or 0)
        for m in mirrors
        if isinstance(m, dict) and m.get("name") == green
    )
    return Mirror(percent, where, {"mirroring": mirroring})


def observe(route: Edge, percent: float) -> Shadow:
    """Probe the public URL and read how many copies green answered."""
    series, code = route.green_series()
    metrics = route.env.metrics
    before = metrics.scrape()
    probes = route.observe()
    expected = probes.samples * percent / 100.0
    least = floor(percent, probes.samples)
    deadline = time.monotonic() + MIRROR_WAIT_S
    while True:
        after = metrics.scrape()
        mirrored = _mirrored(before, after, series, probes)
        if mirrored >= least or time.monotonic() > deadline:
            break
        time.sleep(MIRROR_POLL_S)
    errors = increase(before, after, series.and_label(code, "=~", "5.."))
    return Shadow(probes, mirrored, errors, str(series), expected, [before.text, after.text])


def _mirrored(
    before: MetricsSnapshot, after: MetricsSnapshot, series: Selector, probes: Observed
) -> float:
    return max(0.0, increase(before, after, series) - probes.counts.get("green", 0))


def floor(percent: float, samples: int) -> float:
    """The fewest copies that still say "mirrored at this share"."""
    expected = samples * percent / 100.0
    return max(1.0, expected * (1 - MIRROR_LOSS) - tolerance(percent, samples))
