"""Signatures and attestations: sigstore bundles verified offline, and keyed cosign signatures.

Trust is pinned: `trust/sigstore-production-trusted_root.json` is the
production trusted root that sigstore 4.5.1 (PyPI) ships (sha256 6494e21e...),
so verification never fetches TUF metadata and a run is repeatable offline.

Verification is split into named steps so a failure says which one broke:

    load        the bundle parses and is a bundle version sigstore knows
    signature   certificate chain, transparency log entry and signature verify
                (against the artifact's bytes or digest, or the DSSE envelope)
    identity    the signing certificate names the env's expected identity and issuer
    payload     (DSSE) the payload type is in-toto
    statement   (DSSE) the statement `_type` is in-toto v0.1 or v1
    predicate   (DSSE) the predicate type is one the release expects
    subject     (DSSE) a subject's sha256 equals the image (or artifact) digest

sigstore checks the first three; the DSSE steps after them are ours, because
sigstore verifies that an envelope was signed, not what it says.
"""

from __future__ import annotations

import base64
import json
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gonogo.errors import TargetError

TRUSTED_ROOT = Path(__file__).parent / "trust" / "sigstore-production-trusted_root.json"
IN_TOTO_PAYLOAD = "application/vnd.in-toto+json"
STATEMENT_TYPES = ("https://in-toto.io/Statement/v0.1", "https://in-toto.io/Statement/v1")
PREDICATES = {
    "https://spdx.dev/Document": "SPDX SBOM",
    "https://slsa.dev/provenance/v0.2": "SLSA provenance v0.2",
    "https://slsa.dev/provenance/v1": "SLSA provenance v1",
    "https://sigstore.dev/cosign/sign/v1": "cosign signature",
    "https://cosign.sigstore.dev/attestation/v1": "cosign custom attestation",
}


class SignatureError(TargetError):
    """A signature or attestation did not verify; `step` says which step broke."""

    def __init__(self, what: str, step: str, cause: str) -> None:
        self.step = step
        self.cause = cause
        super().__init__(f"{what}: {step} step failed: {cause}")


@dataclass
class Verified:
    what: str
    identity: str
    issuer: str
    kind: str  # "message" or "dsse"
    predicate_type: str | None = None
    subjects: list[dict[str, Any]] = field(default_factory=list)
    statement: dict[str, Any] | None = None  # a DSSE bundle's in-toto statement


def _verifier() -> Any:
    from sigstore.models import TrustedRoot
    from sigstore.verify import Verifier

    return Verifier(trusted_root=TrustedRoot.from_file(str(TRUSTED_ROOT)))


def _load(path: Path, what: str) -> Any:
    from sigstore.models import Bundle

    try:
        return Bundle.from_json(path.read_bytes())
    except OSError as exc:
        raise SignatureError(what, "load", f"cannot read {path}: {exc.strerror}") from None
    except Exception as exc:  # sigstore raises several types for a bad bundle
        raise SignatureError(what, "load", _first(exc)) from None


def _first(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _signature_step(what: str, call: Any) -> Any:
    from sigstore.verify.policy import UnsafeNoOp

    # The identity is checked as its own step below; this one is the cryptography.
    logging.getLogger("sigstore.verify.policy").setLevel(logging.ERROR)
    try:
        return call(UnsafeNoOp())
    except Exception as exc:
        raise SignatureError(what, "signature", _first(exc)) from None


def _identity_step(what: str, bundle: Any, identity: str, issuer: str) -> None:
    from sigstore.verify.policy import Identity

    try:
        Identity(identity=identity, issuer=issuer).verify(bundle.signing_certificate)
    except Exception as exc:
        raise SignatureError(
            what, "identity", f"{_first(exc)} (expected {identity} from {issuer})"
        ) from None


def verify_blob(
    path: Path,
    *,
    digest: str | None = None,
    data: bytes | None = None,
    identity: str,
    issuer: str,
    what: str | None = None,
) -> Verified:
    """A message-signature bundle over an artifact, given by its bytes or its sha256."""
    from sigstore.hashes import Hashed
    from sigstore_models.common.v1 import HashAlgorithm

    what = what or path.name
    bundle = _load(path, what)
    if data is not None:
        artifact: Any = data
    elif digest is not None:
        hexdigest = digest.removeprefix("sha256:")
        artifact = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=bytes.fromhex(hexdigest))
    else:
        raise ValueError("verify_blob needs the artifact's bytes or its digest")
    _signature_step(what, lambda policy: _verifier().verify_artifact(artifact, bundle, policy))
    _identity_step(what, bundle, identity, issuer)
    return Verified(what, identity, issuer, "message")


