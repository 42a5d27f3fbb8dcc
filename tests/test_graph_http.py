"""Neo4j over its HTTP transaction API ([graph] uri = http(s)://...), the seed's own probe.

No Neo4j server runs here, so a local server answers as Neo4j's HTTP API documentation
shows: results with columns and rows, an `errors` array sent with a 200, a 401 for bad
credentials. The client is the real one, through the env's transport seam.
"""

from __future__ import annotations

import base64
import contextlib
import json
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from gonogo.config import EnvSettings
from gonogo.env import Environment
from gonogo.errors import ConfigError, NotConfigured, TargetError
from gonogo.load.plan import build_plan
from tests.conftest import serving

PASSWORD = "neo4j-http-secret-0001"
COUNT = {"results": [{"columns": ["c"], "data": [{"row": [42], "meta": [None]}]}], "errors": []}
SYNTAX = {
    "results": [],
    "errors": [
        {
            "code": "Neo.ClientError.Statement.SyntaxError",
            "message": "Invalid input 'T': expected <init> (line 1, column 1 (offset: 0))\n"
            '"This is not a valid Cypher Statement."\n ^',
        }
    ],
    "commit": "http://localhost:7474/db/neo4j/tx/17/commit",
}
UNAUTHORIZED = {
    "errors": [
        {
            "code": "Neo.ClientError.Security.Unauthorized",
            "message": "The client is unauthorized due to authentication failure.",
        }
    ]
}
SEEN: list[dict[str, Any]] = []


class _Neo4j(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        SEEN.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        expected = "Basic " + base64.b64encode(f"gonogo_ro:{PASSWORD}".encode()).decode()
        statement = body["statements"][0]["statement"]
        if self.headers.get("Authorization") != expected:
            self._send(401, UNAUTHORIZED)
        elif statement.startswith("This is not"):
            self._send(200, SYNTAX)
        elif statement.startswith("HTML"):
            self._send(502, b"<html>Bad Gateway</html>", "text/html")
        else:
            self._send(200, COUNT)

    def _send(self, status: int, body: Any, kind: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass


def neo4j_http() -> contextlib.AbstractContextManager[str]:
    return serving(_Neo4j)


def env_for(uri: str, monkeypatch: pytest.MonkeyPatch, password: str = PASSWORD) -> Environment:
    monkeypatch.setenv("GONOGO_X_NEO4J", password)
    settings = EnvSettings(
        name="x",
        base_url="http://127.0.0.1:9",
        production=False,
        graph={"uri": uri, "user": "gonogo_ro", "password_env": "GONOGO_X_NEO4J", "database": "ig"},
    )
    return Environment.open(settings)


def test_a_query_over_http_reads_rows_by_column(monkeypatch: pytest.MonkeyPatch) -> None:
    SEEN.clear()
    with neo4j_http() as uri:
        env = env_for(uri, monkeypatch)
        try:
            env.graph.verify()
            assert env.graph.query("MATCH (n) RETURN count(n) AS c").single_value() == 42
        finally:
            env.close()
    assert SEEN[-1]["path"] == "/db/ig/tx/commit"
    assert SEEN[-1]["body"] == {
        "statements": [{"statement": "MATCH (n) RETURN count(n) AS c", "parameters": {}}]
    }


def test_neo4j_errors_sent_with_a_200_are_findings_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with neo4j_http() as uri:
        env = env_for(uri, monkeypatch)
        try:
            with pytest.raises(TargetError) as caught:
                env.graph.query("This is not a valid Cypher Statement.")
            assert str(caught.value) == (
                f"graph at {uri}/db/ig/tx/commit rejected the query: "
                "Neo.ClientError.Statement.SyntaxError: Invalid input 'T': expected <init> "
                '(line 1, column 1 (offset: 0)) "This is not a valid Cypher Statement." ^'
            )
            with pytest.raises(TargetError, match="answered HTTP 502 without results: <html>"):
                env.graph.query("HTML please")
        finally:
            env.close()


def test_refused_credentials_are_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with neo4j_http() as uri:
        env = env_for(uri, monkeypatch, password="wrong")
        try:
            with pytest.raises(ConfigError) as caught:
                env.graph.query("RETURN 1")
        finally:
            env.close()
    assert str(caught.value) == (
        f"env 'x': the graph at {uri}/db/ig/tx/commit refused user 'gonogo_ro' (HTTP 401); "
        "check [graph] user and password_env"
    )
    assert "wrong" not in str(caught.value)


def test_the_graph_load_plan_says_it_needs_bolt(monkeypatch: pytest.MonkeyPatch) -> None:
    env = env_for("https://neo4j.example.com:7473", monkeypatch)
    with pytest.raises(
        NotConfigured, match="it runs over Bolt; \\[graph\\] uri is Neo4j's HTTP API"
    ):
        build_plan(env.settings, "graph")
