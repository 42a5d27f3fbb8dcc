"""Registry discovery against a real OCI registry: Debian's docker-registry (distribution 2.8).

The tests push an image, its real Sigstore attestation (../shared/vectors/sigstore/cosign-oci)
and cosign's older tags over HTTP, then find them the three ways gonogo looks. Distribution 2.8
has no referrers API (it answers 404), which is exactly the case the fallback tag exists for;
the referrers answer itself is served from a recorded OCI 1.1 index.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from gonogo.supplychain.registry import Registry
from gonogo.supplychain.signatures import verify_attestation
from tests.conftest import vectors

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("no docker-registry on PATH (apt-get install docker-registry; .ci/run does)")
    folder = tmp_path_factory.mktemp("registry")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (folder / "config.yml").write_text(
        "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
        f"    rootdirectory: {folder / 'data'}\n  delete:\n    enabled: true\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    child = subprocess.Popen(
        [binary, "serve", str(folder / "config.yml")],
        stdout=subprocess.DEVNULL,
        stderr=(folder / "registry.log").open("w"),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/v2/", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            pytest.fail(
                f"docker-registry did not answer on {url}: {(folder / 'registry.log').read_text()[-500:]}"
            )
        yield url
    finally:
        child.terminate()
        child.wait(timeout=10)


def image_manifest(config: str, layers: list[dict[str, object]]) -> bytes:
    """An OCI image manifest over a 37-byte config blob and the given layers."""
    config_descriptor = {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        "digest": config,
        "size": 37,
    }
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config_descriptor,
            "layers": layers,
        }
    ).encode()


def push_blob(url: str, repo: str, data: bytes) -> str:
    digest = _digest(data)
    start = httpx.post(f"{url}/v2/{repo}/blobs/uploads/", timeout=10)
    assert start.status_code == 202, start.text
    location = start.headers["Location"]
    joiner = "&" if "?" in location else "?"
    done = httpx.put(
        f"{location if location.startswith('http') else url + location}{joiner}digest={digest}",
        content=data,
        headers={"Content-Type": "application/octet-stream"},
        timeout=10,
    )
    assert done.status_code == 201, done.text
    return digest


def push_manifest(url: str, repo: str, reference: str, data: bytes, media_type: str) -> str:
    done = httpx.put(
        f"{url}/v2/{repo}/manifests/{reference}",
        content=data,
        headers={"Content-Type": media_type},
        timeout=10,
    )
    assert done.status_code == 201, done.text
    return _digest(data)


def test_fallback_tag_finds_a_real_attestation_that_verifies(registry: str, tmp_path: Path) -> None:
    cosign = vectors("sigstore") / "cosign-oci"
    repo = "intelgraph/empty"
    push_blob(registry, repo, (cosign / "image-config.json").read_bytes())
    image = (cosign / "image-manifest.json").read_bytes()
    digest = push_manifest(registry, repo, "v1", image, DOCKER_MANIFEST)
    bundle = (cosign / "attestation.sigstore.json").read_bytes()
    empty = push_blob(registry, repo, b"{}")
    layer = push_blob(registry, repo, bundle)
    artifact = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": BUNDLE,
            "config": {
                "mediaType": "application/vnd.oci.empty.v1+json",
                "digest": empty,
                "size": 2,
            },
            "layers": [{"mediaType": BUNDLE, "digest": layer, "size": len(bundle)}],
            "subject": {"mediaType": DOCKER_MANIFEST, "digest": digest, "size": len(image)},
        }
    ).encode()
    artifact_digest = push_manifest(registry, repo, _digest(artifact), artifact, OCI_MANIFEST)
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": artifact_digest,
                    "size": len(artifact),
                    "artifactType": BUNDLE,
                },
            ],
        }
    ).encode()
    push_manifest(registry, repo, digest.replace(":", "-"), index, OCI_INDEX)

    client = Registry(registry, timeout_s=5)
    try:
        found = client.discover(repo, digest)
    finally:
        client.close()
    assert found.method == "fallback-tag" and len(found.attestations) == 1
    (tmp_path / "found.sigstore.json").write_bytes(found.bundles[0]["content"])
    verified = verify_attestation(
        tmp_path / "found.sigstore.json",
        subject_digest=digest,
        identity="cody@soyland.com",
        issuer="https://github.com/login/oauth",
    )
    assert verified.subjects[0]["digest"]["sha256"] == digest.removeprefix("sha256:")


def test_cosign_legacy_tags_and_an_unsigned_image(registry: str) -> None:
    repo = "intelgraph/legacy"
    config = push_blob(registry, repo, b'{"architecture":"amd64","os":"linux"}')
    image = image_manifest(config, [])
    digest = push_manifest(registry, repo, "v2", image, OCI_MANIFEST)
    payload = json.dumps({"critical": {"image": {"docker-manifest-digest": digest}}}).encode()
    sig_layer = push_blob(registry, repo, payload)
    sig = image_manifest(
        config,
        [
            {
                "mediaType": "application/vnd.dev.cosign.simplesigning.v1+json",
                "digest": sig_layer,
                "size": len(payload),
                "annotations": {"dev.cosignproject.cosign/signature": "MEUC..."},
            }
        ],
    )
    push_manifest(registry, repo, digest.replace(":", "-") + ".sig", sig, OCI_MANIFEST)
    unsigned = push_manifest(
        registry, repo, "v3", image.replace(b'"layers": []', b'"layers": [] '), OCI_MANIFEST
    )

    client = Registry(registry, timeout_s=5)
    try:
        found = client.discover(repo, digest)
        nothing = client.discover(repo, unsigned)
    finally:
        client.close()
    assert found.method == "legacy-tags"
    assert [s["tag"] for s in found.signatures] == [digest.replace(":", "-") + ".sig"]
    assert found.attestations == []
    assert nothing.method == "none" and not nothing.signatures and not nothing.attestations


def test_the_referrers_api_comes_first() -> None:
    """An OCI 1.1 registry's referrers answer (recorded): no fallback tag is asked for."""
    subject = "sha256:" + "a" * 64
    answer = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": "sha256:" + "b" * 64,
                    "size": 400,
                    "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
                },
            ],
        }
    ).encode()
    asked: list[str] = []

    class Api(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            asked.append(self.path)
            ok = self.path == f"/v2/app/referrers/{subject}"
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", OCI_INDEX)
            self.end_headers()
            self.wfile.write(answer if ok else b"{}")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = Registry(f"http://127.0.0.1:{server.server_address[1]}", timeout_s=5)
    try:
        found = client.discover("app", subject)
    finally:
        client.close()
        server.shutdown()
        server.server_close()
    assert found.method == "referrers" and len(found.signatures) == 1
    # No fallback tag (the referrers answered), but cosign's legacy tags are looked at too.
    tag = subject.replace(":", "-")
    assert asked == [
        f"/v2/app/referrers/{subject}",
        f"/v2/app/manifests/{tag}.sig",
        f"/v2/app/manifests/{tag}.att",
    ]


def test_repository_of_an_image_reference() -> None:
    from gonogo.supplychain.signatures import repository_of

    assert repository_of("ghcr.io/intelgraph/api:2.4.0") == "intelgraph/api"
    assert repository_of("127.0.0.1:5000/intelgraph/empty@sha256:" + "a" * 64) == "intelgraph/empty"
    assert repository_of("localhost/app") == "app"
    assert repository_of("intelgraph/api:2.4.0") == "intelgraph/api"


def test_the_signatures_check_finds_attestations_in_the_registry(
    registry: str, tmp_path: Path
) -> None:
    """The pack, against a release whose attestation lives only in the registry."""
    from tests.packs import run_pack

    test_fallback_tag_finds_a_real_attestation_that_verifies(registry, tmp_path)  # pushes it
    image = (vectors("sigstore") / "cosign-oci" / "image-manifest.json").read_bytes()
    release = tmp_path / "release"
    release.mkdir()
    host = registry.removeprefix("http://")
    (release / "manifest.json").write_text(
        json.dumps(
            {
                "images": {
                    f"{host}/intelgraph/empty:v1": _digest(image),
                    f"{host}/intelgraph/missing:v1": "sha256:" + "c" * 64,
                }
            }
        )
    )
    env_file = tmp_path / "environments.toml"
    env_file.write_text(
        '[environments.web]\nbase_url = "https://web.example.invalid"\nproduction = false\n'
        'release = "release"\n[environments.web.security]\nidentity = "cody@soyland.com"\n'
        f'issuer = "https://github.com/login/oauth"\nregistry = "{registry}"\n'
    )
    done, manifest = run_pack(
        tmp_path, "security", "-k", "signatures", f"--env-file={env_file}", env="web"
    )
    test = next(
        t for t in manifest["tests"] if "test_signatures_and_attestations_verify" in t["nodeid"]
    )
    assert test["outcome"] == "failed", done.stdout[-2000:]
    assert "intelgraph/missing:v1: no attestation in" in test["message"]
    assert "intelgraph/empty" not in test["message"].split("; got ")[1]
    captured = json.loads(
        next((tmp_path / "evidence").glob("web/*/captures/signatures.json")).read_text()
    )
    assert captured["images"][f"{host}/intelgraph/empty:v1"] == "verified"


def test_keyed_attestations_under_the_legacy_att_tag_are_all_read(
    registry: str, tmp_path: Path
) -> None:
    """`cosign attest --key` stores DSSE envelopes as layers of the .att tag: each verified
    one counts, beside a cosign signature under .sig (both, not the first found)."""
    from types import SimpleNamespace

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from gonogo.supplychain.signatures import attested_kinds
    from gonogo.supplychain.signing import sign_keyed

    repo = "intelgraph/attested"
    config = push_blob(registry, repo, b'{"architecture":"amd64","os":"linux"}')
    digest = push_manifest(registry, repo, "v1", image_manifest(config, []), OCI_MANIFEST)
    key = ec.generate_private_key(ec.SECP256R1())
    public = tmp_path / "cosign.pub"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    layers = []
    for predicate_type in ("https://spdx.dev/Document", "https://slsa.dev/provenance/v1"):
        statement = {
            "_type": "https://in-toto.io/Statement/v1",
            "subject": [{"name": repo, "digest": {"sha256": digest.removeprefix("sha256:")}}],
            "predicateType": predicate_type,
            "predicate": {},
        }
        envelope = json.dumps(sign_keyed(statement, key)).encode()
        layers.append(
            {
                "mediaType": "application/vnd.dsse.envelope.v1+json",
                "digest": push_blob(registry, repo, envelope),
                "size": len(envelope),
            }
        )
    tag = digest.replace(":", "-")
    push_manifest(registry, repo, f"{tag}.att", image_manifest(config, layers), OCI_MANIFEST)
    security = SimpleNamespace(
        identity=None, issuer=None, cosign_public_key=str(public), registry=registry
    )
    found = attested_kinds(security, tmp_path, digest, f"localhost/{repo}:v1", timeout_s=5)
    assert sorted(found) == ["slsa", "spdx"], found
    other = tmp_path / "other.pub"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    security.cosign_public_key = str(other)
    assert attested_kinds(security, tmp_path, digest, f"localhost/{repo}:v1", timeout_s=5) == {}
