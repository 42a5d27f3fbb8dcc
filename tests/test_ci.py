"""Gate A's required CI checks, on GitHub's answers and on the release's own files.

No CI server runs here, so GitHub's REST API is a loopback server answering as
GitHub's description (github/rest-api-description, api.github.com.yaml: the
`check-run-paginated` and `combined-commit-status` examples, the `basic-error`
schema, the rate-limit headers) shows: check runs paged by the Link header,
statuses by context, 401 and 403 with GitHub's own messages.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from gonogo import ci
from gonogo.release import ReleaseError
from tests.conftest import refused_table, reply, serving
from tests.packs import REPO

SHA = "ce587453ced02b1526dfb4cb910479d431683101"
PREVIOUS = "e7fdf7640066d71ad16a86fbcbb9c6a10a18af4f"
TOKEN = "ghs_recordedAnswerToken01"  # a recorded answer's token, planted to be masked
REQUIRED = ["typecheck", "coverage", "trivy-fs", "helm-digest-policy", "terraform-validate"]


def check_run(
    run_id: int, name: str, status: str = "completed", conclusion: str | None = "success"
) -> dict[str, Any]:
    """One check run as the description's check-run-paginated example has it."""
    return {
        "id": run_id,
        "head_sha": SHA,
        "node_id": "MDg6Q2hlY2tSdW40",
        "external_id": "",
        "url": f"https://api.github.com/repos/intelgraph/platform/check-runs/{run_id}",
        "html_url": f"https://github.com/intelgraph/platform/runs/{run_id}",
        "details_url": "https://example.com",
        "status": status,
        "conclusion": conclusion if status == "completed" else None,
        "started_at": "2018-05-04T01:14:52Z",
        "completed_at": "2018-05-04T01:14:52Z" if status == "completed" else None,
        "output": {
            "title": f"{name} report",
            "summary": "There are 0 failures, 2 warnings, and 1 notice.",
            "text": "",
            "annotations_count": 0,
            "annotations_url": f"https://api.github.com/repos/intelgraph/platform/check-runs/{run_id}/annotations",
        },
        "name": name,
        "check_suite": {"id": 5},
        "app": {
            "id": 1,
            "slug": "octoapp",
            "node_id": "MDExOkludGVncmF0aW9uMQ==",
            "name": "Octocat App",
        },
        "pull_requests": [],
    }


def combined(statuses: list[tuple[str, str]]) -> dict[str, Any]:
    """The combined-commit-status example's shape, with these (context, state) statuses."""
    return {
        "state": "success" if all(s == "success" for _, s in statuses) else "pending",
        "statuses": [
            {
                "url": f"https://api.github.com/repos/intelgraph/platform/statuses/{SHA}",
                "avatar_url": "https://github.com/images/error/hubot_happy.gif",
                "id": n,
                "node_id": "MDY6U3RhdHVzMQ==",
                "state": state,
                "description": "Build has completed successfully",
                "target_url": f"https://ci.example.com/{n}/output",
                "context": context,
                "created_at": "2012-07-20T01:19:13Z",
                "updated_at": "2012-07-20T01:19:13Z",
            }
            for n, (context, state) in enumerate(statuses, start=1)
        ],
        "sha": SHA,
        "total_count": len(statuses),
        "repository": {"id": 1296269, "name": "platform", "full_name": "intelgraph/platform"},
        "commit_url": f"https://api.github.com/repos/intelgraph/platform/{SHA}",
        "url": f"https://api.github.com/repos/intelgraph/platform/{SHA}/status",
    }


