"""The route in front of blue and green: declared weights, and the traffic that follows them."""

from __future__ import annotations

from gonogo.checks import says
from gonogo.day import edge
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
