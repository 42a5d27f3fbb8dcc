"""The graph over Bolt, with the official neo4j driver (Neo4j, or FalkorDB locally).

Queries run in auto-commit sessions with the env's timeout on connecting,
on acquiring a connection and on the transaction, and return plain dicts
with the elapsed time, which is what a check saves as evidence.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import neo4j
from neo4j.exceptions import AuthError, Neo4jError, ServiceUnavailable, SessionExpired

from gonogo.config import GraphSettings
from gonogo.errors import ConfigError, TargetError, Unreachable


@dataclass(frozen=True)
class QueryResult:
    records: list[dict[str, Any]]
    elapsed_ms: float

    def single_value(self) -> Any:
        if len(self.records) != 1 or len(self.records[0]) != 1:
            raise TargetError(f"expected one record with one value, got {self.records!r:.200}")
        return next(iter(self.records[0].values()))


class GraphClient:
    def __init__(self, settings: GraphSettings, password: str, timeout_s: float, env: str) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self.env = env
        self._password = password
        self._driver: neo4j.Driver | None = None

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

    def _run(self, cypher: str, params: dict[str, Any]) -> list[dict[str, Any]]:
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