ALL_GREEN = [check_run(n, name) for n, name in enumerate(REQUIRED[:-1], start=1)]
SCENARIOS: dict[str, dict[str, Any]] = {
    "green": {"runs": ALL_GREEN},
    # The Trivy scan reports through the older statuses API (a Jenkins or a GitLab mirror).
    "status-api": {"runs": ALL_GREEN[:2] + ALL_GREEN[3:], "statuses": [("trivy-fs", "success")]},
    "failure": {"runs": [check_run(1, "typecheck", conclusion="failure"), *ALL_GREEN[1:]]},
    "in-progress": {
        "runs": [*ALL_GREEN[:1], check_run(9, "coverage", "in_progress"), *ALL_GREEN[2:]]
    },
    "missing": {"runs": ALL_GREEN[1:]},
    "cancelled": {
        "runs": [*ALL_GREEN[:3], check_run(7, "helm-digest-policy", conclusion="cancelled")]
    },
    "rerun-green": {
        "runs": [
            check_run(1, "typecheck", conclusion="failure"),
            {**check_run(11, "typecheck"), "started_at": "2018-05-04T02:00:00Z"},
            *ALL_GREEN[1:],
        ]
    },
    # 150 unrelated runs first: the required ones are on the second page.
    "second-page": {"runs": [check_run(100 + n, f"lint-{n}") for n in range(150)] + ALL_GREEN},
    "infra-changed": {"runs": ALL_GREEN, "changed": ["terraform/main.tf", "gateway/app.py"]},
    "infra-unchanged": {"runs": ALL_GREEN, "changed": ["gateway/app.py"]},
    # Green runs, but of another commit (a re-run on the branch's new head, a force-push).
    "other-commit": {
        "runs": [{**r, "head_sha": PREVIOUS} for r in ALL_GREEN],
        "status_sha": PREVIOUS,
        "statuses": [("typecheck", "success")],
    },
    "mixed-commits": {
        "runs": [
            *ALL_GREEN,
            {
                **check_run(20, "typecheck", conclusion="failure"),
                "head_sha": PREVIOUS,
                "started_at": "2018-05-04T03:00:00Z",
            },
        ]
    },
    "401": {"status": 401},
    "403-rate-limit": {"status": 403},
}


