"""The security pack: against the local environment, and its machinery on real vectors.

Sigstore bundles, Trivy reports, Helm values and manifests, SPDX documents and
SLSA provenance come from ../shared/vectors (real files from public projects);
the expected outcome of each is the one in that folder's README.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml

from gonogo.release import ReleaseError
from gonogo.run.verdict import parse_exceptions, validate
from gonogo.supplychain import inputs, provenance, rego, trivy
from gonogo.supplychain.signatures import (
    SignatureError,
    verify_attestation,
    verify_blob,
    verify_cosign_key,
)
from tests.conftest import vectors
from tests.packs import (
    PACKS,
    assert_red_with_a_message,
    by_fault,
    fault_runs,
    outcomes,
    pack_checks,
    run_pack,
)

CHECKS = pack_checks("security")
# An unsigned image is also drift when a pod runs it.
ALSO_RED = {"image-unsigned": {"test_cluster_runs_only_released_signed_images"}}
BY_FAULT = by_fault(CHECKS)
BEACON = (
    "https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/"
    ".github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main"
)
ACTIONS = "https://token.actions.githubusercontent.com"


def test_every_check_names_a_sandbox_fault() -> None:
    from gonogo.sandbox.faults import parse

    assert CHECKS and all(CHECKS.values()), CHECKS
    for fault in BY_FAULT:
        parse(fault)


@pytest.mark.stack
def test_healthy_environment_all_green(tmp_path: Path) -> None:
    done, manifest = run_pack(tmp_path, "security", "-n", "2")
    assert done.returncode == 0, done.stdout[-3000:]
    results = {k: v for k, v in outcomes(manifest).items() if v["outcome"] != "deselected"}
    assert set(results) == set(CHECKS)
    assert {r["outcome"] for r in results.values()} == {"passed"}
    gates = {name: r["gate"] for name, r in results.items()}
    assert gates["test_release_evidence_complete"] == "A"
    assert gates["test_manifests_pinned_by_digest"] == "B"


# Faults of unrelated parts (separate release files, the policy, the guards, the audit log)
# share a stack; the red set must still be exactly their checks, so none hides another.
# The provenance and signature faults each keep their own.
TOGETHER = (
    ("abac-fail-open", "ci-check-failed", "cost-guard-off", "coverage-low",
     "unpinned-init-container", "values-tagged", "vuln-high"),
    ("audit-signer-fail", "jwt-unverified", "persisted-off", "provenance-missing-image"),
)  # fmt: skip
RUNS = fault_runs(sorted(BY_FAULT), TOGETHER)


@pytest.mark.stack
@pytest.mark.parametrize("faults", RUNS, ids=["+".join(r) for r in RUNS])
def test_each_fault_turns_its_check_red(tmp_path: Path, faults: tuple[str, ...]) -> None:
    args = [a for fault in faults for a in ("--fault", fault)]
    done, manifest = run_pack(tmp_path, "security", *args)
    results = outcomes(manifest)
    for fault in faults:
        for check in BY_FAULT[fault]:
            assert_red_with_a_message(results[check], check, fault)
    red = {n for n, r in results.items() if r["outcome"] in {"failed", "error"}}
    assert red == {c for fault in faults for c in {*BY_FAULT[fault], *ALSO_RED.get(fault, set())}}
    assert done.returncode == 1


# -- Sigstore, on real bundles ----------------------------------------------------------------


def test_genuine_sigstore_bundles_verify() -> None:
    sig = vectors("sigstore")
    wheel = verify_blob(
        sig / "wheel" / "rfc8785-0.1.2-py3-none-any.whl.sigstore.json",
        digest="sha256:c4e92e9ecc828bef2aa7dba1de8ac983511f7532a0df11c770d39099a25cf201",
        identity="https://github.com/trailofbits/rfc8785.py/.github/workflows/release.yml@refs/tags/v0.1.2",
        issuer=ACTIONS,
    )
    assert wheel.kind == "message"
    a_txt = (sig / "conformance" / "a.txt").read_bytes()
    verify_blob(
        sig / "conformance" / "happy-path-v0.3" / "bundle.sigstore.json",
        data=a_txt,
        identity=BEACON,
        issuer=ACTIONS,
    )
    dsse = verify_attestation(
        sig / "conformance" / "happy-path-intoto-in-dsse-v3" / "bundle.sigstore.json",
        subject_digest=hashlib.sha256(a_txt).hexdigest(),
        identity=BEACON,
        issuer=ACTIONS,
    )
    assert dsse.predicate_type == "https://slsa.dev/provenance/v1"
    image = hashlib.sha256((sig / "cosign-oci" / "image-manifest.json").read_bytes()).hexdigest()
    cosign = verify_attestation(
        sig / "cosign-oci" / "attestation.sigstore.json",
        subject_digest=f"sha256:{image}",
        identity="cody@soyland.com",
        issuer="https://github.com/login/oauth",
    )
    assert cosign.subjects[0]["digest"]["sha256"] == image


FAIL_STEPS = {
    "bundle-from-wrong-instance": "signature",
    "bundle-malformed-json": "load",
    "bundle-unknown-version": "load",
    "checkpoint-wrong-roothash": "signature",
    "dsse-invalid-sig": "signature",
    "dsse-mismatch-envelope": "signature",
    "integrated-time-in-future": "signature",
    "invalid-inclusion-proof": "load",
    "message-digest-mismatch": "signature",
    "set-invalid-signature": "signature",
    "signature-mismatch": "signature",
    "wrong-material": "signature",
}


def _verify_any(bundle: Path, artifact: bytes) -> None:
    if "dsseEnvelope" in bundle.read_text(errors="replace"):
        verify_attestation(
            bundle,
            subject_digest=hashlib.sha256(artifact).hexdigest(),
            identity=BEACON,
            issuer=ACTIONS,
        )
    else:
        verify_blob(bundle, data=artifact, identity=BEACON, issuer=ACTIONS)


def test_every_fail_vector_is_refused_naming_the_step() -> None:
    conformance = vectors("sigstore") / "conformance"
    cases = sorted(p for p in conformance.iterdir() if p.name.endswith("_fail"))
    assert {c.name.removesuffix("_fail") for c in cases} >= set(FAIL_STEPS) - {
        "dsse-mismatch-envelope"
    }
    a_txt = (conformance / "a.txt").read_bytes()
    for case in cases:
        bundle = case / "bundle.sigstore.json"
        artifact = (case / "artifact").read_bytes() if (case / "artifact").exists() else a_txt
        with pytest.raises(SignatureError) as caught:
            _verify_any(bundle, artifact)
        name = case.name.removesuffix("_fail")
        assert caught.value.step == FAIL_STEPS.get(name, caught.value.step), (name, caught.value)
        assert str(caught.value).startswith(
            f"bundle.sigstore.json: {caught.value.step} step failed: "
        )


def test_a_wrong_identity_and_a_changed_artifact_are_refused(tmp_path: Path) -> None:
    happy = vectors("sigstore") / "conformance" / "happy-path-v0.3" / "bundle.sigstore.json"
    a_txt = (vectors("sigstore") / "conformance" / "a.txt").read_bytes()
    with pytest.raises(SignatureError) as wrong_identity:
        verify_blob(
            happy,
            data=a_txt,
            identity="https://github.com/intelgraph/x/.github/"
            "workflows/release.yml@refs/heads/main",
            issuer=ACTIONS,
        )
    assert wrong_identity.value.step == "identity"
    with pytest.raises(SignatureError) as wrong_issuer:
        verify_blob(happy, data=a_txt, identity=BEACON, issuer="https://accounts.google.com")
    assert wrong_issuer.value.step == "identity"
    with pytest.raises(SignatureError) as changed:
        verify_blob(happy, data=a_txt + b"\n", identity=BEACON, issuer=ACTIONS)
    assert changed.value.step == "signature"
    dsse = (
        vectors("sigstore")
        / "conformance"
        / "happy-path-intoto-in-dsse-v3"
        / "bundle.sigstore.json"
    )
    with pytest.raises(SignatureError) as other_subject:
        verify_attestation(
            dsse, subject_digest="sha256:" + "0" * 64, identity=BEACON, issuer=ACTIONS
        )
    assert other_subject.value.step == "subject"
    with pytest.raises(SignatureError) as unexpected:
        verify_attestation(
            dsse,
            subject_digest=hashlib.sha256(a_txt).hexdigest(),
            identity=BEACON,
            issuer=ACTIONS,
            predicate_types=("https://spdx.dev/Document",),
        )
    assert unexpected.value.step == "predicate"
    truncated = tmp_path / "truncated.sigstore.json"
    truncated.write_text(happy.read_text()[:200])
    with pytest.raises(SignatureError) as bad:
        verify_blob(truncated, data=a_txt, identity=BEACON, issuer=ACTIONS)
    assert bad.value.step == "load" and "\n" not in str(bad.value)


def test_keyed_cosign_signatures() -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    payload = b'{"critical":{"image":{"docker-manifest-digest":"sha256:00"}}}'
    signature = base64.b64encode(key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()
    verify_cosign_key(pem, signature, payload, "img")
    with pytest.raises(SignatureError, match="signature step failed"):
        verify_cosign_key(pem, signature, payload + b" ", "img")
    with pytest.raises(SignatureError, match="load step failed: not a PEM public key"):
        verify_cosign_key(b"not a key", signature, payload, "img")


# -- Trivy, Rego, SPDX, SLSA on real files ----------------------------------------------------

TODAY = dt.date(2026, 11, 23)
TRIVY = {
    "alpine-39-high-critical": ["CVE-2019-14697", "CVE-2019-14697"],
    "spring4shell-jre11": ["CVE-2022-22965"],
    "mariner-1.0": ["CVE-2022-0261"],
    "centos-7": [],
    "cargo.lock": [],
    "alpine-39-skip": [],
}


@pytest.mark.parametrize(("name", "blocking"), sorted(TRIVY.items()))
def test_trivy_reports_gate_as_their_readme_says(name: str, blocking: list[str]) -> None:
    folder = vectors("trivy")
    ignores = trivy.read_ignore(folder / "trivyignore.yaml")
    judged = trivy.judge(trivy.read_report(folder / f"{name}.json.golden"), ignores, TODAY)
    assert [f.id for f in judged.blocking] == blocking


def test_trivy_exceptions_expire() -> None:
    report = trivy.read_report(vectors("trivy") / "mariner-1.0.json.golden")
    current = trivy.Ignore("CVE-2022-0261", expired_at=TODAY + dt.timedelta(days=3))
    assert trivy.judge(report, [current], TODAY).blocking == []
    lapsed = trivy.Ignore("CVE-2022-0261", expired_at=TODAY - dt.timedelta(days=1))
    judged = trivy.judge(report, [lapsed], TODAY)
    assert [f.id for f in judged.blocking] == ["CVE-2022-0261"] and judged.expired
    rows = parse_exceptions(
        "| ID | Check | Owner | Rationale | Risk | Created | Expiry |\n|---|---|---|---|---|---|---|\n"
        "| PE-3 | CVE-2022-0261 | sec | vim not in the runtime path | low | 2026-11-20 | 2026-11-26 |\n",
        "docs/policy-exceptions.md",
    )
    (row,) = validate(rows, ["security/test_release.py::test_no_blocking_vulnerabilities"], TODAY)
    assert row.valid
    assert trivy.judge(report, [], TODAY, {row.check: row.id}).blocking == []


def test_trivy_inputs_that_are_not_reports_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "v1.json").write_text('{"SchemaVersion": 1, "Results": []}')
    with pytest.raises(ReleaseError, match=r"v1.json: Trivy report SchemaVersion 1, expected 2;"):
        trivy.read_report(tmp_path / "v1.json")
    (tmp_path / "cut.json").write_text('{"SchemaVersion": 2, "Results": [')
    with pytest.raises(ReleaseError, match=r"cut.json: not a readable Trivy JSON report"):
        trivy.read_report(tmp_path / "cut.json")


def test_rego_digest_pinning_on_real_charts(tmp_path: Path) -> None:
    helm = vectors("helm")
    policies = PACKS / "security" / "policies"

    def manifests(name: str) -> list[str]:
        docs = [d for d in yaml.safe_load_all((helm / name).read_text()) if d]
        return [rego.describe(d) for d in rego.evaluate(policies, "manifests", {"documents": docs})]

    assert manifests("ingress-nginx-cloud-deploy.yaml") == []
    flannel = manifests("kube-flannel.yml")
    assert len(flannel) == 3
    assert any("in initContainers" in line and "install-cni-plugin" in line for line in flannel)
    values = rego.evaluate(
        policies, "values", yaml.safe_load((helm / "bitnami-nginx-values.yaml").read_text())
    )
    paths = {".".join(d["path"]) for d in values}
    assert paths == {"image", "metrics.image", "cloneStaticSiteFromGit.image"}
    # A team's own rule (its policies/ folder) runs beside the shipped ones; a broken one is
    # one line.
    extra = tmp_path / "policies"
    extra.mkdir()
    (extra / "no_latest.rego").write_text(
        "package gonogo.manifests\nimport rego.v1\n"
        'deny contains {"object": obj.metadata.name, "problem": "no :latest"} if {\n'
        '  some obj in input.documents\n  obj.kind == "Pod"\n'
        '  some c in obj.spec.containers\n  endswith(c.image, ":latest")\n}\n'
    )
    pod = {
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "x:latest"}]},
    }
    both = [policies, extra]
    found = [rego.describe(d) for d in rego.evaluate(both, "manifests", {"documents": [pod]})]
    assert "object p: no :latest" in found and len(found) == 2
    (extra / "broken.rego").write_text(
        "package gonogo.manifests\nimport rego.v1\n\ndeny contains x if {\n"
    )
    with pytest.raises(Exception, match=r"broken.rego:\d+: Rego policy does not compile: "):
        rego.evaluate(both, "manifests", {"documents": []})


def test_spdx_documents_validated_against_the_spec() -> None:
    spdx = vectors("spdx")
    assert inputs.sbom_problems(spdx / "examplemaven-0.0.1.spdx.json") == ("SPDX-2.3", [])
    assert inputs.sbom_problems(spdx / "SPDXJSONExample-v2.3.spdx.json") == ("SPDX-2.3", [])
    version, problems = inputs.sbom_problems(spdx / "ACME-v2.3.spdx.json")
    assert version == "SPDX-2.3" and len(problems) == 1 and "files_analyzed" in problems[0]


def test_slsa_provenance_subjects_from_dsse_and_bundle() -> None:
    slsa = vectors("slsa")
    v02 = inputs.statement(
        slsa / "gha_generic-v2.0.0-binary-linux-amd64-workflow_dispatch.intoto.jsonl"
    )
    assert v02["predicateType"] == "https://slsa.dev/provenance/v0.2"
    assert inputs.subject_digests(v02) == {
        "sha256:2892146b063a94cb4a4318c0e98d38af12dcf2b1e29237486b58463b59607bbd"
    }
    v1 = inputs.statement(slsa / "bcr-rules_lint-v1.3.1.tar.gz.intoto.jsonl")
    assert v1["predicateType"] == "https://slsa.dev/provenance/v1"
    assert "sha256:1636f443b01c9ee310ee5834956d0dce374c3d3bf8d4cebc9f6b86f8304b4982" in (
        inputs.subject_digests(v1)
    )


def test_a_cosign_custom_attestation_is_neither_sbom_nor_provenance(tmp_path: Path) -> None:
    """Before, any one verified attestation made an image "signed"; the kinds are counted."""
    from types import SimpleNamespace

    from gonogo.supplychain.signatures import attested_kinds

    sig = vectors("sigstore")
    (tmp_path / "attestations").mkdir()
    shutil.copy(sig / "cosign-oci" / "attestation.sigstore.json", tmp_path / "attestations")
    image = hashlib.sha256((sig / "cosign-oci" / "image-manifest.json").read_bytes()).hexdigest()
    security = SimpleNamespace(
        identity="cody@soyland.com",
        issuer="https://github.com/login/oauth",
        cosign_public_key=None,
        registry=None,
    )
    found = attested_kinds(security, tmp_path, f"sha256:{image}", "example/image")
    assert "spdx" not in found and "slsa" not in found and len(found) == 1, found
    a_txt = (sig / "conformance" / "a.txt").read_bytes()
    shutil.copy(
        sig / "conformance" / "happy-path-intoto-in-dsse-v3" / "bundle.sigstore.json",
        tmp_path / "attestations" / "provenance.sigstore.json",
    )
    security.identity, security.issuer = BEACON, ACTIONS
    found = attested_kinds(security, tmp_path, f"sha256:{hashlib.sha256(a_txt).hexdigest()}", "a")
    assert found == {"slsa": ["provenance.sigstore.json"]}


# Each vector as slsa-verifier would be asked to pass it (the folder README's PASS rows).
SLSA_VECTORS = {
    "gha_generic-v2.0.0-binary-linux-amd64-workflow_dispatch.intoto.jsonl": {
        "digest": "sha256:2892146b063a94cb4a4318c0e98d38af12dcf2b1e29237486b58463b59607bbd",
        "builder_ids": [
            "https://github.com/slsa-framework/slsa-github-generator/.github/workflows/"
            "generator_generic_slsa3.yml"
        ],
        "source_uri": "github.com/slsa-framework/example-package",
        "source_branch": "main",
    },
    "bcr-rules_lint-v1.3.1.tar.gz.intoto.jsonl": {
        "digest": "sha256:1636f443b01c9ee310ee5834956d0dce374c3d3bf8d4cebc9f6b86f8304b4982",
        # A reusable workflow in another repository than the source: trusted by its id.
        "builder_ids": [
            "https://github.com/bazel-contrib/.github/.github/workflows/release_ruleset.yaml"
            "@refs/tags/v7.1.0"
        ],
        "source_uri": "https://github.com/aspect-build/rules_lint",
        "source_branch": "publish-to-bcr",
    },
}
WRONG = {
    "digest": ("sha256:" + "0" * 64, "subject: no sha256 000000000000..."),
    "source_uri": ("github.com/evil/example-package", "source: "),
    "source_branch": ("release", "source ref: "),
    "builder_ids": (["https://github.com/evil/builder/.github/workflows/b.yml"], "builder.id: "),
}


@pytest.mark.parametrize("name", sorted(SLSA_VECTORS))
def test_provenance_passes_for_its_own_builder_source_and_digest(name: str) -> None:
    facts = provenance.read(inputs.statement(vectors("slsa") / name))
    assert provenance.problems(facts, **SLSA_VECTORS[name]) == []  # type: ignore[arg-type]


@pytest.mark.parametrize("field", sorted(WRONG))
@pytest.mark.parametrize("name", sorted(SLSA_VECTORS))
def test_provenance_fails_naming_the_field_for_another(name: str, field: str) -> None:
    facts = provenance.read(inputs.statement(vectors("slsa") / name))
    value, says = WRONG[field]
    found = provenance.problems(facts, **{**SLSA_VECTORS[name], field: value})  # type: ignore[arg-type]
    assert len(found) == 1 and found[0].startswith(says), found


def test_a_builder_pinned_to_another_ref_is_not_trusted() -> None:
    name = "bcr-rules_lint-v1.3.1.tar.gz.intoto.jsonl"
    facts = provenance.read(inputs.statement(vectors("slsa") / name))
    pinned = [
        "https://github.com/bazel-contrib/.github/.github/workflows/release_ruleset.yaml@refs/tags/v7.0.0"
    ]
    assert provenance.problems(facts, digest=None, builder_ids=pinned, source_uri=None)


def test_a_statement_that_is_not_slsa_provenance_is_one_line() -> None:
    with pytest.raises(ValueError, match=r"predicateType 'https://spdx.dev/Document' is not SLSA"):
        provenance.read({"predicateType": "https://spdx.dev/Document"})


def test_malformed_release_files_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text('{"images": {"a": "sha256:12"}}')
    with pytest.raises(ReleaseError, match=r"manifest.json: not a sha256:<64 hex> digest for a"):
        inputs.image_digests(tmp_path / "manifest.json")
    (tmp_path / "provenance.json").write_text(json.dumps({"_type": "https://example.com/x"}))
    with pytest.raises(ReleaseError, match=r"is not an in-toto statement"):
        inputs.statement(tmp_path / "provenance.json")
    (tmp_path / "sbom.spdx.json").write_text('{"spdxVersion": "SPDX-3.0"}')
    assert inputs.sbom_problems(tmp_path / "sbom.spdx.json")[1] == [
        "spdxVersion 'SPDX-3.0', expected SPDX-2.x"
    ]


# -- cluster drift: recorded API answers to the real kubernetes client ------------------------


def test_running_digests_read_through_the_kubernetes_client(tmp_path: Path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from gonogo.clients.cluster import ClusterClient
    from gonogo.config.day import ClusterSettings
    from gonogo.supplychain import drift

    k8s = vectors("k8s")
    pods = [
        json.loads((k8s / name).read_text())
        for name in ("k9s-cilium-operator-pod.json", "k9s-po_sidecar.json")
    ]
    listing = json.dumps({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": pods})

    class Api(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            ok = self.path.startswith("/api/v1/namespaces/prod/pods")
            data = (listing if ok else '{"kind": "Status", "code": 404}').encode()
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    kubeconfig = tmp_path / "kubeconfig.yaml"
    kubeconfig.write_text(
        f"apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
        f"    server: http://127.0.0.1:{server.server_address[1]}\nusers:\n- name: u\n  user: {{}}\n"
        "contexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n"
    )
    try:
        client = ClusterClient(
            ClusterSettings(namespace="prod", kubeconfig=str(kubeconfig)), 5, "t"
        )
        running = drift.running(
            [client.core.api_client.sanitize_for_serialization(p) for p in client.pods()]
        )
    finally:
        server.shutdown()
        server.server_close()
    cilium = "sha256:bcf273e7af15e7a0c9eb8df2f87fc81fe56323217ec8b2b35cd9cd5115920055"
    istio = "sha256:61673929bc39a86dca7d978b27fc632d3e590bc59cd8b2f386408751d007c91e"
    assert [(c.kind, c.container, c.digest) for c in running] == [
        ("containers", "cilium-operator", cilium),
        ("containers", "sleep", istio),
        ("initContainers", "init", istio),
        ("initContainers", "sidecar", istio),
    ]
    problems = drift.drift(running, {"cilium/operator": cilium}, lambda digest: None)
    assert len(problems) == 3 and all("not in the release's manifest.json" in p for p in problems)
    assert "initContainers sidecar" in problems[2]
    unsigned = drift.drift(
        running, {"c": cilium, "i": istio}, lambda d: "no signature" if d == istio else None
    )
    assert [p.split(": ", 1)[1] for p in unsigned] == ["not signed (no signature)"] * 3


@pytest.mark.stack
def test_a_cve_policy_exception_clears_the_vulnerability_gate(tmp_path: Path) -> None:
    today = dt.datetime.now(dt.UTC).date()
    table = tmp_path / "policy-exceptions.md"
    table.write_text(
        "| ID | Check | Owner | Rationale | Risk | Created | Expiry |\n|---|---|---|---|---|---|---|\n"
        f"| PE-9 | CVE-2024-6345 | sec | not in the runtime path | low | {today} | "
        f"{today + dt.timedelta(days=3)} |\n"
    )
    done, manifest = run_pack(
        tmp_path, "security", "-k", "vulnerab", "--fault", "vuln-high", f"--exceptions-file={table}"
    )
    assert outcomes(manifest)["test_no_blocking_vulnerabilities"]["outcome"] == "passed", (
        done.stdout[-2000:]
    )
    root = next((tmp_path / "evidence").glob("local/*"))
    excepted = json.loads((root / "captures" / "vulnerabilities.json").read_text())["excepted"]
    assert excepted == [
        f"CVE-2024-6345 HIGH in setuptools 69.0.2 (Python, fixed in 70.0.0) "
        f"(by policy exception PE-9 ({table}:3))"
    ]


def _v02(
    uri: str, builder: str = "https://github.com/o/r/.github/workflows/release.yml@refs/tags/v1"
) -> dict:
    return {
        "predicateType": "https://slsa.dev/provenance/v0.2",
        "subject": [{"name": "a", "digest": {"sha256": "1" * 64}}],
        "predicate": {"builder": {"id": builder}, "invocation": {"configSource": {"uri": uri}}},
    }


def _v1(repository: str, ref: str) -> dict:
    return {
        "predicateType": "https://slsa.dev/provenance/v1",
        "subject": [{"name": "a", "digest": {"sha256": "1" * 64}}],
        "predicate": {
            "buildDefinition": {
                "externalParameters": {"workflow": {"repository": repository, "ref": ref}}
            },
            "runDetails": {
                "builder": {
                    "id": "https://github.com/o/r/.github/workflows/release.yml@refs/tags/v1"
                }
            },
        },
    }


TRUSTED = ["https://github.com/o/r/.github/workflows/release.yml"]


@pytest.mark.parametrize(
    "statement",
    [
        _v02("git+https://github.com/o/r@refs/heads/main"),
        _v1("https://github.com/o/r", "refs/heads/main"),
        _v1("git+https://github.com/o/r", "refs/heads/main"),
    ],
    ids=["v0.2", "v1-https", "v1-git+https"],
)
def test_a_provenance_from_the_branch_passes(statement: dict) -> None:
    facts = provenance.read(statement)
    assert (
        provenance.problems(
            facts,
            digest=None,
            builder_ids=TRUSTED,
            source_uri="github.com/o/r",
            source_branch="main",
        )
        == []
    )


@pytest.mark.parametrize(
    ("statement", "says"),
    [
        # The ref is everything after the FIRST "@" (slsa-verifier's ParseGitURIAndRef).
        (_v02("git+https://github.com/o/r@refs/heads/evil@refs/heads/main"), "source ref: 'refs/heads/evil@refs/heads/main'"),
        (_v02("git+https://github.com/o/r@refs/heads/main@"), "source ref: 'refs/heads/main@'"),
        (_v02("git+https://github.com/o/r@refs/tags/main"), "source ref: 'refs/tags/main', expected 'refs/heads/main'"),
        (_v02("git+https://github.com/o/r@heads/main"), "source ref: 'heads/main'"),
        (_v02("git+https://github.com/o/r@main"), "source ref: 'main'"),
        (_v02("git+https://github.com/o/r@refs/heads/main/"), "source ref: 'refs/heads/main/'"),
        (_v02("git+https://github.com/o/r@refs/heads/Main"), "source ref: 'refs/heads/Main'"),
        (_v02("git+https://github.com/o/r@refs/remotes/origin/main"), "source ref: 'refs/remotes/origin/main'"),
        (_v02("git+https://github.com/o/r"), "source ref: None"),
        (_v1("https://github.com/o/r", "refs/heads/evil@refs/heads/main"), "source ref: 'refs/heads/evil@refs/heads/main'"),
        # Schemes other than git+https.
        (_v02("git+http://github.com/o/r@refs/heads/main"), "source: scheme 'git+http'"),
        (_v02("git+ssh://github.com/o/r@refs/heads/main"), "source: scheme 'git+ssh'"),
        (_v02("git+file://github.com/o/r@refs/heads/main"), "source: scheme 'git+file'"),
        (_v1("http://github.com/o/r", "refs/heads/main"), "source: scheme 'git+http'"),
        # Builder ids of another form than name[@ref].
        (_v02("git+https://github.com/o/r@refs/heads/main", TRUSTED[0] + "@refs/heads/evil@refs/tags/v1"), "builder.id: "),
        (_v02("git+https://github.com/o/r@refs/heads/main", TRUSTED[0] + "@"), "builder.id: "),
        (_v02("git+https://github.com/o/r@refs/heads/main", TRUSTED[0] + ".evil@refs/tags/v1"), "builder.id: "),
    ],
)  # fmt: skip
def test_look_alike_refs_schemes_and_builders_are_refused(statement: dict, says: str) -> None:
    facts = provenance.read(statement)
    found = provenance.problems(
        facts, digest=None, builder_ids=TRUSTED, source_uri="github.com/o/r", source_branch="main"
    )
    assert len(found) == 1 and found[0].startswith(says), found
