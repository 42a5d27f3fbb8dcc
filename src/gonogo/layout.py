"""Where a run finds checks: the packs gonogo ships, the project's own checks, and the node ids
pytest gives them.

Light on purpose (pathlib only): the plugin's entry point reads it in every pytest run of
the venv, gonogo's or not.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from gonogo.vocabulary import PACKS

# The packs gonogo ships: gonogo/packs, one folder per pack (its name is the pack's marker).
SHIPPED_PACKS = Path(__file__).resolve().parent / "packs"
# The project's own checks, collected beside the packs when a run names no paths.
CHECKS_FOLDER = "checks"


def packs_folder(configured: Sequence[Path]) -> Path:
    """The ini's `gonogo_packs`, else the shipped packs."""
    return Path(configured[0]).resolve() if configured else SHIPPED_PACKS


def checks_folders(configured: Sequence[Path], rootpath: Path) -> list[Path]:
    """The ini's `gonogo_checks`, else the rootdir's checks/ when there is one."""
    if configured:
        return [Path(p).resolve() for p in configured]
    default = rootpath / CHECKS_FOLDER
    return [default.resolve()] if default.is_dir() else []


def nodeid_prefix(packs: Path, rootpath: Path) -> str:
    """What pytest puts before `smoke/test_x.py` in a pack check's node id: the packs' path
    from the rootdir when inside it (a checkout), else nothing (pytest names a file outside
    the rootdir from the collected argument that holds it: here the packs folder itself)."""
    try:
        relative = packs.resolve().relative_to(rootpath.resolve()).as_posix()
    except ValueError:
        return ""
    return "" if relative == "." else relative + "/"


def pack_of(path: Path, packs: Path) -> str | None:
    """The pack a file belongs to: its first folder under the packs folder, if a pack's."""
    try:
        first = path.resolve().relative_to(packs.resolve()).parts[0]
    except (ValueError, IndexError):
        return None
    return first if first in PACKS else None


def under(path: Path, folders: Sequence[Path]) -> bool:
    resolved = path.resolve()
    return any(resolved.is_relative_to(folder) for folder in folders)
