"""GraphQL to the gateway: persisted operations by id (or Apollo APQ), and ad-hoc documents.

IntelGraph only accepts persisted operations, so that is the normal path:
`{"id": "op:healthQuery:v1", "variables": {...}}`, with `persisted = "apq"`
Apollo's `extensions.persistedQuery` with the operation's sha256, or with
`persisted = "documentId"` GraphQL-over-HTTP's `{"documentId": ...}` (what
graphql-yoga's persisted-operations plugin reads). Ad-hoc
documents are parsed and printed by graphql-core (a syntax error is ours to report,
not the server's) and sent the same way, so that a check can prove the
gateway refuses them. Every request goes through the one HttpClient, so it
is timed, recorded and redacted like any other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import httpx

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
        return [
            str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in self.errors or []
        ]

    def describe(self, limit: int = 200) -> str:
        """What came back, never empty: the status, then the GraphQL errors, else the body
        (a proxy's 429 page, an empty answer), so a failure message always says something."""
        if self.errors:
            detail = "; ".join(self.error_messages())
        elif self.body in (None, ""):
            detail = "an empty body"
        elif isinstance(self.body, str):
            detail = f"a non-JSON body {self.body.strip()[:limit]!r}"
        elif self.data is None:
            detail = f"no data: {str(self.body)[:limit]}"
        else:
            detail = str(self.body)[:limit]
        text = f"HTTP {self.status}: {detail}"
        return text if len(text) <= limit + 40 else text[: limit + 37] + "..."

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
    def __init__(
        self,
        http: HttpClient,
        path: str,
        persisted: Literal["id", "apq", "documentId"] = "id",
        method: Literal["POST", "GET"] = "POST",
    ) -> None:
        self.http = http
        self.path = path
        self.mode = persisted
        self.method = method

    @property
    def url(self) -> str:
        return self.http.url(self.path)

    def persisted(
        self,
        operation: Any,
        variables: dict[str, Any] | None = None,
        *,
        auth: bool = True,
        write: bool = False,
    ) -> GraphQLResult:
        """Run a persisted operation by its id, APQ hash or documentId (the env's `persisted`).

        With `method = "GET"` queries go in the query string, as GraphQL-over-HTTP allows;
        a `write` (a mutation) always goes by POST, which the spec requires. `operation` is
        an id, or a gonogo.config.api.Operation (its id is sent).
        """
        operation = str(getattr(operation, "id", operation))
        payload: dict[str, Any]
        if self.mode == "apq":
            digest = operation.removeprefix("sha256:")
            payload = {
                "variables": variables or {},
                "extensions": {"persistedQuery": {"version": 1, "sha256Hash": digest}},
            }
        elif self.mode == "documentId":
            payload = {"documentId": operation, "variables": variables or {}}
        else:
            payload = {"id": operation, "variables": variables or {}}
        if self.method == "GET" and not write:
            params = {
                k: v if isinstance(v, str) else json.dumps(v, separators=(",", ":"))
                for k, v in payload.items()
            }
            return _result(self.http.get(self.path, params=params, auth=auth))
        return _result(self.http.post(self.path, json=payload, auth=auth))

    def document(
        self, query: str, variables: dict[str, Any] | None = None, *, auth: bool = True
    ) -> GraphQLResult:
        """Send an ad-hoc document (parsed first; a syntax error raises GraphQLError)."""
        from graphql import parse, print_ast

        payload: dict[str, Any] = {"query": print_ast(parse(query))}
        if variables:
            payload["variables"] = variables
        return _result(self.http.post(self.path, json=payload, auth=auth))
