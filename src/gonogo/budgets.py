"""Performance budgets on Lighthouse results (Gate C).

A Lighthouse result (LHR) is judged on three numbers: the performance
category's score, Largest Contentful Paint and total byte weight. A metric
the result does not carry fails the budget ("fail closed"): Lighthouse
before 6.0 has no LCP audit and reports sizes as `rawValue`, and a page that
cannot be measured must not pass because a number was read as 0.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gonogo.config.slo import BudgetSettings
from gonogo.release import ReleaseError


@dataclass(frozen=True)
class Lighthouse:
    path: Path
    version: str
    url: str
    fetched: str
    score: float | None
    lcp_ms: float | None
    total_bytes: float | None


@dataclass(frozen=True)
class Judged:
    metric: str
    value: float | None
    limit: float
    unit: str
    ok: bool
    why: str

    def line(self) -> str:
        return f"{self.metric} {self.why}"


def _numeric(audits: dict[str, Any], name: str) -> float | None:
    audit = audits.get(name)
    if not isinstance(audit, dict):
        return None
    value = audit.get("numericValue")
    return float(value) if isinstance(value, int | float) else None


def read(path: Path) -> Lighthouse:
    """One LHR file; a file that is not one is a one-line error naming it."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        cause = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
        raise ReleaseError(f"{path}: not a readable Lighthouse JSON result ({cause})") from None
    if not isinstance(data, dict) or "lighthouseVersion" not in data or "audits" not in data:
        raise ReleaseError(
            f"{path}: not a Lighthouse result (no lighthouseVersion/audits); "
            "save it with `lighthouse --output=json`"
        )
    category = (data.get("categories") or {}).get("performance") or {}
    score = category.get("score")
    audits = data.get("audits") or {}
    return Lighthouse(
        path=path,
        version=str(data["lighthouseVersion"]),
        url=str(data.get("finalDisplayedUrl") or data.get("finalUrl") or data.get("requestedUrl")),
        fetched=str(data.get("fetchTime", "")),
        score=float(score) if isinstance(score, int | float) else None,
        lcp_ms=_numeric(audits, "largest-contentful-paint"),
        total_bytes=_numeric(audits, "total-byte-weight"),
    )


def judge(result: Lighthouse, budget: BudgetSettings) -> list[Judged]:
    out = []
    missing = f"missing from this result (Lighthouse {result.version}; budgets need 6.0 or newer)"
    rules = (
        ("performance score", result.score, budget.lighthouse_score, "", True),
        ("LCP", result.lcp_ms, budget.lcp_ms, " ms", False),
        ("total bytes", result.total_bytes, budget.total_kb * 1024, " B", False),
    )
    for metric, value, limit, unit, at_least in rules:
        if value is None:
            out.append(Judged(metric, None, limit, unit, False, missing))
            continue
        ok = value >= limit if at_least else value <= limit
        sign = ">=" if at_least else "<="
        why = f"{value:g}{unit} ({'within' if ok else 'over'} budget {sign} {limit:g}{unit})"
        out.append(Judged(metric, value, limit, unit, ok, why))
    return out
