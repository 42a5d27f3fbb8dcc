"""Liveness and readiness: the first thing the cutover smoke asks."""

from __future__ import annotations

from gonogo.checks import says, short
from gonogo.env import Environment
from gonogo.evidence import Captures


def test_healthz(env: Environment, evidence: Captures) -> None:
    """Rule: GET /healthz answers 200 with a JSON body whose status is "ok".

    Fault: healthz-fail
    """
    r = env.http.get(env.settings.health_path, auth=False)
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else r.text
    path = evidence.save("healthz.json", {"status": r.status_code, "body": body})
    assert r.status_code == 200, says("200 from /healthz", f"{r.status_code} {short(r.text)}", path)
    assert isinstance(body, dict) and body.get("status") == "ok", says(
        'a body with "status": "ok"', short(str(body)), path
    )


def test_readyz(env: Environment, evidence: Captures) -> None:
    """Rule: GET /readyz answers 200 and every dependency it lists is "ok".

    Fault: readyz-fail
    """
    r = env.http.get(env.settings.ready_path, auth=False)
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else r.text
    path = evidence.save("readyz.json", {"status": r.status_code, "body": body})
    down = (
        {k: v for k, v in (body.get("checks") or {}).items() if v != "ok"}
        if isinstance(body, dict)
        else {}
    )
    assert r.status_code == 200 and not down, says(
        "200 from /readyz with every dependency ok",
        f"{r.status_code}, not ok: {down or short(str(body))}",
        path,
    )
