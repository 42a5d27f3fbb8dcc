"""Stream integrity: the app's consumers keep up, the backlog drains, offsets have no gaps."""

from __future__ import annotations

import time
import uuid

from gonogo.checks import says
from gonogo.clients.stream import StreamClient
from gonogo.dataops import sequence_problems
from gonogo.env import Environment
from gonogo.errors import NotConfigured
from gonogo.evidence import Captures


def _groups_and_baseline(env: Environment) -> tuple[list[str], float]:
    groups = env.settings.require("stream", "the Kafka stream").groups
    if not groups:
        raise NotConfigured(
            env.name, "stream", "consumer lag", "list the app's consumer groups in [stream] groups"
        )
    baseline = env.settings.baseline.consumer_lag
    if baseline is None:
        raise NotConfigured(
            env.name, "baseline", "consumer lag", "set [baseline] consumer_lag to the normal lag"
        )
    return groups, baseline


def _total_lag(stream: StreamClient, groups: list[str]) -> dict[str, int]:
    return {g: sum(p["lag"] for p in stream.group_lag(g).values()) for g in groups}


def test_consumer_group_lag_within_baseline(
    env: Environment, stream: StreamClient, evidence: Captures
) -> None:
    """Rule: each of the app's consumer groups lags at most dataops.lag_factor (1.5) x the
    env's baseline; the least of three samples half a second apart is judged, so a momentary spike
    does not fail it, a stalled consumer does.

    Fault: consumer-stall
    """
    groups, baseline = _groups_and_baseline(env)
    limit = env.settings.dataops.lag_factor * baseline
    samples = []
    for i in range(3):
        if i:
            time.sleep(0.5)
        samples.append({g: stream.group_lag(g) for g in groups})
    least = {g: min(sum(p["lag"] for p in s[g].values()) for s in samples) for g in groups}
    path = evidence.save("consumer_lag.json", {"limit": limit, "least": least, "samples": samples})
    worst = max(least.values())
    evidence.measured(worst, limit)
    over = {g: lag for g, lag in least.items() if lag > limit}
    assert not over, says(
        f"consumer lag <= {limit:g} ({env.settings.dataops.lag_factor:g} x baseline {baseline:g})",
        ", ".join(f"{g}: {lag}" for g, lag in over.items()),
        path,
    )


def test_ingest_backlog_drains(env: Environment, stream: StreamClient, evidence: Captures) -> None:
    """Rule: the app's consumer groups' lag falls to the baseline within dataops.drain_within_s.

    Fault: consumer-stall
    """
    groups, baseline = _groups_and_baseline(env)
    bound = env.settings.dataops.drain_within_s
    t0 = time.monotonic()
    history = []
    while True:
        lag = _total_lag(stream, groups)
        history.append({"t_s": round(time.monotonic() - t0, 2), **lag})
        if max(lag.values()) <= baseline or time.monotonic() - t0 > bound:
            break
        time.sleep(0.5)
    path = evidence.save(
        "backlog_drain.json", {"baseline": baseline, "bound_s": bound, "history": history}
    )
    drained = max(lag.values()) <= baseline
    evidence.measured(history[-1]["t_s"], bound, " s")
    assert drained, says(
        f"consumer lag down to the baseline ({baseline:g}) within {bound:g} s",
        f"still {lag} after {history[-1]['t_s']:g} s",
        path,
    )


def test_canary_offsets_contiguous(
    env: Environment, stream: StreamClient, evidence: Captures
) -> None:
    """Rule: N numbered messages produced to the canary topic are read back with no offset
    missing between the first and the last, each number once, in order.

    Fault: kafka-down (the gap, loss, duplicate and order rules are proven on recorded
    sequences in tests/test_dataops_pack.py: a broker here cannot be made to lose offsets)
    """
    topic = env.settings.require("stream", "the Kafka stream").canary_topic
    count = env.settings.dataops.canary_messages
    key = f"gonogo-seq-{uuid.uuid4().hex}".encode()
    produced = stream.produce_many(topic, [(key, str(n).encode()) for n in range(count)])
    first, last = min(p.offset for p in produced), max(p.offset for p in produced)
    records = stream.read_range(topic, 0, first, last + 1)
    problems = sequence_problems(records, first, last, key, count)
    path = evidence.save(
        "canary_sequence.json",
        {
            "topic": topic,
            "key": key.decode(),
            "count": count,
            "first": first,
            "last": last,
            "read": [
                [o, (k or b"").decode(errors="replace"), v.decode(errors="replace")]
                for o, k, v in records
            ],
            "problems": problems,
        },
    )
    assert not problems, says(
        f"{count} numbered messages at {topic}[0] offsets {first}..{last}, none missing",
        "; ".join(problems),
        path,
    )
