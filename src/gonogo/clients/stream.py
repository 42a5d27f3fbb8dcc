"""The Kafka stream, with confluent-kafka: produce, and read back at a known offset.

Reading back uses `assign()` to the exact partition and offset a message was
produced at, never a consumer group: group joins take seconds (about 20 s on
the local broker), and an assigned read cannot pick up another run's message.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from gonogo.config import StreamSettings
from gonogo.errors import TargetError, Unreachable


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

    def read_at(self, topic: str, partition: int, offset: int) -> Consumed | None:
        """The message at exactly (partition, offset), or None if none arrives in time."""
        consumer = Consumer(
            {
                **self.config(),
                "group.id": f"gonogo-reader-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
                "auto.offset.reset": "error",
                "fetch.wait.max.ms": 20,  # not librdkafka's 500 ms: the canary times this read
            }
        )
        t0 = time.perf_counter()
        deadline = t0 + self.timeout_s
        try:
            consumer.assign([TopicPartition(topic, partition, offset)])
            while time.perf_counter() < deadline:
                msg = consumer.poll(min(0.25, max(0.0, deadline - time.perf_counter())))
                if msg is None:
                    continue
                error = msg.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    raise TargetError(f"reading {topic}[{partition}]@{offset}: {error}")
                if msg.offset() != offset:
                    continue
                return Consumed(
                    value=msg.value() or b"",
                    key=msg.key(),
                    partition=partition,
                    offset=offset,
                    elapsed_ms=(time.perf_counter() - t0) * 1000.0,
                )
            return None
        finally:
            consumer.close()
