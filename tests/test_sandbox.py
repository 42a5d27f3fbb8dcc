"""The local reference environment: real servers, real endpoints, every fault's effect."""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import psutil
import pytest

from gonogo.errors import ConfigError, SandboxError
from gonogo.processes import spawn
from gonogo.sandbox import database, faults, release_copy
from gonogo.sandbox.app.gql import REGISTRY
from gonogo.sandbox.info import StackInfo
from gonogo.sandbox.stack import Stack
from gonogo.sandbox.tokens import AUDIENCE, ISSUER, mint
from tests.conftest import running


@pytest.fixture(scope="module")
def info(stack: Stack) -> StackInfo:
    assert stack.info is not None
    return stack.info


@pytest.fixture(scope="module")
def graph(info: StackInfo) -> Iterator[Any]:
    """One Bolt session for the module: FalkorDB stalls a new handshake after a clean close."""
    import neo4j

    with (
        neo4j.GraphDatabase.driver(info.bolt_uri, auth=("falkordb", "")) as driver,
        driver.session(database="falkordb") as session,
    ):
        yield session


@pytest.fixture
def fault(stack: Stack) -> Iterator[Any]:
    """Switch faults on for one test; every fault is cleared afterwards."""
    yield lambda *specs: stack.set_faults(set_=list(specs))
    stack.set_faults(reset=True)


def client(info: StackInfo, role: str | None = "analyst") -> httpx.Client:
    headers = {"Authorization": f"Bearer {info.token(role)}"} if role else {}
    return httpx.Client(base_url=info.base_url, headers=headers, timeout=10)


def gql(info: StackInfo, body: dict[str, Any], role: str = "analyst") -> httpx.Response:
    with client(info, role) as c:
        return c.post("/graphql", json=body)


def metric(info: StackInfo, name: str) -> float:
    text = httpx.get(f"{info.base_url}/metrics", timeout=10).text
    values = [float(line.split()[-1]) for line in text.splitlines() if line.startswith(name + " ")]
    return sum(values)


def wait_for(predicate: Any, timeout_s: float = 5.0) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if predicate():
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout_s} s")


# -- endpoints ----------------------------------------------------------------------


def test_health_and_readiness(info: StackInfo) -> None:
    with client(info, None) as c:
        assert c.get("/healthz").json()["status"] == "ok"
        ready = c.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {
        "status": "ready",
        "checks": {"postgres": "ok", "graph": "ok", "kafka": "ok"},
    }


def test_ping_needs_a_valid_token(info: StackInfo) -> None:
    with client(info) as c:
        assert c.get("/api/ping").json()["pong"] is True
    with client(info, None) as c:
        assert c.get("/api/ping").status_code == 401


def test_tokens_bad_signature_expired_wrong_issuer_are_refused(
    info: StackInfo, tmp_path: Path
) -> None:
    from gonogo.sandbox.tokens import make_keys

    other_key, _ = make_keys(tmp_path)
    key = Path(info.jwt_private_key).read_bytes()
    bad = {
        "bad-signature": mint(other_key.read_bytes()),
        "expired": mint(key, ttl_s=-60),
        "invalid": mint(key, issuer="https://evil.example.com"),
    }
    before = {r: metric(info, f'auth_failure_total{{reason="{r}"}}') for r in bad}
    for reason, token in bad.items():
        r = httpx.get(
            f"{info.base_url}/api/ping", headers={"Authorization": f"Bearer {token}"}, timeout=10
        )
        assert r.status_code == 401, reason
        assert reason in r.json()["detail"]
        assert metric(info, f'auth_failure_total{{reason="{reason}"}}') == before[reason] + 1


def test_jwks_publishes_the_verifying_key(info: StackInfo) -> None:
    keys = httpx.get(f"{info.base_url}/.well-known/jwks.json", timeout=10).json()["keys"]
    signing = jwt.PyJWK(keys[0])
    claims = jwt.decode(
        info.token("admin"), signing.key, algorithms=["RS256"], audience=AUDIENCE, issuer=ISSUER
    )
    assert claims["roles"] == ["admin"]


