"""The IntelGraph ABAC policy's meaning, shared by the gateway (sandbox) and the check.

The policy is the source of truth for decisions (OPA's way): the security
pack asks the deployment's own policy what each role should get, asks the
gateway, and compares; a gateway that enforces something else (fails open, or
denies what the policy allows) is caught. Three sources:

- an OPA/Rego policy folder, evaluated in-process with regopy for each input
  `{"claims": ..., "resource": ..., "action": ..., "path": ...}` at a query such
  as `data.intelgraph.authz.allow` (`RegoPolicy`);
- gonogo's JSON format, mapping each resource to the roles that may use it and
  the attributes a caller must also carry (`load`, `decide`):

      {"resources": {"denied": {"roles": ["admin"], "require": {"clearance": "ts-sci"}}}}

- an explicit table of cases (role, method, path, expected status), in the env file.
"""

from __future__ import annotations

import json
import threading
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


class RegoPolicy:
    """A Rego policy folder compiled once; one decision per input (thread-safe)."""

    def __init__(self, folder: Path, query: str) -> None:
        from regopy import Interpreter

        from gonogo.supplychain.rego import compile_error

        files = sorted(folder.glob("*.rego")) if folder.is_dir() else []
        if not files:
            raise ConfigError(
                f"no Rego policy in {folder}; set [security.abac] rego to the folder of the "
                "gateway's .rego files"
            )
        self.folder = folder
        self.query = query
        self._lock = threading.Lock()
        self._rego = Interpreter()
        for path in files:
            source = path.read_text(encoding="utf-8")
            try:
                self._rego.add_module(path.name, source)
            except Exception as exc:  # RegoError
                raise compile_error(path, source, exc) from None

    def allows(self, data: dict[str, Any]) -> bool | None:
        """True to permit, False to deny, None when the query is undefined for this input
        (OPA's answer when no rule matched and there is no default: a deny at the gateway)."""
        with self._lock:
            self._rego.set_input(data)
            try:
                output = str(self._rego.query(self.query))
            except Exception as exc:
                raise ConfigError(f"Rego query {self.query} failed: {exc}") from None
        if output.strip() == "undefined":
            return None
        try:
            expressions = json.loads(output).get("expressions") or []
        except ValueError:
            raise ConfigError(f"Rego query {self.query} answered {output[:120]!r}") from None
        return bool(expressions) and expressions[0] is True


def rego_input(claims: dict[str, Any], resource: str, method: str, path: str) -> dict[str, Any]:
    """The input document the gateway and the check both give the policy."""
    return {"claims": claims, "resource": resource, "action": method, "path": path}
