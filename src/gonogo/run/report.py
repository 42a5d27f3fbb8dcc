"""HTML fragments for the self-contained report: the verdict banner and per-gate table."""

from __future__ import annotations

import hashlib
from html import escape
from pathlib import Path

from gonogo.run.verdict import Verdict, gate_lines
from gonogo.vocabulary import GATES

COLOURS = {
    "GO": "#1a7f37",
    "GO-WITH-EXCEPTIONS": "#9a6700",
    "NO-GO": "#cf222e",
    "INCOMPLETE": "#57606a",
}


GATE_COLOURS = {
    "passed": "#e6f4ea",
    "FAILED": "#fce8e6",
    "waived": "#fef7e0",
    "incomplete": "#fef7e0",
    "not run": "#f1f3f4",
    "no checks": "#f1f3f4",
}


def row_anchor(nodeid: str) -> str:
    """The HTML id of a check's row (on its message cell): the gate table links to it."""
    return "gonogo-row-" + hashlib.sha256(nodeid.encode()).hexdigest()[:16]


def verdict_banner(verdict: Verdict) -> str:
    """The verdict, and a row a gate coloured by its status: its failing or unrun checks by
    name, each a link to its row, or the numbers that matter (measured against their
    limits), before any detail."""
    colour = COLOURS[verdict.decision]
    rows = []
    for line in gate_lines(verdict):
        required = "required" if line.gate in verdict.required_gates else ""

        def linked(names: list[str], nodeids: dict[str, str] = line.nodeids) -> str:
            return ", ".join(
                f'<a href="#{row_anchor(nodeids[n])}">{escape(n)}</a>'
                if n in nodeids
                else escape(n)
                for n in names
            )

        detail = escape("; ".join(line.numbers))
        if line.red:
            detail = "red: " + linked(line.red)
        elif line.unrun and line.gate in verdict.required_gates:
            detail = "not run: " + linked(line.unrun)
        rows.append(
            f'<tr style="background:{GATE_COLOURS.get(line.status, "#fff")}">'
            f"<td>{escape(line.gate)}</td><td>{escape(GATES.get(line.gate, ''))}</td>"
            f"<td>{required}</td><td><b>{escape(line.status)}</b> {escape(line.counts)}</td>"
            f"<td>{detail}</td></tr>"
        )
    return (
        f'<div id="gonogo-verdict" style="border:3px solid {colour};padding:12px;margin:12px 0">'
        f'<h2 style="color:{colour};margin:0">Verdict: {escape(verdict.decision)}</h2>'
        f"<p>{escape(verdict.summary())}</p>"
        '<table id="gonogo-gates" border="1" cellpadding="4" style="border-collapse:collapse">'
        "<tr><th>gate</th><th>what</th><th></th><th>status</th><th>red, or the numbers</th></tr>"
        + "".join(rows)
        + "</table></div>"
    )


# Flags for Debian's Chromium here: no sandbox as root, and no background
# networking, whose connections this closed network refuses noisily.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str | None:
    """Debian's Chromium, if installed; Playwright drives it (no browser download)."""
    import shutil

    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(html: Path, png: Path, timeout_s: float = 30.0) -> str | None:
    """Render the report in headless Chromium and save the top of it as a PNG.

    Returns None on success, else why not (no browser, no Playwright, a failure),
    so a run never fails for want of a picture.
    """
    executable = chromium()
    if executable is None:
        return "no chromium on PATH (apt-get install chromium)"
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        return "playwright is not installed (pip install 'gonogo[screenshot]')"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=executable, args=CHROMIUM_ARGS, timeout=timeout_s * 1000
            )
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(html.resolve().as_uri(), timeout=timeout_s * 1000)
                page.wait_for_selector("#gonogo-verdict", timeout=timeout_s * 1000)
                page.screenshot(path=str(png), full_page=False)
            finally:
                browser.close()
    except Error as exc:
        return f"chromium could not render {html.name}: {str(exc).splitlines()[0]}"
    return None
