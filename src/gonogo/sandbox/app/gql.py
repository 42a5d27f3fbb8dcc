"""The gateway's GraphQL: Strawberry schema, the persisted-operation registry, guards.

Persisted operations are required: a request names a registered id (or an
APQ sha256); an ad-hoc document is refused unless the `persisted-off` fault
is on. A cost guard (list sizes times selected fields) refuses abusive
queries, and Strawberry's depth limiter refuses deep ones. The schema comes
in builds so the `field-renamed` fault can rename Widget.type to kind, and the
`root-fields` dialect can name the root fields and arguments as another team
would (serviceStatus, userDashboard, recentNotes(first:), addNote(body:)),
with persisted operations of its own.
"""

# No `from __future__ import annotations` here: Strawberry resolves field types from
# annotations, and the two schema builds define their Widget types inside a function.
import asyncio
import hashlib
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

import strawberry
from graphql import FieldNode, GraphQLError, OperationDefinitionNode, parse, print_ast
from graphql.language import FragmentDefinitionNode, FragmentSpreadNode, InlineFragmentNode
from strawberry.extensions import QueryDepthLimiter
from strawberry.types import Info

MAX_DEPTH = 6
MAX_COST = 1000

REGISTRY: dict[str, str] = {
    "op:healthQuery:v1": "query Health { health { ok } }",
    "op:GetUserDashboard:v1": (
        "query GetUserDashboard { dashboard { widgets { id type } alerts { level } } }"
    ),
    "op:GetNotes:v1": (
        "query GetNotes($limit: Int = 20) { notes(limit: $limit) { id text createdAt } }"
    ),
    "op:CreateNote:v1": "mutation CreateNote($text: String!) { createNote(text: $text) { id } }",
    "op:NoteCreated:v1": "subscription NoteCreated { noteCreated { id text createdAt } }",
}
# The root-fields dialect: the same operations as another team names them.
ROOT_FIELDS_REGISTRY: dict[str, str] = {
    "op:ServiceStatus:v2": "query ServiceStatus { serviceStatus { ok } }",
    "op:UserDashboard:v2": (
        "query UserDashboard { userDashboard { widgets { id type } alerts { level } } }"
    ),
    "op:RecentNotes:v2": (
        "query RecentNotes($first: Int = 20) { recentNotes(first: $first) { id text createdAt } }"
    ),
    "op:AddNote:v2": "mutation AddNote($body: String!) { addNote(body: $body) { id } }",
    "op:NoteAdded:v2": "subscription NoteAdded { noteAdded { id text createdAt } }",
}
# What a release manager of such a gateway writes in [operations] (gonogo's name -> theirs).
ROOT_FIELDS_OPERATIONS: dict[str, dict[str, Any]] = {
    "health": {"id": "op:ServiceStatus:v2", "field": "serviceStatus"},
    "dashboard": {"id": "op:UserDashboard:v2", "field": "userDashboard"},
    "notes": {"id": "op:RecentNotes:v2", "field": "recentNotes", "variables": {"limit": "first"}},
    "create_note": {"id": "op:AddNote:v2", "field": "addNote", "variables": {"text": "body"}},
}
# ... and in [slo] and [stream]: its subscription, and its outbox event's nested text.
ROOT_FIELDS_SLO = {"subscription_document": ROOT_FIELDS_REGISTRY["op:NoteAdded:v2"]}
ROOT_FIELDS_STREAM = {"ingest_text_field": "payload.body"}
# Subscriptions arrive as documents (graphql-transport-ws has no persisted-id field):
# an operation is persisted when it prints the same as a registered one.
_REGISTERED_OPS = {
    print_ast(parse(doc).definitions[0])
    for doc in (*REGISTRY.values(), *ROOT_FIELDS_REGISTRY.values())
}


def _apq(registry: dict[str, str]) -> dict[str, str]:
    return {hashlib.sha256(doc.encode()).hexdigest(): doc for doc in registry.values()}


# The registry a gateway serves, by whether it speaks the root-fields dialect.
REGISTRIES = {False: REGISTRY, True: ROOT_FIELDS_REGISTRY}
APQS = {roots: _apq(registry) for roots, registry in REGISTRIES.items()}
# The document-id dialect: GraphQL-over-HTTP persisted documents, named by their hash.
DOCUMENT_IDS = {
    roots: {f"sha256:{digest}": doc for digest, doc in apq.items()} for roots, apq in APQS.items()
}