@pytest.mark.parametrize(
    ("role", "allowed", "denied"),
    [("analyst", 200, 403), ("admin", 200, 403), ("norole", 403, 403)],
)
def test_abac_matrix(info: StackInfo, role: str, allowed: int, denied: int) -> None:
    with client(info, role) as c:
        assert c.get("/api/secure/allowed").status_code == allowed
        assert c.get("/api/secure/denied").status_code == denied


def test_persisted_operations(info: StackInfo) -> None:
    assert gql(info, {"id": "op:healthQuery:v1"}).json() == {"data": {"health": {"ok": True}}}
    dash = gql(info, {"id": "op:GetUserDashboard:v1"}).json()["data"]["dashboard"]
    assert all(set(w) == {"id", "type"} for w in dash["widgets"]) and dash["alerts"]
    digest = hashlib.sha256(REGISTRY["op:healthQuery:v1"].encode()).hexdigest()
    apq = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}}}
    assert gql(info, apq).json() == {"data": {"health": {"ok": True}}}
    unknown = gql(info, {"id": "op:Nope:v1"})
    assert unknown.status_code == 400 and "unknown persisted operation" in unknown.text


def test_graphql_client_persisted_modes(info: StackInfo) -> None:
    """The suite's own client: operation ids, and Apollo APQ hashes when the env says so."""
    from gonogo.clients.graphql import GraphQLClient
    from gonogo.clients.http import HttpClient

    http = HttpClient(info.base_url, timeout_s=5, token=info.token)
    try:
        by_id = GraphQLClient(http, "/graphql", "id").persisted("op:healthQuery:v1")
        digest = hashlib.sha256(REGISTRY["op:healthQuery:v1"].encode()).hexdigest()
        by_hash = GraphQLClient(http, "/graphql", "apq").persisted(f"sha256:{digest}")
        ad_hoc = GraphQLClient(http, "/graphql").document("query { health { ok } }")
    finally:
        http.close()
    assert by_id.ok and by_hash.ok and by_id.data == by_hash.data == {"health": {"ok": True}}
    assert not ad_hoc.ok and ad_hoc.status == 400


def test_ad_hoc_documents_are_refused(info: StackInfo) -> None:
    r = gql(info, {"query": "{ health { ok } }"})
    assert r.status_code == 400
    assert r.json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_REQUIRED"


def test_cost_guard_refuses_an_abusive_query(info: StackInfo) -> None:
    r = gql(info, {"id": "op:GetNotes:v1", "variables": {"limit": 100000}})
    assert (
        r.status_code == 400
        and r.json()["errors"][0]["extensions"]["code"] == "COST_LIMIT_EXCEEDED"
    )


def test_ingest_end_to_end_through_broker_and_graph(info: StackInfo, graph: Any) -> None:
    processed = metric(info, "stream_processed_total")
    created = gql(info, {"id": "op:CreateNote:v1", "variables": {"text": "e2e"}}).json()
    note_id = created["data"]["createNote"]["id"]

    def visible() -> bool:
        notes = gql(info, {"id": "op:GetNotes:v1"}).json()["data"]["notes"]
        return any(n["id"] == note_id for n in notes)

    wait_for(visible, 5)
    import psycopg
    from confluent_kafka import Consumer, TopicPartition

    with psycopg.connect(info.postgres_dsn) as conn:
        assert conn.execute("SELECT text FROM notes WHERE id = %s", (note_id,)).fetchone() == (
            "e2e",
        )
    assert (
        graph.run("MATCH (n:Note {id: $id}) RETURN n.text AS t", id=note_id).single()["t"] == "e2e"
    )
    consumer = Consumer(
        {"bootstrap.servers": info.kafka_bootstrap, "group.id": "t", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(info.ingest_topic, 0, 0)])
    seen = []
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and note_id not in seen:
        msg = consumer.poll(0.2)
        if msg is not None and not msg.error():
            seen.append(json.loads(msg.value()).get("id"))
    consumer.close()
    assert note_id in seen
    assert metric(info, "stream_processed_total") > processed


