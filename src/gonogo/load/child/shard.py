"""One worker's share of every scenario's schedule: the Shard user and its run."""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import math
import os
import time
from typing import Any

import gevent
from gevent.event import Event
from locust import User, task
from locust.env import Environment

from gonogo.config.load import LoadRequest, LoadScenario
from gonogo.load.child.httpclient import Answer, Http, Wire
from gonogo.load.child.recorder import FILL_EVERY_S, RECORDER, Health
from gonogo.load.child.timer import Waker
from gonogo.load.engine import GRAPH_PASSWORD_VARIABLE, TOKEN_VARIABLE
from gonogo.load.plan import Plan, request_method
from gonogo.load.schedule import arrivals
from gonogo.load.stats import Tags
from gonogo.vocabulary import parse_duration

log = logging.getLogger("gonogo.load")


def _tags(name: str, s: LoadScenario, r: LoadRequest, method: str) -> Tags:
    """A request's tags as the store keys them (sorted): made once per request of the plan,
    not once per sample."""
    tags = {**s.tags, **r.tags, "scenario": name, "name": r.name, "method": method}
    return tuple(sorted(tags.items()))


class Prepared:
    """A scenario's means on this worker: its slots, connections, waker and requests."""

    def __init__(self, run: ShardRun, name: str, s: LoadScenario) -> None:
        slots = max(1, math.ceil(s.max_concurrency / run.shards))
        self.pool = Slots(slots)
        self.http = Http(run.target, slots)
        self.waker = Waker()
        self.name = name
        self.scenario = s
        self.sent = [Sent(name, s, r) for r in s.requests]
        for sent in self.sent:
            if sent.request.kind != "cypher":
                sent.wire = self.http.prepare(*run.http_request(sent.request))
        self.tags: Tags = tuple(sorted({**s.tags, "scenario": name}.items()))


