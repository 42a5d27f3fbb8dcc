"""The SLO pack's two end-to-end probes that are not request load: the stream and the push.

- Stream end to end: N uniquely numbered notes go in through the ingest path
  (the persisted CreateNote mutation, at a fixed rate) while gonogo follows
  the ingest topic from its high watermarks; each note's latency is from its
  send to its receipt off the topic. Lost, repeated and reordered numbers and
  missing offsets are judged by the same rule as the data-ops canary
  (gonogo.dataops.sequence_problems).
- Subscriptions fan-out: C clients on graphql-transport-ws, each subscribed;
  a warm-up note proves every subscription is live; then K notes are created
  and every client's receipt of each is timed from the moment the mutation
  returned (server-to-client delivery, one clock).

Both are bounded (every wait has a limit) and measured with one clock in
this process. Nothing here imports pytest.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gonogo.checks import field_of, percentile
from gonogo.dataops import sequence_problems
from gonogo.errors import NotConfigured, TargetError
from gonogo.shape import root_field


@dataclass
class StreamRun:
    sent: int
    latencies_ms: list[float]
    problems: list[str]
    first: dict[int, int]
    last: dict[int, int]
    send_failures: list[str] = field(default_factory=list)

    def p95(self) -> float | None:
        return percentile(self.latencies_ms, 95) if self.latencies_ms else None

    def as_capture(self) -> dict[str, Any]:
        return {
            "sent": self.sent,
            "received": len(self.latencies_ms),
            "p95_ms": self.p95(),
            "max_ms": max(self.latencies_ms) if self.latencies_ms else None,
            "problems": self.problems,
            "send_failures": self.send_failures[:20],
            "offsets": {"first": self.first, "last": self.last},
            "latencies_ms": [round(v, 2) for v in self.latencies_ms],
        }


def stream_e2e(
    env: Any,
    count: int,
    rate: float,
    settle_s: float,
    progress: Callable[[str], None] | None = None,
) -> StreamRun:
    """Send `count` numbered notes through the ingest path and read them off the topic;
    `progress` gets where it stands (the plugin shows it at most once a second)."""
    say = progress or (lambda _line: None)
    table = env.settings.require("stream", "the Kafka stream")
    topic = table.ingest_topic
    if not topic:
        raise NotConfigured(env.name, "stream.ingest_topic", "stream end to end")
    run = uuid.uuid4().hex[:12]
    marker = f"gonogo-e2e {run} #"
    starts = env.stream.watermarks(topic)
    sent_at: dict[int, float] = {}
    # (partition, offset, our number or None, perf_counter at receipt): parsed once, on arrival.
    received: list[tuple[int, int, int | None, float]] = []
    ours: set[int] = set()
    done = threading.Event()
    failure: list[BaseException] = []
    limit = count / rate + settle_s + env.settings.timeout_s

    def follow() -> None:
        try:
            for partition, offset, _key, value, at in env.stream.follow(
                topic, starts, done.is_set, limit
            ):
                number = _number(value, marker, table.ingest_text_field)
                received.append((partition, offset, number, at))
                if number is not None:
                    ours.add(number)
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    reader = threading.Thread(target=follow, name="gonogo-e2e-reader", daemon=True)
    reader.start()
    time.sleep(0.3)  # the reader is assigned before the first note goes in
    op = env.settings.operations.create_note
    send_failures: list[str] = []
    t0 = time.perf_counter()
    for i in range(count):
        wait = t0 + i / rate - time.perf_counter()
        if wait > 0:
            time.sleep(wait)
        sent_at[i] = time.perf_counter()
        failed = _create(env, op, f"{marker}{i}")
        if failed:
            send_failures.append(f"#{i}: {failed}")
        say(f"gonogo stream e2e: {i + 1}/{count} sent, {len(ours)} back off {topic}, "
            f"{len(send_failures)} failed")  # fmt: skip
    # Wait for the last ones (or the settle time), then stop the reader.
    deadline = time.perf_counter() + settle_s
    while time.perf_counter() < deadline and not failure:
        if len(ours) >= count:
            break
        say(f"gonogo stream e2e: {count}/{count} sent, {len(ours)} back off {topic}, waiting "
            f"{deadline - time.perf_counter():.0f} s more")  # fmt: skip
        time.sleep(0.05)
    done.set()
    reader.join(timeout=env.settings.timeout_s + 5)
    if failure:
        raise failure[0]

    latencies, problems, last = _judged(received, sent_at, starts, marker.encode(), count)
    return StreamRun(count, latencies, problems, dict(starts), last, send_failures)


def _create(env: Any, op: Any, text: str) -> str | None:
    """One CreateNote; why it failed, if it did."""
    try:
        result = env.graphql.persisted(op, {op.var("text"): text}, write=True)
    except TargetError as exc:
        return str(exc)
    return None if result.ok else "; ".join(result.error_messages())


def _judged(
    received: list[tuple[int, int, int | None, float]],
    sent_at: dict[int, float],
    starts: dict[int, int],
    key: bytes,
    count: int,
) -> tuple[list[float], list[str], dict[int, int]]:
    """Latencies of our notes (first receipt of each), the data-ops rule's problems over
    the offsets, and the last offset read on each partition."""
    latencies: list[float] = []
    seen: set[int] = set()
    by_partition: dict[int, list[tuple[int, bytes | None, bytes]]] = {p: [] for p in starts}
    for partition, offset, number, at in received:
        # Ours as (offset, marker, number) for the data-ops rule; others only hold an offset.
        row = (offset, key, str(number).encode()) if number is not None else (offset, None, b"")
        by_partition.setdefault(partition, []).append(row)
        if number is not None and number not in seen and number in sent_at:
            seen.add(number)
            latencies.append((at - sent_at[number]) * 1000.0)
    last = {p: max((o for o, _, _ in rows), default=starts.get(p, 0) - 1)
            for p, rows in by_partition.items()}  # fmt: skip
    problems: list[str] = []
    if len(by_partition) == 1:
        ((p, rows),) = by_partition.items()
        problems = sequence_problems(rows, starts[p], last[p], key, count)
    else:  # keyed by note id, spread over partitions: offsets per partition, no order
        for p, rows in by_partition.items():
            problems += sequence_problems(rows, starts.get(p, 0), last[p], key, 0, ordered=False)
        every = [row for rows in by_partition.values() for row in rows]
        problems += sequence_problems(every, 0, -1, key, count, ordered=False)
    return latencies, problems, last


def _number(value: bytes, marker: str, text_field: str) -> int | None:
    try:
        event = json.loads(value)
    except ValueError:
        return None
    text = field_of(event, text_field)
    if not isinstance(text, str) or not text.startswith(marker):
        return None
    tail = text[len(marker) :]
    return int(tail) if tail.isdigit() else None


# -- subscriptions ----------------------------------------------------------------------


@dataclass
class FanoutRun:
    clients: int
    events: int
    latencies_ms: list[float]
    missing: int
    refused: list[str] = field(default_factory=list)

    def p95(self) -> float | None:
        return percentile(self.latencies_ms, 95) if self.latencies_ms else None

    def as_capture(self) -> dict[str, Any]:
        return {
            "clients": self.clients,
            "events": self.events,
            "deliveries": len(self.latencies_ms),
            "missing": self.missing,
            "refused": self.refused[:20],
            "p95_ms": self.p95(),
            "max_ms": max(self.latencies_ms) if self.latencies_ms else None,
        }


def subscription_fanout(
    env: Any,
    clients: int,
    events: int,
    wait_s: float,
    progress: Callable[[str], None] | None = None,
) -> FanoutRun:
    """C subscribed clients, K notes: every client's receipt of every note, timed."""
    say = progress or (lambda _line: None)
    return asyncio.run(
        asyncio.wait_for(_fanout(env, clients, events, wait_s, say), timeout=wait_s * 3 + 60)
    )