def test_write_freeze_needs_admin_and_blocks_writes(info: StackInfo) -> None:
    with client(info) as c:
        assert c.post("/api/admin/write-freeze", params={"enable": "true"}).status_code == 403
    with client(info, "admin") as c:
        assert c.post("/api/admin/write-freeze", params={"enable": "true"}).json() == {
            "write_frozen": True
        }
        try:
            r = gql(info, {"id": "op:CreateNote:v1", "variables": {"text": "x"}})
            assert r.json()["errors"][0]["extensions"]["code"] == "WRITE_FROZEN"
        finally:
            c.post("/api/admin/write-freeze", params={"enable": "false"})
    assert gql(info, {"id": "op:CreateNote:v1", "variables": {"text": "y"}}).json()["data"][
        "createNote"
    ]["id"]


def test_audit_chain_is_signed_and_linked(info: StackInfo) -> None:
    import base64

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    gql(info, {"id": "op:CreateNote:v1", "variables": {"text": "audited"}})
    with client(info) as c:
        audit = c.get("/api/audit").json()
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(audit["public_key"]))
    prev = "0" * 64
    for entry in audit["entries"]:
        body = {k: v for k, v in entry.items() if k not in {"hash", "sig"}}
        digest = hashlib.sha256(
            (prev + json.dumps(body, sort_keys=True, separators=(",", ":"))).encode()
        ).hexdigest()
        assert entry["prev"] == prev and entry["hash"] == digest
        key.verify(base64.b64decode(entry["sig"]), bytes.fromhex(digest))
        prev = digest
    assert audit["entries"]


def test_metrics_exposes_the_named_series(info: StackInfo) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(f"{info.base_url}/metrics", timeout=10).text
    names = {s.name for f in text_string_to_metric_families(text) for s in f.samples}
    for name in (
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "stream_processed_total",
        "consumer_lag",
        "rate_limit_exceeded_total",
        "audit_signer_fail_total",
        "auth_success_total",
        "auth_failure_total",
    ):
        assert name in names


def test_heartbeat_keeps_the_stream_moving(info: StackInfo) -> None:
    before = metric(info, "stream_processed_total")
    wait_for(lambda: metric(info, "stream_processed_total") > before, 5)


def _subscribe(info: StackInfo, token: str | None, document: str) -> Any:
    from websockets.sync.client import connect

    ws = connect(
        info.base_url.replace("http", "ws") + "/graphql/ws",
        subprotocols=["graphql-transport-ws"],  # type: ignore[list-item]
        open_timeout=5,
        legacy=True,  # a plain object: each test closes it in `finally`
    )
    ws.send(
        json.dumps({"type": "connection_init", "payload": {"Authorization": f"Bearer {token}"}})
    )
    return ws


def test_subscription_delivers_notes_after_ingest(info: StackInfo) -> None:
    ws = _subscribe(info, info.token(), REGISTRY["op:NoteCreated:v1"])
    try:
        assert json.loads(ws.recv(timeout=5))["type"] == "connection_ack"
        ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": REGISTRY["op:NoteCreated:v1"]},
                }
            )
        )
        time.sleep(0.2)  # the subscription is registered before the note is created
        created = gql(info, {"id": "op:CreateNote:v1", "variables": {"text": "pushed"}}).json()
        note_id = created["data"]["createNote"]["id"]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            message = json.loads(ws.recv(timeout=5))
            if (
                message["type"] == "next"
                and message["payload"]["data"]["noteCreated"]["id"] == note_id
            ):
                break
        else:
            raise AssertionError("noteCreated never arrived")
        assert message["payload"]["data"]["noteCreated"]["text"] == "pushed"
    finally:
        ws.close()


def test_subscription_refuses_bad_tokens_and_ad_hoc_documents(info: StackInfo) -> None:
    from websockets.exceptions import ConnectionClosed

    ws = _subscribe(info, "not-a-token", REGISTRY["op:NoteCreated:v1"])
    with pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    ws = _subscribe(info, info.token(), "")
    try:
        assert json.loads(ws.recv(timeout=5))["type"] == "connection_ack"
        ad_hoc = "subscription { noteCreated { id } }"
        ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {"query": ad_hoc}}))
        message = json.loads(ws.recv(timeout=5))
        assert message["type"] in {"next", "error"} and "PersistedQueryRequired" in json.dumps(
            message
        )
    finally:
        ws.close()


