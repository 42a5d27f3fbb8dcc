"""Verifying an audit log's hash chain and signatures, in the deployment's own layout.

Gateways lay their audit entries out differently (`prev` or `prevHash`, `sig` or
`signature`, a raw base64 key or a JWK); `[security.audit]` names the fields.
What every layout shares, and what is checked:

- each entry's hash is sha256 of the previous entry's hash (the genesis value for the
  first) followed by the entry's canonical JSON (sorted keys, no spaces; or RFC 8785,
  JCS, as `canonical` says) without its hash and signature fields;
- each entry names the previous hash, and that is the hash of the entry before;
- each entry carries an ed25519 signature by the log's key over the hash (its bytes,
  or its text) or over the canonical entry, as `signed` says.

A field the layout names but an entry lacks is a finding with the field's name, not a
KeyError.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from gonogo.config.security import AuditSettings
from gonogo.errors import TargetError


class LayoutError(TargetError):
    """The log does not have the layout the env's [security.audit] describes: a finding
    about the target (or the description of it), drawn in errors.py's tree."""


def canonical(entry: dict[str, Any], layout: AuditSettings) -> bytes:
    """The entry's bytes as its signer canonicalized them ([security.audit] canonical): read
    any other way, a real gateway's first non-ASCII name would read as a broken chain."""
    fields = {k: v for k, v in entry.items() if k not in (layout.hash, layout.signature)}
    if layout.canonical == "jcs":
        return rfc8785.dumps(fields)
    return json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()


def public_key(log: dict[str, Any], layout: AuditSettings) -> ed25519.Ed25519PublicKey:
    if layout.key not in log:
        raise LayoutError(f"the log's '{layout.key}' field (the public key; [security.audit] key)")
    raw = log[layout.key]
    try:
        if layout.key_format == "jwk":
            if not isinstance(raw, dict) or raw.get("kty") != "OKP" or raw.get("crv") != "Ed25519":
                raise ValueError("not an Ed25519 JWK (kty OKP, crv Ed25519)")
            x = str(raw["x"])
            return ed25519.Ed25519PublicKey.from_public_bytes(
                base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
            )
        if layout.key_format == "pem":
            key = load_pem_public_key(str(raw).encode())
            if not isinstance(key, ed25519.Ed25519PublicKey):
                raise ValueError("not an Ed25519 key")
            return key
        return ed25519.Ed25519PublicKey.from_public_bytes(base64.b64decode(str(raw)))
    except (ValueError, KeyError, TypeError) as exc:
        raise LayoutError(
            f"an Ed25519 public key in '{layout.key}' as {layout.key_format} ({exc})"
        ) from None


def entries(log: Any, layout: AuditSettings) -> list[dict[str, Any]]:
    listed = log.get(layout.entries) if isinstance(log, dict) else None
    if not isinstance(listed, list) or not all(isinstance(e, dict) for e in listed):
        raise LayoutError(f"a list of entries in '{layout.entries}' ([security.audit] entries)")
    return listed


def problems(log: dict[str, Any], layout: AuditSettings) -> list[str]:
    """Every break in the chain or its signatures, one short phrase each (first 50)."""
    key = public_key(log, layout)
    found: list[str] = []
    previous = layout.genesis
    for n, entry in enumerate(entries(log, layout), start=1):
        name = f"entry {entry.get(layout.sequence, n) if layout.sequence else n}"
        missing = [f for f in (layout.hash, layout.previous) if f not in entry]
        if missing:
            found.append(f"{name}: no '{missing[0]}' field")
            break
        try:
            body = canonical(entry, layout)
        except rfc8785.CanonicalizationError as exc:  # a number JCS has no form for
            found.append(f"{name}: cannot be canonicalized as RFC 8785 (JCS) JSON ({exc})")
            break
        digest = hashlib.sha256(previous.encode() + body).hexdigest()
        if entry[layout.previous] != previous or entry[layout.hash] != digest:
            found.append(f"{name}: hash chain broken")
        elif not entry.get(layout.signature):
            found.append(f"{name} ({entry.get('action', '?')}): unsigned")
        else:
            try:
                key.verify(
                    base64.b64decode(str(entry[layout.signature])), _signed(entry, digest, layout)
                )
            except (InvalidSignature, ValueError):
                found.append(f"{name}: signature does not verify")
        previous = str(entry[layout.hash])
        if len(found) >= 50:
            break
    return found


def _signed(entry: dict[str, Any], digest: str, layout: AuditSettings) -> bytes:
    if layout.signed == "digest-text":
        return digest.encode()
    if layout.signed == "entry":
        return canonical(entry, layout)
    return bytes.fromhex(digest)
