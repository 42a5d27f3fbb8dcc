"""The sandbox's release: a per-stack copy of the shipped folder, with release faults.

The sandbox ships a release (`release/`: migrations with down scripts, the
data-ops document, the graph schema, the supply-chain evidence), copied per
stack so that release faults (a pending migration, a destructive one, an
unrated down script, an unsigned image, a tagged value ...) change only that
copy, which lives in the run's logs folder and so lands in the bundle. The
copy's images are signed here with a fresh keyed cosign key.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

RELEASE = Path(__file__).parent / "release"

# Release faults: what each adds to the release copy (file name -> SQL) and its doc row.
_EXTRA = {
    "migration-destructive": (
        "0003_notes_drop_legacy",
        "-- Clean-up: the legacy reference column is unused since 2.3.\n"
        "ALTER TABLE notes\n    DROP COLUMN IF EXISTS legacy_ref;\n",
    ),
    "migration-not-idempotent": (
        "0004_notes_text_index",
        "-- Search notes by text.\nCREATE INDEX notes_text_idx ON notes (text);\n",
    ),
    "migration-pending": (
        "0005_notes_source",
        "-- Where a note came from.\nALTER TABLE notes ADD COLUMN IF NOT EXISTS source text;\n",
    ),
}


def prepare_release(dest: Path, faults: dict[str, str | None]) -> tuple[Path, set[str]]:
    """Copy the shipped release to `dest` with its release faults applied.

    Returns the folder and the versions the stack must not apply (pending ones).
    """
    shutil.copytree(RELEASE, dest)
    doc = dest / "data-ops.md"
    held_back = set()
    for fault, (version, sql) in _EXTRA.items():
        if fault not in faults:
            continue
        (dest / "migrations" / f"{version}.sql").write_text(sql)
        with doc.open("a") as out:
            out.write(f"| {version} | (none) | low | yes | added with this release |\n")
        if fault == "migration-pending":
            held_back.add(version)
    _security_faults(dest, faults)
    sign_images(
        dest,
        skip={"ghcr.io/intelgraph/ingest:2.4.0"} if "image-unsigned" in faults else set(),
        unattested={("ghcr.io/intelgraph/ingest:2.4.0", "spdx")}
        if "attestation-spdx-missing" in faults
        else set(),
    )
    if "down-unrated" in faults:
        text = doc.read_text()
        rated = "| 0002_notes_author_index | 0002_notes_author_index.down.sql | low | yes |"
        assert rated in text, "the shipped data-ops.md changed: update the down-unrated fault"
        doc.write_text(text.replace(rated, rated.replace("| low |", "|  |")))
    return dest, held_back


def _security_faults(dest: Path, faults: dict[str, str | None]) -> None:
    """Release faults of the supply chain: what a careless release pipeline produces."""
    if "provenance-missing-image" in faults:
        provenance = json.loads((dest / "provenance.json").read_text())
        provenance["subject"] = provenance["subject"][:1]
        (dest / "provenance.json").write_text(json.dumps(provenance, indent=2))
    if "provenance-wrong-source" in faults:
        provenance = json.loads((dest / "provenance.json").read_text())
        workflow = provenance["predicate"]["buildDefinition"]["externalParameters"]["workflow"]
        workflow["repository"] = "https://github.com/intelgraph-fork/intelgraph"
        (dest / "provenance.json").write_text(json.dumps(provenance, indent=2))
    if "ci-check-failed" in faults:  # the typecheck job failed on the release commit
        junit = dest / "ci" / "checks" / "typecheck.xml"
        text = junit.read_text()
        failed = '<testcase classname="typecheck" name="gateway" time="1.4"/>'
        assert failed in text, "the shipped ci/checks/typecheck.xml changed: update this fault"
        text = text.replace('failures="0"', 'failures="1"').replace(
            failed,
            '<testcase classname="typecheck" name="gateway" time="1.4"><failure message='
            '"app.py:42: error: Incompatible return value type">mypy --strict</failure>'
            "</testcase>",
        )
        junit.write_text(text)
    if "coverage-low" in faults:
        report = dest / "ci" / "coverage.xml"
        report.write_text(report.read_text().replace('line-rate="0.8499"', 'line-rate="0.5212"'))
    if "unpinned-init-container" in faults:
        manifests = (dest / "manifests.yaml").read_text()
        pinned = "        - name: migrate\n          image: ghcr.io/intelgraph/gateway@"
        assert pinned in manifests, "the shipped manifests changed: update this fault"
        head, tail = manifests.split(pinned, 1)
        rest = tail.split("\n", 1)[1]
        (dest / "manifests.yaml").write_text(
            head
            + "        - name: migrate\n          image: ghcr.io/intelgraph/gateway:2.4.0\n"
            + rest
        )
    if "values-tagged" in faults:
        values = (dest / "chart" / "values.yaml").read_text()
        marker = '    repository: intelgraph/ingest\n    tag: ""\n    digest: "sha256:'
        assert marker in values, "the shipped values changed: update this fault"
        head, tail = values.split(marker, 1)
        rest = tail.split("\n", 1)[1] if "\n" in tail else ""
        (dest / "chart" / "values.yaml").write_text(
            head + '    repository: intelgraph/ingest\n    tag: "2.4.0"\n    digest: ""\n' + rest
        )
    if "vuln-high" in faults:
        report = json.loads((dest / "trivy.json").read_text())
        report["Results"][1]["Vulnerabilities"] = [
            {
                "VulnerabilityID": "CVE-2024-6345",
                "PkgName": "setuptools",
                "InstalledVersion": "69.0.2",
                "FixedVersion": "70.0.0",
                "Severity": "HIGH",
                "Title": "pypa/setuptools: Remote code execution via download functions",
            }
        ]
        (dest / "trivy.json").write_text(json.dumps(report, indent=2))


def sign_images(dest: Path, skip: set[str], unattested: set[tuple[str, str]] | None = None) -> None:
    """Keyed cosign signatures (ECDSA P-256) over each image's simple-signing payload, and
    keyed attestations of its SBOM (SPDX) and provenance (SLSA) as DSSE envelopes.

    The sandbox cannot reach Fulcio or Rekor, so its release is signed the keyed way
    (`cosign sign --key`, `cosign attest --key`): cosign.pub beside cosign/<digest
    hex>.payload.json and .sig, and attestations/<digest hex>-<kind>.dsse.json.
    `unattested` leaves out (image, kind) pairs.
    """
    import base64

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from gonogo.supplychain.signing import sign_keyed

    key = ec.generate_private_key(ec.SECP256R1())
    (dest / "cosign.pub").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    folder = dest / "cosign"
    folder.mkdir(exist_ok=True)
    images = json.loads((dest / "manifest.json").read_text())["images"]
    for ref, digest in images.items():
        if ref in skip:
            continue
        payload = json.dumps(
            {
                "critical": {
                    "identity": {"docker-reference": ref.rsplit(":", 1)[0]},
                    "image": {"docker-manifest-digest": digest},
                    "type": "cosign container image signature",
                },
                "optional": None,
            },
            separators=(",", ":"),
        ).encode()
        hexdigest = digest.removeprefix("sha256:")
        (folder / f"{hexdigest}.payload.json").write_bytes(payload)
        signature = key.sign(payload, ec.ECDSA(hashes.SHA256()))
        (folder / f"{hexdigest}.sig").write_text(base64.b64encode(signature).decode())
    attestations = dest / "attestations"
    attestations.mkdir(exist_ok=True)
    predicates = {
        "spdx": ("https://spdx.dev/Document", json.loads((dest / "sbom.spdx.json").read_text())),
        "slsa": (
            "https://slsa.dev/provenance/v1",
            json.loads((dest / "provenance.json").read_text())["predicate"],
        ),
    }
    for ref, digest in images.items():
        for kind, (predicate_type, predicate) in predicates.items():
            if (ref, kind) in (unattested or set()):
                continue
            statement = {
                "_type": "https://in-toto.io/Statement/v1",
                "subject": [
                    {
                        "name": ref.rsplit(":", 1)[0],
                        "digest": {"sha256": digest.removeprefix("sha256:")},
                    }
                ],
                "predicateType": predicate_type,
                "predicate": predicate,
            }
            envelope = sign_keyed(statement, key)
            name = f"{digest.removeprefix('sha256:')}-{kind}.dsse.json"
            (attestations / name).write_text(json.dumps(envelope, indent=2))
