"""Gate A's first line: the release commit's required CI checks green, coverage held.

"All required checks green (typecheck, coverage >= thresholds, Trivy fs scan,
helm-digest policy, terraform validate if infra changes)": read from GitHub's
API ([ci] provider = "github") or from the release's ci/ folder (provider =
"files"), judged by gonogo.ci.
"""

from __future__ import annotations

from typing import Any

import pytest

from gonogo import ci
from gonogo.checks import says
from gonogo.clients.github import GitHub
from gonogo.config.release import CiSettings
from gonogo.env import Environment
from gonogo.errors import NotConfigured
from gonogo.evidence import Captures
from gonogo.supplychain import inputs, provenance


def _ci(env: Environment) -> CiSettings:
    settings: CiSettings = env.settings.require("ci", "the release commit's CI results")
    return settings


def _release_commit(env: Environment, settings: CiSettings) -> str:
    if settings.ref:
        return settings.ref
    facts = provenance.read(inputs.statement(env.release.path / "provenance.json"))
    if not facts.source_commit:
        raise NotConfigured(
            env.name,
            "ci",
            "the release commit's CI checks",
            'the release\'s provenance names no source commit; set [ci] ref = "SHA"',
        )
    return facts.source_commit


@pytest.mark.gate("A")
def test_required_ci_checks_green(env: Environment, evidence: Captures) -> None:
    """Rule: every [ci] required check of the release commit is green: a GitHub check run
    completed with success, or a commit status success (provider "github"); a JUnit file
    ci/checks/NAME.xml with tests and no failure (provider "files"). infra_check
    (terraform-validate) is required only when a file under infra_paths changed since
    previous_ref; otherwise it is not applicable, with the reason. The ref is resolved to its
    commit first, and only check runs and statuses of exactly that SHA count.

    Fault: ci-check-failed (and GitHub's answers in tests/test_ci.py: failure, in_progress,
    missing, a second page of check runs, runs of another commit, 401, 403 rate limit)
    """
    settings = _ci(env)
    required = list(settings.required)
    record: dict[str, Any] = {"provider": settings.provider, "required": required}
    if settings.provider == "github":
        assert settings.repo is not None
        ref = _release_commit(env, settings)
        token = settings.token_env
        client = env.client(
            settings.api_url,
            (lambda: env.settings.read_secret(token, "GitHub token", "[ci] token_env"))
            if token
            else None,
        )
        github = GitHub(client, settings.repo, token)
        record["ref"] = ref
        sha = github.commit_sha(ref)  # the checks of exactly this commit count, none other
        record["sha"] = sha
        if settings.infra_check in required:
            why = None
            if settings.previous_ref:
                changed = ci.infra_changed(
                    github.changed_files(settings.previous_ref, sha), settings.infra_paths
                )
                record["infra_changed"] = changed
                if not changed:
                    why = f"no file under {', '.join(settings.infra_paths)} changed"
            else:
                why = "no [ci] previous_ref to compare the release with"
            if why is not None:
                required.remove(settings.infra_check)
                record["not_applicable"] = {settings.infra_check: why}
        runs, combined, ignored = ci.of_commit(
            sha, github.check_runs(sha), github.combined_status(sha)
        )
        record["ignored"] = ignored
        states = ci.from_github(required, runs, combined)
    else:
        release = env.release.path
        if (
            settings.infra_check in required
            and not (release / ci.CHECKS_FOLDER / f"{settings.infra_check}.xml").exists()
        ):
            required.remove(settings.infra_check)
            record["not_applicable"] = {
                settings.infra_check: 'provider "files" cannot tell whether the release '
                f"changes infrastructure, and there is no {ci.CHECKS_FOLDER}/"
                f"{settings.infra_check}.xml"
            }
        states = ci.from_junit(release, required)
    record["checks"] = {name: state.as_capture() for name, state in states.items()}
    path = evidence.save("ci_checks.json", record)
    red = [state.said() for state in states.values() if not state.green]
    aside = record.get("ignored") or []
    if red and aside:
        red.append(f"set aside as not of the release commit: {len(aside)} ({aside[0]} ...)")
    assert not red, says(f"{', '.join(required)} green", "; ".join(red), path)


@pytest.mark.gate("A")
def test_coverage_meets_thresholds(env: Environment, evidence: Captures) -> None:
    """Rule: the release's Cobertura report (ci/coverage.xml, `coverage xml`) has
    line-rate >= [ci] min_coverage line, and branch-rate >= branch when a branch threshold
    is set; a report with no branch figure then fails, naming it.

    Fault: coverage-low (and reports without a branch figure in tests/test_ci.py)
    """
    settings = _ci(env)
    report = ci.coverage(env.release.path / ci.COVERAGE_REPORT)
    wanted = settings.min_coverage
    path = evidence.save(
        "coverage.json",
        {"report": ci.COVERAGE_REPORT, "line": report.line, "branch": report.branch,
         "min": wanted.model_dump()},
    )  # fmt: skip
    evidence.measured(round(report.line * 100, 1), wanted.line * 100, " %")
    low = ci.coverage_shortfalls(report, wanted.line, wanted.branch)
    expected = f"line coverage >= {wanted.line:.1%}" + (
        f" and branch >= {wanted.branch:.1%}" if wanted.branch is not None else ""
    )
    assert not low, says(expected, "; ".join(low), path)