def test_prometheus_scrapes_the_app_and_promql_answers(info: StackInfo) -> None:
    if info.prometheus_url is None:
        pytest.skip(
            "no `prometheus` binary on PATH (apt-get install prometheus); PromQL not tested"
        )
    from gonogo.config import EnvSettings
    from gonogo.env import Environment

    env = Environment.open(EnvSettings(name="local", sandbox=True, production=False), info)
    try:
        deadline = time.monotonic() + 20
        result: list[Any] = []
        while not result and time.monotonic() < deadline:
            result = env.metrics.promql('stream_processed_total{job="intelgraph"}')
            time.sleep(0.5)
        assert result and float(result[0]["value"][1]) >= 0
        with pytest.raises(Exception, match="PromQL"):
            env.metrics.promql("rate(")
    finally:
        env.close()


# -- faults -------------------------------------------------------------------------


def test_fault_latency_on_a_route(info: StackInfo, fault: Any) -> None:
    fault("latency=/api/ping:300")
    with client(info) as c:
        t0 = time.monotonic()
        c.get("/api/ping")
        slow = time.monotonic() - t0
        t0 = time.monotonic()
        c.get("/api/secure/allowed")
        fast = time.monotonic() - t0
    assert slow >= 0.3 > fast


def test_fault_graph_latency(info: StackInfo, fault: Any) -> None:
    fault("graph-latency=400")
    t0 = time.monotonic()
    gql(info, {"id": "op:GetNotes:v1"})
    assert time.monotonic() - t0 >= 0.4


def test_fault_error_rate(info: StackInfo, fault: Any) -> None:
    fault("error-rate=1")
    with client(info) as c:
        assert c.get("/api/ping").status_code == 500
        assert c.get("/healthz").status_code == 200  # probes are not faulted


def test_fault_abac_fail_open(info: StackInfo, fault: Any) -> None:
    fault("abac-fail-open")
    with client(info) as c:
        assert c.get("/api/secure/denied").status_code == 200


def test_fault_persisted_off(info: StackInfo, fault: Any) -> None:
    fault("persisted-off")
    assert gql(info, {"query": "{ health { ok } }"}).json() == {"data": {"health": {"ok": True}}}


def test_depth_guard_refuses_a_deep_query(info: StackInfo, fault: Any) -> None:
    fault("persisted-off")  # to send a hand-made document at all
    shallow = "{ notes(limit: 1) { related(limit: 1) { id } } }"
    deep = "{ notes(limit: 1) { " + "related(limit: 1) { " * 8 + "id" + " }" * 8 + " } }"
    assert gql(info, {"query": shallow}).json().get("errors") is None
    errors = gql(info, {"query": deep}).json()["errors"]
    assert "exceeds maximum operation depth of 6" in errors[0]["message"]


def test_fault_cost_guard_off(info: StackInfo, fault: Any) -> None:
    fault("cost-guard-off")
    assert gql(info, {"id": "op:GetNotes:v1", "variables": {"limit": 100000}}).status_code == 200


def test_fault_stream_drop(info: StackInfo, fault: Any) -> None:
    fault("stream-drop=1")
    before = metric(info, "stream_dropped_total")
    wait_for(lambda: metric(info, "stream_dropped_total") > before, 5)


def test_fault_stream_dup(info: StackInfo, fault: Any) -> None:
    from confluent_kafka import Consumer, TopicPartition

    fault("stream-dup=1")
    note_id = gql(info, {"id": "op:CreateNote:v1", "variables": {"text": "dup"}}).json()["data"][
        "createNote"
    ]["id"]
    consumer = Consumer(
        {"bootstrap.servers": info.kafka_bootstrap, "group.id": "d", "enable.auto.commit": False}
    )
    consumer.assign([TopicPartition(info.ingest_topic, 0, 0)])
    copies = 0
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and copies < 2:
        msg = consumer.poll(0.2)
        if msg is not None and not msg.error() and json.loads(msg.value()).get("id") == note_id:
            copies += 1
    consumer.close()
    assert copies == 2


def test_fault_consumer_stall_grows_lag(info: StackInfo, fault: Any) -> None:
    fault("consumer-stall")
    wait_for(lambda: metric(info, "consumer_lag") >= 3, 8)