def github(scenario: dict[str, Any]) -> type[BaseHTTPRequestHandler]:
    class GitHub(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(url.query)
            headers: dict[str, str] = {}
            if scenario.get("status") == 401:
                status, body = 401, {"message": "Bad credentials",
                                     "documentation_url": "https://docs.github.com/rest",
                                     "status": "401"}  # fmt: skip
            elif scenario.get("status") == 403:
                status, body = 403, {
                    "message": "API rate limit exceeded for installation ID 1234.",
                    "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api",
                }  # fmt: skip
                headers = {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0",
                           "x-ratelimit-reset": "1796319600", "x-ratelimit-resource": "core"}  # fmt: skip
            elif url.path.endswith(f"/commits/{SHA}") and self.headers["Accept"] == (
                "application/vnd.github.sha"
            ):
                # "Get a commit" with the sha media type: the bare SHA of the ref's commit.
                reply(self, 200, SHA.encode(), "application/vnd.github.sha; charset=utf-8")
                return
            elif url.path.endswith(f"/commits/{SHA}/check-runs"):
                runs = scenario.get("runs", [])
                per_page = int(query.get("per_page", ["30"])[0])
                page = int(query.get("page", ["1"])[0])
                status = 200
                body = {"total_count": len(runs),
                        "check_runs": runs[(page - 1) * per_page : page * per_page]}  # fmt: skip
                if page * per_page < len(runs):
                    host = self.headers["Host"]
                    headers["Link"] = (
                        f"<http://{host}{url.path}?per_page={per_page}&page={page + 1}>; "
                        f'rel="next", <http://{host}{url.path}?per_page={per_page}&page='
                        f'{-(-len(runs) // per_page)}>; rel="last"'
                    )
            elif url.path.endswith(f"/commits/{SHA}/status"):
                status, body = 200, combined(scenario.get("statuses", []))
                body["sha"] = scenario.get("status_sha", SHA)
            elif url.path.endswith(f"/compare/{PREVIOUS}...{SHA}"):
                status = 200
                body = {"status": "ahead", "ahead_by": 3, "behind_by": 0, "total_commits": 3,
                        "files": [{"sha": "bbcd538c8e72b8c175046e27cc8f907076331401",
                                   "filename": f, "status": "modified", "additions": 1,
                                   "deletions": 0, "changes": 1}
                                  for f in scenario.get("changed", [])]}  # fmt: skip
            else:
                status, body = 404, {"message": "Not Found",
                                     "documentation_url": "https://docs.github.com/rest"}  # fmt: skip
            reply(self, status, body, "application/json; charset=utf-8", headers)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    return GitHub


def run_check(
    tmp_path: Path, scenario: str, token: str | None = TOKEN
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """test_required_ci_checks_green against the recorded GitHub; (its result, ci_checks.json)."""
    previous = 'previous_ref = "' + PREVIOUS + '"\n' if "changed" in SCENARIOS[scenario] else ""
    with serving(github(SCENARIOS[scenario])) as url:
        env_file = tmp_path / "envs.toml"
        env_file.write_text(
            '[environments.gh]\nbase_url = "https://gh.example.com"\nproduction = false\n'
            f'[environments.gh.ci]\nprovider = "github"\nrepo = "intelgraph/platform"\n'
            f'api_url = "{url}"\ntoken_env = "GONOGO_GITHUB_TOKEN"\nref = "{SHA}"\n{previous}'
        )
        subprocess.run(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--env-file={env_file}",
             f"--evidence-dir={tmp_path / 'ev'}", "src/gonogo/packs/security/test_ci.py", "-k",
             "required_ci_checks", "--env", "gh"],
            cwd=REPO, capture_output=True, text=True, timeout=120,
            env={**{k: v for k, v in os.environ.items() if k != "GONOGO_GITHUB_TOKEN"},
                 **({"GONOGO_GITHUB_TOKEN": token} if token else {}), "COLUMNS": "200"},
        )  # fmt: skip
    bundle = next((tmp_path / "ev").glob("gh/*"))
    tests = json.loads((bundle / "bundle.json").read_text())["tests"]
    (result,) = [t for t in tests if "test_required_ci_checks_green" in t["nodeid"]]
    capture = bundle / "captures" / "ci_checks.json"
    return result, json.loads(capture.read_text()) if capture.exists() else None


@pytest.fixture
def check(tmp_path: Path) -> Any:
    return lambda scenario: run_check(tmp_path, scenario)


@pytest.mark.parametrize(
    "scenario",
    ["green", "status-api", "rerun-green", "second-page", "infra-unchanged", "mixed-commits"],
)
def test_green_when_every_required_check_succeeded(check: Any, scenario: str) -> None:
    result, capture = check(scenario)
    assert result["outcome"] == "passed", result["message"]
    assert capture is not None
    assert "terraform-validate" in capture["not_applicable"]  # no infra change known
    assert capture["sha"] == SHA
    if scenario == "mixed-commits":  # the newer failed run is of another commit: set aside
        assert capture["ignored"] == [
            f"check run typecheck ignored: head_sha {PREVIOUS[:12]}... is not the release "
            f"commit {SHA[:12]}..."
        ]


@pytest.mark.parametrize(
    ("scenario", "says"),
    [
        ("failure", "typecheck failure (https://github.com/intelgraph/platform/runs/1)"),
        ("in-progress", "coverage running: status in_progress (https://github.com/intelgraph/platform/runs/9)"),
        ("missing", "typecheck missing: no check run or status of that name; seen: coverage, helm-digest-policy, trivy-fs"),
        ("cancelled", "helm-digest-policy cancelled (https://github.com/intelgraph/platform/runs/7)"),
        ("infra-changed", "terraform-validate missing"),
        ("other-commit", "typecheck missing: no check run or status of that name; seen: none"),
        ("401", "GitHub refused the token for http://127.0.0.1:"),
        ("403-rate-limit", "GitHub's API rate limit is used up (403 at http://127.0.0.1:"),
    ],
)  # fmt: skip
def test_red_naming_the_check_and_its_url(check: Any, scenario: str, says: str) -> None:
    result, _ = check(scenario)
    assert result["outcome"] == "failed", result
    message = result["message"].splitlines()[0]
    assert says in message, message
    assert TOKEN not in json.dumps(result) and "Traceback" not in message
    if scenario == "401":
        assert "(401 Bad credentials); check GONOGO_GITHUB_TOKEN" in message
    if scenario == "403-rate-limit":
        assert "resets at 2026-12-03T17:40:00Z" in message
    if scenario == "other-commit":
        assert "set aside as not of the release commit: 5 (check run typecheck ignored: " in message
        assert f"head_sha {PREVIOUS[:12]}... is not the release commit {SHA[:12]}..." in message


def test_an_unset_token_variable_is_one_line(tmp_path: Path) -> None:
    result, _ = run_check(tmp_path, "green", token=None)
    assert result["outcome"] in ("failed", "error")
    assert result["message"].startswith(
        "env 'gh': the GitHub token variable GONOGO_GITHUB_TOKEN is not set; export "
        "GONOGO_GITHUB_TOKEN=... before the run"
    ), result["message"]


# -- the release's own files ---------------------------------------------------------------


def test_junit_files_are_judged_as_ci_wrote_them(tmp_path: Path) -> None:
    checks = tmp_path / "ci" / "checks"
    checks.mkdir(parents=True)
    (checks / "typecheck.xml").write_text(
        '<testsuites><testsuite name="t" tests="2" failures="1">'
        '<testcase name="a"/><testcase name="b"><failure message="x"/></testcase>'
        "</testsuite></testsuites>"
    )
    (checks / "trivy-fs.xml").write_text(
        '<testsuite name="t" tests="1"><testcase name="a"/></testsuite>'
    )
    (checks / "coverage.xml").write_text('<testsuite name="t" tests="0"/>')
    states = ci.from_junit(tmp_path, ["typecheck", "trivy-fs", "coverage", "helm-digest-policy"])
    assert {n: s.state for n, s in states.items()} == {
        "typecheck": "failure",
        "trivy-fs": "success",
        "coverage": "skipped",
        "helm-digest-policy": "missing",
    }
    assert states["typecheck"].said() == "typecheck failure: 1 of 2 failed"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("<coverage", "does not parse as XML"),
        ('<coverage line-rate="high"/>', "line-rate='high' is not a number"),
        ("<testsuites/>", "not a Cobertura report"),
        ('<coverage line-rate="1.7"/>', "line-rate=1.7 is not a fraction from 0 to 1"),
    ],
)
def test_a_coverage_report_that_is_not_cobertura_is_one_line(
    tmp_path: Path, text: str, says: str
) -> None:
    report = tmp_path / "coverage.xml"
    report.write_text(text)
    with pytest.raises(ReleaseError, match=re.escape(says)):
        ci.coverage(report)


