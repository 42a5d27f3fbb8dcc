"""Every check the packs hold, read from their source: what "required" means, whatever ran.

A run's selection decides what pytest collects: node ids, file paths, `-k`,
`-m`, `--deselect`, `--lf`, any plugin. Only `-k`, `-m` and `--deselect` tell
the plugin what they dropped (pytest_deselected); a node id or a path leaves the
rest of the packs uncollected without a word, and a plugin may drop items
silently. So the verdict does not learn "required" from the session: it reads
the packs' files themselves (their `test_*` functions, module `pytestmark` and
decorators), the same for every selection, and counts each required check the
run has no outcome for as not run. The same list judges a policy exception's
Check (a `*` that would waive a whole pack is void even when the run collected
one file).

The packs are a folder of the package (gonogo/packs), or the one an ini names
(`gonogo_packs`); their node ids are what pytest gives them (gonogo.layout.nodeid_prefix).

Static on purpose: no import of a pack module, no second pytest session, no
subprocess; `tests/test_census.py` proves it equals pytest's own collection.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

from gonogo.vocabulary import PACKS


@dataclass(frozen=True)
class PackCheck:
    """One check function of a pack, as pytest names it without its parameters."""

    nodeid: str  # smoke/test_health.py::test_healthz (installed), src/gonogo/packs/... (checkout)
    pack: str  # the pack's marker: smoke
    gate: str  # its `gate` marker, else its pack
    drill: str | None = None  # opt-in drills are never required


Marks = list[tuple[str, list[str]]]


def _marks(node: ast.expr) -> Marks:
    """(name, string args) of each `pytest.mark.NAME(...)` / `mark.NAME` in an expression."""
    if isinstance(node, ast.List | ast.Tuple):
        return [m for element in node.elts for m in _marks(element)]
    call = node if isinstance(node, ast.Call) else None
    target = call.func if call is not None else node
    if not isinstance(target, ast.Attribute):
        return []
    owner = target.value
    is_mark = (isinstance(owner, ast.Attribute) and owner.attr == "mark") or (
        isinstance(owner, ast.Name) and owner.id == "mark"
    )
    if not is_mark:
        return []
    args = [str(a.value) for a in (call.args if call else []) if isinstance(a, ast.Constant)]
    return [(target.attr, args)]


def _module_marks(tree: ast.Module) -> Marks:
    found: Marks = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            found += _marks(node.value)
    return found


def _checks_of(path: Path, relative: str, pack: str) -> list[PackCheck]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    except (OSError, UnicodeDecodeError, SyntaxError):
        # pytest will say the same file fails to collect; the pack still counts it as
        # required, under a name that says where to look.
        return [PackCheck(f"{relative}::(the whole file: it does not parse)", pack, pack)]
    module = _module_marks(tree)
    out: list[PackCheck] = []

    def add(node: ast.stmt, prefix: str, inherited: Marks) -> None:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            return
        if not node.name.startswith("test"):
            return
        # The closest marker wins, as item.get_closest_marker: the function's own first.
        marks = [m for d in node.decorator_list for m in _marks(d)] + inherited
        gate = next((args[0] for name, args in marks if name == "gate" and args), pack)
        drill = next((args[0] for name, args in marks if name == "drill" and args), None)
        out.append(PackCheck(f"{relative}::{prefix}{node.name}", pack, gate, drill))

    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            own = [m for d in node.decorator_list for m in _marks(d)]
            for member in node.body:
                add(member, f"{node.name}::", own + module)
        else:
            add(node, "", module)
    return out


def census(packs: Path, prefix: str = "") -> list[PackCheck]:
    """Every check of the packs under `packs`, drills included, named as pytest names them
    (`prefix`: gonogo.layout.nodeid_prefix)."""
    packs = packs.resolve()
    found: list[PackCheck] = []
    for folder, (marker, _) in PACKS.items():
        base = packs / folder
        if not base.is_dir():
            continue
        for path in sorted(base.rglob("test_*.py")):
            found += _checks_of(path, prefix + path.relative_to(packs).as_posix(), marker)
    return found


def base(nodeid: str) -> str:
    """A node id without its parameters: what a census entry names."""
    head, _, _ = nodeid.partition("[")
    return head
