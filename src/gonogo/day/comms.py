"""The war room's messages, rendered from a run's recorded results.

The command center pasted three messages by hand: the Go/No-Go announcement,
the post-deploy update and the rollback notice, each with numbers copied
from dashboards. Here they are rendered from the bundle itself (verdict.json,
bundle.json, the captures), so what is posted is what the evidence says, and
`gonogo comms BUNDLE` renders the same text again later. Templates are plain
`string.Template` files (`$name`), the project's own or an env's
(`[comms] templates = "DIR"`); a placeholder a template names but the run
has no value for renders as "n/a", never as a blank.

Posting is opt-in per run (`--announce KIND`): a webhook URL is a secret, so
it comes from the variable `[comms] webhook_env` names, and a failed post is
one line in steps.log, never a failed run.
"""

from __future__ import annotations

import json
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gonogo.clients.http import RequestSink
from gonogo.vocabulary import RUN_KINDS

# Every template gonogo ships: beside those, the watch's rollback and status messages and
# the rollback's notice.
# RUN_KINDS: the messages every run renders into comms/ (and `--announce KIND` may post).
KINDS = (*RUN_KINDS, "rollback", "rollback-notice", "status")
TEMPLATES = Path(__file__).parent.parent / "templates" / "comms"
FOLDER = "comms"


