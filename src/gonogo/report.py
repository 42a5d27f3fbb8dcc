"""HTML fragments for the self-contained report: the verdict banner and per-gate table."""

from __future__ import annotations

from html import escape
from pathlib import Path

from gonogo.verdict import Verdict
from gonogo.vocabulary import GATES

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
        return "playwright is not installed (pip install -e '.[dev]')"
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
