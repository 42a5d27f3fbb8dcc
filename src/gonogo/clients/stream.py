"""The Kafka stream, with confluent-kafka: produce, and read back at a known offset.

Reading back uses `assign()` to the exact partition and offset a message was
produced at, never a consumer group: group joins take seconds (about 20 s on
the local broker), and an assigned read cannot pick up another run's message.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from gonogo.config.data import StreamSettings
from gonogo.errors import TargetError, Unreachable

KAFKA_LOG = logging.getLogger("gonogo.kafka")


@dataclass(frozen=True)
class Produced:
    topic: str
    partition: int
    offset: int
    elapsed_ms: float


@dataclass(frozen=True)
class Consumed:
    value: bytes
    key: bytes | None
    partition: int
    offset: int
    elapsed_ms: float


class StreamClient:
    def __init__(
        self, settings: StreamSettings, sasl_password: str | None, timeout_s: float
    ) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self._sasl_password = sasl_password

    def config(self) -> dict[str, Any]:
        ms = int(self.timeout_s * 1000)
        conf: dict[str, Any] = {
            # librdkafka's own log lines (a broker going away mid-run) go to Python's
            # logging, which pytest captures per check, not straight to the terminal.
            "logger": KAFKA_LOG,
            "bootstrap.servers": self.settings.bootstrap,
            "socket.timeout.ms": ms,
            "socket.connection.setup.timeout.ms": ms,
            **self.settings.client,
        }
        if self.settings.sasl_username:
            conf["sasl.username"] = self.settings.sasl_username
        if self._sasl_password:
            conf["sasl.password"] = self._sasl_password
        return conf

    def verify(self) -> None:
        """Fetch cluster metadata once (a check's setup): a down or wrong broker is an error."""
        from confluent_kafka.admin import AdminClient

        try:
            AdminClient(self.config()).list_topics(timeout=self.timeout_s)
        except KafkaException as exc:
            raise Unreachable(self.settings.bootstrap, self.timeout_s, exc.args[0].str()) from None

    def produce(self, topic: str, value: bytes, key: bytes | None = None) -> Produced:
        ms = int(self.timeout_s * 1000)
        producer = Producer({**self.config(), "message.timeout.ms": ms, "acks": "all"})
        outcome: dict[str, Any] = {}

        def delivered(err: KafkaError | None, msg: Any) -> None:
            outcome["err"] = err
            outcome["msg"] = msg

        t0 = time.perf_counter()
        try:
            producer.produce(topic, value=value, key=key, on_delivery=delivered)
            producer.flush(self.timeout_s)
        except (KafkaException, BufferError) as exc:
            raise Unreachable(self.settings.bootstrap, self.timeout_s, exc) from None
        elapsed = (time.perf_counter() - t0) * 1000.0
        if "msg" not in outcome:
            raise Unreachable(
                self.settings.bootstrap, self.timeout_s, f"no delivery report for topic {topic}"
            )
        err = outcome["err"]
        if err is not None:
            unreachable = (
                KafkaError._MSG_TIMED_OUT,
                KafkaError._TRANSPORT,
                KafkaError._ALL_BROKERS_DOWN,
            )
            if err.code() in unreachable:
                raise Unreachable(
                    self.settings.bootstrap, self.timeout_s, f"message not delivered: {err.str()}"
                )
            raise TargetError(f"broker {self.settings.bootstrap} refused the message: {err.str()}")
        msg = outcome["msg"]
        return Produced(
            topic=topic, partition=msg.partition(), offset=msg.offset(), elapsed_ms=elapsed
        )

    def _read(self, topic: str, partition: int, start: int) -> Iterator[Any]:
        """Messages from `start` on, as they arrive, until the env's timeout runs out."""
        consumer = Consumer(
            {
                **self.config(),
                "group.id": f"gonogo-reader-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "auto.offset.reset": "error",
                "fetch.wait.max.ms": 20,  # not librdkafka's 500 ms: the canary times its reads
            }
        )
        try:
            consumer.assign([TopicPartition(topic, partition, start)])
            yield from _poll(consumer, topic, time.perf_counter() + self.timeout_s, lambda: False)
        finally:
            consumer.close()

    def read_at(self, topic: str, partition: int, offset: int) -> Consumed | None:
        """The message at exactly (partition, offset), or None if none arrives in time."""
        t0 = time.perf_counter()
        for msg in self._read(topic, partition, offset):
            if msg.offset() == offset:
                return Consumed(
                    value=msg.value() or b"",
                    key=msg.key(),
                    partition=partition,
                    offset=offset,
                    elapsed_ms=(time.perf_counter() - t0) * 1000.0,
                )
        return None

    def produce_many(self, topic: str, messages: list[tuple[bytes, bytes]]) -> list[Produced]:
        """(key, value) pairs with one idempotent producer, in order; their delivery reports."""
        ms = int(self.timeout_s * 1000)
        producer = Producer(
            {**self.config(), "message.timeout.ms": ms, "acks": "all", "enable.idempotence": True}
        )
        reports: list[Produced] = []
        errors: list[str] = []

        def delivered(err: KafkaError | None, msg: Any) -> None:
            if err is not None:
                errors.append(err.str())
            else:
                reports.append(Produced(topic, msg.partition(), msg.offset(), 0.0))

        try:
            for key, value in messages:
                producer.produce(topic, value=value, key=key, partition=0, on_delivery=delivered)
            left = producer.flush(self.timeout_s)
        except (KafkaException, BufferError) as exc:
            raise Unreachable(self.settings.bootstrap, self.timeout_s, exc) from None
        if errors or left:
            cause = errors[0] if errors else f"{left} message(s) undelivered"
            raise Unreachable(self.settings.bootstrap, self.timeout_s, cause)
        return reports

    def read_range(
        self, topic: str, partition: int, start: int, end: int
    ) -> list[tuple[int, bytes | None, bytes]]:
        """Every message with start <= offset < end that arrives within the timeout."""
        out: list[tuple[int, bytes | None, bytes]] = []
        for msg in self._read(topic, partition, start):
            offset = int(msg.offset() or 0)
            if offset >= end:
                break
            out.append((offset, msg.key(), msg.value() or b""))
            if offset == end - 1:
                break
        return out

    def watermarks(self, topic: str) -> dict[int, int]:
        """partition -> the offset the next message will get (the high watermark)."""
        consumer = Consumer({**self.config(), "group.id": f"gonogo-meta-{uuid.uuid4().hex}"})
        try:
            meta = consumer.list_topics(topic, timeout=self.timeout_s)
            described = meta.topics.get(topic)
            if described is None or described.error is not None or not described.partitions:
                raise TargetError(f"topic {topic} does not exist on {self.settings.bootstrap}")
            return {
                p: int(consumer.get_watermark_offsets(
                    TopicPartition(topic, p), timeout=self.timeout_s)[1])
                for p in described.partitions
            }  # fmt: skip
        except KafkaException as exc:
            raise Unreachable(self.settings.bootstrap, self.timeout_s, exc) from None
        finally:
            consumer.close()

    def follow(
        self, topic: str, starts: dict[int, int], stop: Callable[[], bool], limit_s: float
    ) -> Iterator[tuple[int, int, bytes | None, bytes, float]]:
        """(partition, offset, key, value, perf_counter at receipt) from `starts` on, as
        they arrive, until `stop()` or `limit_s` seconds."""
        consumer = Consumer(
            {
                **self.config(),
                "group.id": f"gonogo-follow-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "auto.offset.reset": "error",
                "fetch.wait.max.ms": 10,  # the receipt time is what is being measured
            }
        )
        try:
            consumer.assign([TopicPartition(topic, p, o) for p, o in starts.items()])
            for msg in _poll(consumer, topic, time.perf_counter() + limit_s, stop):
                yield (
                    int(msg.partition() or 0),
                    int(msg.offset() or 0),
                    msg.key(),
                    msg.value() or b"",
                    time.perf_counter(),
                )
        finally:
            consumer.close()

    def group_lag(self, group: str) -> dict[str, dict[str, int]]:
        """'topic[partition]' -> committed offset, log end and lag, for one consumer group.

        A partition the group never committed counts its whole retained log as lag.
        """
        from confluent_kafka import ConsumerGroupTopicPartitions
        from confluent_kafka.admin import AdminClient

        admin = AdminClient(self.config())
        try:
            future = admin.list_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(group)], request_timeout=self.timeout_s
            )[group]
            committed = future.result(timeout=self.timeout_s).topic_partitions or []
        except KafkaException as exc:
            raise Unreachable(self.settings.bootstrap, self.timeout_s, exc.args[0].str()) from None
        if not committed:
            raise TargetError(
                f"consumer group {group} has no committed offsets on {self.settings.bootstrap}: "
                "is the app's consumer running, and is [stream] groups right?"
            )
        probe = Consumer({**self.config(), "group.id": f"gonogo-lag-{uuid.uuid4().hex}"})
        out = {}
        try:
            for tp in committed:
                low, high = probe.get_watermark_offsets(
                    TopicPartition(tp.topic, tp.partition), timeout=self.timeout_s
                )
                position = tp.offset if tp.offset >= 0 else low
                out[f"{tp.topic}[{tp.partition}]"] = {
                    "committed": int(tp.offset),
                    "log_end": int(high),
                    "lag": int(max(0, high - position)),
                }
        except KafkaException as exc:
            raise Unreachable(self.settings.bootstrap, self.timeout_s, exc.args[0].str()) from None
        finally:
            probe.close()
        return out


def _poll(
    consumer: Consumer, topic: str, deadline: float, stop: Callable[[], bool]
) -> Iterator[Any]:
    """Messages as they arrive until the deadline or `stop()`; end of partition is not an error."""
    while time.perf_counter() < deadline and not stop():
        msg = consumer.poll(min(0.05, max(0.0, deadline - time.perf_counter())))
        if msg is None:
            continue
        error = msg.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                continue
            raise TargetError(f"reading {topic}: {error}")
        yield msg
