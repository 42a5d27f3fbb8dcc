"""Liveness and readiness: the first thing the cutover smoke asks."""

from __future__ import annotations

from gonogo.checks import body, says, short
from gonogo.env import Environment
from gonogo.evidence import Captures


def test_healthz(env: Environment, evidence: Captures) -> None:
    """Rule: GET /healthz answers 200 with a JSON body whose status is "ok".

    Fault: healthz-fail
    """
    r = env.http.get(env.settings.health_path, auth=False)
    payload = body(r)
    path = evidence.save("healthz.json", {"status": r.status_code, "body": payload})
    assert r.status_code == 200, says("200 from /healthz", f"{r.status_code} {short(r.text)}", path)
    assert isinstance(payload, dict) and payload.get("status") == "ok", says(
        'a body with "status": "ok"', short(str(payload)), path
    )


def test_readyz(env: Environment, evidence: Captures) -> None:
    """Rule: GET /readyz answers 200 and every dependency it lists is "ok".

    Fault: readyz-fail
    """
    r = env.http.get(env.settings.ready_path, auth=False)
    payload = body(r)
    path = evidence.save("readyz.json", {"status": r.status_code, "body": payload})
    down = (
        {k: v for k, v in (payload.get("checks") or {}).items() if v != "ok"}
        if isinstance(payload, dict)
        else {}
    )
    assert r.status_code == 200 and not down, says(
        "200 from /readyz with every dependency ok",
        f"{r.status_code}, not ok: {down or short(str(payload))}",
        path,
    )
