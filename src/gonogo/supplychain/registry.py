"""Finding an image's signatures and attestations in an OCI registry.

Three places, tried in order, as cosign and the OCI 1.1 specification define them:

    1. the referrers API      GET /v2/<repo>/referrers/<digest>  (OCI distribution 1.1)
    2. the fallback tag       sha256-<hex>: an image index listing the referrers, which
                              clients maintain where the API is missing
    3. cosign's older tags    sha256-<hex>.sig (signatures) and sha256-<hex>.att (attestations)

A registry that has no referrers API answers 404 there, which is not an error:
the next place is tried. Every request has the env's timeout and goes through
the one transport seam (gonogo.clients.http), so it is in requests.jsonl;
nothing here writes to the registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from gonogo.clients.http import HttpClient, RequestSink
from gonogo.errors import TargetError

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.manifest.v1+json",
        INDEX,
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
SIGNATURE_TYPES = ("application/vnd.dev.cosign.artifact.sig.v1+json",)
BUNDLE_TYPES = (
    "application/vnd.dev.sigstore.bundle+json",
    "application/vnd.dev.sigstore.bundle.v0.3+json",
)
ATTESTATION_TYPES = ("application/vnd.in-toto+json", "application/vnd.dsse.envelope.v1+json")


@dataclass
class Found:
    """What was found for one digest, and where."""

    digest: str
    method: str  # "referrers", "fallback-tag", "legacy-tags" or "none": where it was first
    signatures: list[dict[str, Any]] = field(default_factory=list)
    attestations: list[dict[str, Any]] = field(default_factory=list)
    bundles: list[dict[str, Any]] = field(default_factory=list)
    # DSSE envelopes (JSON bytes) from cosign's legacy .att tag (`cosign attest --key`).
    envelopes: list[bytes] = field(default_factory=list)


class Registry:
    def __init__(
        self,
        base_url: str,
        timeout_s: float,
        token: str | None = None,
        on_request: RequestSink | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self._client = HttpClient(
            self.base_url,
            timeout_s=timeout_s,
            token=(lambda: token) if token else None,
            on_request=on_request,
        )

    def close(self) -> None:
        self._client.close()

    def _get(self, path: str, accept: str | None = None) -> httpx.Response:
        return self._client.get(path, headers={"Accept": accept} if accept else None)

    def manifest(self, repo: str, reference: str) -> dict[str, Any] | None:
        response = self._get(f"/v2/{repo}/manifests/{reference}", MANIFEST_TYPES)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise TargetError(
                f"{self.base_url}: manifest {repo}:{reference} answered HTTP {response.status_code}"
            )
        document: dict[str, Any] = response.json()
        return document

    def blob(self, repo: str, digest: str) -> bytes:
        response = self._get(f"/v2/{repo}/blobs/{digest}")
        if response.status_code != 200:
            raise TargetError(
                f"{self.base_url}: blob {repo}@{digest} answered HTTP {response.status_code}"
            )
        return response.content

    def referrers(self, repo: str, digest: str) -> list[dict[str, Any]] | None:
        """The referrers API's descriptors, or None where the registry has no such API."""
        response = self._get(f"/v2/{repo}/referrers/{digest}", INDEX)
        if response.status_code in (404, 405):
            return None
        if response.status_code != 200:
            status = response.status_code
            raise TargetError(f"{self.base_url}: referrers of {repo}@{digest}: HTTP {status}")
        return list(response.json().get("manifests") or [])

    def discover(self, repo: str, digest: str) -> Found:
        tag = digest.replace(":", "-")
        descriptors = self.referrers(repo, digest)
        method = "referrers"
        if not descriptors:
            index = self.manifest(repo, tag)
            descriptors = list(index.get("manifests") or []) if index else []
            method = "fallback-tag"
        found = Found(digest, method if descriptors else "none")
        for descriptor in descriptors:
            kind = str(descriptor.get("artifactType", ""))
            if kind in SIGNATURE_TYPES:
                found.signatures.append(descriptor)
            elif kind in BUNDLE_TYPES or kind in ATTESTATION_TYPES:
                found.attestations.append(descriptor)
                if kind in BUNDLE_TYPES:
                    found.bundles += self._layers(repo, descriptor["digest"])
        # cosign's legacy tags too, whatever the referrers said: a release may have been
        # signed by one cosign version and attested by another, and every attestation counts.
        for suffix, bucket in ((".sig", found.signatures), (".att", found.attestations)):
            legacy = self.manifest(repo, f"{tag}{suffix}")
            if legacy is None:
                continue
            layers = legacy.get("layers") or []
            bucket.append({"tag": f"{tag}{suffix}", "layers": layers})
            if found.method == "none":
                found.method = "legacy-tags"
            if suffix == ".att":
                found.envelopes += [
                    self.blob(repo, layer["digest"])
                    for layer in layers
                    if layer.get("mediaType") == "application/vnd.dsse.envelope.v1+json"
                ]
        return found

    def _layers(self, repo: str, manifest_digest: str) -> list[dict[str, Any]]:
        """The blobs of an artifact manifest (a Sigstore bundle is its single layer)."""
        manifest = self.manifest(repo, manifest_digest) or {}
        return [
            {
                "mediaType": layer.get("mediaType"),
                "digest": layer["digest"],
                "content": self.blob(repo, layer["digest"]),
            }
            for layer in manifest.get("layers") or []
        ]
