"""The gateway's own guards, against the running env: the checks an attacker would try."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from gonogo import abac
from gonogo.checks import body, says
from gonogo.env import Environment
from gonogo.errors import ConfigError, NotConfigured
from gonogo.evidence import Captures
from gonogo.supplychain import audit


def test_ad_hoc_introspection_is_refused(env: Environment, evidence: Captures) -> None:
    """Rule: an ad-hoc document (here, schema introspection) is refused: only persisted
    operations run, so the schema is not handed to whoever asks.

    Fault: persisted-off
    """
    result = env.graphql.document("query Probe { __schema { types { name } } }")
    path = evidence.save("security_introspection.json", result.as_capture())
    assert result.data is None or "__schema" not in result.data, says(
        "the ad-hoc introspection query refused (persisted operations only)",
        f"HTTP {result.status} with the schema in data",
        path,
    )


def test_cost_guard_refuses_an_abusive_query(env: Environment, evidence: Captures) -> None:
    """Rule: a persisted operation asked for 100000 rows is refused by the cost guard.

    Fault: cost-guard-off
    """
    notes = env.settings.operations.notes
    result = env.graphql.persisted(notes, {notes.var("limit"): 100000})
    path = evidence.save("security_cost_guard.json", result.as_capture())
    codes = [str((e.get("extensions") or {}).get("code")) for e in result.errors or []]
    refused = bool(result.errors) and (result.data is None or result.data.get(notes.field) is None)
    assert refused, says(
        "GetNotes(limit: 100000) refused by the cost guard",
        f"HTTP {result.status}, {len((result.data or {}).get(notes.field) or [])} notes, "
        f"error codes {codes or 'none'}",
        path,
    )


def _role_tokens(env: Environment) -> dict[str, str]:
    if env.sandbox is not None:
        return {role: env.sandbox.token(role) for role in ("analyst", "admin", "norole")}
    configured = env.settings.security.role_tokens
    if not configured:
        raise NotConfigured(
            env.name,
            "security",
            "the ABAC matrix",
            'set [security] role_tokens = {ROLE = "VARIABLE"} and abac_policy',
        )
    return {
        role: env.settings.read_secret(var, f"{role} token", "security.role_tokens")
        for role, var in configured.items()
    }


def test_abac_matrix_matches_the_policy(env: Environment, evidence: Captures) -> None:
    """Rule: for every role x resource the gateway answers what its own policy decides (200
    permit, 403 deny), the same on a repeated call: the policy is an OPA/Rego folder asked at
    [security.abac] query, or gonogo's JSON file (abac_policy); [security.abac] cases are
    checked too.

    Fault: abac-fail-open
    """
    table = env.settings.security.abac
    policy_file = env.settings.security.abac_policy
    if table.rego is None and policy_file is None and not table.cases:
        raise NotConfigured(
            env.name,
            "security",
            "the ABAC matrix",
            "set [security.abac] rego and resources (OPA), or [security] abac_policy, or "
            "[security.abac] cases",
        )
    tokens = _role_tokens(env)
    wanted, source = _decisions(env, tokens)
    for case in table.cases:
        if case.role not in tokens:
            raise ConfigError(
                f"env '{env.name}': [security.abac] cases name role '{case.role}', which has no "
                f"token; add it to [security] role_tokens (roles: {', '.join(sorted(tokens))})"
            )
        wanted.append((case.role, case.method, case.path, case.status))
    matrix: dict[str, dict[str, Any]] = {}
    wrong = []
    for role, method, request_path, want in wanted:
        headers = {"Authorization": f"Bearer {tokens[role]}"}
        got = [
            env.http.request(method, request_path, auth=False, headers=headers).status_code
            for _ in range(2)
        ]
        matrix.setdefault(role, {})[f"{method} {request_path}"] = {"expected": want, "got": got}
        if got != [want, want]:
            wrong.append(f"{role} x {method} {request_path}: expected {want}, got {got}")
    path = evidence.save("security_abac_matrix.json", {"policy": source, "matrix": matrix})
    assert not wrong, says(f"every decision as {source} says, twice", "; ".join(wrong[:5]), path)


def _decisions(env: Environment, tokens: dict[str, str]) -> tuple[list[Any], str]:
    """(role, method, path, expected status) from the deployment's policy, and its name."""
    table = env.settings.security.abac
    api = env.settings.api_path
    out: list[Any] = []
    if table.rego is not None:
        policy = abac.RegoPolicy(Path(table.rego), table.query)
        undefined = 0
        for role, token in tokens.items():
            claims = jwt.decode(token, options={"verify_signature": False})
            for resource in table.resources:
                request_path = table.path.format(resource=resource)
                allowed = policy.allows(abac.rego_input(claims, resource, "GET", request_path))
                undefined += allowed is None
                out.append((role, "GET", request_path, 200 if allowed else 403))
        if out and undefined == len(out):
            raise ConfigError(
                f"env '{env.name}': Rego query {table.query} is undefined for every input in "
                f"{table.rego}; check [security.abac] query against the policy's package and rule"
            )
        return out, f"{table.query} in {Path(table.rego).name}/"
    if env.settings.security.abac_policy is not None:
        policy_file = env.settings.security.abac_policy
        rules = abac.load(Path(policy_file))
        for role, token in tokens.items():
            claims = jwt.decode(token, options={"verify_signature": False})
            for resource in sorted(rules["resources"]):
                want = 200 if abac.decide(rules, resource, claims) else 403
                out.append((role, "GET", f"{api}/secure/{resource}", want))
        return out, Path(policy_file).name
    return out, "[security.abac] cases"


