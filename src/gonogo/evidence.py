"""The evidence bundle: what a run saw, sealed with hashes.

A bundle is one folder per run, `reports/<env>/<UTC timestamp>/` (several
envs: `reports/<env1>+<env2>/<ts>/` with one captures folder per env), that
an auditor can read without gonogo:

    junit.xml      the CI result            report.html   the self-contained report
    steps.log      timestamped steps        captures/     what each check saw
    bundle.json    every other file with its sha256 and size, the env's
                   non-secret settings, suite commit and versions, timings,
                   and each test's outcome

Writers here are safe to call from several processes at once (pytest-xdist
workers write captures straight into the controller's folder): captures are
created with O_EXCL so two checks never overwrite each other, and log lines
are single appends. Everything passes through the redactor before it
touches the disk; `seal` scans the finished files once more as a last net.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
import json
import os
import re
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gonogo.errors import BundleError
from gonogo.redact import REDACTOR
from gonogo.times import iso, utcnow

SCHEMA = "gonogo.bundle/v1"
MANIFEST = "bundle.json"
STEPS = "steps.log"
CAPTURES = "captures"

# The test that is running in this process, so request records can name it.
CURRENT_TEST: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "gonogo_current_test", default=None
)

_SAFE_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=@-]*$")


def cite(path: Path | None) -> str:
    """A capture as a failure message names it (checks.says): the path to open at 3 a.m."""
    if path is None:
        return "no capture (the run has no evidence bundle)"
    try:
        return os.path.relpath(path)
    except ValueError:
        return str(path)


def new_run_dir(evidence_dir: Path, env_names: list[str], now: dt.datetime | None = None) -> Path:
    """Create a fresh run folder; never reuse one (a second run in the same second gets -2)."""
    stamp = (now or utcnow()).strftime("%Y%m%dT%H%M%SZ")
    base = evidence_dir / "+".join(env_names)
    base.mkdir(parents=True, exist_ok=True)
    for n in range(1, 1000):
        candidate = base / (stamp if n == 1 else f"{stamp}-{n}")
        try:
            candidate.mkdir()
        except FileExistsError:
            continue
        return candidate
    raise BundleError(f"cannot create a run folder under {base}: too many runs in one second")


def to_bytes(content: Any) -> bytes:
    if isinstance(content, bytes):
        return content
    if isinstance(content, str):
        return content.encode("utf-8")
    return (json.dumps(content, indent=2, sort_keys=False, default=str) + "\n").encode("utf-8")


def _check_relpath(name: str) -> str:
    parts = name.replace("\\", "/").split("/")
    if not name or any(not _SAFE_PART.match(p) for p in parts):
        raise ValueError(
            f"capture name {name!r} must be a relative path of plain names "
            "(letters, digits, . _ - + = @), like 'healthz.json' or 'load/summary.json'"
        )
    return "/".join(parts)


def _exclusive_path(path: Path) -> tuple[Path, int]:
    """Open a new file at path, or at path-2, path-3...; returns the path and its fd."""
    stem, suffix = path.stem, path.suffix
    for n in range(1, 10_000):
        candidate = path if n == 1 else path.with_name(f"{stem}-{n}{suffix}")
        try:
            fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            continue
        return candidate, fd
    raise BundleError(f"too many captures named like {path}")


class Bundle:
    """A run folder being written. Create with `Bundle.create`, or attach to one (xdist)."""

    def __init__(self, root: Path, env_names: list[str]) -> None:
        self.root = root
        self.env_names = env_names

    @classmethod
    def create(cls, evidence_dir: Path, env_names: list[str]) -> Bundle:
        return cls(new_run_dir(evidence_dir, env_names), env_names)

    def captures_dir(self, env: str | None) -> Path:
        base = self.root / CAPTURES
        if env is not None and len(self.env_names) > 1:
            base = base / env
        return base

    def save(self, env: str | None, name: str, content: Any) -> Path:
        """Write one capture, redacted, under a name no other check has taken."""
        rel = _check_relpath(name)
        target = self.captures_dir(env) / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        path, fd = _exclusive_path(target)
        if isinstance(content, dict | list):
            content = REDACTOR.obj(content)  # secret-named keys masked whole
        with os.fdopen(fd, "wb") as fh:
            fh.write(REDACTOR.data(to_bytes(content)))
        return path

    def append_jsonl(self, env: str | None, name: str, record: dict[str, Any]) -> None:
        path = self.captures_dir(env) / _check_relpath(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        line = json.dumps(REDACTOR.obj(record), default=str) + "\n"
        _append(path, line)

    def request_log(self, env: str | None) -> Callable[[Any], None]:
        """The sink gonogo.clients.http calls with each request's record (`as_dict()`): one
        line in the env's requests.jsonl, redacted like every other write."""
        # The seam knows no test: the sink names the one in progress (CURRENT_TEST).
        return lambda record: self.append_jsonl(
            env, "requests.jsonl", {**record.as_dict(), "test": CURRENT_TEST.get()}
        )

    def log(self, message: str) -> None:
        """One timestamped line in steps.log, like the bash script's log()."""
        _append(self.root / STEPS, f"[{iso(utcnow())}] {REDACTOR.text(message)}\n")

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def seal(self, meta: dict[str, Any]) -> Path:
        """Redact what other writers left (last net), hash every file, write bundle.json."""
        for path in _files(self.root):
            _scrub(path)
        files = [_entry(self.root, p) for p in _files(self.root)]
        document = {"schema": SCHEMA, **REDACTOR.obj(meta), "files": files}
        target = self.root / MANIFEST
        target.write_text(json.dumps(document, indent=2, default=str) + "\n", encoding="utf-8")
        return target


