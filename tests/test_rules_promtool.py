"""`gonogo rules` read by Prometheus's own tools: `promtool check rules` accepts the file, and
`promtool test rules` proves every trigger on synthetic series, for each metrics preset.

Each trigger gets series made from its own signal (the same Selector the watch reads): held
just past its threshold it fires once its window and `for` have passed; just under it, it
stays quiet; a breach shorter than its `for` never fires. Skipped, saying why, without promtool
(Debian's `prometheus` package ships it).
"""

from __future__ import annotations

import math
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from gonogo.config import EnvSettings
from gonogo.series import Selector
from gonogo.watch.triggers import Increase, Level, Quantile, Ratio, Trigger, rules, triggers_for

PRESETS = ("gonogo", "traefik", "otel")


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    return found


def settings(preset: str) -> EnvSettings:
    return EnvSettings.model_validate(
        {"name": "green", "base_url": "https://green.example.com", "metrics": {"preset": preset},
         "baseline": {"consumer_lag": 500}}
    )  # fmt: skip


def concrete(selector: Selector, **fixed: str) -> dict[str, str]:
    """Labels a series needs to be selected by `selector` (a regex's first alternative)."""
    labels: dict[str, str] = {}
    for m in selector.matchers:
        if m.op == "=":
            labels[m.label] = m.value
        elif m.op == "=~":
            value = m.value.split("|")[0].replace(".*", "").replace(".+", "0").replace(".", "0")
            assert re.fullmatch(m.value, value), (m, value)
            labels[m.label] = value
        else:
            labels[m.label] = "other"
    labels.update(fixed)
    assert selector.matches(selector.name, labels), (selector, labels)
    return labels


def series(name: str, labels: dict[str, str]) -> str:
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}" if inner else name


def counter(per_minute: list[float]) -> str:
    """A counter's values, one a minute, rising by each minute's amount."""
    total, values = 0.0, []
    for step in [0.0, *per_minute]:
        total += step
        values.append(f"{total:.12g}")
    return " ".join(values)


def inputs(t: Trigger, level: list[float]) -> list[dict[str, str]]:
    """Series under which the trigger's signal is `level[i]` (in the signal's own unit)
    during minute i."""
    signal = t.signal
    if isinstance(signal, Ratio):
        num = signal.numerator
        num_labels = concrete(num)
        total = 100_000.0
        rows = [
            {"series": series(num.name, num_labels), "values": counter([v * total for v in level])}
        ]
        filler = None
        for den in signal.denominators:
            # Counted by the denominator, not the numerator: the numerator's own labels
            # given a value it does not select (a 200 where it counts 5xx).
            own = {m.label for m in den.matchers}
            labels = concrete(den, **{m.label: "200" for m in num.matchers if m.label not in own})
            if not num.matches(den.name, labels):
                filler = (den, labels)
                break
        assert filler is not None, f"{t.name}: no series counts in the denominator only"
        counted = sum(1 for d in signal.denominators if d.matches(num.name, num_labels))
        rows.append(
            {"series": series(filler[0].name, filler[1]),
             "values": counter([total - counted * v * total for v in level])}
        )  # fmt: skip
        return rows
    if isinstance(signal, Quantile):
        t_s = t.threshold
        bounds = [t_s * 0.5, t_s * 0.8, t_s * 1.2, t_s * 2.0, math.inf]
        rows = []
        for le in bounds:
            labels = concrete(signal.buckets, le="+Inf" if le == math.inf else f"{le:g}")
            # Above the threshold: every observation in (1.2t, 2t]; under: in (0.5t, 0.8t].
            per_minute = [
                1000.0 if (le >= t_s * 2.0 if v > t_s else le >= t_s * 0.8) else 0.0 for v in level
            ]
            rows.append(
                {"series": series(signal.buckets.name, labels), "values": counter(per_minute)}
            )
        return rows
    if isinstance(signal, Level):
        values = " ".join(f"{v:g}" for v in [level[0], *level])
        return [{"series": series(signal.gauge.name, concrete(signal.gauge)), "values": values}]
    assert isinstance(signal, Increase), t.name
    window_min = t.window_s / 60
    return [
        {"series": series(signal.counter.name, concrete(signal.counter)),
         "values": counter([v / window_min for v in level])}
    ]  # fmt: skip


