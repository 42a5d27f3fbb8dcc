"""The GraphQL routes: persisted operations over POST (and GET, in the document-id dialect),
subscriptions over graphql-transport-ws, and the resolvers' data (notes read and written)."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from graphql import GraphQLError
from starlette.routing import WebSocketRoute
from strawberry.asgi import GraphQL as StrawberryASGI
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from gonogo.abac import rego_input
from gonogo.sandbox.app import gql
from gonogo.sandbox.app.guard import Guard
from gonogo.sandbox.app.security import AuthFailed, verify
from gonogo.sandbox.app.state import State
from gonogo.sandbox.tokens import AUDIENCE, ISSUER

Resolver = Callable[..., Awaitable[Any]]


def graphql_routes(app: FastAPI, state: State, guard: Guard) -> None:
    """POST /graphql, GET /graphql and the subscriptions' websocket."""
    config = state.config
    list_notes, create_note = _resolvers(state, guard)

    @app.get("/graphql")
    async def graphql_get(request: Request) -> JSONResponse:
        """GraphQL-over-HTTP's GET (the document-id dialect): queries only, never a mutation."""
        if "document-id" not in config.dialects:
            return JSONResponse({"errors": [{"message": "use POST"}]}, status_code=405)
        body: dict[str, Any] = dict(request.query_params)
        for key in ("variables", "extensions"):
            if key in body:
                try:
                    body[key] = json.loads(body[key])
                except ValueError:
                    return JSONResponse({"errors": [{"message": f"{key} is not JSON"}]}, 400)
        return await run_graphql(request, body, get=True)

    @app.post("/graphql")
    async def graphql(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse({"errors": [{"message": "body must be JSON"}]}, status_code=400)
        if not isinstance(body, dict):
            return JSONResponse(
                {"errors": [{"message": "body must be a JSON object"}]}, status_code=400
            )
        return await run_graphql(request, body, get=False)

    async def run_graphql(request: Request, body: dict[str, Any], *, get: bool) -> JSONResponse:
        claims = guard.principal(request)
        variables = body.get("variables") or {}
        try:
            document, _op = gql.resolve_document(
                body,
                enforce_persisted=not state.on("persisted-off"),
                document_ids="document-id" in config.dialects,
                roots="root-fields" in config.dialects,
            )
            if get and document.lstrip().startswith("mutation"):
                raise gql.Refused("BAD_REQUEST", "a mutation cannot be sent by GET; use POST")
            spent = gql.cost(document, variables)
            if spent > gql.MAX_COST and not state.on("cost-guard-off"):
                raise gql.Refused(
                    "COST_LIMIT_EXCEEDED", f"query cost {spent} exceeds the limit of {gql.MAX_COST}"
                )
        except gql.Refused as refused:
            return JSONResponse(
                {"errors": [{"message": str(refused), "extensions": {"code": refused.code}}]},
                status_code=refused.status,
            )
        schema = gql.SCHEMAS[(state.on("field-renamed"), "root-fields" in config.dialects)]
        backend = gql.Backend(list_notes=list_notes, create_note=create_note, claims=claims)
        result = await schema.execute(document, variable_values=variables, context_value=backend)
        payload: dict[str, Any] = {"data": result.data}
        if result.errors:
            payload["errors"] = [e.formatted for e in result.errors]
        return JSONResponse(payload, status_code=200)

    _subscriptions(app, state, list_notes, create_note)


def _resolvers(state: State, guard: Guard) -> tuple[Resolver, Resolver]:
    """GetNotes' and CreateNote's data: the graph read, the write through the outbox."""
    config = state.config

    async def list_notes(limit: int) -> list[dict[str, Any]]:
        return await asyncio.to_thread(
            state.cypher,
            "MATCH (n:Note) RETURN n.id AS id, n.text AS text, n.createdAt AS createdAt "
            "ORDER BY n.createdAt DESC LIMIT $limit",
            limit=limit,
        )

    async def create_note(text: str, claims: dict[str, Any]) -> dict[str, Any]:
        if state.write_frozen and not state.on("write-freeze-ignored"):
            raise GraphQLError(
                "WriteFrozen: writes are frozen by an operator", extensions={"code": "WRITE_FROZEN"}
            )
        write = rego_input(claims, "notes:write", "POST", "/graphql")
        if not (state.on("abac-fail-open") or state.authz.allows(write) is True):
            raise GraphQLError(
                "Forbidden: policy denies notes:write", extensions={"code": "FORBIDDEN"}
            )
        note_id = str(uuid.uuid4())
        async with state.pg_lock:
            assert state.pg is not None
            cur = await state.pg.execute(
                "INSERT INTO notes (id, text, author) VALUES (%s, %s, %s) RETURNING created_at",
                (note_id, text, claims["sub"]),
            )
            row = await cur.fetchone()
        created = row[0].isoformat() if row else ""
        event: dict[str, Any] = {
            "kind": "note",
            "id": note_id,
            "text": text,
            "author": claims["sub"],
            "createdAt": created,
        }
        if "root-fields" in config.dialects:  # that team's outbox nests the text
            event["payload"] = {"body": event.pop("text")}
        if state.on("write-latency"):
            await asyncio.sleep(float(state.fault("write-latency") or 0) / 1000.0)
        lag = float(state.fault("outbox-lag") or 0) / 1000.0
        if random.random() < state.share("outbox-loss"):  # noqa: S311
            pass  # the outbox lost it: the write succeeded, the event never leaves
        elif lag:
            asyncio.get_running_loop().call_later(lag, state.publish, event, note_id)
        else:
            await asyncio.to_thread(state.publish, event, note_id)
        guard.record(claims["sub"], "create-note", {"id": note_id})
        return {"id": note_id, "text": text, "createdAt": created}

    return list_notes, create_note


def _subscriptions(app: FastAPI, state: State, list_notes: Resolver, create_note: Resolver) -> None:
    """graphql-transport-ws at /graphql/ws, over the same resolvers."""
    config = state.config

    def subscribe() -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=1000)
        state.subscribers.add(queue)
        return queue

    class Subscriptions(StrawberryASGI):
        """graphql-transport-ws at /graphql/ws: the token comes in connection_init."""

        async def get_context(self, request: Any, response: Any) -> gql.Backend:  # type: ignore[override]
            return gql.Backend(
                list_notes=list_notes,
                create_note=create_note,
                claims={},
                subscribe=subscribe,
                unsubscribe=state.subscribers.discard,
                enforce_persisted=lambda: not state.on("persisted-off"),
            )

        async def on_ws_connect(self, context: Any) -> Any:
            params = context.connection_params or {}
            header = str(params.get("Authorization") or params.get("authorization") or "")
            token = header[7:].strip() if header.lower().startswith("bearer ") else None
            try:
                context.claims = verify(token, state.public_key, ISSUER, AUDIENCE)
            except AuthFailed as exc:
                state.metrics.auth_fail.labels(reason=exc.reason).inc()
                raise ConnectionRejectionError(
                    {"reason": f"unauthorized: {exc.reason} token"}
                ) from None
            state.metrics.auth_ok.inc()
            return None

    # An exact websocket route: a Mount would only match "/graphql/ws/..." paths.
    subscriptions = Subscriptions(
        gql.SCHEMAS[(False, "root-fields" in config.dialects)],
        graphql_ide=None,
        allow_queries_via_get=False,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
    )
    app.router.routes.append(WebSocketRoute("/graphql/ws", subscriptions))
