"""The canary on the team's dashboards: a plan's figures pushed by Prometheus remote write.

Teams that watch k6 runs in Grafana have dashboards over the series k6's
`experimental-prometheus-rw` output writes. gonogo writes the same names, so
those dashboards show its canary unchanged. k6's mapping, applied to every
metric a plan records (grafana/xk6-output-prometheus-remote, pkg/remotewrite):

    counter  k6_<metric>_total           the count since the plan began
    rate     k6_<metric>_rate            the share of true samples so far (0..1)
    trend    k6_<metric>_p95, _p99       percentiles so far; times in SECONDS (k6 divides
                                         its milliseconds by 1000 on the way out)

so `k6_http_reqs_total`, `k6_http_req_duration_p95`, `k6_http_req_failed_rate`
and `k6_dropped_iterations_total`, each with `scenario`, `plan`, `env` and
`testid` labels (the k6 dashboards select runs by `testid`; here it is the
run's bundle name). `http_req_duration` is gonogo's, timed from the scheduled
start as the thresholds judge it; k6's own (from the send) is `http_req_service`.

Where it runs: for a pushed plan (the engine starts its master with --k6-series),
the master computes the series once a second into progress.json (`k6_series`, no
protobuf there); the parent (gonogo.load.engine) pushes them
through the one HTTP seam (gonogo.clients.http), so every push has a deadline
and is recorded in requests.jsonl; the last push is computed from summary.json,
so what the dashboard ends on is what the verdict judged.

Telemetry never decides a release: a push that fails is said once on the
terminal and in steps.log, and after `MAX_FAILED_PUSHES` in a row the plan goes
on without it. The wire format is the remote-write 1.0 protocol: a protobuf
`prometheus.WriteRequest`, snappy block-compressed. Google's protobuf and
cramjam (snappy) do the encoding; both are the optional extra `remote-write`,
so a plain install that does not push does not need them.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gonogo.clients.http import HttpClient, RequestSink
from gonogo.config import EnvSettings
from gonogo.errors import ConfigError, GonogoError
from gonogo.load.plan import Plan
from gonogo.load.stats import K6Sample, Store, k6_series
from gonogo.redact import REDACTOR

# A push is telemetry: a slow endpoint must not hold the plan's loop for long.
PUSH_TIMEOUT_S = 2.0
# Pushes failed in a row before the plan goes on without remote write.
MAX_FAILED_PUSHES = 3
RECORD_FILE = "remote_write.json"
EXTRA = "pip install 'gonogo[remote-write]' (protobuf and cramjam)"


@functools.cache
def _write_request_class() -> Any:
    """prometheus.WriteRequest (prompb/remote.proto and types.proto, the fields remote write
    1.0 needs), described at run time: no generated module to keep in step with protobuf."""
    try:
        from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    except ImportError:
        raise ConfigError(f"[load] remote_write needs the remote-write extra: {EXTRA}") from None
    field = descriptor_pb2.FieldDescriptorProto
    proto = descriptor_pb2.FileDescriptorProto(
        name="gonogo/prompb.proto", package="prometheus", syntax="proto3"
    )

    def message(name: str, *fields: tuple[str, int, int, str | None]) -> None:
        described = proto.message_type.add(name=name)
        for field_name, number, kind, type_name in fields:
            label = field.LABEL_REPEATED if type_name else field.LABEL_OPTIONAL
            added = described.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                added.type_name = type_name

    text, double, int64 = field.TYPE_STRING, field.TYPE_DOUBLE, field.TYPE_INT64
    message("Label", ("name", 1, text, None), ("value", 2, text, None))
    message("Sample", ("value", 1, double, None), ("timestamp", 2, int64, None))
    message(
        "TimeSeries",
        ("labels", 1, field.TYPE_MESSAGE, ".prometheus.Label"),
        ("samples", 2, field.TYPE_MESSAGE, ".prometheus.Sample"),
    )
    message("WriteRequest", ("timeseries", 1, field.TYPE_MESSAGE, ".prometheus.TimeSeries"))
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("prometheus.WriteRequest"))


@functools.cache
def _snappy() -> Callable[[bytes], bytes]:
    try:
        import cramjam
    except ImportError:
        raise ConfigError(f"[load] remote_write needs the remote-write extra: {EXTRA}") from None
    return lambda data: bytes(cramjam.snappy.compress_raw(data))  # block format, not framed


def encode(samples: list[K6Sample], labels: dict[str, str], at_ms: int) -> bytes:
    """One snappy-compressed WriteRequest: a series per sample, labels sorted by name (the
    protocol asks it), every sample at `at_ms`."""
    request = _write_request_class()()
    for name, scenario, value in samples:
        series = request.timeseries.add()
        for key, text in sorted({**labels, "__name__": name, "scenario": scenario}.items()):
            series.labels.add(name=key, value=text)
        series.samples.add(value=value, timestamp=at_ms)
    return _snappy()(request.SerializeToString())


class RemoteWrite:
    """One plan's pushes: the latest series once a second, the final ones from summary.json,
    and a record of what was sent (remote_write.json beside it)."""

    def __init__(
        self,
        url: str,
        labels: dict[str, str],
        *,
        client: HttpClient,
        say: Callable[[str], None],
        basic: tuple[str, str] | None = None,
    ) -> None:
        _write_request_class()  # a missing extra is said before any load is sent
        _snappy()
        self.url = url
        self.labels = labels
        self.client = client
        self.say = say
        self.headers = {
            "Content-Encoding": "snappy",
            "Content-Type": "application/x-protobuf",
            "X-Prometheus-Remote-Write-Version": "0.1.0",
        }
        if basic is not None:
            # Registered in the form it is sent in: a receiver that echoes the header back
            # must not put the credential into steps.log or remote_write.json.
            self.headers["Authorization"] = REDACTOR.add_basic(*basic)
        self.pushed = 0
        self.failed = 0
        self.in_a_row = 0
        self.last_error: str | None = None
        self.last_ms = 0
        self.names: set[str] = set()
        self._seen_elapsed: float | None = None

    @property
    def stopped(self) -> bool:
        return self.in_a_row >= MAX_FAILED_PUSHES

    def progress(self, data: dict[str, Any]) -> None:
        """The master's latest series (progress.json, read by the engine), unless already
        pushed."""
        if self.stopped:
            return
        if data.get("elapsed_s") == self._seen_elapsed or not data.get("k6"):
            return
        self._seen_elapsed = data.get("elapsed_s")
        self.push([(str(n), str(s), float(v)) for n, s, v in data["k6"]])

    def final(self, store: Store, plan: Plan) -> None:
        """The plan's end, from what summary.json holds: the dashboard ends on the verdict's
        figures. Tried even after failures in a row (one more push, and it is the one that
        matters)."""
        self.push(k6_series(store, plan.scenarios), final=True)

    def push(self, samples: list[K6Sample], final: bool = False) -> None:
        if self.stopped and not final:
            return
        # Prometheus refuses a second sample at the same millisecond for a series.
        at_ms = max(int(time.time() * 1000), self.last_ms + 1)
        body = encode(samples, self.labels, at_ms)
        try:
            response = self.client.post(self.url, content=body, headers=self.headers)
            ok = 200 <= response.status_code < 300
            why = "" if ok else f"HTTP {response.status_code}: {_first_line(response.text)}"
        except GonogoError as exc:
            ok, why = False, str(exc)
        if ok:
            self.pushed += 1
            self.in_a_row = 0
            self.last_ms = at_ms
            self.names.update(name for name, _s, _v in samples)
            return
        self.failed += 1
        self.in_a_row += 1
        first = self.last_error is None
        self.last_error = why
        if first:
            self.say(
                f"gonogo load: remote write to {self.url} failed ({why}); the plan goes on, "
                "its figures are in summary.json (check [load] remote_write and that the "
                "receiver accepts remote write, e.g. Prometheus --web.enable-remote-write-receiver)"
            )
        if self.stopped and not final:
            self.say(
                f"gonogo load: remote write stopped after {MAX_FAILED_PUSHES} failed pushes in "
                f"a row (last: {why}); the final figures will be tried once more"
            )

    def close(self, folder: Path) -> dict[str, Any]:
        """What was pushed where, for the bundle (evidence that the dashboard has the run)."""
        self.client.close()
        data = {
            "url": self.url,
            "labels": self.labels,
            "pushed": self.pushed,
            "failed": self.failed,
            "last_error": self.last_error,
            "series": sorted(self.names),
        }
        (folder / RECORD_FILE).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
        return data


def for_plan(
    settings: EnvSettings,
    plan: Plan,
    testid: str,
    say: Callable[[str], None],
    on_request: RequestSink | None = None,
) -> RemoteWrite | None:
    """The plan's pusher when the env's [load] remote_write asks for one. What stops it (the
    extra not installed, a secret not set) is said in one line and the plan runs without it:
    a dashboard is not worth a release's verdict."""
    load = settings.load
    if load.remote_write is None:
        return None
    try:
        token = None
        if load.remote_write_token_env:
            secret = settings.read_secret(
                load.remote_write_token_env, "remote write token", "load.remote_write_token_env"
            )
            token = lambda: secret  # noqa: E731
        basic = None
        if load.remote_write_user:
            basic = (
                load.remote_write_user,
                settings.read_secret(
                    load.remote_write_password_env,
                    "remote write password",
                    "load.remote_write_password_env",
                ),
            )
        client = HttpClient(
            load.remote_write, timeout_s=PUSH_TIMEOUT_S, token=token, on_request=on_request
        )
        labels = {"plan": plan.name, "env": settings.name, "testid": testid}
        return RemoteWrite(load.remote_write, labels, client=client, say=say, basic=basic)
    except GonogoError as exc:
        say(f"gonogo load: plan '{plan.name}' is not pushed to [load] remote_write: {exc}")
        return None


def _first_line(text: str) -> str:
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else "(empty answer)"
    return line[:200]
