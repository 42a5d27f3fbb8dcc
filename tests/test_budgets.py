"""Lighthouse budgets on real Lighthouse results (../shared/vectors/lighthouse).

Expected outcomes are those in the vectors' README: Lighthouse 6.0.0's result
fails on score (0.64) and LCP (4927 ms) but not on bytes; Lighthouse 4.3.0's
has no LCP audit and no numericValue for bytes, so it must fail closed even
though its score is 1. The one PASS case is derived: a copy of the 6.0.0 result
with its three numbers edited, made here in a temporary folder.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gonogo import budgets
from gonogo.config.slo import BudgetSettings
from gonogo.release import ReleaseError
from tests.conftest import vectors
from tests.packs import run_pack

BUDGET = BudgetSettings()


def test_lighthouse_6_fails_score_and_lcp_not_bytes() -> None:
    result = budgets.read(vectors("lighthouse") / "lhr-6.0.0.json")
    judged = {j.metric: j for j in budgets.judge(result, BUDGET)}
    assert (result.version, result.score, result.lcp_ms, result.total_bytes) == (
        "6.0.0",
        0.64,
        4927.278,
        160738.0,
    )
    assert not judged["performance score"].ok and not judged["LCP"].ok
    assert judged["total bytes"].ok
    assert judged["LCP"].line() == "LCP 4927.28 ms (over budget <= 2500 ms)"


def test_lighthouse_4_fails_closed_on_missing_metrics() -> None:
    result = budgets.read(vectors("lighthouse") / "lhr-4.3.0.json")
    judged = {j.metric: j for j in budgets.judge(result, BUDGET)}
    assert judged["performance score"].ok  # a genuinely fast page...
    assert not judged["LCP"].ok and not judged["total bytes"].ok  # ...that cannot be judged
    assert judged["LCP"].why == (
        "missing from this result (Lighthouse 4.3.0; budgets need 6.0 or newer)"
    )


def _derived_pass(folder: Path) -> Path:
    data = json.loads((vectors("lighthouse") / "lhr-6.0.0.json").read_text())
    data["categories"]["performance"]["score"] = 0.91
    data["audits"]["largest-contentful-paint"]["numericValue"] = 1800.0
    data["audits"]["total-byte-weight"]["numericValue"] = 300000.0
    path = folder / "derived-pass.json"  # derived from lhr-6.0.0.json, edited here
    path.write_text(json.dumps(data))
    return path


def test_a_result_within_budget_passes_and_budgets_are_per_env(tmp_path: Path) -> None:
    result = budgets.read(_derived_pass(tmp_path))
    assert all(j.ok for j in budgets.judge(result, BUDGET))
    stricter = BudgetSettings(lcp_ms=1500)
    assert [j.metric for j in budgets.judge(result, stricter) if not j.ok] == ["LCP"]


def test_a_file_that_is_not_a_result_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "truncated.json").write_text('{"lighthouseVersion": "6.0.0", "audits": {')
    with pytest.raises(ReleaseError, match=r"truncated.json: not a readable Lighthouse JSON"):
        budgets.read(tmp_path / "truncated.json")
    (tmp_path / "other.json").write_text('{"SchemaVersion": 2}')
    with pytest.raises(ReleaseError, match=r"other.json: not a Lighthouse result"):
        budgets.read(tmp_path / "other.json")


def run_lighthouse_check(tmp_path: Path, *results: Path) -> tuple[str, dict]:
    release = tmp_path / "release" / "lighthouse"
    release.mkdir(parents=True)
    for path in results:
        (release / path.name).write_bytes(path.read_bytes())
    (release / "lhr-6.0.0.html").write_text("<html>the Lighthouse report</html>")
    env_file = tmp_path / "environments.toml"
    env_file.write_text(
        '[environments.web]\nbase_url = "https://web.example.invalid"\nproduction = false\n'
        'release = "release"\n'
    )
    done, manifest = run_pack(
        tmp_path, "slo", "-k", "lighthouse", f"--env-file={env_file}", env="web"
    )
    test = next(
        t for t in manifest["tests"] if t["nodeid"].endswith("test_lighthouse_budgets[web]")
    )
    return done.stdout, test


def test_the_gate_c_check_names_each_result_and_budget(tmp_path: Path) -> None:
    lighthouse = vectors("lighthouse")
    out, test = run_lighthouse_check(
        tmp_path, lighthouse / "lhr-6.0.0.json", lighthouse / "lhr-4.3.0.json"
    )
    assert test["outcome"] == "failed" and test["gate"] == "C", out[-3000:]
    message = test["message"]
    assert message.startswith("AssertionError: expected every Lighthouse result within budget (2")
    assert (
        "lhr-6.0.0.json (http://localhost:10200/dobetterweb/dbw_tester.html): performance score 0.64 (over budget >= 0.8)"
        in message
    )
    assert "LCP 4927.28 ms (over budget <= 2500 ms)" in message
    assert "lhr-4.3.0.json (https://example.com/): LCP missing from this result" in message
    assert "capture: " in message
    assert "captures/lighthouse/lhr-6.0.0.html" in test["captures"]


def test_the_gate_c_check_passes_within_budget(tmp_path: Path) -> None:
    out, test = run_lighthouse_check(tmp_path, _derived_pass(tmp_path))
    assert test["outcome"] == "passed", out[-3000:]
    assert (test["value"], test["limit"]) == ("0.91", "0.8")


def test_every_slo_check_names_its_fault_or_where_it_is_proven() -> None:
    from tests.packs import pack_checks

    checks = pack_checks("slo")
    assert checks and all(checks.values()), checks
