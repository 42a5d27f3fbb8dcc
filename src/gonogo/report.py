"""HTML fragments for the self-contained report: the verdict banner and per-gate table."""

from __future__ import annotations

from html import escape

from gonogo.verdict import GATES, Verdict

COLOURS = {
    "GO": "#1a7f37",
    "GO-WITH-EXCEPTIONS": "#9a6700",
    "NO-GO": "#cf222e",
    "INCOMPLETE": "#57606a",
}


def verdict_banner(verdict: Verdict) -> str:
    colour = COLOURS[verdict.decision]
    rows = []
    for gate, checks in verdict.gates.items():
        counts: dict[str, int] = {}
        for check in checks:
            counts[str(check["outcome"])] = counts.get(str(check["outcome"]), 0) + 1
        required = "required" if gate in verdict.required_gates else ""
        outcome = ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))
        rows.append(
            f"<tr><td>{escape(gate)}</td><td>{escape(GATES.get(gate, ''))}</td>"
            f"<td>{required}</td><td>{escape(outcome)}</td></tr>"
        )
    for gate in verdict.empty_required_gates:
        rows.append(
            f"<tr><td>{escape(gate)}</td><td>{escape(GATES.get(gate, ''))}</td>"
            "<td>required</td><td>no checks</td></tr>"
        )
    return (
        f'<div id="gonogo-verdict" style="border:3px solid {colour};padding:12px;margin:12px 0">'
        f'<h2 style="color:{colour};margin:0">Verdict: {escape(verdict.decision)}</h2>'
        f"<p>{escape(verdict.summary())}</p>"
        '<table id="gonogo-gates" border="1" cellpadding="4" style="border-collapse:collapse">'
        "<tr><th>gate</th><th>what</th><th></th><th>outcomes</th></tr>"
        + "".join(rows)
        + "</table></div>"
    )
