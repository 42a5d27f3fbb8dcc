"""One verification run: its envs, bundle, outcomes, exceptions, sandboxes and verdict.

The pytest plugin feeds a `Run` (settings at configure, every test report,
what -m/-k deselected) and calls `finish()` once; everything the run leaves
behind is written here, in order: sandbox logs closed, verdict.json, the
exceptions table as judged, report.png, the in-toto statement, and last
bundle.json over all of it. Nothing here imports pytest: reports are read by
the attributes pytest's TestReport has.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from gonogo import __version__
from gonogo.census import PackCheck, base, census
from gonogo.clients.http import RequestSink
from gonogo.config import EnvFile, EnvSettings
from gonogo.env import Environment, filled
from gonogo.errors import GonogoError, SandboxError
from gonogo.evidence import MANIFEST, Bundle, _append, sha256_file
from gonogo.times import iso, utcnow
from gonogo.verdict import (
    ATTESTATION_FILE,
    PolicyException,
    Verdict,
    attestation_statement,
    judge,
    validate,
)
from gonogo.vocabulary import PACK_GATES

COLLECTION_FILE = ".gonogo-collection.jsonl"  # workers' deselections; folded into bundle.json
NOT_COLLECTED = (
    "not collected: this run's selection (node ids, paths, --lf or a plugin) left it out; "
    "run the packs whole (pytest -m PACK --env NAME) to judge it"
)

# Packages whose versions an auditor needs to reproduce the run.
RECORDED_PACKAGES = [
    "pytest", "pytest-xdist", "pytest-html", "httpx", "gql", "pydantic", "neo4j",
    "confluent-kafka", "kubernetes", "prometheus-client", "PyJWT", "cryptography",
]  # fmt: skip


@dataclasses.dataclass
class SandboxRun:
    """A sandbox env's stack for this run: started on the controller, described to workers."""

    info: Any = None  # gonogo.sandbox.stack.StackInfo, imported only when a sandbox runs
    error: str | None = None
    stack: Any = None  # the Stack itself, on the process that owns the children

    def to_json(self) -> str:
        return json.dumps(
            {"info": self.info.model_dump() if self.info else None, "error": self.error}
        )

    @classmethod
    def from_json(cls, text: str) -> SandboxRun:
        data = json.loads(text)
        if not data["info"]:
            return cls(error=data["error"])
        from gonogo.sandbox.stack import StackInfo

        return cls(info=StackInfo.model_validate(data["info"]), error=data["error"])


def message(report: Any) -> str | None:
    """The one line that says why: a skip's reason, or a failure's crash message."""
    longrepr = report.longrepr
    if longrepr is None:
        return None
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        # gonogo's own errors are a cause and a fix already; their class path is noise.
        return _OWN_ERROR.sub("", str(crash.message))
    text = str(longrepr).strip().splitlines()
    return _OWN_ERROR.sub("", text[-1]) if text else None


_OWN_ERROR = re.compile(r"^gonogo(\.\w+)+: ")


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