class Slots:
    """At most `size` iterations at once (a scenario's max_concurrency on this worker): a
    count and raw greenlets. gevent's Pool did the same with a group, links and a semaphore
    per spawn: a measurable share of a saturated worker's CPU, for bookkeeping the open model
    does not need: a full pool drops the arrival, it never waits for a slot."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.running: set[Any] = set()
        self._idle = Event()
        self._idle.set()

    def full(self) -> bool:
        return len(self.running) >= self.size

    def spawn(self, function: Any, *args: Any) -> None:
        self._idle.clear()
        self.running.add(gevent.spawn_raw(self._run, function, args))

    def _run(self, function: Any, args: tuple[Any, ...]) -> None:
        try:
            function(*args)
        finally:
            self.running.discard(gevent.getcurrent())
            if not self.running:
                self._idle.set()

    def join(self, timeout: float) -> None:
        self._idle.wait(timeout)

    def kill(self, timeout: float) -> None:
        """Iterations still running after the grace period are stopped (each counted as sent;
        its request event never fires, as k6's interrupted iterations)."""
        for running in list(self.running):
            gevent.kill(running)
        self._idle.wait(timeout)


class Sent:
    """One request of a scenario as this worker sends it: its tags made once."""

    __slots__ = ("request", "scenario", "tags", "wire")

    def __init__(self, scenario: str, s: LoadScenario, request: LoadRequest) -> None:
        self.scenario = scenario
        self.request = request
        self.tags = _tags(scenario, s, request, request_method(request))
        self.wire: Wire | None = None  # an HTTP or GraphQL request's bytes (Prepared)

    def context(self, intended: float, called: float) -> dict[str, Any]:
        """What the Recorder reads off the request event: the sample's tags and its times."""
        return {
            "gonogo": {
                "tags": self.tags,
                "scenario": self.scenario,
                "intended": intended,
                "called": called,
                "kind": self.request.kind,
            }
        }


class Failed(Exception):
    """A request that was answered, and failed: its text is what the failure message shows
    (Locust groups failures by repr, so the repr is the text: "HTTP 500", not a class)."""

    def __repr__(self) -> str:
        return str(self)


class BadStatus(Failed):
    """An answer outside 200-399."""


class GraphQLErrors(Failed):
    """A GraphQL answer with errors, or not JSON."""


def _graphql_errors(content: bytes) -> GraphQLErrors | None:
    try:
        errors = (json.loads(content) or {}).get("errors")
    except (ValueError, AttributeError):
        return GraphQLErrors("the answer is not JSON")
    return GraphQLErrors(f"GraphQL errors: {str(errors)[:200]}") if errors else None


class Shard(User):
    """One per worker: runs this worker's share of every scenario's schedule, once."""

    host = "http://localhost"

    @task
    def run_plan(self) -> None:
        runner: Any = self.environment.runner
        options = self.environment.parsed_options
        plan = Plan.from_json(json.loads(options.gonogo_plan))
        shards = int(options.gonogo_shards)
        # Locust numbers workers in the order they joined; a worker that rejoined gets a
        # new number, so wrap it (a shard run twice is visible in summary.json's shards).
        shard = max(0, int(getattr(runner, "worker_index", 0))) % shards
        outcome = ShardRun(self.environment, plan, shard, shards).run()
        sender = getattr(runner, "_send_stats", None)
        if callable(sender):
            sender()  # the last samples reach the master before "done"
        runner.send_message("gonogo-done", {"shard": shard, **outcome})
        while True:  # the master ends the run (quit); never start the plan again
            gevent.sleep(3600)


# Bolt connections opened before a graph plan's schedule (at most its concurrency).
WARM_CONNECTIONS = 8


class ShardRun:
    def __init__(self, environment: Environment, plan: Plan, shard: int, shards: int) -> None:
        self.environment = environment
        self.plan = plan
        self.shard = shard
        self.shards = shards
        self.target = plan.target
        self.budget = math.ceil(plan.max_requests / shards)
        self.sent = 0
        self.bounded = False
        self.scheduled = 0
        self.dropped = 0
        self.token = os.environ.get(TOKEN_VARIABLE, "")
        self._graph: Any = None

    def run(self) -> dict[str, Any]:
        self._warm_graph()
        # Everything a scenario needs is made before the clock starts: the first arrivals are
        # due at once, and made inside the schedule they would start late and mark the first
        # second saturated. What is alive now (Locust, gevent, the plan, the connections)
        # lives all run: moved out of the collector's reach, a full collection scans only
        # what the run made, and does not hold the loop mid-run (docs/load.md).
        ready = [Prepared(self, name, s) for name, s in self.plan.scenarios.items()]
        gc.collect()
        gc.freeze()
        start = time.perf_counter()
        RECORDER.started = start
        health = Health(self.shard)
        probe = gevent.spawn(health.run)
        filler = gevent.spawn(RECORDER.fill_every, FILL_EVERY_S)
        jobs = [gevent.spawn(self._scenario, made, start) for made in ready]
        gevent.joinall(jobs)
        health.running = False
        probe.join(timeout=1)
        filler.kill(block=False)
        if self._graph is not None:
            self._graph.close()
        errors = [f"{type(j.exception).__name__}: {j.exception}" for j in jobs if j.exception]
        return {
            "errors": errors,
            "scheduled": self.scheduled,
            "dropped": self.dropped,
            "bounded": self.bounded,
            "elapsed_s": time.perf_counter() - start,
        }

    def _scenario(self, made: Prepared, start: float) -> None:
        s, pool, http, waker, tags = made.scenario, made.pool, made.http, made.waker, made.tags
        try:
            for due in arrivals(s, self.shard, self.shards):
                if self.sent >= self.budget:
                    self.bounded = True
                    break
                intended = start + due
                waker.sleep_until(intended)
                self.scheduled += 1
                if pool.full():
                    self.dropped += 1
                    RECORDER.store.add("dropped_iterations", tags)
                    continue
                RECORDER.store.add("iterations", tags)
                self.sent += len(s.requests)
                pool.spawn(self._iteration, made, intended)
        finally:
            waker.close()
        grace = parse_duration(s.graceful_stop)
        pool.join(timeout=grace)
        pool.kill(timeout=5)
        http.close()

    def _iteration(self, made: Prepared, due: float) -> None:
        """An iteration's start delay is taken here, when it begins, not when the scheduler
        woke for it. The loop runs a new greenlet only after the answers that were ready with
        the wake: that span is the generator's delay too, and it is inside every latency
        measured from the scheduled start, so the saturation rule must see it. At a sparse
        rate the two are the same."""
        late = max(0.0, (time.perf_counter() - due) * 1000.0)
        RECORDER.record("iteration_start_delay", made.tags, late)
        RECORDER.window(due, made.name, "iteration_start_delay", late)
        http = made.http
        intended = due
        for request in made.sent:
            try:
                self._request(request, http, intended)
            except Exception as exc:
                log.warning("request %s failed in the client: %s", request.request.name, exc)
            intended = time.perf_counter()  # the next request is due when this one ends

    def http_request(self, request: LoadRequest) -> tuple[str, str, bytes | None, dict[str, str]]:
        """An HTTP or GraphQL request of the plan: method, path, body and headers."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        method = request_method(request)
        if request.kind == "http":
            return method, str(request.path), None, headers
        headers["Content-Type"] = "application/json"
        path = self.target.get("graphql_path", "/graphql")
        return method, path, json.dumps(self._graphql_body(request)).encode(), headers

    def _request(self, sent: Sent, http: Http, intended: float) -> None:
        request = sent.request
        wire = sent.wire
        if wire is None:
            self._cypher(sent, intended)
            return
        called = time.perf_counter()
        answer: Answer | None = None
        exception: BaseException | None = None
        try:
            answer = http.send(wire)
            if not 200 <= answer.status_code < 400:
                exception = BadStatus(f"HTTP {answer.status_code}")
            elif request.kind == "graphql":
                exception = _graphql_errors(answer.content)
        except Exception as exc:  # a connection refused, reset or timed out: a failure
            exception = exc
        self.environment.events.request.fire(
            request_type=wire.method,
            name=request.name,
            response_time=(time.perf_counter() - called) * 1000.0,
            response_length=len(answer.content) if answer is not None else 0,
            response=answer,
            context=sent.context(intended, called),
            exception=exception,
        )

    def _graphql_body(self, request: LoadRequest) -> dict[str, Any]:
        operations: dict[str, Any] = self.target.get("operations", {})
        named = operations.get(str(request.operation))  # an [operations] key, or an id
        op = str(named["id"]) if isinstance(named, dict) else str(request.operation)
        if self.target.get("persisted") == "apq":
            digest = op.removeprefix("sha256:")
            return {
                "variables": request.variables,
                "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}},
            }
        if self.target.get("persisted") == "documentId":
            return {"documentId": op, "variables": request.variables}
        return {"id": op, "variables": request.variables}

    def _cypher(self, sent: Sent, intended: float) -> None:
        request = sent.request
        called = time.perf_counter()
        exception: BaseException | None = None
        try:
            driver = self._driver()
            with driver.session(database=self.target.get("graph_database")) as session:
                list(session.run(str(request.query)))
        except Exception as exc:
            exception = exc
        self.environment.events.request.fire(
            request_type="BOLT",
            name=request.name,
            response_time=(time.perf_counter() - called) * 1000.0,
            response_length=0,
            response=None,
            context=sent.context(intended, called),
            exception=exception,
        )

    def _warm_graph(self) -> None:
        """Open the Bolt connections a graph plan will use before its schedule starts, as an
        app's driver pool is warm: a plan measures queries, not connection setup (the
        local graph plan's first second held every new connection's handshake). Nothing here
        is recorded; a connection that cannot be opened is tried three times, and if it still
        cannot, the plan runs and its queries' failures are counted as usual."""
        graph = [
            s for s in self.plan.scenarios.values() if any(r.kind == "cypher" for r in s.requests)
        ]
        if not graph:
            return
        driver = self._driver()
        database = self.target.get("graph_database")
        wanted = min(
            WARM_CONNECTIONS, max(math.ceil(s.max_concurrency / self.shards) for s in graph)
        )
        timeout = float(self.target.get("timeout_s", 10.0))
        # One after another, each held open while the next is made: the stalls came at the
        # plan's start, with concurrent handshakes (eight at once did not cure them). Here
        # the schedule starts once the server has answered, so a stall at startup is waited
        # out (up to three tries a connection), not measured.
        with contextlib.ExitStack() as held:
            for _ in range(wanted):
                for attempt in range(3):
                    try:
                        session = held.enter_context(driver.session(database=database))
                        session.run("RETURN 1").consume()
                        break
                    except Exception as exc:  # the plan counts real failures
                        log.info("graph warm-up (attempt %d): %s", attempt + 1, exc)
                        gevent.sleep(min(1.0, timeout / 5))

    def _driver(self) -> Any:
        if self._graph is None:
            import neo4j

            timeout = float(self.target.get("timeout_s", 10.0))
            self._graph = neo4j.GraphDatabase.driver(
                self.target["graph_uri"],
                auth=(
                    self.target.get("graph_user", "neo4j"),
                    os.environ.get(GRAPH_PASSWORD_VARIABLE, ""),
                ),
                connection_timeout=timeout,
                connection_acquisition_timeout=timeout,
                max_connection_pool_size=max(
                    1,
                    max(
                        math.ceil(s.max_concurrency / self.shards)
                        for s in self.plan.scenarios.values()
                    ),
                ),
            )
        return self._graph
