"""What the data-ops pack knows about migrations, down scripts and graph schemas.

Kept out of the pack so the rules can be read (and tested) without a
database: which files make up a release's migrations, which statements are
destructive (parsed with sqlglot, because a grep for "DROP" both misses
`ALTER TABLE t DROP COLUMN` written over two lines and flags `DROP INDEX`),
which Alembic revisions a database head implies, and how an expected graph
schema compares with the one a server reports.
"""

from __future__ import annotations

import ast
import hashlib
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gonogo import markdown
from gonogo.release import ReleaseError

RISKS = ("low", "medium", "high")
DOC_COLUMNS = ("Migration", "Down", "Risk", "Tested")
DOC_FILE = "data-ops.md"


def checksum(sql: str) -> str:
    """What a schema_migrations checksum column holds: the sha256 of the file's text."""
    return hashlib.sha256(sql.encode("utf-8")).hexdigest()


@dataclass
class Migration:
    version: str
    up: Path | None = None
    down: Path | None = None
    # Alembic: the revision this one follows, and whether downgrade() does anything.
    follows: tuple[str, ...] = ()
    has_downgrade: bool = False

    @property
    def source(self) -> Path:
        assert self.up is not None
        return self.up


def sql_migrations(folder: Path) -> list[Migration]:
    """NNNN_name.sql (or .up.sql) and NNNN_name.down.sql, in version order."""
    found: dict[str, Migration] = {}
    for path in sorted(folder.glob("*.sql")):
        name = path.name
        if name.endswith(".down.sql"):
            version = name.removesuffix(".down.sql")
            found.setdefault(version, Migration(version)).down = path
        else:
            version = name.removesuffix(".sql").removesuffix(".up")
            found.setdefault(version, Migration(version)).up = path
    orphans = [m.version for m in found.values() if m.up is None]
    if orphans:
        raise ReleaseError(
            f"{folder}: down migration(s) with no up migration: {', '.join(orphans)}; "
            "name them NNNN_name.down.sql beside NNNN_name.sql"
        )
    return [found[v] for v in sorted(found)]


def _assigned(tree: ast.Module, name: str) -> Any:
    for node in tree.body:
        target = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        if isinstance(target, ast.Name) and target.id == name:
            try:
                return ast.literal_eval(value)
            except ValueError:
                return None
    return None


def _function(tree: ast.Module, name: str) -> ast.FunctionDef | None:
    return next((n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name), None)


def _does_something(func: ast.FunctionDef | None) -> bool:
    if func is None:
        return False
    body = [
        n
        for n in func.body
        if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))  # docstrings
    ]
    return any(not isinstance(n, ast.Pass) for n in body)


