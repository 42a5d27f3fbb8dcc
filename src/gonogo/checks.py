"""Small helpers the packs share, so every check reads and fails the same way.

Every failure message has three parts a person at 3 a.m. needs: what was
expected, what came back, and where the capture is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gonogo.evidence import cite

if TYPE_CHECKING:
    from gonogo.clients.graphql import GraphQLResult
    from gonogo.config.api import Operation


def write_freeze(env: Any, enable: bool, client: Any = None) -> int:
    """Turn the write freeze on or off ([smoke] write_freeze_path, as an admin); the HTTP
    status. `client`: another way in than the env's base URL (the public URL, say)."""
    settings = env.settings
    reply = (client or env.http).post(
        f"{settings.api_path}{settings.smoke.write_freeze_path}",
        params={"enable": "true" if enable else "false"},
        auth=False,
        headers={"Authorization": f"Bearer {env.admin_token()}"},
    )
    status: int = reply.status_code
    return status


def write_refused(result: GraphQLResult, create: Operation) -> bool:
    """A CreateNote refused: the answer has errors and made no note. A gateway that says an
    error and creates the note anyway has not refused it; the drill and the rollback's freeze
    step judge the freeze by this one rule."""
    return bool(result.errors) and not (result.data or {}).get(create.field)


def says(expected: str, got: str, capture: Path | None) -> str:
    """The one form of a failure message: expected ...; got ...; capture: ...

    "got" is never empty: an empty body, or a value that prints as nothing, is said in
    words, since a blank after "got" reads as a bug in the tool at 3 a.m.
    """
    shown = (
        got
        if got.strip(" :;'\"")
        else f"nothing (an empty answer{': ' + repr(got) if got else ''})"
    )
    return f"expected {expected}; got {shown}; capture: {cite(capture)}"


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100): a value that was really observed."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[rank - 1]


def short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def body(response: Any) -> Any:
    """A response's JSON when it says it is JSON (application/json, or a +json type like the
    health-check draft's application/health+json) and parses, else its text."""
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json"):
        try:
            return response.json()
        except ValueError:
            pass
    return response.text


def status_word(value: Any) -> str | None:
    """The word a health answer says, lower-cased: "ok", "UP" or {"status": "pass"}."""
    if isinstance(value, dict):
        value = value.get("status")
    return value.strip().lower() if isinstance(value, str) else None


def field_of(payload: Any, path: str) -> Any:
    """A dotted path into JSON ("status", "data.health.status"); "" is the payload itself."""
    for part in path.split(".") if path else ():
        if not isinstance(payload, dict):
            return None
        payload = payload.get(part)
    return payload
