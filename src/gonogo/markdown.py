"""Markdown tables, the form people already keep release records in.

Policy exceptions and the data-ops document are tables a person edits in a
pull request; gonogo reads them where they are, keeping each row's line
number so a message can point at the row to fix.

A row is honoured only where a reviewer sees it rendered as a table row, so the
document is read as GitHub renders it: by a CommonMark parser with the GFM
table extension (markdown-it-py), never by a line scanner of our own. Fences of
either marker and any length, indented code, HTML blocks (comments) and lines
that only look like a table are what the parser says they are; `hidden()` lists
every table-looking line the parser did not render as a table row, so the
verdict can say it was ignored. A cell's value is its text as rendered: `a \\| b`
is one cell, `` `test_x` `` reads `test_x`, an inline comment is gone; then it is
normalized (`normalize`), so invisible characters cannot make a placeholder look filled.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

from markdown_it import MarkdownIt
from markdown_it.token import Token

_DELIMITER = re.compile(r":?-+:?")
_PIPE = re.compile(r"(?<!\\)\|")


@cache
def _parser() -> MarkdownIt:
    # CommonMark (raw HTML on, as GitHub parses it before sanitising) plus GFM tables.
    return MarkdownIt("commonmark").enable("table")


def normalize(cell: str) -> str:
    """A cell as its meaning, not its bytes: NFKC, no Unicode format characters (Cf: zero-width
    spaces and joiners, bidi marks), no surrounding white space. `-` plus a zero-width space
    then reads `-`, a placeholder, as a reviewer sees it."""
    text = unicodedata.normalize("NFKC", cell)
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf").strip()


def _text(inline: Token) -> str:
    """A cell's text as a reader sees it: code spans' contents, no markup, no HTML."""
    parts: list[str] = []
    for child in inline.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    return normalize("".join(parts))


def _tables(text: str) -> list[tuple[list[str], list[tuple[int, list[str]]], range]]:
    """Every rendered table: its header cells, its body rows (1-based line, cells), and the
    source lines (0-based) it spans."""
    out: list[tuple[list[str], list[tuple[int, list[str]]], range]] = []
    row: list[str] | None = None
    line = 0
    in_head = False
    for token in _parser().parse(text):
        if token.type == "table_open":
            span = range(*token.map) if token.map else range(0)
            out.append(([], [], span))
        elif token.type == "thead_open":
            in_head = True
        elif token.type == "thead_close":
            in_head = False
        elif token.type == "tr_open":
            row, line = [], (token.map[0] + 1 if token.map else 0)
        elif token.type == "inline" and row is not None:
            row.append(_text(token))
        elif token.type == "tr_close" and row is not None:
            header, rows, _ = out[-1]
            if in_head:
                header.extend(row)
            else:
                rows.append((line, row))
            row = None
    return out


def table(text: str, columns: tuple[str, ...]) -> list[tuple[int, dict[str, str]]]:
    """(line, row) for the first rendered table whose header starts with `columns` (any case).

    Extra columns after them are kept; a short row reads missing cells as "".
    """
    wanted = [c.lower() for c in columns]
    for header, rows, _ in _tables(text):
        names = [c.lower() for c in header]
        if names[: len(wanted)] != wanted:
            continue
        return [
            (number, dict(zip(names, (cells + [""] * len(names))[: len(names)], strict=True)))
            for number, cells in rows
        ]
    return []


def hidden(text: str) -> list[int]:
    """Line numbers of table-looking rows a reader never sees as a table row: in a fence,
    an indented code block, a comment or other HTML block, or a paragraph the parser did
    not make a table of."""
    rendered: set[int] = set()
    for _, _, span in _tables(text):
        rendered.update(span)
    out = []
    # Lines as the parser counts them (str.splitlines also breaks at \f, \v and U+2028).
    for index, line in enumerate(re.split(r"\r\n|\r|\n", text)):
        bare = line.strip().removeprefix("<!--").removesuffix("-->").strip()
        if index in rendered or not bare.startswith("|"):
            continue
        inner = bare.strip("|")
        if all(_DELIMITER.fullmatch(c.strip()) for c in _PIPE.split(inner)):
            continue  # a delimiter row says nothing to honour
        out.append(index + 1)
    return out
