"""GraphQL to the gateway: persisted operations by id (or Apollo APQ), and ad-hoc documents.

IntelGraph only accepts persisted operations, so that is the normal path:
`{"id": "op:healthQuery:v1", "variables": {...}}`, or with `persisted = "apq"`
Apollo's `extensions.persistedQuery` with the operation's sha256. Ad-hoc
documents are parsed and printed by gql (a syntax error is ours to report,
not the server's) and sent the same way, so that a check can prove the
gateway refuses them. Every request goes through the one HttpClient, so it
is timed, recorded and redacted like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import httpx
from gql import gql

from gonogo.clients.http import HttpClient, elapsed_ms


@dataclass(frozen=True)
class GraphQLResult:
    status: int
    data: dict[str, Any] | None
    errors: list[dict[str, Any]] | None
    elapsed_ms: float
    body: Any

    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.errors and self.data is not None

    def error_messages(self) -> list[str]:
        return [str(e.get("message", e)) for e in self.errors or []]

    def as_capture(self) -> dict[str, Any]:
        return {"status": self.status, "elapsed_ms": round(self.elapsed_ms, 3), "body": self.body}


def _result(response: httpx.Response) -> GraphQLResult:
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    data = body.get("data") if isinstance(body, dict) else None
    errors = body.get("errors") if isinstance(body, dict) else None
    return GraphQLResult(
        status=response.status_code,
        data=data if isinstance(data, dict) else None,
        errors=errors if isinstance(errors, list) else None,
        elapsed_ms=elapsed_ms(response),
        body=body,
    )


class GraphQLClient:
    def __init__(self, http: HttpClient, path: str, persisted: Literal["id", "apq"] = "id") -> None:
        self.http = http
        self.path = path
        self.mode = persisted

    @property
    def url(self) -> str:
        return self.http.url(self.path)

    def persisted(
        self, operation: str, variables: dict[str, Any] | None = None, *, auth: bool = True
    ) -> GraphQLResult:
        """Run a persisted operation by its id (or APQ hash, per the env's `persisted`)."""
        payload: dict[str, Any]
        if self.mode == "apq":
            digest = operation.removeprefix("sha256:")
            payload = {
                "variables": variables or {},
                "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}},
            }
        else:
            payload = {"id": operation, "variables": variables or {}}
        return _result(self.http.post(self.path, json=payload, auth=auth))

    def document(
        self, query: str, variables: dict[str, Any] | None = None, *, auth: bool = True
    ) -> GraphQLResult:
        """Send an ad-hoc document (parsed by gql first; a syntax error raises GraphQLError)."""
        request = gql(query)
        payload = dict(request.payload)
        if variables:
            payload["variables"] = variables
        return _result(self.http.post(self.path, json=payload, auth=auth))