def verify_attestation(
    path: Path,
    *,
    subject_digest: str,
    identity: str,
    issuer: str,
    predicate_types: tuple[str, ...] = tuple(PREDICATES),
    what: str | None = None,
) -> Verified:
    """A DSSE bundle: signed by the expected identity, an in-toto statement about the digest."""
    what = what or path.name
    bundle = _load(path, what)
    payload_type, payload = _signature_step(
        what, lambda policy: _verifier().verify_dsse(bundle, policy)
    )
    _identity_step(what, bundle, identity, issuer)
    if payload_type != IN_TOTO_PAYLOAD:
        raise SignatureError(
            what, "payload", f"payload type {payload_type!r}, not {IN_TOTO_PAYLOAD}"
        )
    try:
        statement = json.loads(payload)
    except ValueError as exc:
        raise SignatureError(what, "statement", f"payload is not JSON ({exc})") from None
    if statement.get("_type") not in STATEMENT_TYPES:
        raise SignatureError(
            what, "statement", f"_type {statement.get('_type')!r} is not an in-toto statement"
        )
    predicate = statement.get("predicateType")
    if predicate not in predicate_types:
        raise SignatureError(
            what, "predicate", f"predicate type {predicate!r} is not one of {list(predicate_types)}"
        )
    want = subject_digest.removeprefix("sha256:")
    subjects = statement.get("subject") or []
    if not any((s.get("digest") or {}).get("sha256") == want for s in subjects):
        found = [(s.get("digest") or {}).get("sha256", "?")[:16] for s in subjects]
        raise SignatureError(
            what, "subject", f"no subject with sha256 {want[:16]}...; found {found}"
        )
    return Verified(what, identity, issuer, "dsse", predicate, subjects, statement)


