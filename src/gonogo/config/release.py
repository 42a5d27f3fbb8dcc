"""The release's own evidence: CI's required checks and coverage (Gate A), how the run's
bundle is signed."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, StrictBool, field_validator, model_validator

from gonogo.config.fields import plain_url
from gonogo.table import Table, VarName, check_var_name


class CoverageThresholds(Table):
    """Minimum coverage, as fractions (0.8 = 80 %); branch is judged where the report has it."""

    line: float = Field(default=0.8, ge=0, le=1)
    branch: float | None = Field(default=None, ge=0, le=1)


# The Go/No-Go checklist's Gate A: "All required checks green (typecheck, coverage >=
# thresholds, Trivy fs scan, helm-digest policy, terraform validate if infra changes)".
DEFAULT_REQUIRED_CHECKS = [
    "typecheck",
    "coverage",
    "trivy-fs",
    "helm-digest-policy",
    "terraform-validate",
]


class CiSettings(Table):
    """The release commit's CI results (gonogo.ci): GitHub's API, or the release's ci/ files."""

    # "github": check runs and commit statuses through the REST API; "files": JUnit files in
    # the release folder's ci/checks/NAME.xml, for CI systems gonogo has no API for.
    provider: Literal["github", "files"] = "files"
    repo: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    token_env: VarName | None = None
    api_url: str = "https://api.github.com"  # GitHub Enterprise: https://HOST/api/v3
    # The release commit; default: the source commit in the release's provenance.json.
    ref: str | None = None
    # The previous release's commit: terraform-validate is required only when a file under
    # infra_paths changed between the two.
    previous_ref: str | None = None
    required: list[str] = Field(default_factory=lambda: list(DEFAULT_REQUIRED_CHECKS))
    infra_check: str = "terraform-validate"
    infra_paths: list[str] = Field(default_factory=lambda: ["infra/", "terraform/"])
    min_coverage: CoverageThresholds = Field(default_factory=CoverageThresholds)

    _v = field_validator("token_env")(check_var_name)
    _u = field_validator("api_url")(plain_url)

    @model_validator(mode="after")
    def _github_needs_repo(self) -> CiSettings:
        if self.provider == "github" and not self.repo:
            raise ValueError('provider "github" needs repo = "OWNER/NAME"')
        return self


class EvidenceSettings(Table):
    """How the run signs its bundle (gonogo.supplychain.signing): a key, or CI's OIDC identity."""

    # The variable holding an unencrypted PEM ECDSA P-256 private key.
    signing_key_env: VarName | None = None
    keyless: StrictBool = False

    _v = field_validator("signing_key_env")(check_var_name)

    @model_validator(mode="after")
    def _one_way(self) -> EvidenceSettings:
        if self.keyless and self.signing_key_env:
            raise ValueError("sign with signing_key_env or keyless = true, not both")
        return self
