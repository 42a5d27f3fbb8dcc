"""GraphQL: persisted operations, their enforcement, and the functional smokes."""

from __future__ import annotations

import time
import uuid

from gonogo import shape
from gonogo.checks import says
from gonogo.env import Environment
from gonogo.evidence import Captures

NOTE_VISIBLE_WITHIN_S = 1.0


def test_graphql_persisted_health(env: Environment, evidence: Captures) -> None:
    """Rule: the persisted health operation answers 200 with no errors, its root field shaped
    as [operations.health] expect says, and its `ok` (when expected) true.

    Fault: error-rate=1
    """
    op = env.settings.operations.health
    result = env.graphql.persisted(op)
    path = evidence.save("gql_persisted.json", result.as_capture())
    assert result.status == 200, says(
        "200 from the persisted health query", result.describe(), path
    )
    assert not result.errors, says("no errors", result.describe(), path)
    value = (result.data or {}).get(op.field)
    wrong = shape.mismatches(value, op.expect, f"data.{op.field}")
    assert not wrong, says(f"data.{op.field} as {{ {op.expect} }}", "; ".join(wrong[:5]), path)
    if isinstance(value, dict) and "ok" in value:
        assert value["ok"] is True, says(f"data.{op.field}.ok == true", repr(value["ok"]), path)


def test_persisted_queries_are_enforced(env: Environment, evidence: Captures) -> None:
    """Rule: an ad-hoc (non-persisted) document is refused, with an error and no data. The
    document asks what the health operation asks ([operations] health: its root field and
    expected selection), so only its not being persisted can make the gateway refuse it.

    Fault: persisted-off
    """
    health = env.settings.operations.health
    selection = f" {{ {health.expect} }}" if health.expect.strip() else ""
    result = env.graphql.document(f"query AdHoc {{ {health.field}{selection} }}")
    path = evidence.save("gql_adhoc.json", result.as_capture())
    refused = result.status >= 400 or (
        bool(result.errors) and not (result.data or {}).get(health.field)
    )
    assert refused, says(
        "the gateway to refuse an ad-hoc document", f"{result.status} with data {result.data}", path
    )


def test_dashboard_types(env: Environment, evidence: Captures) -> None:
    """Rule: GetUserDashboard answers 200 with its root field shaped as [operations.dashboard]
    expect says (by default widgets {id type} and alerts {level}, every field present).

    Fault: field-renamed
    """
    op = env.settings.operations.dashboard
    result = env.graphql.persisted(op)
    path = evidence.save("gql_dashboard.json", result.as_capture())
    assert result.ok, says("200 with data and no errors", result.describe(), path)
    wrong = shape.mismatches((result.data or {}).get(op.field), op.expect, f"data.{op.field}")
    assert not wrong, says(f"data.{op.field} as {{ {op.expect} }}", "; ".join(wrong[:5]), path)


def test_create_note_visible_in_get_notes(env: Environment, evidence: Captures) -> None:
    """Rule: CreateNote returns an id, and that note appears in GetNotes within 1 s.

    Fault: consumer-stall
    """
    text = f"gonogo smoke {uuid.uuid4()}"
    create, notes_op = env.settings.operations.create_note, env.settings.operations.notes
    created = env.graphql.persisted(create, {create.var("text"): text}, write=True)
    note_id = ((created.data or {}).get(create.field) or {}).get("id")
    t0 = time.monotonic()
    polls, seen = 0, False
    while not seen and time.monotonic() - t0 < NOTE_VISIBLE_WITHIN_S:
        polls += 1
        notes = env.graphql.persisted(notes_op, {notes_op.var("limit"): 50})
        listed = (notes.data or {}).get(notes_op.field) or []
        seen = any(isinstance(n, dict) and n.get("id") == note_id for n in listed)
        if not seen:
            time.sleep(0.05)
    waited = time.monotonic() - t0
    path = evidence.save(
        "gql_create_note.json",
        {
            "create": created.as_capture(),
            "note_id": note_id,
            "visible": seen,
            "waited_s": round(waited, 3),
            "polls": polls,
        },
    )
    assert note_id, says("CreateNote to return an id", created.describe(), path)
    evidence.measured(round(waited, 3), NOTE_VISIBLE_WITHIN_S, " s")
    evidence.step(f"note {note_id} visible={seen} after {waited:.3f} s ({polls} polls)")
    assert seen, says(
        f"note {note_id} in GetNotes within {NOTE_VISIBLE_WITHIN_S:g} s",
        f"not there after {waited:.2f} s ({polls} polls)",
        path,
    )