@dataclasses.dataclass
class Run:
    envs: list[EnvSettings]
    env_file: EnvFile | None = None
    bundle: Bundle | None = None
    is_worker: bool = False
    started: dt.datetime = dataclasses.field(default_factory=utcnow)
    results: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    sealed: Path | None = None
    user_junit: str | None = None
    user_html: str | None = None
    faults: dict[str, str | None] = dataclasses.field(default_factory=dict)
    dialects: list[str] = dataclasses.field(default_factory=list)
    # --expect-weights: what test_route_weights expects, and where a local edge starts.
    expected_weights: dict[str, float] | None = None
    sandboxes: dict[str, SandboxRun] = dataclasses.field(default_factory=dict)
    exceptions_file: Path | None = None
    exceptions: list[PolicyException] = dataclasses.field(default_factory=list)
    deselected_items: list[Any] = dataclasses.field(default_factory=list)  # pytest items
    load_announced: bool = False  # the load targets were printed (once, before any load)
    verdict: Verdict | None = None
    # --announce KIND: post that message to the env's webhook at the end of the run.
    announce: str | None = None
    # Said at the start and kept in steps.log (a secret too short to mask safely).
    warnings: list[str] = dataclasses.field(default_factory=list)
    # How the sealed bundle was signed (gonogo.signing), said with its path at the end.
    signed: str | None = None
    # Where the packs are (the rootdir): "required" is every check they hold (gonogo.census).
    packs_root: Path | None = None
    _pack_checks: list[PackCheck] | None = dataclasses.field(default=None, repr=False)

    @property
    def env_names(self) -> list[str]:
        return [e.name for e in self.envs]

    # -- opening an env -----------------------------------------------------------

    def declared(self, name: str) -> EnvSettings:
        """The env's settings as the env file (and --release) gave them."""
        return next(s for s in self.envs if s.name == name)

    def settings(self, name: str) -> EnvSettings:
        """The env's settings as its checks see them: a running sandbox's addresses filled in."""
        sandbox = self.sandboxes.get(name)
        return filled(self.declared(name), sandbox.info if sandbox is not None else None)

    def open(self, name: str) -> Environment:
        """The env for this run's checks, its requests recorded into the bundle."""
        settings = self.declared(name)
        info = None
        if settings.sandbox:
            sandbox = self.sandboxes.get(name)
            if sandbox is None or sandbox.info is None:
                cause = sandbox.error if sandbox is not None else "it was not started for this run"
                raise SandboxError(f"env '{name}': the local environment is not up: {cause}")
            info = sandbox.info
        return Environment.open(settings, info, self.requests_sink(name))

    def requests_sink(self, name: str) -> RequestSink | None:
        """Every request made for the env, one line each in its captures' requests.jsonl."""
        return self.bundle.request_log(name) if self.bundle is not None else None

    @property
    def required_gates(self) -> list[str]:
        gates: list[str] = []
        for settings in self.envs:
            gates += [g for g in settings.required_gates if g not in gates]
        return gates

    # -- outcomes -----------------------------------------------------------------

    def record(self, report: Any) -> None:
        """Fold one phase's report into the test's entry (called on the controller)."""
        props = dict(report.user_properties)
        entry = self.results.setdefault(
            report.nodeid,
            {
                "nodeid": report.nodeid,
                "env": props.get("env"),
                "markers": sorted(k for k in report.keywords if k in PACK_GATES),
                "outcome": None,
                "duration_s": 0.0,
                "message": None,
                "captures": [],
            },
        )
        entry["duration_s"] = round(entry["duration_s"] + report.duration, 6)
        # Each phase's report carries all captures so far; the latest is complete.
        entry["captures"] = [v for k, v in report.user_properties if k == "capture"]
        entry["gate"] = props.get("gate")
        if "value" in props:
            entry["value"], entry["limit"] = props["value"], props.get("limit")
        waived = "exception" in props
        if waived:
            entry["exception"], entry["exception_link"] = (
                props["exception"],
                props["exception_link"],
            )
        xfail = hasattr(report, "wasxfail")
        if report.when == "setup":
            if report.failed:
                entry["outcome"], entry["message"] = "error", message(report)
            elif report.skipped:
                na = "not_applicable" in props
                entry["outcome"] = "n/a" if na else "xfailed" if xfail else "skipped"
                entry["message"] = message(report)
        elif report.when == "call":
            if "not_applicable" in props:
                entry["outcome"], entry["message"] = "n/a", message(report)
            elif "inconclusive" in props:
                entry["outcome"], entry["message"] = "error", message(report)
            elif waived:
                entry["outcome"], entry["message"] = "waived", str(getattr(report, "wasxfail", ""))
            elif xfail:
                entry["outcome"] = "xfailed" if report.skipped else "xpassed"
            else:
                entry["outcome"] = report.outcome
            if not report.passed and not waived and "not_applicable" not in props:
                entry["message"] = message(report)
        elif report.when == "teardown":
            if report.failed:
                entry["outcome"], entry["message"] = "error", message(report)
            if self.bundle is not None:
                outcome, took = str(entry["outcome"]).upper(), entry["duration_s"]
                self.bundle.log(f"{outcome} {report.nodeid} ({took:.2f} s)")

    def note_deselected(self, records: list[dict[str, Any]]) -> None:
        """Keep what -m/-k dropped; under xdist only workers collect, so it goes to a file."""
        if self.bundle is not None and records:
            lines = "".join(json.dumps(r) + "\n" for r in records)
            _append(self.bundle.root / COLLECTION_FILE, lines)

    def fold_deselected(self) -> None:
        assert self.bundle is not None
        path = self.bundle.root / COLLECTION_FILE
        if not path.exists():
            return
        for line in path.read_text().splitlines():
            record = json.loads(line)
            self.results.setdefault(
                record["nodeid"],
                {
                    **record,
                    "outcome": "deselected",
                    "duration_s": 0.0,
                    "message": "deselected (-m/-k)",
                    "captures": [],
                },
            )
        path.unlink()

    def pack_checks(self) -> list[PackCheck]:
        """The packs' checks, read once a run (collection, the verdict, the fold and
        bundle.json all ask; the files do not change under a run)."""
        if self._pack_checks is None:
            self._pack_checks = census(self.packs_root) if self.packs_root is not None else []
        return self._pack_checks

    def known_checks(self, nodeids: list[str]) -> list[str]:
        """What a policy exception's Check is judged against: the run's checks and every
        check of the packs, so a `*` is as wide in a one-file run as in a whole one."""
        return [*nodeids, *(c.nodeid for c in self.pack_checks())]

    def fold_uncollected(self) -> None:
        """Each required pack check this run has no outcome for, as "not collected": a node
        id, a path, --lf or a plugin left it out without telling pytest_deselected."""
        seen = {(base(r["nodeid"]), r.get("env")) for r in self.results.values()}
        checks = [c for c in self.pack_checks() if c.drill is None]
        for settings in self.envs:
            for check in checks:
                if check.gate not in settings.required_gates:
                    continue
                if (check.nodeid, settings.name) in seen or (check.nodeid, None) in seen:
                    continue
                nodeid = f"{check.nodeid}[{settings.name}]"
                self.results.setdefault(
                    nodeid,
                    {
                        "nodeid": nodeid,
                        "env": settings.name,
                        "markers": [check.pack],
                        "gate": check.gate,
                        "outcome": "not collected",
                        "duration_s": 0.0,
                        "message": NOT_COLLECTED,
                        "captures": [],
                    },
                )

    def judge(self, exit_status: int | None = None) -> Verdict:
        # Validate the rows against every check this run recorded: under xdist the
        # controller never collects, so rows checked at configure knew no checks yet.
        validate(self.exceptions, self.known_checks(list(self.results)), utcnow().date())
        self.verdict = judge(
            list(self.results.values()),
            self.required_gates,
            self.exceptions,
            iso(utcnow()),
            exit_status,
        )
        return self.verdict

    # -- sandboxes ----------------------------------------------------------------

    def start_sandboxes(self) -> None:
        """One stack per sandbox env, logs into the bundle; a failure is kept, not raised,
        so each check of that env errors with its one-line cause."""
        assert self.bundle is not None
        for settings in self.envs:
            if not settings.sandbox:
                continue
            # Only here: a plain install (no sandbox extra) never imports the sandbox's stack.
            from gonogo.sandbox.stack import Stack

            stack = Stack(
                faults=self.faults,
                logs=self.bundle.root / "sandbox" / settings.name,
                dialects=self.dialects,
                edge_weights=self.expected_weights,
                # Blue and the edge cost a second app's start: only for a run that reads them.
                edge=self.expected_weights is not None or settings.slot == "blue",
            )
            sandbox = SandboxRun(stack=stack)
            self.sandboxes[settings.name] = sandbox
            try:
                sandbox.info = stack.start()
            except SandboxError as exc:
                sandbox.error = str(exc)
                self.bundle.log(f"sandbox {settings.name} failed to start: {exc}")
                continue
            faults = ", ".join(sorted(self.faults)) or "none"
            faults += f"; dialects: {', '.join(self.dialects) or 'none'}"
            pids = ", ".join(f"{name}={pid}" for name, pid in sandbox.info.pids.items())
            self.bundle.log(
                f"sandbox {settings.name} up in {sandbox.info.startup_s['total']:.2f} s at "
                f"{sandbox.info.base_url}; faults: {faults}; pids: {pids}"
            )

    def stop_sandboxes(self) -> None:
        for name, sandbox in self.sandboxes.items():
            if sandbox.stack is not None:
                sandbox.stack.stop()
                sandbox.stack = None
                if self.bundle is not None:
                    self.bundle.log(f"sandbox {name} stopped")

    # -- the end ------------------------------------------------------------------

    def finish(self, rootdir: Path, args: list[str], exitstatus: int) -> Path:
        """Write everything the run leaves, then seal the bundle. Returns its folder.

        The seal happens on every way out. Ctrl-C during a writer (report.png can take
        seconds) skips the writers left, and an internal error in one (a bug of gonogo's)
        skips that one: each is said in steps.log, the bundle is sealed, then the interrupt
        or the error goes on. A bundle without verdict.json is INCOMPLETE to `gonogo verdict`.
        """
        bundle = self.bundle
        assert bundle is not None
        bundle.log(f"run finished: exit status {exitstatus}")
        interrupted = False
        failure: Exception | None = None
        for name, write in (
            ("the verdict", lambda: self.verdict or self.judge(exitstatus)),
            ("sandbox logs", self.stop_sandboxes),  # before sealing: their logs are evidence
            ("junit.xml and report.html", self._copy_user_reports),
            ("verdict.json", self._write_verdict),
            ("comms/", self._write_comms),
            ("report.png", self._render_report),
            (ATTESTATION_FILE, lambda: self._write_attestation(rootdir)),
        ):
            if interrupted:
                bundle.log(f"{name} not written: the run was interrupted")
                continue
            try:
                write()
            except KeyboardInterrupt:
                interrupted = True
                bundle.log(f"interrupted (Ctrl-C) while writing {name}; sealing the bundle anyway")
            except Exception as exc:
                failure = failure or exc
                bundle.log(
                    f"{name} not written: internal error {type(exc).__name__}: {exc}; "
                    "sealing the bundle anyway (please report this)"
                )
        bundle.seal(self.meta(rootdir, args, exitstatus))
        self.sealed = bundle.root
        # Nothing goes into the bundle now (steps.log is sealed): the signature is beside it.
        if not interrupted:
            try:
                self.signed = self._sign()
            except KeyboardInterrupt:
                interrupted = True
                self.signed = "not signed: interrupted (Ctrl-C) while signing"
            except GonogoError as exc:
                self.signed = f"NOT signed: {exc}"
            except Exception as exc:
                failure = failure or exc
                self.signed = f"NOT signed: internal error {type(exc).__name__}: {exc}"
        if interrupted:
            raise KeyboardInterrupt
        if failure is not None:
            raise failure
        return bundle.root

    def _sign(self) -> str | None:
        """After the seal: the test-result statement over bundle.json and the report files,
        signed as [evidence] says (gonogo.signing). What was done, for the terminal."""
        from gonogo import signing

        assert self.bundle is not None
        root = self.bundle.root
        chosen = next((e.evidence for e in self.envs if e.evidence.signing_key_env), None)
        keyless = any(e.evidence.keyless for e in self.envs)
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

    def _copy_user_reports(self) -> None:
        assert self.bundle is not None
        _copy_in(self.bundle, self.user_junit, "junit.xml")
        _copy_in(self.bundle, self.user_html, "report.html")

    def _write_verdict(self) -> None:
        assert self.bundle is not None
        if self.verdict is None:
            raise RuntimeError("no verdict was judged")
        root = self.bundle.root
        (root / "verdict.json").write_text(json.dumps(self.verdict.as_dict(), indent=2) + "\n")
        if self.exceptions_file is not None and self.exceptions_file.is_file():
            # Judged offline later (gonogo verdict) with the table as it was.
            (root / "policy-exceptions.md").write_bytes(self.exceptions_file.read_bytes())
        self.bundle.log(f"verdict: {self.verdict.summary()}")

    def _write_comms(self) -> None:
        """The war room's messages from this run's numbers; posted only with --announce."""
        from gonogo import comms

        assert self.bundle is not None
        settings = [self.settings(e.name) for e in self.envs]
        first = settings[0]
        templates = Path(first.comms.templates) if first.comms.templates else None
        written = comms.write_all(
            self.bundle.root, settings, templates, tests=list(self.results.values())
        )
        self.bundle.log(f"comms written: {', '.join(p.name for p in written)}")
        if self.announce is None:
            return
        text = (self.bundle.root / comms.FOLDER / f"{self.announce}.txt").read_text()
        sent = comms.send(first, text, self.requests_sink(first.name))
        self.bundle.log(f"--announce {self.announce}: {sent}")

    def _render_report(self) -> None:
        """report.png: the verdict banner as a person sees it, when Chromium is here."""
        from gonogo.report import screenshot

        assert self.bundle is not None
        html = self.bundle.root / "report.html"
        if not html.is_file():
            why_not: str | None = "no report.html"
        elif os.environ.get("GONOGO_REPORT_PNG", "1") == "0":
            why_not = "GONOGO_REPORT_PNG=0"
        else:
            why_not = screenshot(html, self.bundle.root / "report.png")
        self.bundle.log(f"report.png not rendered: {why_not}" if why_not else "report.png rendered")

    def _write_attestation(self, rootdir: Path) -> None:
        """The in-toto test-result statement over the report files, for CI to sign."""
        assert self.bundle is not None
        assert self.verdict is not None
        root = self.bundle.root
        subjects = {
            name: sha256_file(root / name)
            for name in ("junit.xml", "report.html", "verdict.json")
            if (root / name).is_file()
        }
        configuration: list[dict[str, Any]] = []
        if self.env_file is not None and Path(self.env_file.path).is_file():
            env_file = Path(self.env_file.path)
            configuration.append(
                {"name": env_file.name, "digest": {"sha256": sha256_file(env_file)}}
            )
        commit = git(rootdir, "rev-parse", "HEAD")
        if commit:
            configuration.append({"name": "gonogo", "digest": {"gitCommit": commit}})
        statement = attestation_statement(
            subjects,
            self.verdict,
            list(self.results.values()),
            configuration,
            url=os.environ.get("GONOGO_RUN_URL"),
        )
        (root / ATTESTATION_FILE).write_text(json.dumps(statement, indent=2) + "\n")

    def meta(self, rootdir: Path, args: list[str], exitstatus: int) -> dict[str, Any]:
        commit = git(rootdir, "rev-parse", "HEAD")
        status = git(rootdir, "status", "--porcelain") if commit else None
        tests = list(self.results.values())
        return {
            "run": {
                "started": iso(self.started),
                "finished": iso(utcnow()),
                "exit_status": exitstatus,
                "args": args,
                "envs": self.env_names,
            },
            "envs": {s.name: s.public() for s in self.envs},
            "suite": {
                "gonogo": __version__,
                "git_commit": commit,
                "git_dirty": bool(status) if status is not None else None,
                "python": sys.version.split()[0],
                "packages": package_versions(),
            },
            "summary": dict(Counter(str(t["outcome"]) for t in tests)),
            "required_gates": self.required_gates,
            # Every check of the packs: `gonogo verdict` judges exception rows against them.
            "packs": [c.nodeid for c in self.pack_checks()],
            "tests": tests,
        }