async def _fanout(
    env: Any, clients: int, events: int, wait_s: float, say: Callable[[str], None]
) -> FanoutRun:
    fan = _Fanout(env, clients)
    tasks = [asyncio.create_task(fan.client(i)) for i in range(clients)]
    created: dict[str, float] = {}
    try:
        # Warm-up until every client has seen one note: each subscription is live.
        deadline = time.perf_counter() + wait_s
        while not all(r.is_set() for r in fan.ready) and time.perf_counter() < deadline:
            live_now = sum(r.is_set() for r in fan.ready) - len(fan.refused)
            say(f"gonogo fan-out: {live_now}/{clients} subscribed, {len(fan.refused)} refused")
            await fan.create(fan.warm)
            waiting = [asyncio.create_task(r.wait()) for r in fan.ready if not r.is_set()]
            await asyncio.wait(waiting, timeout=1.0)
        for k in range(events):
            text = f"{fan.prefix}{k}"
            created[text] = await fan.create(text)
            await asyncio.sleep(0.2)
        end = time.perf_counter() + wait_s
        live = fan.live()
        while time.perf_counter() < end:
            if all(len(fan.got[i]) >= events for i in live):
                break
            delivered = sum(len(fan.got[i]) for i in live)
            say(f"gonogo fan-out: {delivered}/{len(live) * events} deliveries, "
                f"{len(fan.refused)} refused")  # fmt: skip
            await asyncio.sleep(0.05)
    finally:
        for ws in fan.sockets:
            await ws.close()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    # A push can beat the mutation's own answer home: that counts as no wait, not less.
    latencies = [
        max(0.0, (fan.got[i][text] - at) * 1000.0)
        for i in range(clients)
        for text, at in created.items()
        if text in fan.got[i]
    ]
    missing = clients * events - len(latencies)
    return FanoutRun(clients, events, latencies, missing, fan.refused)