def test_fault_audit_signer_fail(info: StackInfo, fault: Any) -> None:
    before = metric(info, "audit_signer_fail_total")
    fault("audit-signer-fail")  # the fault change itself is audited, unsigned
    gql(info, {"id": "op:CreateNote:v1", "variables": {"text": "unsigned"}})
    with client(info) as c:
        last = c.get("/api/audit").json()["entries"][-1]
    assert last["sig"] is None
    assert metric(info, "audit_signer_fail_total") >= before + 2


def test_fault_readyz_fail(info: StackInfo, fault: Any) -> None:
    fault("readyz-fail")
    r = httpx.get(f"{info.base_url}/readyz", timeout=10)
    assert r.status_code == 503 and r.json()["checks"]["graph"] == "down: injected fault"


def test_fault_field_renamed(info: StackInfo, fault: Any) -> None:
    fault("field-renamed")
    body = gql(info, {"id": "op:GetUserDashboard:v1"}).json()
    assert "Cannot query field 'type' on type 'Widget'" in body["errors"][0]["message"]


def test_fault_graph_schema_drift(info: StackInfo, fault: Any, graph: Any) -> None:
    def note_index() -> bool:
        rows = graph.run(
            "CALL db.indexes() YIELD label, properties RETURN label, properties"
        ).data()
        return any(i["label"] == "Note" and i["properties"] == ["id"] for i in rows)

    assert note_index()
    fault("graph-schema-drift")
    assert not note_index()


def test_fault_rate_limit(info: StackInfo, fault: Any) -> None:
    fault("rate-limit=3")
    before = metric(info, "rate_limit_exceeded_total")
    with client(info) as c:
        codes = [c.get("/api/ping").status_code for _ in range(8)]
    assert 429 in codes and metric(info, "rate_limit_exceeded_total") > before


@pytest.mark.stack
def test_fault_migration_edited_at_start() -> None:
    with Stack(faults={"migration-edited": None}) as started:
        import psycopg

        with psycopg.connect(started.postgres_dsn) as conn:
            recorded = dict(
                conn.execute("SELECT version, checksum FROM schema_migrations").fetchall()
            )
    shipped = {p.stem: database.checksum(p.read_text()) for p in database.files()}
    assert set(recorded) == set(shipped)
    assert [v for v in shipped if recorded[v] != shipped[v]] == ["0001_notes"]


@pytest.mark.stack
def test_the_stack_starts_with_every_fault_at_once() -> None:
    """Faults break the app for the checks, never the stack's own start-up."""
    everything = faults.parse_all(list(faults.FAULTS))
    with Stack(faults=everything) as started:
        assert started.faults == everything
        assert httpx.get(f"{started.base_url}/healthz", timeout=5).status_code == 500
        assert httpx.get(f"{started.base_url}/readyz", timeout=5).status_code == 503


def test_unknown_and_malformed_faults_are_one_line() -> None:
    with pytest.raises(ConfigError, match=r"unknown fault 'latncy': did you mean 'latency'\?"):
        faults.parse("latncy")
    with pytest.raises(ConfigError, match=r"fault stream-drop=2: the value must be SHARE"):
        faults.parse("stream-drop=2")
    with pytest.raises(ConfigError, match="takes no value"):
        faults.parse("readyz-fail=1")
    assert faults.parse("latency") == ("latency", "300")
    assert set(faults.FAULTS) >= {"latency", "abac-fail-open", "persisted-off", "migration-edited"}


# -- lifecycle ----------------------------------------------------------------------


@pytest.mark.stack
def test_a_component_that_fails_names_itself_and_its_log_and_nothing_is_left() -> None:
    stack = Stack(app_module="gonogo.sandbox.no_such_app")
    with pytest.raises(SandboxError) as err:
        stack.start()
    message = str(err.value)
    assert message.startswith("app (gateway) exited with code 1 while starting; see its log ")
    assert "app.log" in message and "No module named gonogo.sandbox.no_such_app" in message
    assert stack.children == []
    leftovers = [
        p
        for p in psutil.process_iter(["cmdline"])
        if str(stack.workdir) in " ".join(p.info["cmdline"] or [])
    ]
    assert leftovers == []


