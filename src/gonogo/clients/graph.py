"""The graph over Bolt, with the official neo4j driver (Neo4j, or FalkorDB locally), or over
Neo4j's HTTP transaction API when [graph] uri is http(s):// (the seed's own probe).

Queries run in auto-commit sessions with the env's timeout on connecting,
on acquiring a connection and on the transaction, and return plain dicts
with the elapsed time, which is what a check saves as evidence. Over HTTP a
query is one POST to /db/{database}/tx/commit through the env's HttpClient, and
Neo4j's `errors` array (sent with a 200, as its documentation says) is read.
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Any

import neo4j
from neo4j.exceptions import AuthError, Neo4jError, ServiceUnavailable, SessionExpired

from gonogo.clients.http import HttpClient
from gonogo.config.data import GraphSettings
from gonogo.errors import ConfigError, TargetError, Unreachable
from gonogo.redact import REDACTOR


@dataclass(frozen=True)
class QueryResult:
    records: list[dict[str, Any]]
    elapsed_ms: float

    def single_value(self) -> Any:
        if len(self.records) != 1 or len(self.records[0]) != 1:
            raise TargetError(f"expected one record with one value, got {self.records!r:.200}")
        return next(iter(self.records[0].values()))


class GraphClient:
    def __init__(
        self,
        settings: GraphSettings,
        password: str,
        timeout_s: float,
        env: str,
        http: HttpClient | None = None,
    ) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self.env = env
        self._password = password
        self._driver: neo4j.Driver | None = None
        # Neo4j's HTTP API when the uri is http(s)://: the client for it (no bearer token).
        self._http = http

    @property
    def driver(self) -> neo4j.Driver:
        if self._driver is None:
            self._driver = neo4j.GraphDatabase.driver(
                self.settings.uri,
                auth=(self.settings.user, self._password),
                connection_timeout=self.timeout_s,
                connection_acquisition_timeout=self.timeout_s,
                max_transaction_retry_time=0,
            )
        return self._driver

    def verify(self) -> None:
        """Connect once (a check's setup), so a wrong URI or a down graph is an error up front."""
        self.query("RETURN 1 AS ok")

    def _run_http(self, cypher: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        assert self._http is not None
        database = self.settings.database or "neo4j"
        credentials = f"{self.settings.user}:{self._password}".encode()
        basic = f"Basic {base64.b64encode(credentials).decode()}"
        REDACTOR.add(basic.removeprefix("Basic "))
        response = self._http.post(
            f"/db/{database}/tx/commit",
            json={"statements": [{"statement": cypher, "parameters": params}]},
            auth=False,
            headers={"Authorization": basic, "Accept": "application/json;charset=UTF-8"},
        )
        where = self._http.url(f"/db/{database}/tx/commit")
        try:
            answer = response.json()
        except ValueError:
            answer = None
        errors = answer.get("errors") if isinstance(answer, dict) else None
        refused = any(
            isinstance(e, dict) and "Security.Unauthorized" in str(e.get("code"))
            for e in errors or []
        )
        if response.status_code == 401 or refused:
            raise ConfigError(
                f"env '{self.env}': the graph at {where} refused user '{self.settings.user}' "
                f"(HTTP {response.status_code}); check [graph] user and password_env"
            )
        if errors:
            first = errors[0] if isinstance(errors[0], dict) else {"message": str(errors[0])}
            code = first.get("code", "Neo.DatabaseError.General.UnknownError")
            message = " ".join(str(first.get("message", "")).split())
            raise TargetError(f"graph at {where} rejected the query: {code}: {message}")
        results = answer.get("results") if isinstance(answer, dict) else None
        if response.status_code not in (200, 201) or not isinstance(results, list) or not results:
            shown = response.text.strip()[:200] or "an empty body"
            raise TargetError(
                f"graph at {where} answered HTTP {response.status_code} without results: {shown}"
            )
        columns = results[0].get("columns") or []
        rows = results[0].get("data") or []
        return [dict(zip(columns, row.get("row") or [], strict=False)) for row in rows]

    def _run(self, cypher: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.settings.over_http:
            return self._run_http(cypher, params)
        # One retry, only for a failed handshake on a new connection: FalkorDB's
        # Bolt listener drops the first handshake after another client's GOODBYE.
        for attempt in (1, 2):
            try:
                with self.driver.session(database=self.settings.database) as session:
                    return [record.data() for record in session.run(cypher, params)]
            except ServiceUnavailable as exc:
                if attempt == 2 or "handshake" not in str(exc):
                    raise
        raise AssertionError("unreachable")

    def query(self, cypher: str, **params: Any) -> QueryResult:
        t0 = time.perf_counter()
        try:
            records = self._run(cypher, params)
        except AuthError as exc:
            raise ConfigError(
                f"env '{self.env}': the graph at {self.settings.uri} refused user "
                f"'{self.settings.user}' ({exc.message}); check [graph] user and password_env"
            ) from None
        except (ServiceUnavailable, SessionExpired, OSError) as exc:
            raise Unreachable(self.settings.uri, self.timeout_s, exc) from None
        except Neo4jError as exc:
            raise TargetError(
                f"graph at {self.settings.uri} rejected the query: {exc.code}: {exc.message}"
            ) from None
        return QueryResult(records=records, elapsed_ms=(time.perf_counter() - t0) * 1000.0)

    def schema(self) -> dict[str, list[dict[str, Any]]]:
        """Indexes and constraints in the form of a release's graph-schema.json."""
        if self.settings.flavor == "falkordb":
            indexes = self.query(
                "CALL db.indexes() YIELD label, properties, entitytype "
                "RETURN entitytype AS entity, label, properties"
            ).records
            constraints = self.query(
                "CALL db.constraints() YIELD type, label, properties, entitytype "
                "RETURN entitytype AS entity, label, properties, type"
            ).records
        else:
            indexes = self.query(
                "SHOW INDEXES YIELD entityType, labelsOrTypes, properties, type "
                "WHERE type <> 'LOOKUP' AND labelsOrTypes IS NOT NULL "
                "RETURN entityType AS entity, labelsOrTypes[0] AS label, properties"
            ).records
            constraints = self.query(
                "SHOW CONSTRAINTS YIELD entityType, labelsOrTypes, properties, type "
                "RETURN entityType AS entity, labelsOrTypes[0] AS label, properties, type"
            ).records
        return {"indexes": indexes, "constraints": constraints}

    def components(self) -> dict[str, str]:
        """Neo4j's own version and its plugins' (absent ones left out)."""
        found = {}
        for record in self.query("CALL dbms.components() YIELD name, versions").records:
            if str(record["name"]).lower().startswith("neo4j"):
                found["version"] = str(record["versions"][0])
        for plugin in ("apoc", "gds"):
            try:
                found[plugin] = str(self.query(f"RETURN {plugin}.version() AS v").single_value())
            except TargetError:
                continue  # not installed: the comparison reports it missing
        return found

    def close(self) -> None:
        if self._driver is not None:
            self._driver.close()
            self._driver = None
