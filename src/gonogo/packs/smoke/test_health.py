"""Liveness and readiness: the first thing the cutover smoke asks."""

from __future__ import annotations

from gonogo.checks import body, field_of, says, short, status_word
from gonogo.env import Environment
from gonogo.evidence import Captures


def test_healthz(env: Environment, evidence: Captures) -> None:
    """Rule: GET /healthz answers 200 and says healthy: its [smoke] health_field ("status")
    is one of health_ok ("ok", "pass", "up", "healthy", any case), or with health_field = ""
    the plain body is.

    Fault: healthz-fail
    """
    smoke = env.settings.smoke
    r = env.http.get(env.settings.health_path, auth=False)
    payload = body(r)
    path = evidence.save("healthz.json", {"status": r.status_code, "body": payload})
    assert r.status_code == 200, says("200 from /healthz", f"{r.status_code} {short(r.text)}", path)
    word = status_word(field_of(payload, smoke.health_field))
    where = f'"{smoke.health_field}"' if smoke.health_field else "the body"
    assert word in smoke.health_ok, says(
        f"{where} saying one of {', '.join(smoke.health_ok)}", short(str(payload)), path
    )


def test_readyz(env: Environment, evidence: Captures) -> None:
    """Rule: GET /readyz answers 200 and every dependency it lists under [smoke]
    ready_checks_field ("checks") says one of health_ok, as a word or as {"status": ...}.

    Fault: readyz-fail
    """
    smoke = env.settings.smoke
    r = env.http.get(env.settings.ready_path, auth=False)
    payload = body(r)
    path = evidence.save("readyz.json", {"status": r.status_code, "body": payload})
    listed = field_of(payload, smoke.ready_checks_field) if smoke.ready_checks_field else None
    down = (
        {k: v for k, v in listed.items() if status_word(v) not in smoke.health_ok}
        if isinstance(listed, dict)
        else {}
    )
    assert r.status_code == 200 and not down, says(
        "200 from /readyz with every dependency ok",
        f"{r.status_code}, not ok: {down or short(str(payload))}",
        path,
    )