class _Defaulting(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "n/a"


def template(kind: str, folder: Path | None = None) -> string.Template:
    if kind not in KINDS:  # a team's folder overrides gonogo's templates; it adds no kinds
        raise ValueError(f"no message kind {kind!r}; kinds: {', '.join(KINDS)}")
    for base in (folder, TEMPLATES):
        if base is not None and (base / f"{kind}.txt").is_file():
            return string.Template((base / f"{kind}.txt").read_text(encoding="utf-8"))
    raise FileNotFoundError(f"no template for {kind} in {folder or TEMPLATES}")


def render(kind: str, values: Mapping[str, str], folder: Path | None = None) -> str:
    return template(kind, folder).substitute(_Defaulting(values)).rstrip() + "\n"


def _lines(items: list[str], title: str) -> str:
    if not items:
        return ""
    shown = "\n".join(f"  - {item}" for item in items[:10])
    more = f"\n  ... and {len(items) - 10} more" if len(items) > 10 else ""
    return f"{title}:\n{shown}{more}\n"


def _figure(tests: list[dict[str, Any]], *names: str) -> str | None:
    """The measured value of the first named check that recorded one, saying which check."""
    for name in names:
        for test in tests:
            if name in test["nodeid"] and test.get("value") is not None:
                return f"{test['value']} ({test['nodeid'].split('::')[-1]})"
    return None


def _mark(tests: list[dict[str, Any]], check: str, what: str) -> str:
    """The checklist's mark for a check in this run: ✅ what, ❌ what (failed), or not checked."""
    found = [t for t in tests if check in t["nodeid"]]
    unrun = ("deselected", "not collected", "skipped", "n/a")
    if not found or all(t["outcome"] in unrun for t in found):
        return "not checked in this run"
    if all(t["outcome"] in ("passed", "n/a", "deselected", "not collected") for t in found):
        return f"✅ ({what})"
    if any(t["outcome"] == "waived" for t in found) and not any(
        t["outcome"] in ("failed", "error") for t in found
    ):
        return f"⚠️ ({what}, waived)"
    return f"❌ ({what}: see {check})"


def digests(release: str | None) -> str:
    """The release manifest's image -> digest lines, or why there are none."""
    if not release:
        return "  (no release folder for this env)"
    manifest = Path(release) / "manifest.json"
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"  (no readable manifest.json in {release})"
    images = data.get("images", data) if isinstance(data, dict) else {}
    return "\n".join(f"  {ref}@{digest}" for ref, digest in sorted(images.items())) or "  (none)"


def values(
    root: Path, settings: list[Any], tests: list[dict[str, Any]] | None = None
) -> dict[str, str]:
    """Everything the templates may name, from a run folder (its bundle.json unless given)."""
    verdict = json.loads((root / "verdict.json").read_text())
    if tests is None:
        tests = json.loads((root / "bundle.json").read_text())["tests"]
    gates = ", ".join(
        f"{gate} {sum(1 for c in checks if c['outcome'] in ('passed', 'n/a'))}/{len(checks)}"
        for gate, checks in sorted(verdict["gates"].items())
    )
    first = settings[0] if settings else None
    out = {
        "decision": verdict["decision"],
        "summary": verdict.get("summary", verdict["decision"]),
        "judged_at": verdict["judged_at"],
        "envs": ", ".join(s.name for s in settings),
        "gates": gates or "none ran",
        "failing_block": _lines(verdict["failing"], "Failing"),
        "waived_block": _lines(
            [f"{w['check']} (waived by {w['exception']})" for w in verdict["waived"]], "Waived"
        ),
        "not_run_block": _lines(
            [f"{n['check']}: {n['why']}" for n in verdict["not_run"]], "Required, not run"
        ),
        "evidence": str(root),
        "digests": digests(first.release if first else None),
        "attestations": _mark(tests, "test_images_attested_with_sbom_and_provenance", "SPDX+SLSA"),
        "provenance": _mark(
            tests, "test_provenance_names_the_trusted_builder_and_source", "builder and source"
        ),
        "ci_checks": _mark(tests, "test_required_ci_checks_green", "required checks green"),
    }
    if first is not None:
        slo = first.slo
        out["canary_plan"] = (
            f"gateway p95 < {slo.api_p95_ms:g} ms, GraphQL p95 < {slo.graphql_p95_ms:g} ms, "
            f"errors < {slo.error_rate:.2%}"
        )
        out["canary_p95_target"] = f"{slo.api_p95_ms:g} ms"
        out["error_rate_target"] = f"{slo.error_rate:.2%}"
    p95 = _figure(tests, "http_req_duration{scenario:gateway}", "test_gateway_spot_latency")
    if p95:
        out["canary_p95"] = p95
    errors = _figure(tests, "http_req_failed")
    if errors:
        out["error_rate"] = errors
    lighthouse = root / "captures" / "lighthouse_budgets.json"
    if lighthouse.is_file():
        results = json.loads(lighthouse.read_text())
        scores, lcps = [], []
        for result in results.values():
            judged = {b["metric"]: b["value"] for b in result["budgets"]}
            scores.append(judged.get("performance score"))
            lcps.append(judged.get("LCP"))
        out["lighthouse_score"] = ", ".join(
            f"{s:g}" if s is not None else "missing" for s in scores
        )
        out["lighthouse_lcp"] = ", ".join(
            f"{v / 1000:.2f} s" if v is not None else "missing" for v in lcps
        )
    return out


def write_all(
    root: Path,
    settings: list[Any],
    folder: Path | None = None,
    tests: list[dict[str, Any]] | None = None,
) -> list[Path]:
    """comms/go-no-go.txt and comms/post-deploy.txt in the run folder."""
    context = values(root, settings, tests)
    out = []
    (root / FOLDER).mkdir(exist_ok=True)
    for kind in RUN_KINDS:
        path = root / FOLDER / f"{kind}.txt"
        path.write_text(render(kind, context, folder))
        out.append(path)
    return out


def send(settings: Any, text: str, on_request: RequestSink | None = None) -> str:
    """Post to the env's webhook if it has one; what happened, as one line for steps.log."""
    import os

    variable = settings.comms.webhook_env
    url = os.environ.get(variable, "") if variable else ""
    if not url:
        why = f"{variable} is not set" if variable else "[comms] webhook_env is not set"
        return f"not posted ({why})"
    return post(url, text, settings.timeout_s, on_request) or "posted to the webhook"


def post(
    url: str, text: str, timeout_s: float, on_request: RequestSink | None = None
) -> str | None:
    """POST {"text": ...} (Slack, Mattermost, Teams workflows); None, or why it failed."""
    from gonogo.clients.http import HttpClient
    from gonogo.errors import GonogoError, Unreachable
    from gonogo.redact import REDACTOR

    REDACTOR.add(url)  # the URL is the credential (and so masked in requests.jsonl)
    client = HttpClient(url, timeout_s=timeout_s, on_request=on_request)
    try:
        response = client.post(url, json={"text": text})
    except Unreachable as exc:
        return f"webhook post failed: {REDACTOR.text(exc.reason)}"
    except GonogoError as exc:  # an answer that cannot be read, a URL that is not one
        return f"webhook post failed: {REDACTOR.text(str(exc))}"
    finally:
        client.close()
    if response.status_code >= 300:
        return f"webhook post failed: HTTP {response.status_code} {response.text[:120]!r}"
    return None