class _Fanout:
    """The clients' shared state: what each received and when, who was refused, who is live."""

    def __init__(self, env: Any, clients: int) -> None:
        self.env = env
        self.slo = env.settings.slo
        self.pushed = root_field(self.slo.subscription_document)
        self.url = env.base_url.replace("http", "ws", 1) + self.slo.ws_path
        self.token = env.token()
        run = uuid.uuid4().hex[:12]
        self.warm = f"gonogo-fanout {run} warm-up"
        self.prefix = f"gonogo-fanout {run} #"
        self.got: list[dict[str, float]] = [{} for _ in range(clients)]
        self.refused: list[str] = []
        self.ready = [asyncio.Event() for _ in range(clients)]
        self.sockets: list[Any] = []

    def live(self) -> list[int]:
        gone = {r.split(":", 1)[0] for r in self.refused}
        return [i for i in range(len(self.got)) if f"client {i}" not in gone]

    def refuse(self, i: int, why: str) -> None:
        self.refused.append(f"client {i}: {why}")
        self.ready[i].set()

    async def create(self, text: str) -> float:
        op = self.env.settings.operations.create_note
        call = functools.partial(self.env.graphql.persisted, op, {op.var("text"): text}, write=True)
        result = await asyncio.to_thread(call)
        if not result.ok:
            raise TargetError(f"CreateNote failed: {'; '.join(result.error_messages())}")
        return time.perf_counter()

    async def client(self, i: int) -> None:
        from websockets.asyncio.client import connect
        from websockets.typing import Subprotocol

        timeout = self.env.settings.timeout_s
        try:
            ws = await connect(
                self.url, subprotocols=[Subprotocol("graphql-transport-ws")], open_timeout=timeout
            )
        except Exception as exc:  # counted as a refused client
            self.refuse(i, f"{type(exc).__name__}: {exc}")
            return
        self.sockets.append(ws)
        try:
            init = {"type": "connection_init", "payload": {"Authorization": f"Bearer {self.token}"}}
            await ws.send(json.dumps(init))
            ack = json.loads(await asyncio.wait_for(ws.recv(), timeout))
            if ack.get("type") != "connection_ack":
                self.refuse(i, str(ack))
                return
            query = {"query": self.slo.subscription_document}
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": query}))
            async for raw in ws:
                at = time.perf_counter()
                message = json.loads(raw)
                if message.get("type") == "error":
                    self.refuse(i, json.dumps(message)[:200])
                    return
                data = ((message.get("payload") or {}).get("data") or {}).get(self.pushed) or {}
                text = str(field_of(data, self.slo.subscription_text_field) or "")
                if text == self.warm:
                    self.ready[i].set()
                elif text.startswith(self.prefix):
                    self.got[i].setdefault(text, at)
        except Exception as exc:  # a dropped client is counted
            self.refuse(i, f"{type(exc).__name__}: {exc}")
