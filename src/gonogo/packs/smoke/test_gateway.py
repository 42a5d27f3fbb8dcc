"""The API gateway: spot latency against the budget, the ABAC decisions, and T-45's warm
caches."""

from __future__ import annotations

from gonogo.checks import percentile, says, short
from gonogo.clients.http import elapsed_ms
from gonogo.env import Environment
from gonogo.evidence import Captures


def test_gateway_spot_latency(env: Environment, evidence: Captures) -> None:
    """Rule: N pings to /api/ping ([smoke] pings, default 10; ping_path) all answer 200, and
    their p95 is within the env's API p95 budget ([slo] api_p95_ms, default 150 ms).

    Fault: latency=/api/ping:300
    """
    path = f"{env.settings.api_path}{env.settings.smoke.ping_path}"
    rows = []
    for n in range(env.settings.smoke.pings):
        r = env.http.get(path)
        rows.append((n + 1, r.status_code, r.elapsed.total_seconds() * 1000.0))
    lines = [f"{n} {status} {ms:.3f}" for n, status, ms in rows]
    capture = evidence.save("api_ping.lat", "# n status ms\n" + "\n".join(lines) + "\n")
    bad = [(n, status) for n, status, _ in rows if status != 200]
    assert not bad, says(f"every ping to {path} to answer 200", f"non-200 answers {bad}", capture)
    p95 = percentile([ms for _, _, ms in rows], 95)
    budget = env.settings.slo.api_p95_ms
    evidence.measured(round(p95, 1), budget, " ms")
    evidence.step(f"spot p95 {p95:.1f} ms over {len(rows)} pings; budget {budget:g} ms")
    assert p95 <= budget, says(
        f"spot p95 <= {budget:g} ms (the env's API p95 budget)",
        f"spot p95 {p95:.1f} ms over {len(rows)} pings",
        capture,
    )


def test_abac_allowed_and_denied(env: Environment, evidence: Captures) -> None:
    """Rule: with the same token, /api/secure/allowed answers 200 and /api/secure/denied 403
    ([smoke] allowed_path and denied_path).

    Fault: abac-fail-open
    """
    api, smoke = env.settings.api_path, env.settings.smoke
    allowed_path, denied_path = f"{api}{smoke.allowed_path}", f"{api}{smoke.denied_path}"
    allowed = env.http.get(allowed_path)
    denied = env.http.get(denied_path)
    a = evidence.save("abac_allowed.code", f"{allowed.status_code}\n")
    d = evidence.save("abac_denied.code", f"{denied.status_code}\n")
    assert allowed.status_code == 200, says(f"200 from {allowed_path}", str(allowed.status_code), a)
    assert denied.status_code == 403, says(f"403 from {denied_path}", str(denied.status_code), d)


def test_abac_no_token_is_refused(env: Environment, evidence: Captures) -> None:
    """Rule: a request with no token is refused with 401.

    Fault: auth-optional
    """
    r = env.http.get(f"{env.settings.api_path}{env.settings.smoke.allowed_path}", auth=False)
    path = evidence.save("abac_notoken.code", f"{r.status_code}\n")
    assert r.status_code == 401, says("401 for a request with no token", str(r.status_code), path)


def test_warm_paths_answer(env: Environment, evidence: Captures) -> None:
    """Rule: each of [cutover] warm_paths (default /api/ping, /.well-known/jwks.json) answers
    200 through the env's URL with its token: the one-pager's T-45 "warm caches", exit
    "Healthy, 0 errors". One answer other than 200 is an error the first users would meet.

    Fault: error-rate=1
    """
    answers = []
    for warm in env.settings.cutover.warm_paths:
        r = env.http.get(warm)
        answers.append(
            {
                "path": warm,
                "status": r.status_code,
                "ms": round(elapsed_ms(r), 1),
                "body": short(r.text),
            }
        )
    path = evidence.save("warm_paths.json", {"base_url": env.settings.base_url, "answers": answers})
    errors = [f"{a['path']}: {a['status']} {a['body']}" for a in answers if a["status"] != 200]
    assert not errors, says(
        f"200 from each of {len(answers)} warm path(s) ([cutover] warm_paths)",
        "; ".join(errors[:4]),
        path,
    )
