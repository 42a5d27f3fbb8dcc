"""The release's supply-chain inputs: image manifest, SBOM, provenance; each read or refused.

    manifest.json          {"images": {"<image reference>": "sha256:<64 hex>"}} (or that map alone)
    sbom.spdx.json         SPDX 2.x JSON, validated in full with spdx-tools (schema and spec rules)
    provenance.json        an in-toto statement (v0.1 or v1): plain, as a DSSE envelope, as a
                           Sigstore bundle, or the first line of an .intoto.jsonl

A malformed file is a one-line ReleaseError naming it: a release with broken
evidence is not a release whose evidence passed.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

from gonogo.release import ReleaseError
from gonogo.supplychain.signatures import STATEMENT_TYPES

DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")


def _json(path: Path, what: str) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ReleaseError(f"{path} is missing ({what})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReleaseError(f"{path}: cannot be read ({type(exc).__name__})") from None
    try:
        if path.suffix == ".jsonl":
            text = next((line for line in text.splitlines() if line.strip()), "")
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ReleaseError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg}) ({what})") from None


def image_digests(path: Path) -> dict[str, str]:
    data = _json(path, "image reference -> sha256 digest")
    images = data.get("images", data) if isinstance(data, dict) else None
    if not isinstance(images, dict) or not images:
        raise ReleaseError(f'{path}: expected {{"images": {{"<ref>": "sha256:<hex>"}}}}')
    bad = [ref for ref, digest in images.items() if not DIGEST.match(str(digest))]
    if bad:
        raise ReleaseError(f"{path}: not a sha256:<64 hex> digest for {', '.join(bad[:3])}")
    return {str(ref): str(digest) for ref, digest in images.items()}


def sbom_problems(path: Path) -> tuple[str, list[str]]:
    """(spdxVersion, problems): SPDX 2.x parsed and validated against the spec by spdx-tools."""
    data = _json(path, "the SBOM, SPDX 2.x JSON")
    version = str(data.get("spdxVersion", "")) if isinstance(data, dict) else ""
    if not version.startswith("SPDX-2."):
        return version, [f"spdxVersion {version or '(none)'!r}, expected SPDX-2.x"]
    from spdx_tools.spdx.parser.error import SPDXParsingError
    from spdx_tools.spdx.parser.parse_anything import parse_file
    from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

    try:
        document = parse_file(str(path))
    except SPDXParsingError as exc:
        parsed: list[str] = exc.get_messages()  # type: ignore[no-untyped-call]
        return version, [f"does not parse as SPDX: {m}" for m in parsed[:3]]
    return version, [m.validation_message for m in validate_full_spdx_document(document)]


def statement(path: Path) -> dict[str, Any]:
    """The in-toto statement inside a provenance file, however it is wrapped."""
    data = _json(path, "the build provenance, an in-toto statement")
    envelope = data.get("dsseEnvelope", data) if isinstance(data, dict) else None
    if isinstance(envelope, dict) and "payload" in envelope:
        try:
            data = json.loads(base64.b64decode(envelope["payload"]))
        except (ValueError, TypeError):
            raise ReleaseError(f"{path}: the DSSE payload is not base64 JSON") from None
    if not isinstance(data, dict) or data.get("_type") not in STATEMENT_TYPES:
        found = data.get("_type") if isinstance(data, dict) else None
        raise ReleaseError(f"{path}: _type {found!r} is not an in-toto statement (v0.1 or v1)")
    return data


def subject_digests(statement: dict[str, Any]) -> set[str]:
    return {
        f"sha256:{s['digest']['sha256']}"
        for s in statement.get("subject") or []
        if isinstance(s.get("digest"), dict) and "sha256" in s["digest"]
    }
