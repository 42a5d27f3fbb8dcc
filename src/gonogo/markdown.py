"""Markdown tables, the form people already keep release records in.

Policy exceptions and the data-ops document are tables a person edits in a
pull request; gonogo reads them where they are, keeping each row's line
number so a message can point at the row to fix.
"""

from __future__ import annotations

import re


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def table(text: str, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(line, row) for the first table whose header starts with `columns` (any case).

    Extra columns after them are kept; a short row reads missing cells as "".
    """
    rows: list[tuple[int, dict[str, str]]] = []
    header: list[str] | None = None
    wanted = [c.lower() for c in columns]
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip().startswith("|"):
            if header is not None and rows:
                break
            continue
        cells = _cells(line)
        if header is None:
            if [c.lower() for c in cells[: len(wanted)]] == wanted:
                header = [c.lower() for c in cells]
            continue
        if all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
            continue
        values = (cells + [""] * len(header))[: len(header)]
        rows.append((number, dict(zip(header, values, strict=True))))
    return rows