def _append(path: Path, text: str) -> None:
    # O_APPEND + one write: lines from several processes never interleave mid-line.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


# Written after bundle.json (gonogo.supplychain.signing), so never listed in it: its signature.
SIGNATURES = ("attestation.intoto.dsse.json", "attestation.intoto.sigstore.json")


def _files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.relative_to(root).as_posix() not in (MANIFEST, *SIGNATURES):
            yield path


def _unsafe(root: Path) -> list[str]:
    """Every link (to a file or a folder) and every non-regular file under root, unfollowed."""
    found = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            if path.is_symlink() or not (path.is_dir() or stat.S_ISREG(path.lstat().st_mode)):
                found.append(path.relative_to(root).as_posix())
    return sorted(found)


def _scrub(path: Path) -> None:
    data = path.read_bytes()
    cleaned = REDACTOR.data(data)
    if cleaned != data:
        path.write_bytes(cleaned)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _entry(root: Path, path: Path) -> dict[str, Any]:
    return {
        "path": path.relative_to(root).as_posix(),
        "sha256": sha256_file(path),
        "size": path.stat().st_size,
    }


@dataclass
class Verification:
    """What `verify_bundle` found; `ok` only when nothing is missing, added or changed."""

    root: Path
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    # Links and special files: a link can point outside the bundle (a "capture" that is
    # really /etc/passwd, or a folder elsewhere), so none is trusted, listed or not.
    unsafe: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.added or self.changed or self.unsafe)

    @property
    def problems(self) -> int:
        return len(self.missing) + len(self.added) + len(self.changed) + len(self.unsafe)

    def lines(self) -> list[str]:
        out = [f"unsafe: {p} (a bundle holds regular files, not links)" for p in self.unsafe]
        out += [f"missing: {p} (listed in {MANIFEST}, not on disk)" for p in self.missing]
        out += [f"added: {p} (on disk, not listed in {MANIFEST})" for p in self.added]
        out += [f"changed: {p} (sha256 or size differs from {MANIFEST})" for p in self.changed]
        return out


def load_manifest(root: Path) -> dict[str, Any]:
    manifest = root / MANIFEST
    if not root.is_dir():
        raise BundleError(
            f"{root}: not a folder; pass the run folder, like reports/green/<timestamp>"
        )
    try:
        document = json.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BundleError(
            f"{root}: no {MANIFEST}; this is not a sealed gonogo bundle (was the run interrupted?)"
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{manifest}: not valid JSON ({exc}); the manifest is damaged") from None
    if not isinstance(document, dict) or document.get("schema") != SCHEMA:
        raise BundleError(f"{manifest}: not a {SCHEMA} manifest")
    files = document.get("files")
    if not isinstance(files, list) or not all(
        isinstance(f, dict) and {"path", "sha256", "size"} <= set(f) for f in files
    ):
        raise BundleError(f"{manifest}: 'files' must list {{path, sha256, size}} entries")
    return document


def verify_bundle(root: Path) -> Verification:
    """Compare every file on disk with bundle.json."""
    document = load_manifest(root)
    result = Verification(root=root)
    listed = {f["path"]: f for f in document["files"]}
    result.unsafe = _unsafe(root)
    on_disk = {
        p.relative_to(root).as_posix(): p
        for p in _files(root)
        if p.relative_to(root).as_posix() not in result.unsafe
    }
    for rel, entry in sorted(listed.items()):
        path = on_disk.get(rel)
        if path is None:
            if rel not in result.unsafe:
                result.missing.append(rel)
            continue
        result.checked += 1
        if path.stat().st_size != entry["size"] or sha256_file(path) != entry["sha256"]:
            result.changed.append(rel)
    result.added = sorted(set(on_disk) - set(listed))
    return result


class Captures:
    """What one check saves: the `evidence` fixture, bound to a test and its env.

    `save` returns the path, and `cite` gives the form to put in a failure
    message, so a person at 3 a.m. can open exactly what the check saw.
    """

    def __init__(
        self,
        bundle: Bundle | None,
        env: str | None,
        test: str,
        properties: list[tuple[str, object]] | None = None,
    ) -> None:
        self.bundle = bundle
        self.env = env
        self.test = test
        # The test's user properties: each capture is listed there, so JUnit
        # and bundle.json name it beside the test's outcome.
        self.properties = properties if properties is not None else []
        self.saved: list[Path] = []

    def save(self, name: str, content: Any) -> Path | None:
        if self.bundle is None:
            return None
        path = self.bundle.save(self.env, name, content)
        self.saved.append(path)
        self.properties.append(("capture", self.bundle.relative(path)))
        return path

    def attach(self, path: Path) -> None:
        """A file already in the bundle (written by another process), listed as this
        check's capture and shown in its HTML row."""
        if self.bundle is None or path in self.saved:
            return
        self.saved.append(path)
        self.properties.append(("capture", self.bundle.relative(path)))

    def measured(self, value: float, limit: float, unit: str = "") -> None:
        """The number a check judged and its limit: they go to bundle.json and verdict.json."""
        self.properties += [("value", f"{value:g}{unit}"), ("limit", f"{limit:g}{unit}")]

    def step(self, message: str) -> None:
        if self.bundle is not None:
            where = f" [{self.env}]" if self.env else ""
            self.bundle.log(f"{self.test}{where}: {message}")

    def cite(self, path: Path | None) -> str:
        return cite(path)
