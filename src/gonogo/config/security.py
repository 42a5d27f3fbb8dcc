"""The security pack's settings: signers, attestations, ABAC, the audit log's layout,
provenance."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from gonogo.config.fields import plain_url
from gonogo.table import Table, VarName, check_var_name


class AbacCase(Table):
    """One decision stated outright: this role's token on this request gets this status."""

    role: str
    path: str
    method: str = "GET"
    status: int = Field(ge=100, le=599)

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/' (a path on base_url)")
        return value


class AbacSettings(Table):
    """The gateway's own ABAC policy, as the source of truth for what each role gets."""

    # A folder of .rego files (OPA's policy), evaluated with regopy at `query` for the input
    # {"claims": the token's claims, "resource", "action": the method, "path"}.
    rego: str | None = None
    query: str = "data.intelgraph.authz.allow"
    # The resources to ask the policy and the gateway about, at `path`.
    resources: list[str] = Field(default_factory=list)
    path: str = "/api/secure/{resource}"
    # Decisions stated outright, checked whatever the policy source.
    cases: list[AbacCase] = Field(default_factory=list)

    @field_validator("path")
    @classmethod
    def _template(cls, value: str) -> str:
        if not value.startswith("/") or "{resource}" not in value:
            raise ValueError("must be a path with {resource} in it, like /api/secure/{resource}")
        return value

    @model_validator(mode="after")
    def _resources(self) -> AbacSettings:
        if self.rego is not None and not self.resources:
            raise ValueError(
                'rego needs resources = ["...", ...]: the resources to ask the policy about'
            )
        return self


class AuditSettings(Table):
    """Where the audit log is and how its entries are laid out (gonogo.supplychain.audit)."""

    path: str | None = None  # default: {api_path}/audit
    entries: str = "entries"
    key: str = "public_key"  # the log's field holding the Ed25519 public key
    key_format: Literal["raw-base64", "pem", "jwk"] = "raw-base64"
    hash: str = "hash"
    previous: str = "prev"
    signature: str = "sig"
    sequence: str | None = "seq"  # only to name entries in messages
    genesis: str = "0" * 64  # the first entry's previous hash
    # What is signed: the hash's bytes, its hex text, or the entry's canonical JSON.
    signed: Literal["digest", "digest-text", "entry"] = "digest"
    # How an entry is canonicalized before hashing: "json" (sorted keys, no spaces, non-ASCII
    # as \u escapes, 1.0 as 1.0: Python's json.dumps) or "jcs" (RFC 8785, as Node gateways
    # and JCS signers write it: "José" as UTF-8, 1.0 as 1).
    canonical: Literal["json", "jcs"] = "json"


AttestationKind = Literal["spdx", "slsa"]
ATTESTATION_KINDS: tuple[AttestationKind, ...] = ("spdx", "slsa")


class ProvenanceSettings(Table):
    """Who may have built the release, from what (slsa-verifier's --builder-id, --source-uri,
    --source-tag / --source-branch); gonogo.supplychain.provenance checks them."""

    # Trusted builder ids: with "@ref" exact, without it any ref of that workflow.
    builder_id: list[str] = Field(min_length=1)
    source_uri: str  # github.com/OWNER/REPO (a URL or git+ form is normalised)
    source_ref: str | None = None  # refs/tags/v2.4.0; or one of:
    source_tag: str | None = None
    source_branch: str | None = None

    @field_validator("builder_id", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_ref(self) -> ProvenanceSettings:
        given = [k for k in ("source_ref", "source_tag", "source_branch") if getattr(self, k)]
        if len(given) > 1:
            raise ValueError(f"give one of source_ref, source_tag, source_branch (got {given})")
        return self


class SecuritySettings(Table):
    """Who must have signed the release, and how the gateway's guards are exercised."""

    # The signing certificate's identity (SAN) and OIDC issuer every Sigstore bundle
    # must carry, e.g. the release workflow and https://token.actions.githubusercontent.com.
    identity: str | None = None
    issuer: str | None = None
    # A PEM ECDSA P-256 public key for keyed cosign signatures (relative to the env file).
    cosign_public_key: str | None = None
    # An OCI registry to find the images' attestations in (besides the release's files).
    registry: str | None = None
    # The attestations every image needs, verified (cosign verify-attestation): an SPDX
    # SBOM and SLSA provenance (v0.2 or v1), as the checklist's deploy step asks.
    required_predicates: list[AttestationKind] = Field(
        default_factory=lambda: list(ATTESTATION_KINDS)
    )
    # A folder of the project's own .rego policies, evaluated with the shipped ones
    # (default: policies/ in the project, when there is one).
    policies: str | None = None
    # The ABAC policy file the gateway enforces (gonogo's JSON format), and a token per role
    # to exercise it; or [security.abac] for an OPA/Rego policy and explicit cases.
    abac_policy: str | None = None
    abac: AbacSettings = Field(default_factory=AbacSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    provenance: ProvenanceSettings | None = None
    role_tokens: dict[str, VarName] = Field(default_factory=dict)
    # An expired (but otherwise valid) token, to prove expiry is enforced.
    expired_token_env: VarName | None = None

    _v = field_validator("expired_token_env")(check_var_name)
    _u = field_validator("registry")(plain_url)

    @field_validator("role_tokens")
    @classmethod
    def _role_variables(cls, value: dict[str, str]) -> dict[str, str]:
        for variable in value.values():
            check_var_name(variable)  # never the token itself
        return value
