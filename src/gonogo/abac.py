"""The IntelGraph ABAC policy's meaning, shared by the gateway (sandbox) and the check.

A policy file maps each resource to the roles that may use it and the
attributes a caller must also carry:

    {"resources": {"denied": {"roles": ["admin"], "require": {"clearance": "ts-sci"}}}}

The security pack computes from the file what each role should get and asks
the gateway, so a gateway that enforces something else (fails open, or denies
what the file allows) is caught.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gonogo.errors import ConfigError


def load(path: Path) -> dict[str, Any]:
    try:
        policy = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"ABAC policy {path} cannot be read as JSON ({exc})") from None
    if not isinstance(policy, dict) or not isinstance(policy.get("resources"), dict):
        raise ConfigError(
            f'ABAC policy {path}: expected {{"resources": {{NAME: {{"roles": [...]}}}}}}'
        )
    return policy


def decide(policy: dict[str, Any], resource: str, claims: dict[str, Any]) -> bool:
    """Permit when the caller has one of the resource's roles and every required attribute."""
    rule = policy["resources"].get(resource)
    if rule is None:
        return False
    roles = set(claims.get("roles") or [])
    if not roles & set(rule.get("roles", [])):
        return False
    return all(claims.get(k) == v for k, v in rule.get("require", {}).items())
