"""The release under test: the folder of evidence CI produced for it.

An env names it (`release = "..."`, relative to the env file) or a run
passes `--release=DIR`. The packs read what they need from it and say in
one line which file is missing or malformed:

    migrations/          the release's SQL migrations (NNNN_name.sql, NNNN_name.down.sql)
                         or Alembic revisions (*.py)
    data-ops.md          a row per down migration: Migration | Down | Risk | Tested
    graph-schema.json    the graph's expected indexes and constraints (and Neo4j versions)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gonogo.errors import ConfigError, NotConfigured


class ReleaseError(ConfigError):
    """A release file is missing or malformed: names the file and what to fix."""


class Release:
    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def of(cls, env: str, release: str | None) -> Release:
        if not release:
            raise NotConfigured(
                env,
                "release",
                "the release's own files (migrations, schema)",
                fix=f'set release = "DIR" under [environments.{env}] or pass --release=DIR',
            )
        path = Path(release)
        if not path.is_dir():
            raise ReleaseError(
                f"env '{env}': release folder {path} does not exist; set release = \"DIR\" "
                "in the env file or pass --release=DIR"
            )
        return cls(path)

    def file(self, name: str, what: str) -> Path:
        path = self.path / name
        if not path.exists():
            raise ReleaseError(f"release {self.path}: {name} is missing ({what})")
        return path

    def json(self, name: str, what: str) -> Any:
        path = self.file(name, what)
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            at = f":{exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
            cause = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
            raise ReleaseError(
                f"{path}{at}: not valid JSON ({cause}); fix or regenerate it"
            ) from None

    @property
    def migrations(self) -> Path:
        return self.file("migrations", "the release's database migrations")
