"""The Kafka canary: a message with this run's id goes in and comes back byte for byte."""

from __future__ import annotations

import json
import time
import uuid

from gonogo.checks import says
from gonogo.clients.stream import StreamClient
from gonogo.env import Environment
from gonogo.evidence import Captures


def test_kafka_canary(env: Environment, stream: StreamClient, evidence: Captures) -> None:
    """Rule: a message with a unique run id, produced to the canary topic, is read back at the
    offset it was written to, byte-identical; produce-to-consume latency is recorded.

    Fault: kafka-down
    """
    topic = env.settings.require("stream", "the Kafka canary").canary_topic
    run_id = str(uuid.uuid4())
    payload = json.dumps({"gonogo_canary": run_id, "sent": time.time()}, sort_keys=True).encode()
    t0 = time.perf_counter()
    produced = stream.produce(topic, payload, key=run_id.encode())
    consumed = stream.read_at(topic, produced.partition, produced.offset)
    e2e_ms = (time.perf_counter() - t0) * 1000.0
    path = evidence.save(
        "kafka_canary.json",
        {
            "topic": topic,
            "run_id": run_id,
            "partition": produced.partition,
            "offset": produced.offset,
            "produce_ms": round(produced.elapsed_ms, 3),
            "consume_ms": round(consumed.elapsed_ms, 3) if consumed else None,
            "end_to_end_ms": round(e2e_ms, 3),
            "identical": bool(consumed and consumed.value == payload),
        },
    )
    assert consumed is not None, says(
        f"the canary back from {topic}[{produced.partition}]@{produced.offset}",
        f"nothing within {env.settings.timeout_s:g} s",
        path,
    )
    assert consumed.value == payload, says(
        f"the bytes this run sent (run id {run_id})", f"{consumed.value[:120]!r}", path
    )