def document_id(operation_id: str) -> str:
    """The document-id dialect's name for a registered operation (of either registry)."""
    document = REGISTRY.get(operation_id) or ROOT_FIELDS_REGISTRY[operation_id]
    return f"sha256:{hashlib.sha256(document.encode()).hexdigest()}"


@dataclass
class Backend:
    """What resolvers need from the app, passed as the GraphQL context."""

    list_notes: Callable[[int], Awaitable[list[dict[str, Any]]]]
    create_note: Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
    claims: dict[str, Any]
    subscribe: Callable[[], "asyncio.Queue[dict[str, Any]]"] | None = None
    unsubscribe: Callable[["asyncio.Queue[dict[str, Any]]"], None] | None = None
    enforce_persisted: Callable[[], bool] = lambda: True
    # Set by Strawberry from graphql-transport-ws connection_init.
    connection_params: dict[str, Any] | None = None


@strawberry.type
class Health:
    ok: bool


@strawberry.type
class Alert:
    level: str


@strawberry.type
class Note:
    id: strawberry.ID
    text: str
    created_at: str

    @strawberry.field
    async def related(self, info: Info["Backend", None], limit: int = 5) -> list["Note"]:
        """Other notes by recency: the graph is recursive, so depth must be guarded."""
        rows = await info.context.list_notes(limit)
        return [
            Note(id=strawberry.ID(r["id"]), text=r["text"], created_at=r["createdAt"])
            for r in rows
            if r["id"] != self.id
        ]


def _build(renamed: bool, roots: bool = False) -> strawberry.Schema:
    if renamed:

        @strawberry.type(name="Widget")
        class Widget:
            id: strawberry.ID
            kind: str

        def widget(i: str, t: str) -> Any:
            return Widget(id=strawberry.ID(i), kind=t)
    else:

        @strawberry.type(name="Widget")
        class Widget:  # type: ignore[no-redef]
            id: strawberry.ID
            type: str

        def widget(i: str, t: str) -> Any:
            return Widget(id=strawberry.ID(i), type=t)  # type: ignore[call-arg]

    @strawberry.type
    class Dashboard:
        widgets: list[Widget]
        alerts: list[Alert]

    # Strawberry types its decorators with a name= argument as Any, hence the ignores below.
    limit_name = "first" if roots else "limit"
    text_name = "body" if roots else "text"

    @strawberry.type
    class Query:
        @strawberry.field(name="serviceStatus" if roots else "health")  # type: ignore[untyped-decorator]
        def health(self) -> Health:
            return Health(ok=True)

        @strawberry.field(name="userDashboard" if roots else "dashboard")  # type: ignore[untyped-decorator]
        def dashboard(self) -> Dashboard:
            return Dashboard(
                widgets=[widget("w1", "graph"), widget("w2", "timeline"), widget("w3", "map")],
                alerts=[Alert(level="info"), Alert(level="warning")],
            )

        @strawberry.field(name="recentNotes" if roots else "notes")  # type: ignore[untyped-decorator]
        async def notes(
            self,
            info: Info[Backend, None],
            limit: Annotated[int, strawberry.argument(name=limit_name)] = 20,
        ) -> list[Note]:
            rows = await info.context.list_notes(limit)
            return [
                Note(id=strawberry.ID(r["id"]), text=r["text"], created_at=r["createdAt"])
                for r in rows
            ]

    @strawberry.type
    class Mutation:
        @strawberry.mutation(name="addNote" if roots else "createNote")  # type: ignore[untyped-decorator]
        async def create_note(
            self,
            info: Info[Backend, None],
            text: Annotated[str, strawberry.argument(name=text_name)],
        ) -> Note:
            row = await info.context.create_note(text, info.context.claims)
            return Note(id=strawberry.ID(row["id"]), text=row["text"], created_at=row["createdAt"])

    @strawberry.type
    class Subscription:
        @strawberry.subscription(name="noteAdded" if roots else "noteCreated")  # type: ignore[untyped-decorator]
        async def note_created(self, info: Info[Backend, None]) -> AsyncGenerator[Note, None]:
            """Each note once the ingest consumer has written it to the graph."""
            backend = info.context
            if backend.enforce_persisted() and print_ast(info.operation) not in _REGISTERED_OPS:
                raise GraphQLError(
                    "PersistedQueryRequired: ad-hoc documents are not accepted; "
                    "subscribe with a registered operation",
                    extensions={"code": "PERSISTED_QUERY_REQUIRED"},
                )
            assert backend.subscribe is not None
            assert backend.unsubscribe is not None
            queue = backend.subscribe()
            try:
                while True:
                    event = await queue.get()
                    yield Note(
                        id=strawberry.ID(event["id"]),
                        text=event["text"],
                        created_at=event["createdAt"],
                    )
            finally:
                backend.unsubscribe(queue)

    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[lambda: QueryDepthLimiter(max_depth=MAX_DEPTH)],
    )


