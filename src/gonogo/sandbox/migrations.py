"""The sandbox's database side: its release folder, its migration runner, its roles.

The sandbox ships a release (`release/`: migrations with down scripts, the
data-ops document, the graph schema), copied per stack so that release
faults (a pending migration, a destructive one, an unrated down script)
change only that copy. The runner keeps a `schema_migrations` table
(version, checksum, applied_at) as many real tools do; `migration-edited`
records a different checksum for one applied file, which is what an edit
after applying looks like.

Roles: the data-ops pack connects as `gonogo_ro`, which can read everything
and create a restore point, nothing more, with every statement it runs
logged (so a test can prove the pack wrote nothing); `gonogo_scratch` owns
the scratch database the idempotency check may write to.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

from gonogo.dataops import checksum, sql_migrations

RELEASE = Path(__file__).parent / "release"
MIGRATIONS = RELEASE / "migrations"
READ_ONLY_ROLE = "gonogo_ro"
SCRATCH = "gonogo_scratch"

TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     text PRIMARY KEY,
    checksum    text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""

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


def files(folder: Path = MIGRATIONS) -> list[Path]:
    """The up migrations, in order."""
    return [m.source for m in sql_migrations(folder)]


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
        dest, skip={"ghcr.io/intelgraph/ingest:2.4.0"} if "image-unsigned" in faults else set()
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


def sign_images(dest: Path, skip: set[str]) -> None:
    """Keyed cosign signatures (ECDSA P-256) over each image's simple-signing payload.

    The sandbox cannot reach Fulcio or Rekor, so its release is signed the keyed way
    (`cosign sign --key`): cosign.pub beside cosign/<digest hex>.payload.json and .sig.
    """
    import base64

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

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


def apply(
    dsn: str,
    folder: Path = MIGRATIONS,
    *,
    edited: bool = False,
    hold_back: set[str] | None = None,
) -> list[str]:
    """Apply pending files in order; returns the versions applied now."""
    import psycopg

    applied_now = []
    ordered = files(folder)
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(TABLE)
        done = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
        for path in ordered:
            version = path.stem
            if version in done or version in (hold_back or set()):
                continue
            sql = path.read_text(encoding="utf-8")
            recorded = (
                checksum(sql + "\n-- edited after apply\n")
                if edited and version == ordered[0].stem
                else checksum(sql)
            )
            with conn.transaction():
                conn.execute(sql.encode())  # a file's SQL, not a literal: bytes are accepted
                conn.execute(
                    "INSERT INTO schema_migrations (version, checksum) VALUES (%s, %s)",
                    (version, recorded),
                )
            applied_now.append(version)
    return applied_now


def create_roles(dsn: str, *, restore_point: bool = True) -> None:
    """The pack's read-only role (statements logged) and the scratch role and database."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f"CREATE ROLE {READ_ONLY_ROLE} LOGIN".encode())
        conn.execute(f"GRANT pg_read_all_data, pg_monitor TO {READ_ONLY_ROLE}".encode())
        if restore_point:
            grant = "GRANT EXECUTE ON FUNCTION pg_create_restore_point(text) TO"
            conn.execute(f"{grant} {READ_ONLY_ROLE}".encode())
        conn.execute(f"ALTER ROLE {READ_ONLY_ROLE} SET log_statement = 'all'".encode())
        conn.execute(f"CREATE ROLE {SCRATCH} LOGIN".encode())
        conn.execute(f"CREATE DATABASE {SCRATCH} OWNER {SCRATCH}".encode())


NAMESPACE = "intelgraph"


def _pod(name: str, node: str, statuses: dict[str, list[tuple[str, str, str]]]) -> dict[str, Any]:
    """A Pod as `kubectl get pod -o json` shows it, with the fields drift checks read."""
    spec: dict[str, Any] = {}
    status: dict[str, Any] = {"phase": "Running"}
    for kind, containers in statuses.items():
        spec[kind] = [{"name": n, "image": image} for n, image, _ in containers]
        status[kind.removesuffix("s") + "Statuses"] = [
            {
                "name": n,
                "image": image,
                "imageID": image_id,
                "ready": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": "2026-11-23T00:00:00Z"}},
            }
            for n, image, image_id in containers
        ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {"app": name.rsplit("-", 2)[0]},
        },
        "spec": {"nodeName": node, **spec},
        "status": status,
    }


def write_cluster(dest: Path, release: Path, server: str, faults: dict[str, str | None]) -> Path:
    """The namespace as an API server would list it, and a kubeconfig pointing at it.

    The pods run the release's images (containerd's imageID spelling); with
    `pod-unknown-image` the ingest pod runs a digest the release never shipped.
    """
    images = json.loads((release / "manifest.json").read_text())["images"]
    gateway = next(d for r, d in images.items() if "/gateway:" in r)
    ingest = next(d for r, d in images.items() if "/ingest:" in r)
    if "pod-unknown-image" in faults:
        ingest = (
            "sha256:" + hashlib.sha256(b"an ingest hotfix built outside the release").hexdigest()
        )
    pods = [
        _pod(
            "intelgraph-gateway-7d9f8-abcde",
            "node-a",
            {
                "initContainers": [
                    (
                        "migrate",
                        f"ghcr.io/intelgraph/gateway@{gateway}",
                        f"ghcr.io/intelgraph/gateway@{gateway}",
                    )
                ],
                "containers": [
                    (
                        "gateway",
                        f"ghcr.io/intelgraph/gateway@{gateway}",
                        f"ghcr.io/intelgraph/gateway@{gateway}",
                    )
                ],
            },
        ),
        _pod(
            "intelgraph-ingest-5c4b7-fghij",
            "node-b",
            {
                "containers": [
                    (
                        "ingest",
                        f"ghcr.io/intelgraph/ingest@{ingest}",
                        f"ghcr.io/intelgraph/ingest@{ingest}",
                    )
                ],
            },
        ),
    ]
    (dest / "pods.json").write_text(
        json.dumps({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": pods}, indent=2)
    )
    kubeconfig = dest / "kubeconfig.yaml"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\n"
        f"clusters:\n- name: sandbox\n  cluster:\n    server: {server}\n"
        "users:\n- name: gonogo\n  user: {}\n"
        f"contexts:\n- name: sandbox\n  context:\n    cluster: sandbox\n    user: gonogo\n"
        f"    namespace: {NAMESPACE}\n"
        "current-context: sandbox\n"
    )
    return kubeconfig
