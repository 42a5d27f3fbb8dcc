"""The vulnerability gate on a Trivy JSON report (SchemaVersion 2).

Every `Results[].Vulnerabilities[]` entry of a blocking severity (CRITICAL,
HIGH) fails the gate unless an exception covers it: an entry of Trivy's own
`.trivyignore.yaml` (by id, optionally scoped by `paths` globs or `purls`)
that has not passed its `expired_at`, or a valid row of the project's policy
exceptions naming `CVE-...`. An expired ignore entry suppresses nothing, and
the gate says so, because an exception that silently outlives its date is the
failure this gate exists to prevent.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gonogo.release import ReleaseError

BLOCKING = ("CRITICAL", "HIGH")


@dataclass(frozen=True)
class Finding:
    id: str
    severity: str
    package: str
    version: str
    target: str
    purl: str | None = None
    fixed: str | None = None

    def __str__(self) -> str:
        fix = f", fixed in {self.fixed}" if self.fixed else ", no fix yet"
        return f"{self.id} {self.severity} in {self.package} {self.version} ({self.target}{fix})"


@dataclass
class Ignore:
    id: str
    paths: list[str] = field(default_factory=list)
    purls: list[str] = field(default_factory=list)
    expired_at: dt.date | None = None

    def active(self, today: dt.date) -> bool:
        return self.expired_at is None or self.expired_at > today

    def covers(self, finding: Finding) -> bool:
        if finding.id != self.id:
            return False
        if self.paths and not any(fnmatch.fnmatch(finding.target, p) for p in self.paths):
            return False
        return not self.purls or any((finding.purl or "").startswith(p) for p in self.purls)


def read_report(path: Path) -> list[Finding]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        cause = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise ReleaseError(f"{path}: not a readable Trivy JSON report ({cause})") from None
    if not isinstance(data, dict) or data.get("SchemaVersion") != 2:
        version = data.get("SchemaVersion") if isinstance(data, dict) else None
        raise ReleaseError(
            f"{path}: Trivy report SchemaVersion {version!r}, expected 2; "
            "produce it with `trivy image --format json` (Trivy 0.20 or later)"
        )
    findings = []
    for result in data.get("Results") or []:
        for vuln in result.get("Vulnerabilities") or []:
            identifier = (vuln.get("PkgIdentifier") or {}).get("PURL")
            findings.append(
                Finding(
                    id=str(vuln.get("VulnerabilityID")),
                    severity=str(vuln.get("Severity", "UNKNOWN")).upper(),
                    package=str(vuln.get("PkgName")),
                    version=str(vuln.get("InstalledVersion", "")),
                    target=str(result.get("Target", "")),
                    purl=identifier,
                    fixed=vuln.get("FixedVersion") or None,
                )
            )
    return findings


def read_ignore(path: Path) -> list[Ignore]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ReleaseError(f"{path}: not a readable .trivyignore.yaml ({exc})") from None
    out = []
    for entry in data.get("vulnerabilities") or []:
        expired = entry.get("expired_at")
        if isinstance(expired, str):
            expired = dt.date.fromisoformat(expired)
        elif isinstance(expired, dt.datetime):
            expired = expired.date()
        out.append(
            Ignore(
                str(entry["id"]),
                list(entry.get("paths") or []),
                list(entry.get("purls") or []),
                expired,
            )
        )
    return out


@dataclass
class Judged:
    blocking: list[Finding]
    ignored: list[tuple[Finding, str]]
    expired: list[tuple[Finding, Ignore]]
    total: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "total_findings": self.total,
            "blocking": [str(f) for f in self.blocking],
            "excepted": [f"{f} (by {why})" for f, why in self.ignored],
            "expired_exceptions": [f"{f} (expired {i.expired_at})" for f, i in self.expired],
        }


def judge(
    findings: list[Finding],
    ignores: list[Ignore],
    today: dt.date,
    excepted_ids: dict[str, str] | None = None,
) -> Judged:
    """excepted_ids: CVE id -> the policy exception that waives it (valid rows only)."""
    blocking, ignored, expired = [], [], []
    for finding in findings:
        if finding.severity not in BLOCKING:
            continue
        if excepted_ids and finding.id in excepted_ids:
            ignored.append((finding, excepted_ids[finding.id]))
            continue
        cover = [i for i in ignores if i.covers(finding)]
        active = [i for i in cover if i.active(today)]
        if active:
            ignored.append((finding, f".trivyignore.yaml ({active[0].id})"))
            continue
        expired += [(finding, i) for i in cover]
        blocking.append(finding)
    return Judged(blocking, ignored, expired, len(findings))
