"""End to end: the ingest stream and the subscription push, measured with one clock.

Both hold the env's load slot: they run alone, not beside a load plan's traffic. Both
send more than the smoke's single requests (numbered CreateNote writes; a hundred
WebSocket clients), so both are marked `load`: a production env needs --allow-load, and
`-m 'slo and not load'` leaves them out with the plans.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gonogo import slo
from gonogo.checks import says
from gonogo.env import Environment
from gonogo.evidence import Captures


@pytest.mark.gate("slo")
@pytest.mark.load
@pytest.mark.usefixtures("load_slot")
def test_stream_end_to_end(
    env: Environment, evidence: Captures, progress: Callable[[str], None]
) -> None:
    """Rule: [slo] stream_messages numbered notes sent through the ingest path (CreateNote)
    at stream_rate/s are all read off [stream] ingest_topic: none lost, none twice, no
    offset missing, p(95) send-to-topic <= stream_e2e_p95_ms (1 s).

    Fault: outbox-lag=1500 (p95), outbox-loss=0.3 (lost), stream-dup=0.5 (read twice)
    """
    s = env.settings.slo
    run = slo.stream_e2e(env, s.stream_messages, s.stream_rate, settle_s=5.0, progress=progress)
    capture = evidence.save("stream_e2e.json", run.as_capture())
    p95 = run.p95()
    if p95 is not None:
        evidence.measured(p95, s.stream_e2e_p95_ms, "ms")
    assert not run.send_failures, says(
        f"all {run.sent} notes accepted by the ingest path",
        f"{len(run.send_failures)} refused, first: {run.send_failures[0]}",
        capture,
    )
    assert not run.problems, says(
        f"all {run.sent} numbered notes on the topic once, in order, no offset missing",
        "; ".join(run.problems),
        capture,
    )
    assert p95 is not None and p95 <= s.stream_e2e_p95_ms, says(
        f"p(95) send-to-topic <= {s.stream_e2e_p95_ms:g} ms",
        f"{p95:.1f} ms over {len(run.latencies_ms)} notes (max {max(run.latencies_ms):.1f} ms)",
        capture,
    )


@pytest.mark.gate("slo")
@pytest.mark.load
@pytest.mark.usefixtures("load_slot")
def test_subscriptions_fan_out(
    env: Environment, evidence: Captures, progress: Callable[[str], None]
) -> None:
    """Rule: [slo] subscription_clients (100) clients subscribed over graphql-transport-ws
    each receive every one of subscription_events notes, p(95) from the mutation's answer
    to the client's receipt <= subscription_p95_ms (250 ms).

    Fault: fanout-slow=400
    """
    s = env.settings.slo
    run = slo.subscription_fanout(
        env,
        s.subscription_clients,
        s.subscription_events,
        wait_s=env.settings.timeout_s + 5,
        progress=progress,
    )
    capture = evidence.save("subscriptions_fanout.json", run.as_capture())
    p95 = run.p95()
    if p95 is not None:
        evidence.measured(p95, s.subscription_p95_ms, "ms")
    assert not run.refused, says(
        f"{run.clients} clients subscribed",
        f"{len(run.refused)} refused or dropped, first: {run.refused[0]}",
        capture,
    )
    assert run.missing == 0, says(
        f"{run.clients * run.events} deliveries ({run.clients} clients x {run.events} notes)",
        f"{run.missing} never arrived",
        capture,
    )
    assert p95 is not None and p95 <= s.subscription_p95_ms, says(
        f"p(95) delivery <= {s.subscription_p95_ms:g} ms",
        f"{p95:.1f} ms over {len(run.latencies_ms)} deliveries",
        capture,
    )
