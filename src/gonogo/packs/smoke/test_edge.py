"""The route in front of blue and green: declared weights and mirror, and the traffic that
follows them."""

from __future__ import annotations

from gonogo.checks import says
from gonogo.day import edge, shadow, spike
from gonogo.env import Environment
from gonogo.evidence import Captures


def test_route_weights(
    env: Environment, expected_weights: dict[str, float], evidence: Captures
) -> None:
    """Rule: the edge declares the expected weights (--expect-weights; the cutover's T-10 is
    blue 10 / green 90, T-0 blue 0 / green 100), and [edge] samples probes through the
    public URL split between the slots within edge.Z_TOLERANCE binomial standard deviations.
    Declared alone is not enough: the seed's macro trusted the annotation.

    Fault: weights-stuck
    """
    route = edge.Edge(env)
    declared = route.declared()
    observed = route.observe()
    path = evidence.save(
        "route_weights.json",
        {
            "expected": expected_weights,
            "declared": {"source": declared.source, "weights": declared.weights, **declared.raw},
            "observed": {
                "samples": observed.samples,
                "by_slot": dict(observed.counts),
                "failures": observed.failures[:20],
            },
            "z_tolerance": edge.Z_TOLERANCE,
        },
    )
    wanted = edge.describe(expected_weights)
    assert not edge.mismatch(expected_weights, declared), says(
        f"{declared.source} declaring {wanted}",
        "; ".join(edge.mismatch(expected_weights, declared)),
        path,
    )
    assert not observed.failures, says(
        f"{observed.samples} probes answered, each naming its slot",
        f"{len(observed.failures)} did not, first: {observed.failures[0]}"
        if observed.failures
        else "",
        path,
    )
    problems = edge.compare(expected_weights, observed)
    assert not problems, says(f"traffic split {wanted} (declared so)", "; ".join(problems), path)


def test_shadow_traffic(env: Environment, expected_shadow: float, evidence: Captures) -> None:
    """Rule: from T-40 to the flip the edge mirrors the expected share of requests to green
    (--expect-shadow; the cutover's T-40 passes 100): the TraefikService [edge] mirror
    declares it, green's request counter rises by that share of [edge] samples probes
    through the public URL beyond the probes green answered itself, and green answered no
    5xx meanwhile. A mirror declared and not running is the fault this catches.

    Fault: shadow-off
    """
    route = edge.Edge(env)
    mirror = shadow.declared(route)
    seen = shadow.observe(route, expected_shadow)
    least = shadow.floor(expected_shadow, seen.probes.samples)
    for n, text in enumerate(seen.scrapes):
        evidence.save(f"shadow-{('before', 'after')[n]}.prom", text)
    path = evidence.save(
        "shadow_traffic.json",
        {
            "expected_percent": expected_shadow,
            "declared": {"source": mirror.where, "percent": mirror.percent, **mirror.raw},
            "observed": {
                "series": seen.series,
                "probes": seen.probes.samples,
                "answered_by_slot": dict(seen.probes.counts),
                "mirrored": seen.mirrored,
                "expected_mirrored": seen.expected,
                "at_least": least,
                "green_5xx": seen.errors,
                "failures": seen.probes.failures[:20],
            },
        },
    )
    assert mirror.percent == expected_shadow, says(
        f"{mirror.where} mirroring {expected_shadow:g} % to {route.settings.services['green']}",
        f"{mirror.percent:g} %",
        path,
    )
    assert not seen.probes.failures, says(
        f"{seen.probes.samples} probes answered, each naming its slot",
        f"{len(seen.probes.failures)} did not, first: {seen.probes.failures[0]}",
        path,
    )
    mirrored, errors = seen.mirrored, seen.errors  # plain numbers in pytest's explanation
    assert mirrored >= least, says(
        f"at least {least:g} mirrored copies of {seen.probes.samples} probes on green "
        f"({seen.series} beyond the {seen.probes.counts.get('green', 0)} green answered)",
        f"{mirrored:g}",
        path,
    )
    assert errors == 0, says("no 5xx from green under shadow traffic", f"{errors:g}", path)


def test_no_error_spike(
    env: Environment, expected_weights: dict[str, float], evidence: Captures
) -> None:
    """Rule: after a weight change (--expect-weights: the cutover's T-10 and T-0), green's
    5xx share over [cutover] spike_probes (200) requests to spike_path through the public
    URL is at most its share before plus spike_margin (0.1 percentage points): the
    one-pager's exit "No error spike", read on green's own request counter.

    Fault: error-spike
    """
    settings = env.settings.cutover
    route = edge.Edge(env)
    seen = spike.measure(route, settings.spike_path, settings.spike_probes)
    for n, text in enumerate(seen.scrapes):
        evidence.save(f"spike-{('before', 'after')[n]}.prom", text)
    path = evidence.save(
        "error_spike.json",
        {
            "weights": expected_weights,
            "path": settings.spike_path,
            "margin": settings.spike_margin,
            "series": seen.series,
            "before": {"requests": seen.before_requests, "5xx": seen.before_errors},
            "after": {"requests": seen.window_requests, "5xx": seen.window_errors},
            "answers_by_status": seen.by_status,
            "failures": seen.failures[:20],
        },
    )
    problem = spike.judged(seen, settings.spike_margin)
    assert problem is None, says(
        f"green's 5xx share at most {settings.spike_margin:.2%} above its share before the "
        f"change ({seen.series})",
        problem or "",
        path,
    )
