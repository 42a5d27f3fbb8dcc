"""Who a caller is and what they may do, for every route of the gateway."""

from __future__ import annotations

import random
from typing import Any

import jwt
from fastapi import HTTPException, Request

from gonogo.abac import rego_input
from gonogo.sandbox.app.security import AuthFailed, verify
from gonogo.sandbox.app.state import State, _bearer
from gonogo.sandbox.tokens import AUDIENCE, ISSUER


class Guard:
    """Who the caller is, what the policy lets them do, and the audit record of what they did:
    every route asks it, so a fault (auth-optional, abac-fail-open) changes them all at once."""

    def __init__(self, state: State) -> None:
        self.state = state

    def principal(self, request: Request) -> dict[str, Any]:
        state = self.state
        if state.on("auth-optional") and _bearer(request) is None:
            return {"sub": "anonymous", "roles": ["analyst"]}
        try:
            if state.on("jwt-unverified") and _bearer(request):
                claims: dict[str, Any] = jwt.decode(
                    _bearer(request) or "", options={"verify_signature": False}
                )
            else:
                claims = verify(_bearer(request), state.public_key, ISSUER, AUDIENCE)
        except AuthFailed as exc:
            state.metrics.auth_fail.labels(reason=exc.reason).inc()
            raise HTTPException(401, f"unauthorized: {exc.reason} token") from None
        if random.random() < state.share("auth-flaky"):  # noqa: S311
            state.metrics.auth_fail.labels(reason="invalid").inc()
            raise HTTPException(401, "unauthorized: signing key not found (injected)")
        state.metrics.auth_ok.inc()
        return claims

    def permit(self, claims: dict[str, Any], resource: str, path: str = "") -> None:
        state = self.state
        if state.on("abac-fail-open"):
            return
        if state.authz.allows(rego_input(claims, resource, "GET", path)) is not True:
            raise HTTPException(403, f"forbidden: policy denies {resource}")

    def permit_admin(self, request: Request) -> dict[str, Any]:
        claims = self.principal(request)
        if "admin" not in (claims.get("roles") or []):
            raise HTTPException(403, "forbidden: needs the admin role")
        return claims

    def record(self, actor: str, action: str, detail: dict[str, Any]) -> None:
        state = self.state
        if not state.audit.append(actor, action, detail, sign=not state.on("audit-signer-fail")):
            state.metrics.audit_fail.inc()