def test_a_child_that_never_becomes_ready_says_what_it_last_answered(tmp_path: Path) -> None:
    # Up but not ready (a dependency it waits on) reads differently from never listening.
    child = spawn(
        "sleeper", [sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "s.log"
    )
    try:

        def ready() -> bool:
            raise SandboxError('503 {"checks": {"ingest": "replaying the startup backlog (3/20)"}}')

        with pytest.raises(SandboxError) as err:
            child.wait_ready(ready, 0.2, "answer /readyz at http://127.0.0.1:1")
    finally:
        child.stop()
    message = str(err.value)
    assert message.startswith("sleeper did not answer /readyz at http://127.0.0.1:1 within 0.2 s")
    assert (
        "(last answer: SandboxError: 503 " in message and "replaying the startup backlog" in message
    )
    assert "s.log: (empty log)" in message


@pytest.mark.stack
def test_an_app_that_never_becomes_ready_is_restarted_once_and_its_first_log_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gonogo.sandbox import stack as stack_module

    monkeypatch.setattr(stack_module, "APP_READY_TIMEOUT_S", 3.0)
    stack = Stack(app_module="tests.apps.first_start_hangs", logs=tmp_path / "logs")
    try:
        info = stack.start()
        assert httpx.get(f"{info.base_url}/healthz", timeout=5).status_code == 200
    finally:
        stack.stop()
    first = (tmp_path / "logs" / "app.first-start.log").read_text()
    assert "first start: stuck before listening" in first


@pytest.mark.stack
def test_stop_leaves_no_process_and_no_data(tmp_path: Path) -> None:
    stack = Stack(logs=tmp_path / "logs")  # as a run's: the logs go to the bundle
    info = stack.start()
    pids = list(info.pids.values())
    assert all(psutil.pid_exists(pid) for pid in pids)
    stack.stop()
    assert running(pids) == []
    assert not Path(info.workdir).exists()  # not even an empty folder
    assert (tmp_path / "logs" / "app.log").is_file()


def test_release_faults_change_only_the_release_copy(tmp_path: Path) -> None:
    shipped = {p.name: p.read_bytes() for p in release_copy.RELEASE.rglob("*") if p.is_file()}
    release, held = release_copy.prepare_release(
        tmp_path / "r",
        {
            "migration-pending": None,
            "migration-destructive": None,
            "down-unrated": None,
            "migration-not-idempotent": None,
        },
    )
    names = sorted(p.name for p in (release / "migrations").glob("*.sql"))
    assert names == [
        "0001_notes.down.sql",
        "0001_notes.sql",
        "0002_notes_author_index.down.sql",
        "0002_notes_author_index.sql",
        "0003_notes_drop_legacy.sql",
        "0004_notes_text_index.sql",
        "0005_notes_source.sql",
    ]
    assert held == {"0005_notes_source"}
    assert (
        "| 0002_notes_author_index | 0002_notes_author_index.down.sql |  | yes |"
        in (release / "data-ops.md").read_text()
    )
    assert {
        p.name: p.read_bytes() for p in release_copy.RELEASE.rglob("*") if p.is_file()
    } == shipped


def test_the_read_only_role_reads_and_marks_but_cannot_write(info: StackInfo) -> None:
    import psycopg

    # Without gonogo's read-only session setting: the role's own rights are the limit.
    with psycopg.connect(info.dataops_dsn, autocommit=True, connect_timeout=5) as conn:
        assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone() == (2,)
        conn.execute("SELECT pg_create_restore_point('self-test')")
        for write in (
            "INSERT INTO notes (id, text, author) VALUES (gen_random_uuid(), 'x', 'y')",
            "DELETE FROM schema_migrations",
            "CREATE TABLE sneaky (x int)",
            "DROP INDEX notes_author_created_idx",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(write.encode())
    with psycopg.connect(info.scratch_dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute("CREATE TABLE scratch_ok (x int)")  # the scratch database is writable
    assert info.dataops_dsn.rsplit("/", 1)[1] != info.scratch_dsn.rsplit("/", 1)[1]


@pytest.mark.stack
def test_restore_point_refused_fault() -> None:
    import psycopg

    with (
        Stack(faults={"restore-point-refused": None}) as started,
        psycopg.connect(started.dataops_dsn, autocommit=True, connect_timeout=5) as conn,
        pytest.raises(psycopg.errors.InsufficientPrivilege),
    ):
        conn.execute("SELECT pg_create_restore_point('x')")