def verify_cosign_key(public_key_pem: bytes, signature_b64: str, payload: bytes, what: str) -> None:
    """A keyed cosign signature: ECDSA P-256 over SHA-256 of the payload."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_pem_public_key(public_key_pem)
    except ValueError as exc:
        raise SignatureError(what, "load", f"not a PEM public key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise SignatureError(what, "load", "the public key is not ECDSA P-256")
    try:
        key.verify(base64.b64decode(signature_b64), payload, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        raise SignatureError(what, "signature", "ECDSA P-256 signature does not match") from None


def verify_cosign_image(public_key_pem: bytes, folder: Path, digest: str, ref: str) -> None:
    """cosign/<hex>.payload.json and .sig: a keyed signature whose payload names the digest."""
    hexdigest = digest.removeprefix("sha256:")
    payload_file, sig_file = folder / f"{hexdigest}.payload.json", folder / f"{hexdigest}.sig"
    if not payload_file.is_file() or not sig_file.is_file():
        raise SignatureError(ref, "load", f"no cosign signature in {folder} for {digest[:19]}...")
    payload = payload_file.read_bytes()
    verify_cosign_key(public_key_pem, sig_file.read_text().strip(), payload, ref)
    try:
        signed = json.loads(payload)["critical"]["image"]["docker-manifest-digest"]
    except (ValueError, KeyError, TypeError):
        raise SignatureError(ref, "payload", "not a cosign simple-signing payload") from None
    if signed != digest:
        raise SignatureError(ref, "subject", f"the payload signs {signed}, not {digest}")


def repository_of(ref: str) -> str:
    """ghcr.io/intelgraph/api:2.4 -> intelgraph/api: the path a registry serves it under."""
    name = ref.split("@")[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name.rsplit(":", 1)[0]
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return rest
    return name


def _registry_bundles(
    registry_url: str,
    ref: str,
    digest: str,
    timeout_s: float,
    folder: Path,
    on_request: Any = None,
) -> list[Path]:
    """Sigstore bundles the registry holds for the image, saved into `folder`."""
    from gonogo.supplychain.registry import Registry

    client = Registry(registry_url, timeout_s, on_request=on_request)
    try:
        found = client.discover(repository_of(ref), digest)
    finally:
        client.close()
    paths = []
    for n, layer in enumerate(found.bundles):
        path = folder / f"{digest.removeprefix('sha256:')[:12]}-{n}.sigstore.json"
        path.write_bytes(layer["content"])
        paths.append(path)
    return paths


def image_signature_problem(
    security: Any,
    release: Path,
    digest: str,
    ref: str,
    timeout_s: float = 10.0,
    on_request: Any = None,
) -> str | None:
    """None when the image is signed as the env requires, else why not (one line).

    With [security] identity and issuer, an attestation must verify: from the release's
    attestations/, or found in [security] registry (referrers API, fallback tag, cosign's
    .att tag); with cosign_public_key, the keyed signature in cosign/ must. Both when
    both are set.
    """
    if security.identity and security.issuer:
        with tempfile.TemporaryDirectory(prefix="gonogo-registry-") as fetched:
            problem = _attestation_problem(
                security, release, digest, ref, timeout_s, on_request, Path(fetched)
            )
        if problem is not None:
            return problem
    if security.cosign_public_key:
        try:
            verify_cosign_image(
                Path(security.cosign_public_key).read_bytes(), release / "cosign", digest, ref
            )
        except SignatureError as exc:
            return str(exc)
    return None


def _sigstore_bundles(
    security: Any,
    release: Path,
    digest: str,
    ref: str,
    timeout_s: float,
    on_request: Any,
    fetched: Path,
) -> list[Path]:
    """The release's attestations/*.sigstore.json, and with [security] registry every bundle
    it holds for the digest (fetched into `fetched`)."""
    bundles = sorted((release / "attestations").glob("*.sigstore.json"))
    if getattr(security, "registry", None):
        bundles += _registry_bundles(security.registry, ref, digest, timeout_s, fetched, on_request)
    return bundles


def _attestation_problem(
    security: Any,
    release: Path,
    digest: str,
    ref: str,
    timeout_s: float,
    on_request: Any,
    fetched: Path,
) -> str | None:
    bundles = _sigstore_bundles(security, release, digest, ref, timeout_s, on_request, fetched)
    where = str(release / "attestations")
    if getattr(security, "registry", None):
        where += f" or {security.registry}"
    tried = []
    for bundle in bundles:
        try:
            verify_attestation(
                bundle,
                subject_digest=digest,
                identity=security.identity,
                issuer=security.issuer,
                what=f"{ref} ({bundle.name})",
            )
            return None
        except SignatureError as exc:
            tried.append(str(exc))
    if not tried:
        return f"{ref}: no attestation in {where}"
    return tried[0] if len(tried) == 1 else f"{ref}: {len(tried)} attestations, none verifies"


# The kinds [security] required_predicates names, and the predicate types of each.
ATTESTATION_KINDS: dict[str, tuple[str, ...]] = {
    "spdx": ("https://spdx.dev/Document",),
    "slsa": ("https://slsa.dev/provenance/v0.2", "https://slsa.dev/provenance/v1"),
}
KIND_NAMES = {"spdx": "SPDX SBOM", "slsa": "SLSA provenance"}


@dataclass(frozen=True)
class Attested:
    """One verified attestation about an image: where it came from, and its statement."""

    source: str
    statement: dict[str, Any]

    @property
    def kind(self) -> str:
        """ "spdx", "slsa", or the predicate type itself for any other."""
        predicate_type = self.statement.get("predicateType")
        return next(
            (k for k, types in ATTESTATION_KINDS.items() if predicate_type in types),
            str(predicate_type),
        )


def verified_attestations(
    security: Any,
    release: Path,
    digest: str,
    ref: str,
    timeout_s: float = 10.0,
    on_request: Any = None,
) -> list[Attested]:
    """Every verified attestation about the digest: all of them, not the first that
    verifies. Sigstore bundles (attestations/*.sigstore.json and [security] registry) count
    when signed by identity/issuer; keyed DSSE envelopes (attestations/*.dsse.json, as
    `cosign attest --key` writes them) when cosign_public_key verifies them."""
    from gonogo.supplychain import signing

    found: list[Attested] = []
    folder = release / "attestations"
    if security.identity and security.issuer:
        with tempfile.TemporaryDirectory(prefix="gonogo-registry-") as fetched:
            bundles = _sigstore_bundles(
                security, release, digest, ref, timeout_s, on_request, Path(fetched)
            )
            for bundle in bundles:
                try:
                    verified = verify_attestation(
                        bundle,
                        subject_digest=digest,
                        identity=security.identity,
                        issuer=security.issuer,
                        what=f"{ref} ({bundle.name})",
                    )
                except SignatureError:
                    continue
                found.append(Attested(bundle.name, verified.statement or {}))
    if security.cosign_public_key:
        try:
            key = signing.load_public_key(Path(security.cosign_public_key).read_bytes())
        except (OSError, ValueError) as exc:
            raise SignatureError(ref, "load", f"cosign_public_key: {exc}") from None
        want = digest.removeprefix("sha256:")
        envelopes = [(p.name, p.read_bytes()) for p in sorted(folder.glob("*.dsse.json"))]
        if getattr(security, "registry", None):
            envelopes += _registry_envelopes(security.registry, ref, digest, timeout_s, on_request)
        for name, data in envelopes:
            try:
                statement = signing.open_envelope(json.loads(data), key)
            except ValueError:
                continue
            subjects = statement.get("subject") or []
            if any((s.get("digest") or {}).get("sha256") == want for s in subjects):
                found.append(Attested(name, statement))
    return found


def _registry_envelopes(
    registry_url: str, ref: str, digest: str, timeout_s: float, on_request: Any
) -> list[tuple[str, bytes]]:
    """The DSSE envelopes under the image's cosign .att tag, named for the capture."""
    from gonogo.supplychain.registry import Registry

    client = Registry(registry_url, timeout_s, on_request=on_request)
    try:
        found = client.discover(repository_of(ref), digest)
    finally:
        client.close()
    tag = digest.replace(":", "-")
    return [(f"{registry_url} {tag}.att #{n}", data) for n, data in enumerate(found.envelopes)]


def attested_kinds(
    security: Any,
    release: Path,
    digest: str,
    ref: str,
    timeout_s: float = 10.0,
    on_request: Any = None,
) -> dict[str, list[str]]:
    """The verified attestations about the digest by kind: kind -> where each came from."""
    found: dict[str, list[str]] = {}
    for attested in verified_attestations(security, release, digest, ref, timeout_s, on_request):
        found.setdefault(attested.kind, []).append(attested.source)
    return found


def verify_bundle_keyless(root: Path, identity: str, issuer: str) -> None:
    """An evidence bundle's Sigstore signature (attestation.intoto.sigstore.json): signed by
    identity/issuer, its test-result statement about this bundle.json; BundleError if not.
    Here, beside the Sigstore verification it uses, so signing.py stays below supplychain/."""
    from gonogo.errors import BundleError
    from gonogo.supplychain.signing import KEYLESS_FILE, TEST_RESULT_PREDICATE, sha256_of

    path = root / KEYLESS_FILE
    if not path.is_file():
        raise BundleError(f"{root}: no {KEYLESS_FILE}; the bundle is unsigned")
    try:
        verify_attestation(
            path,
            subject_digest=f"sha256:{sha256_of(root / 'bundle.json')}",
            identity=identity,
            issuer=issuer,
            predicate_types=(TEST_RESULT_PREDICATE,),
        )
    except SignatureError as exc:
        raise BundleError(str(exc)) from None
