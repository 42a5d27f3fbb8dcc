"""GraphQL: persisted operations, their enforcement, and the functional smokes."""

from __future__ import annotations

import time
import uuid

from gonogo.checks import says, short
from gonogo.env import Environment
from gonogo.evidence import Captures

NOTE_VISIBLE_WITHIN_S = 1.0


def test_graphql_persisted_health(env: Environment, evidence: Captures) -> None:
    """Rule: the persisted health operation answers 200 with data.health.ok == true and no errors.

    Fault: error-rate=1
    """
    result = env.graphql.persisted(env.settings.operations.health)
    path = evidence.save("gql_persisted.json", result.as_capture())
    assert result.status == 200, says(
        "200 from the persisted health query", str(result.status), path
    )
    assert not result.errors, says("no errors", result.describe(), path)
    ok = (result.data or {}).get("health", {}).get("ok")
    assert ok is True, says("data.health.ok == true", repr(ok), path)


def test_persisted_queries_are_enforced(env: Environment, evidence: Captures) -> None:
    """Rule: an ad-hoc (non-persisted) document is refused, with an error and no data.

    Fault: persisted-off
    """
    result = env.graphql.document("query AdHoc { health { ok } }")
    path = evidence.save("gql_adhoc.json", result.as_capture())
    refused = result.status >= 400 or (
        bool(result.errors) and not (result.data or {}).get("health")
    )
    assert refused, says(
        "the gateway to refuse an ad-hoc document", f"{result.status} with data {result.data}", path
    )


def test_dashboard_types(env: Environment, evidence: Captures) -> None:
    """Rule: GetUserDashboard answers 200 with widgets {id type} and alerts {level}, all strings.

    Fault: field-renamed
    """
    result = env.graphql.persisted(env.settings.operations.dashboard)
    path = evidence.save("gql_dashboard.json", result.as_capture())
    assert result.ok, says(
        "200 with data and no errors",
        result.describe(),
        path,
    )
    dashboard = (result.data or {}).get("dashboard") or {}
    widgets, alerts = dashboard.get("widgets"), dashboard.get("alerts")
    assert isinstance(widgets, list) and isinstance(alerts, list), says(
        "dashboard.widgets and dashboard.alerts as lists", short(str(dashboard)), path
    )
    wrong = [
        w for w in widgets if not (isinstance(w.get("id"), str) and isinstance(w.get("type"), str))
    ]
    wrong += [a for a in alerts if not isinstance(a.get("level"), str)]
    assert not wrong, says(
        "string id/type on widgets and string level on alerts", short(str(wrong)), path
    )


def test_create_note_visible_in_get_notes(env: Environment, evidence: Captures) -> None:
    """Rule: CreateNote returns an id, and that note appears in GetNotes within 1 s.

    Fault: consumer-stall
    """
    text = f"gonogo smoke {uuid.uuid4()}"
    created = env.graphql.persisted(env.settings.operations.create_note, {"text": text}, write=True)
    note_id = ((created.data or {}).get("createNote") or {}).get("id")
    t0 = time.monotonic()
    polls, seen = 0, False
    while not seen and time.monotonic() - t0 < NOTE_VISIBLE_WITHIN_S:
        polls += 1
        notes = env.graphql.persisted(env.settings.operations.notes, {"limit": 50})
        seen = any(n.get("id") == note_id for n in ((notes.data or {}).get("notes") or []))
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