def _forged(claims: dict[str, Any]) -> str:
    """The same claims, signed by a key the gateway has never seen."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    return jwt.encode(claims, pem, algorithm="RS256")


def test_missing_forged_and_expired_tokens_are_refused(
    env: Environment, evidence: Captures
) -> None:
    """Rule: /api/ping with no token, with a token signed by another key, and with an expired
    token is refused with 401 each time.

    Fault: jwt-unverified
    """
    genuine = jwt.decode(env.token(), options={"verify_signature": False})
    cases = {"no token": None, "bad signature": _forged({**genuine, "exp": int(time.time()) + 600})}
    if env.sandbox is not None:
        from gonogo.sandbox.tokens import mint

        cases["expired"] = mint(Path(env.sandbox.jwt_private_key).read_bytes(), ttl_s=-120)
    elif env.settings.security.expired_token_env:
        cases["expired"] = env.settings.read_secret(
            env.settings.security.expired_token_env, "expired token", "security.expired_token_env"
        )
    answers = {}
    for case, token in cases.items():
        headers = {"Authorization": f"Bearer {token}"} if token else None
        response = env.http.get(f"{env.settings.api_path}/ping", auth=False, headers=headers)
        answers[case] = {"status": response.status_code, "body": body(response)}
    path = evidence.save("security_tokens.json", answers)
    wrong = {case: a["status"] for case, a in answers.items() if a["status"] != 401}
    assert not wrong, says(
        f"401 for each of: {', '.join(cases)}",
        ", ".join(f"{case}: HTTP {status}" for case, status in wrong.items()),
        path,
    )
    if "expired" not in cases:
        raise NotConfigured(
            env.name,
            "security",
            "expired-token refusal",
            "set [security] expired_token_env to an expired token's variable",
        )


def test_audit_chain_verifies(env: Environment, evidence: Captures) -> None:
    """Rule: every audit entry hashes its predecessor and carries a valid ed25519 signature
    by the log's key, in the layout [security.audit] describes, and the audit signer
    failure counter is 0 (absent counts as 0).

    Fault: audit-signer-fail
    """
    layout = env.settings.security.audit
    where = layout.path or f"{env.settings.api_path}/audit"
    response = env.http.get(where)
    log = body(response)
    path = evidence.save("security_audit.json", log)
    assert response.status_code == 200 and isinstance(log, dict), says(
        f"the audit log at {where} (200, JSON)", f"HTTP {response.status_code}", path
    )
    try:
        problems = audit.problems(log, layout)
        count = len(audit.entries(log, layout))
    except audit.LayoutError as exc:
        raise AssertionError(says(str(exc), "a log without it", path)) from None
    failures = env.signals.read("audit_signer_failures", env.metrics.scrape())
    if failures.value:
        problems.append(f"{failures.source} = {failures.value:g}")
    assert count, says("at least one audit entry to verify", "an empty audit log", path)
    assert not problems, says(
        f"{count} entries chained and signed, no signer failures",
        "; ".join(problems[:5]),
        path,
    )