def above(t: Trigger) -> float:
    return t.threshold * 1.1 if t.threshold else 1.0


def below(t: Trigger) -> float:
    return t.threshold * 0.9


def rule_tests(preset: str, folder: Path) -> tuple[Path, Path, list[str]]:
    triggers = triggers_for(settings(preset))
    file = rules("green", triggers)
    rule_file = folder / "rules.yml"
    rule_file.write_text(yaml.safe_dump(file, sort_keys=False))
    by_name = {r["labels"]["trigger"]: r for r in file["groups"][0]["rules"]}
    tests, proven = [], []
    for t in triggers:
        if t.name not in by_name:
            continue  # a probe (unsigned-image): no PromQL form
        rule = by_name[t.name]
        window = max(t.window_s, t.short_window_s or 0) / 60
        fire_at = math.ceil(window + t.for_s / 60 + 3)
        minutes = fire_at + 5
        alert = {"exp_labels": rule["labels"], "exp_annotations": rule["annotations"]}

        def case(
            level: list[float],
            expected: list[dict[str, Any]],
            at: int,
            t: Trigger = t,
            rule: dict[str, Any] = rule,
        ) -> dict[str, Any]:
            return {
                "interval": "1m",
                "input_series": inputs(t, level),
                "alert_rule_test": [
                    {"eval_time": f"{at}m", "alertname": rule["alert"], "exp_alerts": expected}
                ],
            }

        tests.append(case([above(t)] * minutes, [alert], fire_at))
        tests.append(case([below(t)] * minutes, [], fire_at))
        proven.append(f"{t.name}: fires, quiet")
        burst = int(t.for_s / 60 - t.window_s / 60 - 3)
        if burst >= 1:
            short = [above(t)] * burst + [below(t) if t.threshold else 0.0] * (minutes - burst)
            tests.append(case(short, [], fire_at))
            proven[-1] += ", short breach quiet"
    test_file = folder / "rules_test.yml"
    test_file.write_text(
        yaml.safe_dump(
            {"rule_files": [rule_file.name], "evaluation_interval": "1m", "tests": tests},
            sort_keys=False,
        )
    )
    return rule_file, test_file, proven


