"""The bundle proves itself: its test-result statement signed as a DSSE envelope.

bundle.json lists every file's sha256, so a changed capture is caught; but
someone who rewrites a capture *and* bundle.json consistently would not be. After
sealing, the run signs an in-toto statement whose subjects are bundle.json and the
report files (DSSE, the envelope cosign and in-toto use), so that rewrite breaks
the signature's subject instead.

- Keyed: `[evidence] signing_key_env` names a variable holding an unencrypted PEM
  ECDSA P-256 private key (cosign's key type). The envelope is
  `attestation.intoto.dsse.json`; `cosign verify-blob-attestation --key cosign.pub
  --type https://in-toto.io/attestation/test-result/v0.1 --signature
  attestation.intoto.dsse.json bundle.json` verifies it, as `gonogo verify-bundle
  DIR --key cosign.pub` does.
- Keyless: `[evidence] keyless = true` signs with sigstore-python and the CI's
  ambient OIDC identity (GitHub Actions' `id-token: write`), into
  `attestation.intoto.sigstore.json`; verified with `--identity` and `--issuer`.

Both files are written after bundle.json, so it does not list them.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from gonogo.errors import BundleError, ConfigError
from gonogo.evidence import SIGNATURES

PAYLOAD_TYPE = "application/vnd.in-toto+json"
# What a run's (and a cutover day's) signed statement is: in-toto's test-result predicate.
TEST_RESULT_PREDICATE = "https://in-toto.io/attestation/test-result/v0.1"
KEYED_FILE, KEYLESS_FILE = SIGNATURES


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what is really signed."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def load_private_key(pem: str, variable: str) -> Any:
    """The ECDSA P-256 key in `pem`, or one line naming the variable and the fix."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    fix = (
        f"{variable} must hold an unencrypted PEM ECDSA P-256 private key, like the output of "
        "`openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256`"
    )
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        reason = "it is encrypted" if "encrypted" in str(exc).lower() else "it does not load"
        raise ConfigError(f"{fix} ({reason})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ConfigError(f"{fix} (it is another kind of key)")
    return key


def sign_keyed(statement: dict[str, Any], key: Any) -> dict[str, Any]:
    """A DSSE envelope over the statement, one ECDSA P-256 / SHA-256 signature."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    signature = key.sign(pae(PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [
            {
                "keyid": hashlib.sha256(public).hexdigest(),
                "sig": base64.b64encode(signature).decode(),
            }
        ],
    }


def sign_keyless(statement: dict[str, Any]) -> str:
    """A Sigstore bundle (JSON) over the statement, signed with the CI's OIDC identity."""
    from sigstore import dsse
    from sigstore.models import ClientTrustConfig
    from sigstore.oidc import IdentityToken, detect_credential
    from sigstore.sign import SigningContext

    token = detect_credential()
    if token is None:
        raise ConfigError(
            "[evidence] keyless = true needs the CI's OIDC identity, and none was found "
            "(GitHub Actions: permissions id-token: write); or sign with signing_key_env"
        )
    context = SigningContext.from_trust_config(ClientTrustConfig.production())
    payload = json.dumps(statement, sort_keys=True, separators=(",", ":")).encode()
    with context.signer(IdentityToken(token)) as signer:
        bundle = signer.sign_dsse(dsse.Statement(payload))
    return str(bundle.to_json())


def load_public_key(pem: bytes) -> Any:
    """An ECDSA P-256 public key; ValueError saying why not."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_pem_public_key(pem)
    except ValueError:
        raise ValueError("not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("not an ECDSA P-256 public key")
    return key


def open_envelope(envelope: Any, key: Any) -> dict[str, Any]:
    """The in-toto statement of a DSSE envelope one of whose signatures verifies with the
    key (`cosign attest --key` writes these too); ValueError saying why not."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        payload = base64.b64decode(envelope["payload"])
        signatures = [base64.b64decode(s["sig"]) for s in envelope["signatures"]]
        payload_type = str(envelope["payloadType"])
    except (ValueError, KeyError, TypeError):
        raise ValueError("not a DSSE envelope") from None
    message = pae(payload_type, payload)
    for signature in signatures:
        try:
            key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
            break
        except InvalidSignature:
            continue
    else:
        raise ValueError("the signature does not verify with the key")
    try:
        statement = json.loads(payload)
    except ValueError:
        raise ValueError("the signed payload is not JSON") from None
    if not isinstance(statement, dict):
        raise ValueError("the signed payload is not an in-toto statement")
    return statement


def verify_keyed(root: Path, public_key: Path) -> dict[str, Any]:
    """The signed statement, once its signature verifies with the key and its bundle.json
    subject is this bundle.json; BundleError (one line) otherwise."""
    try:
        key = load_public_key(public_key.read_bytes())
    except OSError as exc:
        raise ConfigError(f"--key {public_key}: {exc.strerror}") from None
    except ValueError as exc:
        raise ConfigError(f"--key {public_key}: {exc}") from None
    return verify_keyed_with(root, key, str(public_key))


def verify_keyed_with(root: Path, key: Any, named: str) -> dict[str, Any]:
    """verify_keyed with a public key object (`named` in messages): a day record is checked
    with the public half of the key its env signs with."""
    envelope_path = root / KEYED_FILE
    if not envelope_path.is_file():
        raise BundleError(f"{root}: no {KEYED_FILE}; the bundle is unsigned")
    try:
        statement = open_envelope(json.loads(envelope_path.read_text()), key)
    except ValueError as exc:
        reason = str(exc).replace("the key", named)
        raise BundleError(f"{envelope_path}: {reason}") from None
    _covers(root, statement, envelope_path)
    return statement


def _covers(root: Path, statement: dict[str, Any], where: Path) -> None:
    subjects = {
        s.get("name"): (s.get("digest") or {}).get("sha256")
        for s in statement.get("subject") or []
        if isinstance(s, dict)
    }
    signed = subjects.get("bundle.json")
    if signed is None:
        raise BundleError(f"{where}: the signed statement names no bundle.json")
    if signed != sha256_of(root / "bundle.json"):
        raise BundleError(
            f"{where}: the signature covers another bundle.json (sha256 {signed[:12]}...): "
            "bundle.json was rewritten after the run signed it"
        )


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
