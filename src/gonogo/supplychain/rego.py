"""Rego policies, evaluated in-process with regopy (Microsoft's rego-cpp, a real Rego engine).

Every `.rego` file of the policies folders is loaded (the shipped ones, then the
project's), so a team adds a rule by adding a file: a `deny` rule in package
`gonogo.manifests` (input: the rendered manifests' documents) or `gonogo.values`
(input: the chart's values) runs with the shipped ones. A `deny` entry is an object
naming what to fix (gonogo prints its fields) or a plain string.

Policies return objects rather than sprintf'd strings on purpose: regopy
1.5 renders some strings from `sprintf("%s")`/`%v` with their quotes into its
JSON output, which then does not parse.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gonogo.errors import ConfigError


def compile_error(path: Path, source: str, error: Exception) -> ConfigError:
    """regopy's s-expression error as one line: file:line: message."""
    text = str(error)
    message = re.search(r"errormsg \d+:([^)\n]*)", text)
    where = re.search(r"error \d+:[^|]*\|(\d+)\|", text)
    line = source.count("\n", 0, int(where.group(1))) + 1 if where else 1
    cause = message.group(1).strip() if message else text.splitlines()[0]
    return ConfigError(f"{path}:{line}: Rego policy does not compile: {cause}")


def evaluate(policies: Path | Sequence[Path], package: str, data: Any) -> list[Any]:
    """Every `deny` entry of `data.gonogo.<package>` for this input, in a stable order."""
    from regopy import Interpreter

    folders = [policies] if isinstance(policies, Path) else list(policies)
    files = [path for folder in folders for path in sorted(folder.glob("*.rego"))]
    if not files:
        where = ", ".join(str(f) for f in folders) or "no folder"
        raise ConfigError(f"no Rego policies in {where}; the digest-pinning gate needs them")
    rego = Interpreter()
    for path in files:
        source = path.read_text(encoding="utf-8")
        try:
            rego.add_module(str(path), source)
        except Exception as exc:  # RegoError; rego-cpp also prints a banner to stdout
            raise compile_error(path, source, exc) from None
    rego.set_input(data)
    try:
        output = rego.query(f"data.gonogo.{package}.deny")
    except Exception as exc:
        raise ConfigError(f"Rego query data.gonogo.{package}.deny failed: {exc}") from None
    expressions = json.loads(str(output)).get("expressions") or [[]]
    return sorted(expressions[0] or [], key=describe)


def describe(entry: Any) -> str:
    """One line for a deny entry: its fields, then its problem."""
    if not isinstance(entry, dict):
        return str(entry)
    fields = []
    for key, value in entry.items():
        if key == "problem":
            continue
        shown = ".".join(map(str, value)) if isinstance(value, list) else value
        shown = '""' if shown == "" else shown
        fields.append(f"{key} {shown}")
    return ", ".join(fields) + (f": {entry['problem']}" if "problem" in entry else "")