@pytest.mark.parametrize(
    ("attributes", "branch", "says"),
    [
        # cover2cover writes branch-rate and no branches-valid: its figure is judged.
        ('branch-rate="0.10"', 0.8, "branch 10.0% < 80.0%"),
        ('branch-rate="0.95"', 0.8, None),
        # No figure: a configured branch threshold fails, naming the missing figure.
        ("", 0.8, "no branch figure in the report"),
        ('branch-rate="0" branches-valid="0"', 0.8, "no branch figure in the report"),
        # No branch threshold: the figure, or its absence, is not judged.
        ("", None, None),
        ('branch-rate="0.10"', None, None),
    ],
)
def test_a_branch_threshold_is_judged_from_whatever_the_report_gives(
    tmp_path: Path, attributes: str, branch: float | None, says: str | None
) -> None:
    report = tmp_path / "coverage.xml"
    report.write_text(f'<coverage line-rate="0.9" {attributes}/>')
    low = ci.coverage_shortfalls(ci.coverage(report), 0.8, branch)
    assert low == [] if says is None else (len(low) == 1 and says in low[0]), low


def test_branch_rate_counts_only_where_branches_were_measured(tmp_path: Path) -> None:
    report = tmp_path / "coverage.xml"
    report.write_text('<coverage line-rate="0.9" branch-rate="0" branches-valid="0"/>')
    assert ci.coverage(report) == ci.Coverage(0.9, None)
    report.write_text('<coverage line-rate="0.9" branch-rate="0.5" branches-valid="10"/>')
    assert ci.coverage(report) == ci.Coverage(0.9, 0.5)


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ('provider = "jenkins"', "environments.x.ci.provider: Input should be 'github' or 'files'"),
        ('provider = "github"', 'environments.x.ci: provider "github" needs repo = "OWNER/NAME"'),
        ("required = [1, 2]", "environments.x.ci.required.0: Input should be a valid string"),
    ],
)
def test_ci_settings_that_cannot_work_are_one_line(tmp_path: Path, table: str, says: str) -> None:
    assert says in refused_table(tmp_path, "ci", table, base_url="https://x.example.com")