# (field-renamed fault, root-fields dialect) -> the schema the gateway executes with.
SCHEMAS = {
    (renamed, roots): _build(renamed, roots) for renamed in (False, True) for roots in (False, True)
}
SCHEMA = SCHEMAS[(False, False)]


class Refused(Exception):
    """A request the gateway refuses before execution, with a GraphQL error code."""

    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


def resolve_document(
    body: dict[str, Any],
    *,
    enforce_persisted: bool,
    document_ids: bool = False,
    roots: bool = False,
) -> tuple[str, str | None]:
    """The document to run and its persisted id (None for ad-hoc). With `document_ids`
    (the document-id dialect) only {"documentId": "sha256:..."} names a persisted one;
    with `roots` (the root-fields dialect) the registry is that dialect's."""
    registry, apq = REGISTRIES[roots], APQS[roots]
    if document_ids:
        doc_id = body.get("documentId")
        if isinstance(doc_id, str):
            doc = DOCUMENT_IDS[roots].get(doc_id)
            if doc is None:
                raise Refused("PERSISTED_QUERY_NOT_FOUND", f"unknown documentId {doc_id!r}")
            return doc, doc_id
        if body.get("query") is None:
            raise Refused("BAD_REQUEST", 'send a persisted document: {"documentId": "sha256:..."}')
    op_id = None if document_ids else body.get("id")
    if isinstance(op_id, str):
        doc = registry.get(op_id)
        if doc is None:
            raise Refused("PERSISTED_QUERY_NOT_FOUND", f"unknown persisted operation id {op_id!r}")
        return doc, op_id
    persisted = (body.get("extensions") or {}).get("persistedQuery")
    if isinstance(persisted, dict):
        digest = persisted.get("sha256Hash")
        doc = apq.get(str(digest))
        if doc is None:
            raise Refused("PERSISTED_QUERY_NOT_FOUND", f"unknown persisted query hash {digest!r}")
        return doc, f"sha256:{digest}"
    query = body.get("query")
    if not isinstance(query, str) or not query.strip():
        raise Refused("BAD_REQUEST", 'send a persisted operation: {"id": ..., "variables": ...}')
    if enforce_persisted:
        raise Refused(
            "PERSISTED_QUERY_REQUIRED",
            "ad-hoc documents are not accepted; send a registered persisted operation id",
        )
    return query, None


def cost(document: str, variables: dict[str, Any]) -> int:
    """Fields selected, with a list field's children counted once per requested item."""
    try:
        ast = parse(document)
    except GraphQLError as exc:
        raise Refused("GRAPHQL_PARSE_FAILED", exc.message) from None
    fragments = {d.name.value: d for d in ast.definitions if isinstance(d, FragmentDefinitionNode)}

    def limit_of(field: FieldNode) -> int:
        for arg in field.arguments or ():
            if arg.name.value in {"limit", "first"}:
                value = arg.value
                raw = getattr(value, "value", None)
                if value.kind == "variable":
                    raw = variables.get(value.name.value)  # type: ignore[attr-defined]
                try:
                    return max(1, int(raw))  # type: ignore[arg-type]
                except (TypeError, ValueError):
                    return 1
        return 1

    def walk(selection_set: Any, seen: frozenset[str]) -> int:
        total = 0
        for sel in selection_set.selections if selection_set else ():
            if isinstance(sel, FieldNode):
                total += 1 + limit_of(sel) * walk(sel.selection_set, seen)
            elif isinstance(sel, InlineFragmentNode):
                total += walk(sel.selection_set, seen)
            elif isinstance(sel, FragmentSpreadNode) and sel.name.value not in seen:
                frag = fragments.get(sel.name.value)
                if frag is not None:
                    total += walk(frag.selection_set, seen | {sel.name.value})
        return total

    return sum(
        walk(d.selection_set, frozenset())
        for d in ast.definitions
        if isinstance(d, OperationDefinitionNode)
    )
