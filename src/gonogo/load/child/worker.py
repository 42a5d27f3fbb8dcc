"""The Locust worker: one Shard user, its Recorder drained into every report."""

from __future__ import annotations

import math
import sys
from typing import Any

from locust import events
from locust.env import Environment

from gonogo.load.child.recorder import RECORDER, REPORT_INTERVAL_S
from gonogo.load.child.shard import Shard


def worker(master_host: str, master_port: int, connect_timeout_s: float = 60.0) -> int:
    import locust.runners as locust_runners

    locust_runners.WORKER_REPORT_INTERVAL = REPORT_INTERVAL_S
    # Locust retries for CONNECT_TIMEOUT x CONNECT_RETRY_COUNT (5 minutes): bounded to ours.
    locust_runners.CONNECT_RETRY_COUNT = max(1, math.ceil(connect_timeout_s / 5))
    environment = Environment(user_classes=[Shard], events=events)
    environment.events.request.add_listener(RECORDER.on_request)

    def on_report(client_id: str, data: dict[str, Any]) -> None:
        data["gonogo"] = RECORDER.drain()

    environment.events.report_to_master.add_listener(on_report)
    try:
        runner = environment.create_worker_runner(master_host, master_port)
    except ConnectionError:
        print(
            f"gonogo load-worker: the load master at {master_host}:{master_port} did not answer "
            f"within {connect_timeout_s:g} s; is the gonogo run still waiting for workers?",
            file=sys.stderr,
        )
        return 1
    runner.greenlet.join()
    return 0
