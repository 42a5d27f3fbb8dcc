"""An answer's expected shape, written as a GraphQL selection and checked recursively.

`expect = "widgets { id type } alerts { level }"` says what the root field's value must
hold: every selected field present and non-null, a field with a sub-selection an object
(or a list of them, each checked), a field without one a scalar. graphql-core parses the
selection, so a malformed one is refused with the env file, not discovered at 3 a.m.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # graphql-core is imported when a shape is first read: config loads it
    from graphql import SelectionSetNode


def selection(expect: str) -> SelectionSetNode:
    """The selection `expect` as graphql-core reads it; ValueError, one line, if malformed."""
    from graphql import GraphQLSyntaxError, OperationDefinitionNode, parse

    try:
        document = parse("{ " + expect + " }", no_location=True)
    except GraphQLSyntaxError as exc:
        raise ValueError(
            f"'{expect}' is not a GraphQL selection ({exc.message}); write it like "
            '"widgets { id type } alerts { level }"'
        ) from None
    operation = document.definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    return operation.selection_set


def root_field(document: str) -> str:
    """The key under `data` that answers a one-operation document (its alias, if any)."""
    from graphql import FieldNode, GraphQLSyntaxError, OperationDefinitionNode, parse

    try:
        parsed = parse(document, no_location=True)
    except GraphQLSyntaxError as exc:
        raise ValueError(f"is not a GraphQL document ({exc.message})") from None
    operations = [d for d in parsed.definitions if isinstance(d, OperationDefinitionNode)]
    fields = [
        node
        for node in (operations[0].selection_set.selections if len(operations) == 1 else ())
        if isinstance(node, FieldNode)
    ]
    if len(fields) != 1:
        raise ValueError("must be one operation selecting one root field, like "
                         '"subscription NoteCreated { noteCreated { id text } }"')  # fmt: skip
    return fields[0].alias.value if fields[0].alias else fields[0].name.value


def mismatches(value: Any, expect: str, where: str) -> list[str]:
    """Where `value` departs from the shape `expect` (empty when it has it)."""
    if not expect.strip():
        return [] if value is not None else [f"{where} is null"]
    return _check(value, selection(expect), where)


def _check(value: Any, selected: SelectionSetNode, where: str) -> list[str]:
    from graphql import FieldNode

    if isinstance(value, list):
        out: list[str] = []
        for i, item in enumerate(value):
            out += _check(item, selected, f"{where}[{i}]")
        return out
    if not isinstance(value, dict):
        return [f"{where} is {_kind(value)}, expected an object"]
    out = []
    for node in selected.selections:
        if not isinstance(node, FieldNode):
            continue  # fragments are not part of an expectation
        name = node.alias.value if node.alias else node.name.value
        path = f"{where}.{name}"
        if name not in value:
            out.append(f"{path} missing")
        elif value[name] is None:
            out.append(f"{path} is null")
        elif node.selection_set is not None:
            out += _check(value[name], node.selection_set, path)
        elif isinstance(value[name], dict | list):
            out.append(f"{path} is {_kind(value[name])}, expected a scalar")
    return out


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), f"a {type(value).__name__}"
    )
