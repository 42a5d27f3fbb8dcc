"""The sandbox is its own token issuer: RS256 keys made per stack, tokens minted for the suite.

The private key lives in the stack's work folder (mode 0600) and never in
the bundle; every token minted is registered with the redactor before it
is returned, so it cannot reach a capture, a report or the terminal.
"""

from __future__ import annotations

import base64
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gonogo.redact import REDACTOR

ISSUER = "https://sandbox.gonogo.local"
AUDIENCE = "intelgraph"
KEY_ID = "sandbox-1"

# What each role's token carries; the app's ABAC policy decides on these claims.
ROLES: dict[str, dict[str, Any]] = {
    "analyst": {"roles": ["analyst"], "tenant": "acme"},
    "admin": {"roles": ["admin"], "tenant": "acme"},
    "norole": {"roles": [], "tenant": "acme"},
}


def make_keys(folder: Path) -> tuple[Path, Path]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = folder / "jwt-private.pem"
    public = folder / "jwt-public.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    private.chmod(0o600)
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def mint(
    private_key_pem: bytes,
    role: str = "analyst",
    *,
    ttl_s: int = 3600,
    issuer: str = ISSUER,
    extra: dict[str, Any] | None = None,
) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown sandbox role {role!r}; roles: {', '.join(ROLES)}")
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": AUDIENCE,
        "sub": f"gonogo-{role}",
        "iat": now,
        "nbf": now - 5,
        "exp": now + ttl_s,
        "jti": uuid.uuid4().hex,
        **ROLES[role],
        **(extra or {}),
    }
    token = jwt.encode(claims, private_key_pem, algorithm="RS256", headers={"kid": KEY_ID})
    REDACTOR.add(token)
    return token


def jwk(public_key_pem: bytes) -> dict[str, str]:
    """The public key as a JWK, for the app's JWKS endpoint."""
    key = serialization.load_pem_public_key(public_key_pem)
    assert isinstance(key, rsa.RSAPublicKey)
    numbers = key.public_numbers()

    def b64(value: int) -> str:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return {
        "kty": "RSA",
        "kid": KEY_ID,
        "use": "sig",
        "alg": "RS256",
        "n": b64(numbers.n),
        "e": b64(numbers.e),
    }
