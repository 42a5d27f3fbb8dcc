"""Markdown tables, the form people already keep release records in.

Policy exceptions and the data-ops document are tables a person edits in a
pull request; gonogo reads them where they are, keeping each row's line
number so a message can point at the row to fix.

A row is honoured only where a reviewer sees it rendered: table lines inside
an HTML comment or a code fence are not read as rows (`hidden()` lists them, so
the verdict can say they were ignored). Cells split on unescaped pipes, so
`a \\| b` is one cell, as GitHub renders it.
"""

from __future__ import annotations

import re

_PIPE = re.compile(r"(?<!\\)\|")
_DELIMITER = re.compile(r":?-+:?")


def _cells(line: str) -> list[str]:
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [c.strip().replace("\\|", "|") for c in _PIPE.split(inner)]


def _visible(text: str) -> list[tuple[int, str, bool]]:
    """(line number, line, rendered) for every line: False inside a comment or a fence."""
    out: list[tuple[int, str, bool]] = []
    in_comment = in_fence = False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not in_comment and stripped.startswith(("```", "~~~")):
            in_fence = not in_fence
            out.append((number, line, False))
            continue
        if in_fence:
            out.append((number, line, False))
            continue
        hidden = in_comment
        if "<!--" in line and "-->" not in line.split("<!--", 1)[1]:
            in_comment = True
            hidden = True
        elif in_comment and "-->" in line:
            in_comment = False
        elif "<!--" in line:  # a comment opened and closed on this line
            hidden = stripped.startswith("<!--") and stripped.endswith("-->")
        out.append((number, line, not hidden))
    return out


def table(text: str, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(line, row) for the first rendered table whose header starts with `columns` (any case).

    Extra columns after them are kept; a short row reads missing cells as "".
    """
    rows: list[tuple[int, dict[str, str]]] = []
    header: list[str] | None = None
    wanted = [c.lower() for c in columns]
    for number, line, rendered in _visible(text):
        if not rendered or not line.strip().startswith("|"):
            if header is not None and rows:
                break
            continue
        cells = _cells(line)
        if header is None:
            if [c.lower() for c in cells[: len(wanted)]] == wanted:
                header = [c.lower() for c in cells]
            continue
        if all(_DELIMITER.fullmatch(c) for c in cells):
            continue
        values = (cells + [""] * len(header))[: len(header)]
        rows.append((number, dict(zip(header, values, strict=True))))
    return rows


def hidden(text: str) -> list[int]:
    """Line numbers of table rows a reader never sees (in a comment or a code fence)."""
    out = []
    for number, line, rendered in _visible(text):
        bare = line.strip().removeprefix("<!--").removesuffix("-->").strip()
        delimiter = all(_DELIMITER.fullmatch(c) for c in _cells(bare))
        if not rendered and bare.startswith("|") and not delimiter:
            out.append(number)
    return out
