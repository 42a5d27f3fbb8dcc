"""T-10 and T-0's exit, "No error spike": green's 5xx share after the weight change.

Before the change, green's counters hold its history: the cumulative 5xx share at the
first scrape is what it served so far. After it, users' requests reach green through the
edge; the check sends [cutover] spike_probes of its own, as a user would (the public URL,
[cutover] spike_path, the token), and reads green's counters again, series by series. The
share over that window may exceed the share before by [cutover] spike_margin at most.

A green that served nothing before has a share of 0: any 5xx in the window above the
margin is a spike. A green whose history holds many 5xx (a rough start) sets a high bar;
the history is in the capture, and with Prometheus its rate before the change tells more.
What counts is green's own requests (the `[metrics]` requests signal, narrowed by [edge]
green_match), so traffic the edge sent to blue does not dilute it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from gonogo.day.edge import Edge
from gonogo.signals import increase, total


@dataclass
class Spike:
    series: str
    before_requests: float
    before_errors: float
    window_requests: float
    window_errors: float
    probes: int
    by_status: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    scrapes: list[str] = field(default_factory=list, repr=False)  # captures, not messages

    @property
    def before_share(self) -> float:
        return self.before_errors / self.before_requests if self.before_requests else 0.0

    @property
    def window_share(self) -> float:
        return self.window_errors / self.window_requests if self.window_requests else 0.0


def measure(route: Edge, path: str, probes: int) -> Spike:
    series, code = route.green_series()
    errors = series.and_label(code, "=~", "5..")
    metrics = route.env.metrics
    before = metrics.scrape()
    replies, failures = route.probe(path, probes, auth=True)
    by_status = dict(Counter(str(reply.status_code) for reply in replies))
    after = metrics.scrape()
    return Spike(
        series=str(series),
        before_requests=total(before, series),
        before_errors=total(before, errors),
        window_requests=increase(before, after, series),
        window_errors=increase(before, after, errors),
        probes=probes,
        by_status=by_status,
        failures=failures,
        scrapes=[before.text, after.text],
    )


def judged(spike: Spike, margin: float) -> str | None:
    """What is wrong, or None."""
    if spike.failures:
        return f"{len(spike.failures)} of the requests got no answer, first: {spike.failures[0]}"
    if not spike.window_requests:
        return (
            f"no request reached green ({spike.series} did not rise over {spike.probes} "
            "requests through the public URL): the weights send it none, or [edge] "
            "green_match picks the wrong series"
        )
    if spike.window_share > spike.before_share + margin:
        return (
            f"{spike.window_share:.2%} 5xx ({spike.window_errors:g} of "
            f"{spike.window_requests:g}) after the change, against {spike.before_share:.2%} "
            f"({spike.before_errors:g} of {spike.before_requests:g}) before"
        )
    return None
