"""Authentication (RS256 JWT), the ABAC policy, and the signed audit chain."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

# The same policy in gonogo's JSON format (an env may name it as abac_policy instead).
POLICY_FILE = Path(__file__).parent / "abac.json"
# The gateway's own policy, as OPA holds it: what it enforces, and what the pack asks.
AUTHZ_POLICY = Path(__file__).parent / "policy"
AUTHZ_QUERY = "data.intelgraph.authz.allow"
AUTHZ_RESOURCES = ["allowed", "denied", "notes:write", "admin"]


class AuthFailed(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def verify(token: str | None, public_key_pem: bytes, issuer: str, audience: str) -> dict[str, Any]:
    if not token:
        raise AuthFailed("missing")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            public_key_pem,
            algorithms=["RS256"],
            issuer=issuer,
            audience=audience,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError:
        raise AuthFailed("expired") from None
    except jwt.InvalidSignatureError:
        raise AuthFailed("bad-signature") from None
    except jwt.PyJWTError:
        raise AuthFailed("invalid") from None
    return claims


@dataclass
class AuditChain:
    """Append-only entries, each hashing its predecessor and signed with ed25519.

    `jwk` (the audit-jwk dialect) lays entries out as another gateway might: `time`,
    `prevHash`, `signature` over the hash's text, and the key as a JWK (`publicKeyJwk`);
    with `jcs` (the same dialect) each entry is canonicalized as RFC 8785 before hashing.
    """

    key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)
    entries: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    jwk: bool = False
    # Entries canonicalized with RFC 8785 (JCS), as a Node gateway signs them.
    jcs: bool = False

    @property
    def public_key(self) -> str:
        raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return base64.b64encode(raw).decode()

    @property
    def public_key_jwk(self) -> dict[str, str]:
        raw = self.key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        x = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return {"kty": "OKP", "crv": "Ed25519", "x": x}

    def log(self) -> dict[str, Any]:
        """The log as GET /api/audit serves it."""
        if self.jwk:
            return {"publicKeyJwk": self.public_key_jwk, "entries": list(self.entries)}
        return {"public_key": self.public_key, "entries": list(self.entries)}

    def append(self, actor: str, action: str, detail: dict[str, Any], *, sign: bool) -> bool:
        stamp, previous, signature_field = (
            ("time", "prevHash", "signature")
            if self.jwk
            else (
                "ts",
                "prev",
                "sig",
            )
        )
        with self.lock:
            prev = self.entries[-1]["hash"] if self.entries else "0" * 64
            body = {
                "seq": len(self.entries) + 1,
                stamp: round(time.time(), 3),
                "actor": actor,
                "action": action,
                "detail": detail,
                previous: prev,
            }
            text = (
                rfc8785.dumps(body)
                if self.jcs
                else json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
            )
            digest = hashlib.sha256(prev.encode() + text).hexdigest()
            signed = digest.encode() if self.jwk else bytes.fromhex(digest)
            signature = base64.b64encode(self.key.sign(signed)).decode() if sign else None
            self.entries.append({**body, "hash": digest, signature_field: signature})
            return signature is not None