def alembic_migrations(folder: Path) -> list[Migration]:
    """Alembic revision files (versions/*.py or *.py), read without importing them."""
    base = folder / "versions" if (folder / "versions").is_dir() else folder
    found = []
    for path in sorted(base.glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        except SyntaxError as exc:
            raise ReleaseError(f"{path}:{exc.lineno}: not valid Python ({exc.msg})") from None
        revision = _assigned(tree, "revision")
        if not isinstance(revision, str):
            continue  # env.py and helpers: not a revision
        down = _assigned(tree, "down_revision")
        follows = (down,) if isinstance(down, str) else tuple(down or ())
        found.append(
            Migration(
                revision,
                up=path,
                follows=follows,
                has_downgrade=_does_something(_function(tree, "downgrade")),
            )
        )
    return found


def alembic_applied(heads: Iterable[str], revisions: list[Migration]) -> set[str]:
    """Every revision a database at `heads` has applied: the heads and all they follow."""
    by_id = {m.version: m for m in revisions}
    applied: set[str] = set()
    todo = list(heads)
    while todo:
        rev = todo.pop()
        if rev in applied:
            continue
        applied.add(rev)
        if rev in by_id:
            todo.extend(by_id[rev].follows)
    return applied


# -- forward-only ---------------------------------------------------------------------


@dataclass
class Finding:
    where: str  # file:line
    statement: str
    why: str

    def __str__(self) -> str:
        return f"{self.where}: {self.why}: {self.statement}"


def _line_of(text: str, fragment: str, start: int = 0) -> int:
    at = text.find(fragment[:40], start)
    return text.count("\n", 0, at) + 1 if at >= 0 else 1


def destructive_sql(sql: str, source: str) -> list[Finding]:
    """DROP TABLE/SCHEMA/COLUMN, TRUNCATE and column type changes in a migration's SQL.

    A statement sqlglot cannot parse that begins with DROP, TRUNCATE or ALTER is
    reported too: unreadable is not the same as safe.
    """
    import sqlglot
    from sqlglot import exp

    logging.getLogger("sqlglot").setLevel(logging.ERROR)  # "falling back to Command" is noise
    try:
        statements = sqlglot.parse(sql, dialect="postgres")
    except sqlglot.errors.ParseError as exc:
        first = str(exc).splitlines()[0]
        return [Finding(source, "(whole file)", f"SQL that cannot be parsed ({first})")]
    findings = []
    for statement in statements:
        if statement is None:
            continue
        text = statement.sql(dialect="postgres", comments=False)
        where = f"{source}:{_line_of(sql, text.split()[0] if text else '')}"
        why = None
        if isinstance(statement, exp.Drop) and str(statement.args.get("kind")).upper() in {
            "TABLE",
            "SCHEMA",
            "VIEW",
            "MATERIALIZED VIEW",
        }:
            why = f"DROP {str(statement.args.get('kind')).upper()} destroys data"
        elif isinstance(statement, exp.TruncateTable):
            why = "TRUNCATE destroys data"
        elif isinstance(statement, exp.Alter):
            for action in statement.args.get("actions") or []:
                if (
                    isinstance(action, exp.Drop)
                    and str(action.args.get("kind")).upper() == "COLUMN"
                ):
                    why = "DROP COLUMN destroys data"
                elif isinstance(action, exp.AlterColumn) and action.args.get("dtype") is not None:
                    why = "a column type change rewrites (and may truncate) data"
        elif isinstance(statement, exp.Command):
            head = str(statement.this or "").upper()
            if head in {"DROP", "TRUNCATE", "ALTER"}:
                why = "a DROP/TRUNCATE/ALTER statement that could not be parsed: review it"
        if why:
            findings.append(Finding(where, " ".join(text.split())[:160], why))
    return findings


_ALEMBIC_DESTRUCTIVE = {
    "drop_table": "DROP TABLE destroys data",
    "drop_column": "DROP COLUMN destroys data",
}


def destructive_alembic(path: Path) -> list[Finding]:
    """Destructive op.* calls in upgrade(): drop_table/column, alter_column(type_=), execute."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    upgrade = _function(tree, "upgrade")
    findings: list[Finding] = []
    if upgrade is None:
        return findings
    for node in ast.walk(upgrade):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        name = node.func.attr
        where = f"{path}:{node.lineno}"
        call = ast.unparse(node)[:160]
        if name in _ALEMBIC_DESTRUCTIVE:
            findings.append(Finding(where, call, _ALEMBIC_DESTRUCTIVE[name]))
        elif name == "alter_column" and any(k.arg == "type_" for k in node.keywords):
            findings.append(Finding(where, call, "a column type change rewrites data"))
        elif name == "execute" and node.args and isinstance(node.args[0], ast.Constant):
            sql = node.args[0].value
            if isinstance(sql, str):
                findings += [
                    Finding(where, f.statement, f.why) for f in destructive_sql(sql, str(path))
                ]
    return findings


# -- down migrations documented ------------------------------------------------------------


@dataclass
class DownDoc:
    version: str
    line: int
    risk: str
    tested: str
    problems: list[str] = field(default_factory=list)


def read_down_docs(path: Path) -> dict[str, DownDoc]:
    """Rows of the data-ops document's Migration | Down | Risk | Tested table."""
    rows = markdown.table(path.read_text(encoding="utf-8"), DOC_COLUMNS)
    if not rows:
        raise ReleaseError(
            f"{path}: no table with columns {' | '.join(DOC_COLUMNS)}; add one row per down "
            "migration"
        )
    docs = {}
    for line, row in rows:
        version = row["migration"].strip("` ")
        version = re.sub(r"\.(down|up)?\.?sql$", "", version)
        doc = DownDoc(version, line, row["risk"].lower(), row["tested"].lower())
        if doc.risk not in RISKS:
            doc.problems.append(
                f"risk '{row['risk']}' is not one of {'/'.join(RISKS)}"
                if row["risk"]
                else "no risk rating"
            )
        if doc.tested not in {"yes", "y", "true", "✓", "x"}:
            doc.problems.append("not marked tested")
        docs[version] = doc
    return docs


# -- graph schema -----------------------------------------------------------------------


def schema_items(spec: dict[str, Any]) -> set[str]:
    """Indexes and constraints as comparable lines: `index node :Note(id)`."""
    items = set()
    for kind in ("indexes", "constraints"):
        for entry in spec.get(kind) or []:
            entity = str(entry.get("entity", "node")).lower()
            label = entry.get("label", "")
            props = ",".join(sorted(entry.get("properties") or []))
            extra = f" {entry['type']}" if kind == "constraints" and entry.get("type") else ""
            items.add(
                f"{kind[:-2] if kind == 'indexes' else kind[:-1]} {entity} :{label}({props}){extra}"
            )
    return items


def release_migrations(folder: Path, table: str) -> list[Migration]:
    """The release's migrations as the env's migration tool sees them."""
    found = alembic_migrations(folder) if table == "alembic_version" else sql_migrations(folder)
    if not found:
        raise ReleaseError(f"{folder}: no migrations found (NNNN_name.sql or Alembic revisions)")
    return found


def version_problems(expected: dict[str, Any], found: dict[str, str]) -> list[str]:
    """The Neo4j version and plugins the app image expects against dbms.components()."""
    problems = []
    wanted = {"version": expected.get("version"), **(expected.get("plugins") or {})}
    for name, version in wanted.items():
        if version is None:
            continue
        got = found.get(name)
        if got is None:
            problems.append(f"{name} {version} expected, not installed")
        elif got != str(version):
            problems.append(f"{name} {version} expected, server has {got}")
    return problems


def sequence_problems(
    records: list[tuple[int, bytes | None, bytes]],
    first: int,
    last: int,
    key: bytes,
    count: int,
    ordered: bool = True,
) -> list[str]:
    """Gaps, losses, duplicates and reordering in a numbered canary run.

    `records` is what was read back from offsets first..last; other producers'
    messages may sit between ours (a shared topic) and are not a fault, but a
    missing offset is, and so is any of our numbers missing, repeated or out of order.
    """
    problems = []
    offsets = [offset for offset, _, _ in records]
    missing = sorted(set(range(first, last + 1)) - set(offsets))
    if missing:
        shown = ", ".join(map(str, missing[:10])) + (" ..." if len(missing) > 10 else "")
        problems.append(f"{len(missing)} offset(s) missing between {first} and {last}: {shown}")
    ours = [int(value) for offset, k, value in records if k == key and value.isdigit()]
    lost = sorted(set(range(count)) - set(ours))
    if lost:
        problems.append(f"{len(lost)} of {count} numbered messages not read back: {lost[:10]}")
    repeated = sorted({n for n in ours if ours.count(n) > 1})
    if repeated:
        problems.append(f"message number(s) read more than once: {repeated[:10]}")
    if ordered and ours != sorted(ours):
        problems.append("messages read back out of the order they were produced")
    return problems
