"""Gates A and B, on the release's own files: evidence, signatures, pinning, vulnerabilities.

The release folder (env `release`, or --release=DIR) holds what CI produced:
manifest.json, sbom.spdx.json, provenance.json, attestations/*.sigstore.json
(DSSE bundles about the images), signatures/*.sigstore.json (message
signatures over release files), trivy.json (+ .trivyignore.yaml),
chart/values.yaml and manifests.yaml (`helm template` output).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from gonogo.checks import says, short
from gonogo.env import Environment
from gonogo.errors import NotConfigured
from gonogo.evidence import Captures
from gonogo.release import Release, ReleaseError
from gonogo.run.verdict import VULNERABILITY_ID, PolicyException
from gonogo.supplychain import inputs, provenance, rego, trivy
from gonogo.supplychain.signatures import (
    KIND_NAMES,
    SignatureError,
    attested_kinds,
    image_signature_problem,
    verified_attestations,
    verify_blob,
)


@pytest.mark.gate("A")
def test_release_evidence_complete(env: Environment, release: Release, evidence: Captures) -> None:
    """Rule: manifest.json, sbom.spdx.json and provenance.json exist and parse; the SBOM is
    valid SPDX 2.x (spec rules, not only the schema); the provenance is an in-toto statement
    whose subjects cover every image digest in manifest.json.

    Fault: provenance-missing-image (and, on the shared vectors in
    tests/test_security_pack.py, an SBOM that breaks an SPDX spec rule)
    """
    images = inputs.image_digests(release.path / "manifest.json")
    version, sbom = inputs.sbom_problems(release.path / "sbom.spdx.json")
    statement = inputs.statement(release.path / "provenance.json")
    covered = inputs.subject_digests(statement)
    missing = {ref: d for ref, d in images.items() if d not in covered}
    path = evidence.save(
        "release_evidence.json",
        {
            "images": images,
            "sbom": {"spdxVersion": version, "problems": sbom},
            "provenance": {
                "_type": statement.get("_type"),
                "predicateType": statement.get("predicateType"),
                "subjects": sorted(covered),
            },
            "images_without_provenance": missing,
        },
    )
    problems = [f"SBOM: {p}" for p in sbom[:3]]
    problems += [f"no provenance subject for {ref} ({d[:19]}...)" for ref, d in missing.items()]
    assert not problems, says(
        f"valid SPDX 2.x and provenance covering all {len(images)} image(s)",
        "; ".join(problems),
        path,
    )


@pytest.mark.gate("A")
def test_provenance_names_the_trusted_builder_and_source(
    env: Environment, release: Release, evidence: Captures
) -> None:
    """Rule: each image's SLSA provenance (v0.2 or v1) names a builder in [security.
    provenance] builder_id and the source source_uri at source_ref / source_tag /
    source_branch, and has the image's digest as a subject (slsa-verifier's --builder-id,
    --source-uri, --source-tag checks). With a signer configured ([security] identity and
    issuer, or cosign_public_key) only verified SLSA attestations count, as slsa-verifier
    verifies before it reads; without one, the release's provenance.json is read, and the
    capture says it was unsigned.

    Fault: provenance-wrong-source (and, on ../shared/vectors/slsa in
    tests/test_security_pack.py, another source, ref, builder or digest)
    """
    security = env.settings.security
    expected = security.provenance
    if expected is None:
        raise NotConfigured(
            env.name,
            "security.provenance",
            "who built the release",
            "add [environments.NAME.security.provenance] with builder_id, source_uri and "
            "source_tag (slsa-verifier's --builder-id, --source-uri, --source-tag)",
        )
    signed = bool(security.identity and security.issuer) or bool(security.cosign_public_key)
    images = inputs.image_digests(release.path / "manifest.json")
    found: dict[str, list[dict[str, Any]]] = {}
    problems: list[str] = []
    for ref, digest in images.items():
        if signed:
            statements = [
                (a.source, a.statement)
                for a in verified_attestations(
                    security, release.path, digest, ref, env.settings.timeout_s, env.on_request
                )
                if a.kind == "slsa"
            ]
        else:
            statements = [
                ("provenance.json (unsigned)", inputs.statement(release.path / "provenance.json"))
            ]
        if not statements:
            problems.append(f"{ref}: no verified SLSA provenance attestation")
            continue
        judged = []
        for source, statement in statements:
            try:
                facts = provenance.read(statement)
            except ValueError as exc:  # not SLSA provenance at all
                judged.append({"source": source, "problems": [str(exc)]})
                continue
            wrong = provenance.problems(
                facts,
                digest=digest,
                builder_ids=expected.builder_id,
                source_uri=expected.source_uri,
                source_ref=expected.source_ref,
                source_tag=expected.source_tag,
                source_branch=expected.source_branch,
            )
            judged.append({"source": source, **facts.as_capture(), "problems": wrong})
        found[ref] = judged
        if all(j["problems"] for j in judged):
            problems.append(f"{ref} ({judged[0]['source']}): {'; '.join(judged[0]['problems'])}")
    path = evidence.save(
        "provenance.json",
        {"signed": signed, "expected": expected.model_dump(), "images": found},
    )
    assert not problems, says(
        f"provenance from {', '.join(expected.builder_id)} built from {expected.source_uri} "
        f"for each of {len(images)} image(s)",
        "; ".join(problems),
        path,
    )


@pytest.mark.gate("A")
def test_images_attested_with_sbom_and_provenance(
    env: Environment, release: Release, evidence: Captures
) -> None:
    """Rule: every image in manifest.json has a verified attestation of each kind in
    [security] required_predicates (default an SPDX SBOM and SLSA provenance, cosign
    verify-attestation's SPDX+SLSA): Sigstore bundles signed by identity/issuer (attestations/
    or the registry), or keyed DSSE envelopes (attestations/*.dsse.json) that
    cosign_public_key verifies. All of an image's attestations are read, not the first.

    Fault: attestation-spdx-missing
    """
    security = env.settings.security
    if not (security.identity and security.issuer) and not security.cosign_public_key:
        raise NotConfigured(
            env.name,
            "security",
            "attestations",
            "set [security] identity and issuer (Sigstore), or cosign_public_key (keyed)",
        )
    images = inputs.image_digests(release.path / "manifest.json")
    found: dict[str, dict[str, list[str]]] = {}
    problems: list[str] = []
    for ref, digest in images.items():
        found[ref] = attested_kinds(
            security, release.path, digest, ref, env.settings.timeout_s, env.on_request
        )
        missing = [k for k in security.required_predicates if k not in found[ref]]
        problems += [f"{ref}: no verified {KIND_NAMES[k]} attestation" for k in missing]
    path = evidence.save(
        "attestations.json", {"required": security.required_predicates, "images": found}
    )
    wanted = " and ".join(KIND_NAMES[k] for k in security.required_predicates)
    assert not problems, says(
        f"a verified {wanted} attestation for each of {len(images)} image(s)",
        "; ".join(problems),
        path,
    )


@pytest.mark.gate("A")
def test_signatures_and_attestations_verify(
    env: Environment, release: Release, evidence: Captures
) -> None:
    """Rule: every image digest in manifest.json is signed: by an attestation in
    attestations/ (a DSSE Sigstore bundle, verified offline against the pinned trusted root,
    signed by the env's identity and issuer, stating an expected predicate about that
    digest), and/or, with [security] cosign_public_key, by a keyed cosign signature in
    cosign/; every message signature in signatures/ verifies over its file.

    Fault: image-unsigned (keyed signatures; the Sigstore steps are proven on
    ../shared/vectors/sigstore in tests/test_security_pack.py: every genuine bundle verifies,
    every _fail one, a wrong identity and a changed artifact are refused, naming the step)
    """
    security = env.settings.security
    sigstore = bool(security.identity and security.issuer)
    if not sigstore and not security.cosign_public_key:
        raise NotConfigured(
            env.name,
            "security",
            "signatures",
            "set [security] identity and issuer (Sigstore), or cosign_public_key (keyed)",
        )
    images = inputs.image_digests(release.path / "manifest.json")
    results: dict[str, Any] = {"images": {}, "signatures": {}}
    problems: list[str] = []
    for ref, digest in images.items():
        why = image_signature_problem(
            security, release.path, digest, ref, env.settings.timeout_s, env.on_request
        )
        results["images"][ref] = why or "verified"
        if why:
            problems.append(why)
    if sigstore:
        problems += _message_signatures(
            security.identity or "", security.issuer or "", release, results
        )
    path = evidence.save("signatures.json", results)
    assert not problems, says(
        f"all {len(images)} image(s) signed and every signature verified",
        "; ".join(short(p, 300) for p in problems[:4]),
        path,
    )


def _message_signatures(identity: str, issuer: str, release: Release, results: Any) -> list[str]:
    problems = []
    for bundle in sorted((release.path / "signatures").glob("*.sigstore.json")):
        signed = release.path / bundle.name.removesuffix(".sigstore.json")
        if not signed.is_file():
            problems.append(f"{bundle.name}: the signed file {signed.name} is not in the release")
            continue
        try:
            verify_blob(bundle, data=signed.read_bytes(), identity=identity, issuer=issuer)
            results["signatures"][signed.name] = "verified"
        except SignatureError as exc:
            results["signatures"][signed.name] = str(exc)
            problems.append(str(exc))
    return problems


def _pinning(package: str, data: Any, policies: list[Path], evidence: Captures, name: str) -> None:
    denied = rego.evaluate(policies, package, data)
    lines = [rego.describe(d) for d in denied]
    path = evidence.save(name, {"policies": [str(p) for p in policies], "denied": lines})
    assert not lines, says(
        f"every image pinned by digest (Rego: {', '.join(map(str, policies))}, package "
        f"gonogo.{package})",
        f"{len(lines)} violation(s): " + "; ".join(lines[:5]),
        path,
    )


@pytest.mark.gate("B")
def test_manifests_pinned_by_digest(
    release: Release, policies: list[Path], evidence: Captures
) -> None:
    """Rule: every container, initContainer and ephemeralContainer of every workload in the
    rendered manifests (Pod, Deployment, StatefulSet, DaemonSet, Job, CronJob...) runs an
    image pinned by @sha256 digest (Rego, package gonogo.manifests).

    Fault: unpinned-init-container (and, in tests/test_security_pack.py, kube-flannel's
    tag-only init containers fail while ingress-nginx's pinned manifest passes)
    """
    source = release.file("manifests.yaml", "the chart rendered by `helm template`")
    try:
        documents = [d for d in yaml.safe_load_all(source.read_text(encoding="utf-8")) if d]
    except yaml.YAMLError as exc:
        raise ReleaseError(f"{source}: not valid YAML ({str(exc).splitlines()[0]})") from None
    _pinning("manifests", {"documents": documents}, policies, evidence, "pinning_manifests.json")


@pytest.mark.gate("B")
def test_values_pinned_by_digest(
    release: Release, policies: list[Path], evidence: Captures
) -> None:
    """Rule: every image block in the chart's values has a sha256 digest and an empty tag
    (Rego, package gonogo.values).

    Fault: values-tagged (and Bitnami's values, digest "", in tests/test_security_pack.py)
    """
    source = release.file("chart/values.yaml", "the chart's values")
    try:
        values = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ReleaseError(f"{source}: not valid YAML ({str(exc).splitlines()[0]})") from None
    _pinning("values", values, policies, evidence, "pinning_values.json")


def test_no_blocking_vulnerabilities(
    release: Release, evidence: Captures, policy_exceptions: list[PolicyException]
) -> None:
    """Rule: the Trivy report (SchemaVersion 2) has no CRITICAL or HIGH finding unless an
    unexpired exception covers it: .trivyignore.yaml (expired_at honoured) or a valid row of
    the policy exceptions whose Check is the CVE id.

    Fault: vuln-high (and ../shared/vectors/trivy in tests/test_security_pack.py, including
    an exception that expired)
    """
    report = release.file("trivy.json", "the image scan, `trivy image --format json`")
    findings = trivy.read_report(report)
    ignore_file = release.path / ".trivyignore.yaml"
    ignores = trivy.read_ignore(ignore_file) if ignore_file.is_file() else []
    excepted = {
        e.check: f"policy exception {e.id} ({e.link})"
        for e in policy_exceptions
        if e.valid and VULNERABILITY_ID.match(e.check)
    }
    judged = trivy.judge(findings, ignores, dt.datetime.now(dt.UTC).date(), excepted)
    path = evidence.save("vulnerabilities.json", judged.as_dict())
    evidence.measured(len(judged.blocking), 0)
    expired = "; ".join(f"{f.id}: exception expired {i.expired_at}" for f, i in judged.expired)
    assert not judged.blocking, says(
        "no CRITICAL or HIGH vulnerability without a current exception",
        "; ".join(str(f) for f in judged.blocking[:4]) + (f" ({expired})" if expired else ""),
        path,
    )