@pytest.mark.parametrize("preset", PRESETS)
def test_promtool_checks_the_rules_and_proves_every_trigger(preset: str, tmp_path: Path) -> None:
    tool = promtool()
    rule_file, test_file, proven = rule_tests(preset, tmp_path)
    checked = subprocess.run(
        [tool, "check", "rules", str(rule_file)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0 and "SUCCESS" in checked.stdout, checked.stdout + checked.stderr
    tested = subprocess.run(
        [tool, "test", "rules", str(test_file)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-3000:]
    assert len(proven) >= 8, proven


@pytest.mark.parametrize(
    "changed",
    [">= 0.004\n", ">= 0.001\n"],
    ids=["pager-silent-at-the-threshold", "pager-loud-under-it"],
)
def test_a_rule_off_its_threshold_is_caught(tmp_path: Path, changed: str) -> None:
    """The proof can fail: the 5xx trigger's threshold doubled in the rule file (the pager
    silent at the checklist's 0.2 %) or halved (paging under it) makes promtool's test red."""
    tool = promtool()
    rule_file, test_file, _ = rule_tests("gonogo", tmp_path)
    text = rule_file.read_text()
    rule_file.write_text(text.replace(">= 0.002\n", changed, 1))
    assert rule_file.read_text() != text
    tested = subprocess.run(
        [tool, "test", "rules", str(test_file)], capture_output=True, text=True, timeout=120,
        cwd=tmp_path,
    )  # fmt: skip
    assert tested.returncode != 0 and "GonogoRollback_5xx_ratio" in tested.stdout + tested.stderr


RELEASED = ["sha256:" + "a" * 64, "sha256:" + "b" * 64]
UNRELEASED = "sha256:" + "c" * 64


def _container(pod: str, image_id: str, namespace: str = "intelgraph") -> str:
    labels = {"namespace": namespace, "pod": pod, "container": "api", "image": "r/api:2.4.0",
              "image_id": image_id, "uid": pod}  # fmt: skip
    return series("kube_pod_container_info", labels)


def unsigned_image_files(tmp_path: Path) -> tuple[Path, Path]:
    document = rules("green", [], RELEASED, "intelgraph")
    rule_file = tmp_path / "unsigned.yml"
    rule_file.write_text(yaml.safe_dump(document, sort_keys=False))
    quiet = [
        # The release's digests, in the three ways kube-state-metrics writes imageID.
        {"series": _container("api-1", f"docker-pullable://r/api@{RELEASED[0]}"),
         "values": "1x10"},
        {"series": _container("api-2", f"r/api@{RELEASED[1]}"), "values": "1x10"},
        {"series": _container("api-3", RELEASED[0]), "values": "1x10"},
        # Not pulled yet, and another namespace's business.
        {"series": _container("api-4", ""), "values": "1x10"},
        {"series": _container("x-1", f"r/x@{UNRELEASED}", namespace="other"), "values": "1x10"},
    ]  # fmt: skip
    rogue = {"series": _container("api-5", f"docker-pullable://r/api@{UNRELEASED}"),
             "values": "_x3 1x7"}  # fmt: skip
    alert = "GonogoRollback_unsigned_image"
    fired = {
        "exp_labels": {"severity": "page", "env": "green", "trigger": "unsigned-image",
                       "namespace": "intelgraph", "pod": "api-5", "container": "api",
                       "image": "r/api:2.4.0"},
        "exp_annotations": {
            "summary": "green: rollback trigger unsigned-image: a pod runs an image the "
                       "release did not ship",
            "description": "intelgraph/api-5 container api runs r/api:2.4.0, whose digest is "
                           "not in the release's manifest.json",
        },
    }  # fmt: skip
    tests = [
        {"interval": "1m", "input_series": [*quiet, rogue],
         "alert_rule_test": [{"eval_time": "2m", "alertname": alert, "exp_alerts": []},
                             {"eval_time": "5m", "alertname": alert, "exp_alerts": [fired]}]},
    ]  # fmt: skip
    test_file = tmp_path / "unsigned_test.yml"
    test_file.write_text(
        yaml.safe_dump(
            {"rule_files": [rule_file.name], "evaluation_interval": "1m", "tests": tests},
            sort_keys=False,
        )
    )
    return rule_file, test_file


def test_unsigned_image_is_a_rule_on_kube_state_metrics(tmp_path: Path) -> None:
    """A container running a digest the release did not ship pages at once; the release's
    digests however kube-state-metrics spells imageID, a container not pulled yet and another
    namespace stay quiet. Changing a released digest in the rule makes the test red."""
    tool = promtool()
    rule_file, test_file = unsigned_image_files(tmp_path)
    checked = subprocess.run(
        [tool, "check", "rules", str(rule_file)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run([tool, "test", "rules", str(test_file)], capture_output=True,
                            text=True, timeout=120, cwd=tmp_path)  # fmt: skip
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-3000:]
    rule_file.write_text(rule_file.read_text().replace("b" * 64, "d" * 64))
    broken = subprocess.run([tool, "test", "rules", str(test_file)], capture_output=True,
                            text=True, timeout=120, cwd=tmp_path)  # fmt: skip
    assert broken.returncode != 0 and "api-2" in broken.stdout + broken.stderr
