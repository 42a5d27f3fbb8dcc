"""`gonogo load import-k6`: a k6 script's options as a gonogo plan (#31, 6)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from gonogo.cli import main as gonogo
from gonogo.config import load_env_file
from gonogo.load.plan import build_plan
from gonogo.load.threshold import parse_threshold, thresholds_of
from tests.conftest import seed

ENV = '[environments.green]\nbase_url = "https://green.example.com"\nproduction = false\n'


def seed_script(tmp_path: Path) -> Path:
    """The one-pager's B.2 k6 canary, as the war room runs it today."""
    text = seed("cutover-day-one-pager.md").read_text(encoding="utf-8")
    section = text[text.index("### B.2") :]
    script = re.search(r"```javascript\n(.*?)```", section, re.DOTALL)
    assert script is not None, "B.2 has no javascript block"
    path = tmp_path / "canary.js"
    path.write_text(script.group(1))
    return path


def imported_env(tmp_path: Path, script: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert gonogo(["load", "import-k6", str(script), "--env", "green", "--name", "seed"]) == 0
    env_file = tmp_path / "environments.toml"
    env_file.write_text(ENV + "\n" + capsys.readouterr().out)
    return env_file


def test_the_one_pagers_k6_canary_converts_to_the_built_in_canary(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = seed_script(tmp_path)
    assert gonogo(["load", "import-k6", str(script), "--env", "green", "--name", "seed"]) == 0
    out = capsys.readouterr()
    # What k6 does and gonogo does not, one line each: the checks and the sleeps.
    left = out.err.splitlines()
    assert [line.split(" in ")[0] for line in left] == [
        "gonogo load import-k6: check()",
        "gonogo load import-k6: sleep()",
        "gonogo load import-k6: check()",
        "gonogo load import-k6: sleep()",
    ], left
    env_file = tmp_path / "environments.toml"
    env_file.write_text(ENV + "\n" + out.out)
    tomllib.loads(env_file.read_text())
    settings = load_env_file(env_file).get("green")  # the plan validates as the env file's
    seed = build_plan(settings, "seed")
    canary = build_plan(settings, "canary")
    assert set(seed.scenarios) == set(canary.scenarios) == {"gateway", "gql"}
    for name, built_in in canary.scenarios.items():
        ours = seed.scenarios[name]
        same = ("executor", "rate", "time_unit", "duration", "start_rate", "graceful_stop")
        assert {k: getattr(ours, k) for k in same} == {k: getattr(built_in, k) for k in same}
        requests = [r.model_dump(exclude={"name"}) for r in ours.requests]
        assert requests == [r.model_dump(exclude={"name"}) for r in built_in.requests]
    # k6's VU pools are carried as the script wrote them; the built-in's are wider.
    assert (seed.scenarios["gateway"].pre_allocated, seed.scenarios["gateway"].max_concurrency) == (
        10,
        50,
    )
    # Every threshold of the script is the built-in's; dropped_iterations is gonogo's own.
    assert {t.id for t in canary.thresholds} - {t.id for t in seed.thresholds} == {
        "dropped_iterations: count==0"
    }
    assert {t.id for t in seed.thresholds} <= {t.id for t in canary.thresholds}


K6_FORMS = """
import http from 'k6/http';
export const options = {
  vus: 10,
  thresholds: {
    http_req_failed: [{ threshold: 'rate<.01', abortOnFail: true, delayAbortEval: '10s' }],
    checks: ['rate===1'],
    dropped_iterations: ['count===0'],
  },
  scenarios: {
    steady: { executor: 'ramping-arrival-rate', startRate: 5, timeUnit: '1s',
              stages: [{ duration: '30s', target: 20 }], preAllocatedVUs: 5, maxVUs: 20,
              exec: 'steady', },
    closed: { executor: 'constant-vus', vus: 5, duration: '1m' },
  },
};
export function steady() { http.get('https://api.example.com/api/notes?limit=5'); }
export default function () { http.get('https://api.example.com/'); }
"""


def test_k6s_threshold_forms_and_what_cannot_be_carried(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = tmp_path / "forms.js"
    script.write_text(K6_FORMS)
    assert gonogo(["load", "import-k6", str(script)]) == 0
    out = capsys.readouterr()
    plan = tomllib.loads(out.out)["environments"]["green"]["load"]["plans"]["forms"]
    assert plan["scenarios"]["steady"] == {
        "executor": "ramping-arrival-rate",
        "start_rate": 5,
        "time_unit": "1s",
        "stages": [{"duration": "30s", "target": 20}],
        "pre_allocated": 5,
        "max_concurrency": 20,
        "requests": [{"name": "notes", "kind": "http", "path": "/api/notes?limit=5"}],
    }
    assert plan["thresholds"] == {
        "http_req_failed": ["rate<0.01"],
        "dropped_iterations": ["count==0"],
    }
    err = out.err
    assert "options.vus is not carried" in err
    assert "scenario closed: executor 'constant-vus' is not carried" in err
    assert "threshold http_req_failed: abortOnFail is not carried" in err
    assert "threshold checks: " in err  # a k6 metric gonogo does not measure, named
    assert len(err.splitlines()) == 4, err


@pytest.mark.parametrize(
    ("expression", "op", "limit"),
    [("rate===0", "==", 0.0), ("rate<.01", "<", 0.01), ("p(99.9) <= 1e3", "<=", 1000.0)],
)
def test_k6_threshold_spellings_are_read_as_k6_reads_them(
    expression: str, op: str, limit: float
) -> None:
    parsed = parse_threshold("http_req_failed", expression)
    assert (parsed.op, parsed.limit) == (op, limit)
    (obj,) = thresholds_of({"http_req_failed": [{"threshold": expression, "abortOnFail": True}]})
    assert obj.id == parsed.id


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("export default function () {}\n", "no `export const options = {...}`"),
        ("export const options = {;\n", "not JavaScript k6 can run"),
        (
            "export const options = { scenarios: { a: { executor: 'constant-vus' } } };\n",
            "no scenario gonogo can run (scenario a: executor 'constant-vus' is not carried",
        ),
    ],
)
def test_a_script_that_is_no_plan_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], source: str, says: str
) -> None:
    script = tmp_path / "bad.js"
    script.write_text(source)
    assert gonogo(["load", "import-k6", str(script)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("gonogo: ") and says in line, line
