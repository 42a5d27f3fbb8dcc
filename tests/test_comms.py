"""The war room's messages: rendered from the run's own numbers, posted only when asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from gonogo.day import comms
from tests.conftest import PLANTED, POSTED, only_bundle

CHECKS = """
def test_spot(env, evidence):
    evidence.measured(42.5, 150, " ms")

def test_gateway_spot_latency(env, evidence):
    evidence.measured(12.5, 150, " ms")
"""


@pytest.fixture
def project(pytester: pytest.Pytester, make_envs, monkeypatch) -> pytest.Pytester:
    """A green env with two smoke checks; the test adds to its env file if it needs to."""
    monkeypatch.setenv("GONOGO_GREEN_TOKEN", "green-token-value-0001")
    make_envs("green")
    (pytester.path / "smoke").mkdir()
    (pytester.path / "smoke" / "test_s.py").write_text(CHECKS)
    return pytester


def test_a_placeholder_without_a_value_says_n_a(tmp_path: Path) -> None:
    (tmp_path / "go-no-go.txt").write_text("Go/No-Go: $decision; plan: $canary_plan; $nothing\n")
    text = comms.render("go-no-go", {"decision": "GO"}, tmp_path)
    assert text == "Go/No-Go: GO; plan: n/a; n/a\n"


@pytest.mark.parametrize(
    ("outcomes", "mark"),
    [
        (["passed"], "✅ (SPDX+SLSA)"),
        (["failed"], "❌ (SPDX+SLSA: see test_images_attested_with_sbom_and_provenance)"),
        (["waived"], "⚠️ (SPDX+SLSA, waived)"),
        ([], "not checked in this run"),
    ],
)
def test_the_attestations_line_is_the_run_s_result(outcomes: list[str], mark: str) -> None:
    tests = [
        {"nodeid": f"security/test_release.py::test_images_attested_with_sbom_and_provenance[{n}]",
         "outcome": o}
        for n, o in enumerate(outcomes)
    ]  # fmt: skip
    assert comms._mark(tests, "test_images_attested_with_sbom_and_provenance", "SPDX+SLSA") == mark


def test_every_run_writes_the_announcement_and_the_update(project: pytest.Pytester) -> None:
    pytester = project
    pytester.runpytest("--env", "green").assert_outcomes(passed=2)
    bundle = only_bundle(pytester.path)
    announcement = (bundle / "comms" / "go-no-go.txt").read_text()
    assert announcement.startswith(":rotating_light: IntelGraph release — Go/No-Go: INCOMPLETE\n")
    assert "Gates: smoke 2/2\n" in announcement
    assert "CI: not checked in this run\n" in announcement
    assert f"Evidence: {bundle}\n" in announcement
    update = (bundle / "comms" / "post-deploy.txt").read_text()
    assert "Canary p95: 12.5 ms (test_gateway_spot_latency[green]) (target 150 ms)" in update
    assert "Lighthouse: score n/a, LCP n/a" in update
    assert "not posted" not in (bundle / "steps.log").read_text()  # no --announce: no post


def test_announce_posts_to_the_webhook_and_never_writes_its_url(
    project: pytest.Pytester, monkeypatch, target: str
) -> None:
    pytester = project
    monkeypatch.setenv("GONOGO_TEST_WEBHOOK", f"{target}/hooks/{PLANTED}")
    with (pytester.path / "environments.toml").open("a") as env_file:
        env_file.write('\n[environments.green.comms]\nwebhook_env = "GONOGO_TEST_WEBHOOK"\n')
    before = len(POSTED)
    result = pytester.runpytest("--env", "green", "--announce", "go-no-go")
    result.assert_outcomes(passed=2)
    assert len(POSTED) == before + 1
    assert POSTED[-1]["json"]["text"].startswith(":rotating_light: IntelGraph release")
    bundle = only_bundle(pytester.path)
    assert "--announce go-no-go: posted to the webhook" in (bundle / "steps.log").read_text()
    for path in bundle.rglob("*"):
        if path.is_file():
            assert PLANTED not in path.read_text(errors="replace"), path
    assert PLANTED not in result.stdout.str()


def test_announce_without_a_webhook_says_so(project: pytest.Pytester) -> None:
    project.runpytest("--env", "green", "--announce", "post-deploy").assert_outcomes(passed=2)
    steps = (only_bundle(project.path) / "steps.log").read_text()
    assert "--announce post-deploy: not posted ([comms] webhook_env is not set)" in steps


def test_every_kind_has_its_shipped_template_and_no_template_is_unnamed() -> None:
    shipped = {p.stem for p in comms.TEMPLATES.glob("*.txt")}
    assert shipped == set(comms.KINDS)
    assert set(comms.RUN_KINDS) <= set(comms.KINDS)
    with pytest.raises(ValueError, match="no message kind 'go-nogo'; kinds: go-no-go, "):
        comms.template("go-nogo")