@contextlib.contextmanager
def opened(
    settings: EnvSettings,
    *,
    faults: dict[str, str | None] | None = None,
    logs: Path | None = None,
    on_request: RequestSink | None = None,
    dialects: list[str] | None = None,
    edge: bool = False,
) -> Iterator[Environment]:
    """An env opened outside a pytest run (`gonogo watch`, `gonogo sandbox up`); `edge`:
    a sandbox starts its blue slot and edge too (`gonogo rollback`, `sandbox up`).

    A sandbox env's stack starts here and stops on every way out (an error,
    Ctrl-C, SIGTERM turned into KeyboardInterrupt), as the plugin's does.
    """
    stack = None
    try:
        info = None
        if settings.sandbox:
            from gonogo.sandbox import require

            require(settings.name)
            from gonogo.sandbox.stack import Stack

            stack = Stack(
                faults=faults or {},
                logs=logs,
                dialects=dialects,
                edge=edge or settings.slot == "blue",
            )
            info = stack.start()
        env = Environment.open(settings, info, on_request)
        try:
            yield env
        finally:
            env.close()
    finally:
        if stack is not None:
            stack.stop()


def _copy_in(bundle: Bundle, source: str | None, name: str) -> None:
    if source and Path(source).is_file():
        target = bundle.root / name
        if Path(source).resolve() != target.resolve():
            target.write_bytes(Path(source).read_bytes())
