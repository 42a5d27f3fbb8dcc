"""What a run leaves behind: one small writer each, called in a declared order, the seal last.

The order is a fact of its own (`WRITERS`): the verdict before anything that says it,
the sandboxes stopped before the seal (their logs are evidence), the attestation after the
files it names. The seal happens on every way out: Ctrl-C during a writer (report.png can
take seconds) skips the writers left, and an internal error in one (a bug of gonogo's)
skips that one; each is said in steps.log, the bundle is sealed, then the interrupt or the
error goes on. A bundle without verdict.json is INCOMPLETE to `gonogo verdict`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections import Counter
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any, Protocol

from gonogo import __version__
from gonogo.errors import GonogoError
from gonogo.evidence import MANIFEST, Bundle, sha256_file
from gonogo.run import Run
from gonogo.run.envs import sink
from gonogo.run.verdict import ATTESTATION_FILE, attestation_statement
from gonogo.times import iso, utcnow

# Packages whose versions an auditor needs to reproduce the run.
RECORDED_PACKAGES = [
    "pytest", "pytest-xdist", "pytest-html", "httpx", "graphql-core", "pydantic", "neo4j",
    "confluent-kafka", "kubernetes", "prometheus-client", "PyJWT", "cryptography",
]  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Ending:
    """What every writer reads: the run, its open bundle, and how pytest ended."""

    run: Run
    bundle: Bundle
    rootdir: Path
    args: list[str]
    exitstatus: int


class Writer(Protocol):
    name: str  # as steps.log says it when it was not written

    def write(self, end: Ending) -> None: ...


class Judgement:
    name = "the verdict"

    def write(self, end: Ending) -> None:
        if end.run.outcomes.verdict is None:
            end.run.outcomes.judge(end.run.envs.required_gates, end.exitstatus)


class SandboxLogs:
    name = "sandbox logs"

    def write(self, end: Ending) -> None:
        end.run.envs.stop_sandboxes(end.bundle)


class UserReports:
    name = "junit.xml and report.html"

    def write(self, end: Ending) -> None:
        for source, name in ((end.run.user_junit, "junit.xml"), (end.run.user_html, "report.html")):
            if source and Path(source).is_file():
                target = end.bundle.root / name
                if Path(source).resolve() != target.resolve():
                    target.write_bytes(Path(source).read_bytes())


class VerdictFile:
    name = "verdict.json"

    def write(self, end: Ending) -> None:
        verdict = end.run.outcomes.verdict
        if verdict is None:
            raise RuntimeError("no verdict was judged")
        root = end.bundle.root
        (root / "verdict.json").write_text(json.dumps(verdict.as_dict(), indent=2) + "\n")
        table = end.run.outcomes.exceptions_file
        if table is not None and table.is_file():
            # Judged offline later (gonogo verdict) with the table as it was.
            (root / "policy-exceptions.md").write_bytes(table.read_bytes())
        end.bundle.log(f"verdict: {verdict.summary()}")


class Comms:
    """The war room's messages from this run's numbers; posted only with --announce."""

    name = "comms/"

    def write(self, end: Ending) -> None:
        from gonogo.day import comms

        envs, bundle = end.run.envs, end.bundle
        settings = [envs.settings(name) for name in envs.names]
        first = settings[0]
        templates = Path(first.comms.templates) if first.comms.templates else None
        written = comms.write_all(bundle.root, settings, templates, tests=end.run.outcomes.tests)
        bundle.log(f"comms written: {', '.join(p.name for p in written)}")
        if end.run.announce is None:
            return
        text = (bundle.root / comms.FOLDER / f"{end.run.announce}.txt").read_text()
        sent = comms.send(first, text, sink(bundle, first.name))
        bundle.log(f"--announce {end.run.announce}: {sent}")


class ReportPng:
    """The verdict banner as a person sees it, when Chromium is here."""

    name = "report.png"

    def write(self, end: Ending) -> None:
        from gonogo.run.report import screenshot

        html = end.bundle.root / "report.html"
        if not html.is_file():
            why_not: str | None = "no report.html"
        elif os.environ.get("GONOGO_REPORT_PNG", "1") == "0":
            why_not = "GONOGO_REPORT_PNG=0"
        else:
            why_not = screenshot(html, end.bundle.root / "report.png")
        end.bundle.log(f"report.png not rendered: {why_not}" if why_not else "report.png rendered")


class Attestation:
    """The in-toto test-result statement over the report files, for CI to sign."""

    name = ATTESTATION_FILE

    def write(self, end: Ending) -> None:
        verdict = end.run.outcomes.verdict
        assert verdict is not None
        root = end.bundle.root
        subjects = {
            name: sha256_file(root / name)
            for name in ("junit.xml", "report.html", "verdict.json")
            if (root / name).is_file()
        }
        configuration: list[dict[str, Any]] = []
        env_file = end.run.envs.env_file
        if env_file is not None and Path(env_file.path).is_file():
            path = Path(env_file.path)
            configuration.append({"name": path.name, "digest": {"sha256": sha256_file(path)}})
        commit = git(end.rootdir, "rev-parse", "HEAD")
        if commit:
            configuration.append({"name": "gonogo", "digest": {"gitCommit": commit}})
        statement = attestation_statement(
            subjects,
            verdict,
            end.run.outcomes.tests,
            configuration,
            url=os.environ.get("GONOGO_RUN_URL"),
        )
        (root / ATTESTATION_FILE).write_text(json.dumps(statement, indent=2) + "\n")


WRITERS: tuple[Writer, ...] = (
    Judgement(),
    SandboxLogs(),
    UserReports(),
    VerdictFile(),
    Comms(),
    ReportPng(),
    Attestation(),
)


def finish(run: Run, rootdir: Path, args: list[str], exitstatus: int) -> Path:
    """Every writer, then the seal, then the signature beside it. Returns the bundle folder."""
    bundle = run.bundle
    assert bundle is not None
    bundle.log(f"run finished: exit status {exitstatus}")
    end = Ending(run, bundle, rootdir, args, exitstatus)
    interrupted = False
    failure: Exception | None = None
    for writer in WRITERS:
        if interrupted:
            bundle.log(f"{writer.name} not written: the run was interrupted")
            continue
        try:
            writer.write(end)
        except KeyboardInterrupt:
            interrupted = True
            bundle.log(
                f"interrupted (Ctrl-C) while writing {writer.name}; sealing the bundle anyway"
            )
        except Exception as exc:
            failure = failure or exc
            bundle.log(
                f"{writer.name} not written: internal error {type(exc).__name__}: {exc}; "
                "sealing the bundle anyway (please report this)"
            )
    bundle.seal(meta(end))
    run.sealed = bundle.root
    # Nothing goes into the bundle now (steps.log is sealed): the signature is beside it.
    if not interrupted:
        try:
            run.signed = sign(end)
        except KeyboardInterrupt:
            interrupted = True
            run.signed = "not signed: interrupted (Ctrl-C) while signing"
        except GonogoError as exc:
            run.signed = f"NOT signed: {exc}"
        except Exception as exc:
            failure = failure or exc
            run.signed = f"NOT signed: internal error {type(exc).__name__}: {exc}"
    if interrupted:
        raise KeyboardInterrupt
    if failure is not None:
        raise failure
    return bundle.root


def sign(end: Ending) -> str | None:
    """After the seal: the test-result statement over bundle.json and the report files,
    signed as [evidence] says (gonogo.supplychain.signing). What was done, for the terminal."""
    from gonogo.supplychain import signing

    root, envs = end.bundle.root, end.run.envs.all
    chosen = next((e.evidence for e in envs if e.evidence.signing_key_env), None)
    keyless = any(e.evidence.keyless for e in envs)
    if chosen is None and not keyless:
        return None
    attestation = root / ATTESTATION_FILE
    statement = json.loads(attestation.read_text()) if attestation.is_file() else {}
    subjects = [s for s in statement.get("subject") or [] if s.get("name") != MANIFEST]
    subjects.append({"name": MANIFEST, "digest": {"sha256": sha256_file(root / MANIFEST)}})
    statement = {**statement, "subject": sorted(subjects, key=lambda s: str(s["name"]))}
    if chosen is not None and chosen.signing_key_env:
        variable = chosen.signing_key_env
        key = signing.load_private_key(os.environ.get(variable, ""), variable)
        envelope = signing.sign_keyed(statement, key)
        (root / signing.KEYED_FILE).write_text(json.dumps(envelope, indent=2) + "\n")
        return f"signed with the key in {variable}: {signing.KEYED_FILE}"
    (root / signing.KEYLESS_FILE).write_text(signing.sign_keyless(statement))
    return f"signed keyless (Sigstore): {signing.KEYLESS_FILE}"


def meta(end: Ending) -> dict[str, Any]:
    """bundle.json's account of the run, beside the files it seals."""
    run = end.run
    commit = git(end.rootdir, "rev-parse", "HEAD")
    status = git(end.rootdir, "status", "--porcelain") if commit else None
    tests = run.outcomes.tests
    return {
        "run": {
            "started": iso(run.started),
            "finished": iso(utcnow()),
            "exit_status": end.exitstatus,
            "args": end.args,
            "envs": run.envs.names,
        },
        "envs": {s.name: s.public() for s in run.envs.all},
        "suite": {
            "gonogo": __version__,
            "git_commit": commit,
            "git_dirty": bool(status) if status is not None else None,
            "python": sys.version.split()[0],
            "packages": package_versions(),
        },
        "summary": dict(Counter(str(t["outcome"]) for t in tests)),
        "required_gates": run.envs.required_gates,
        # Every check of the packs: `gonogo verdict` judges exception rows against them.
        "packs": [c.nodeid for c in run.outcomes.pack_checks()],
        "tests": tests,
    }


def git(rootdir: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(rootdir), *args],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in RECORDED_PACKAGES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = None
    return out
