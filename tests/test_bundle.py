"""The evidence bundle: complete under xdist, verifiable, and free of secrets."""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gonogo.cli import main as gonogo
from gonogo.config import EnvSettings
from gonogo.evidence import Bundle, verify_bundle
from gonogo.redact import MASK, Redactor
from gonogo.run.verdict import ATTESTATION_FILE
from tests.conftest import PLANTED, only_bundle

MANY = """
import pytest

@pytest.mark.parametrize("n", range(8))
def test_capture(env, evidence, n):
    r = env.http.get("/healthz")
    evidence.save(f"healthz-{n}.json", r.json())
    evidence.step(f"saved {n}")
    assert r.status_code == 200
"""


def test_bundle_is_complete_under_xdist(pytester: pytest.Pytester, make_envs, monkeypatch) -> None:
    monkeypatch.setenv("GONOGO_GREEN_TOKEN", "green-token-value-0001")
    monkeypatch.setenv("GONOGO_BLUE_TOKEN", "blue-token-value-0002")
    make_envs("green", "blue")
    pytester.makepyfile(MANY)
    result = pytester.runpytest_subprocess("-n", "2", "--env", "green", "--env", "blue")
    result.assert_outcomes(passed=16)
    bundle = only_bundle(pytester.path)
    assert result.stdout.lines[-1] == f"gonogo evidence bundle: {bundle}"
    manifest = json.loads((bundle / "bundle.json").read_text())
    assert len(manifest["tests"]) == 16
    assert manifest["summary"] == {"passed": 16}
    for env in ("green", "blue"):
        saved = sorted(p.name for p in (bundle / "captures" / env).glob("healthz-*.json"))
        assert saved == [f"healthz-{n}.json" for n in range(8)]
        requests = (bundle / "captures" / env / "requests.jsonl").read_text().splitlines()
        assert len(requests) == 8 and all(json.loads(line)["status"] == 200 for line in requests)
    steps = (bundle / "steps.log").read_text().splitlines()
    assert sum(": saved " in line for line in steps) == 16
    assert sum(line.split("] ", 1)[1].startswith("PASSED ") for line in steps) == 16
    assert verify_bundle(bundle).ok
    # Workers wrote into the controller's folder and made none of their own.
    assert list((pytester.path / "reports").glob("*/*")) == [bundle]


@pytest.fixture
def sealed(tmp_path: Path) -> Path:
    bundle = Bundle.create(tmp_path, ["green"])
    bundle.save("green", "healthz.json", {"status": "ok"})
    bundle.save("green", "metrics.prom", "stream_processed_total 3\n")
    bundle.log("step one")
    (bundle.root / "junit.xml").write_text("<testsuites/>")
    bundle.seal({"run": {}, "tests": []})
    return bundle.root


def test_verify_bundle_intact(sealed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert gonogo(["verify-bundle", str(sealed)]) == 0
    assert (
        capsys.readouterr().out == f"bundle intact: 4 files match {sealed}/bundle.json; unsigned\n"
    )


def test_verify_bundle_names_every_tampered_file(
    sealed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (sealed / "captures" / "healthz.json").write_text('{"status": "ok "}\n')
    (sealed / "junit.xml").unlink()
    (sealed / "captures" / "extra.txt").write_text("slipped in")
    assert gonogo(["verify-bundle", str(sealed)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "missing: junit.xml (listed in bundle.json, not on disk)",
        "added: captures/extra.txt (on disk, not listed in bundle.json)",
        "changed: captures/healthz.json (sha256 or size differs from bundle.json)",
    ]
    assert "bundle NOT intact: 3 problem(s)" in err


def test_verify_bundle_same_size_change_is_caught(sealed: Path) -> None:
    path = sealed / "captures" / "metrics.prom"
    path.write_text(path.read_text().replace("3", "4"))
    result = verify_bundle(sealed)
    assert result.changed == ["captures/metrics.prom"] and not result.ok


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        (lambda p: None, "not a folder"),
        (lambda p: p.mkdir(), "no bundle.json; this is not a sealed gonogo bundle"),
        (
            lambda p: (p.mkdir(), (p / "bundle.json").write_text("{nope")),
            "bundle.json: not valid JSON",
        ),
        (
            lambda p: (p.mkdir(), (p / "bundle.json").write_text('{"schema": "x"}')),
            "not a gonogo.bundle/v1 manifest",
        ),
    ],
)
def test_verify_bundle_bad_input_is_one_line(tmp_path: Path, capsys, setup, expected: str) -> None:
    target = tmp_path / "run"
    setup(target)
    assert gonogo(["verify-bundle", str(target)]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1 and err.startswith("gonogo: ")


def test_cli_usage_error_is_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gonogo.cli", "verify-bundle"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().startswith("gonogo: the following arguments are required: DIR")
    assert "Traceback" not in done.stderr


def test_a_short_secret_is_masked_where_it_stands_alone_and_warned_of(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    r = Redactor()
    r.add("k3y")
    assert r.text("k3y, k3y1 xk3y (k3y) k3y") == f"{MASK}, k3y1 xk3y ({MASK}) {MASK}"
    assert r.contains_secret("token=k3y") and not r.contains_secret("k3yboard")
    monkeypatch.setenv("GONOGO_SHORT_TOKEN", "k3y")
    settings = EnvSettings(name="short", base_url="https://short.example.com",
                           token_env="GONOGO_SHORT_TOKEN")  # fmt: skip
    assert settings.register_secrets() == [
        "gonogo: warning: env 'short': GONOGO_SHORT_TOKEN holds only 3 character(s); it is "
        "masked only where it stands alone in the evidence (a real token or password is at "
        "least 6); set a real secret"
    ]
    monkeypatch.setenv("GONOGO_SHORT_TOKEN", "long-enough-token")
    assert settings.register_secrets() == []


def test_redactor_masks_values_and_shapes() -> None:
    r = Redactor()
    r.add("s3cr3t-value!")
    r.add("abc")  # too short to mask inside words: masked only where it stands alone
    text = (
        "token s3cr3t-value! and s3cr3t-value%21 and Authorization: Bearer xyz.abc-123 "
        "and eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig and https://u:pw12345@host/x abc"
    )
    out = r.text(text)
    assert (
        "s3cr3t" not in out
        and "xyz.abc-123" not in out
        and "eyJ" not in out
        and "pw12345" not in out
    )
    assert out.endswith(f" {MASK}") and out.count(MASK) == 6
    assert r.obj({"password": "anything", "nested": ["s3cr3t-value!"]}) == {
        "password": MASK,
        "nested": [MASK],
    }


SECRETS = """
import logging

def test_echo(env, evidence):
    r = env.http.get("/api/whoami")
    evidence.save("whoami.json", r.json())
    evidence.save("raw.txt", r.text)
    evidence.step("token is " + env.token())
    print("stdout has", env.token())
    logging.getLogger("x").warning("log has %s", env.token())
    assert r.json()["echo"] == "something else"
"""


def _scan(root: Path) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and PLANTED.encode() in path.read_bytes():
            hits.append(str(path))
    return hits


@pytest.mark.parametrize("xdist", [False, True], ids=["in-process", "xdist"])
def test_planted_token_appears_nowhere(
    pytester: pytest.Pytester, make_envs, monkeypatch, xdist: bool
) -> None:
    monkeypatch.setenv("GONOGO_GREEN_TOKEN", PLANTED)
    make_envs("green")
    pytester.makepyfile(SECRETS)
    args = ["--env", "green", "-rA", "-vv", "--junitxml", "ci.xml", "--html", "ci.html"]
    result = pytester.runpytest_subprocess(*args, *(["-n", "2"] if xdist else []))
    result.assert_outcomes(failed=1)
    bundle = only_bundle(pytester.path)
    terminal = result.stdout.str() + result.stderr.str()
    assert PLANTED not in terminal
    assert MASK in terminal  # the token was there to leak, and was masked
    assert _scan(pytester.path) == []
    whoami = json.loads((bundle / "captures" / "whoami.json").read_text())
    assert whoami == {"authorization": MASK, "echo": MASK}
    assert (
        MASK in (bundle / "junit.xml").read_text() and MASK in (bundle / "report.html").read_text()
    )
    assert verify_bundle(bundle).ok


def test_a_short_token_is_warned_of_at_the_start_and_masked(
    pytester: pytest.Pytester, make_envs, monkeypatch
) -> None:
    monkeypatch.setenv("GONOGO_GREEN_TOKEN", "Zq9")
    make_envs("green")
    pytester.makepyfile(SECRETS)
    result = pytester.runpytest_subprocess("--env", "green", "-rA", "-vv")
    result.assert_outcomes(failed=1)
    warning = "gonogo: warning: env 'green': GONOGO_GREEN_TOKEN holds only 3 character(s)"
    assert result.stderr.str().startswith(warning)
    bundle = only_bundle(pytester.path)
    assert warning in (bundle / "steps.log").read_text()
    alone = re.compile(rb"(?<![A-Za-z0-9])Zq9(?![A-Za-z0-9])")
    leaked = [p for p in pytester.path.rglob("*") if p.is_file() and alone.search(p.read_bytes())]
    assert leaked == []
    assert json.loads((bundle / "captures" / "whoami.json").read_text())["echo"] == MASK


LOAD_CHECK = """
import pytest

@pytest.mark.load("probe")
def test_probe(threshold, load_result, evidence):
    from gonogo.load.session import judge_item
    ok, message = judge_item(load_result, threshold, evidence)
    assert ok, message
"""

LOAD_PLAN = """
[environments.green.load.plans.probe]
scenarios.s = { rate = 20, duration = "1s", requests = [
  { name = "whoami", path = "/api/whoami" }, { name = "missing", path = "/api/missing" }] }
thresholds = { "http_req_failed" = ["rate<0.01"] }
"""


def test_planted_token_reaches_no_load_file(
    pytester: pytest.Pytester, make_envs, monkeypatch
) -> None:
    """The load children get the token through their environment, hit a server that echoes
    it, and fail half their requests: the plan, summary, Locust report, logs and plots hold
    no trace of it."""
    monkeypatch.setenv("GONOGO_GREEN_TOKEN", PLANTED)
    make_envs("green", extra=LOAD_PLAN)
    pytester.makepyfile(LOAD_CHECK)
    result = pytester.runpytest_subprocess("--env", "green", "-rA", "-vv")
    result.assert_outcomes(failed=1)
    bundle = only_bundle(pytester.path)
    summary = json.loads((bundle / "captures/load/probe/summary.json").read_text())
    assert summary["metrics"]["http_reqs"]["all"]["count"] == 40
    assert (bundle / "captures/load/probe/locust.html").is_file()
    assert PLANTED not in result.stdout.str() + result.stderr.str()
    assert _scan(pytester.path) == []
    assert verify_bundle(bundle).ok


def test_verify_bundle_trusts_no_link_or_special_file(
    sealed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A capture swapped for a link to an outside file with the same bytes, a linked folder
    and a FIFO: none is a file the bundle sealed, whatever its content."""
    import os

    outside = tmp_path / "outside"
    outside.mkdir()
    capture = sealed / "captures" / "healthz.json"
    (outside / "healthz.json").write_bytes(capture.read_bytes())
    capture.unlink()
    capture.symlink_to(outside / "healthz.json")
    (sealed / "captures" / "more").symlink_to(outside, target_is_directory=True)
    os.mkfifo(sealed / "captures" / "pipe")
    assert gonogo(["verify-bundle", str(sealed)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "unsafe: captures/healthz.json (a bundle holds regular files, not links)",
        "unsafe: captures/more (a bundle holds regular files, not links)",
        "unsafe: captures/pipe (a bundle holds regular files, not links)",
    ]
    assert "bundle NOT intact: 3 problem(s)" in err


def test_ctrl_c_while_the_report_renders_still_seals_the_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gonogo.run import Run, RunEnvs
    from gonogo.run.writers import finish

    # Through sys.modules: pytester's in-process runs may have dropped gonogo.run.report, and
    # run/writers.py imports it from there (the package attribute can be a stale module).
    report = importlib.import_module("gonogo.run.report")

    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setenv("GONOGO_REPORT_PNG", "1")
    monkeypatch.setattr(report, "screenshot", interrupted)
    from gonogo.config import EnvSettings

    green = EnvSettings(name="green", base_url="https://green.example.com", production=False)
    run = Run(envs=RunEnvs(all=[green]), bundle=Bundle.create(tmp_path, ["green"]))
    (run.bundle.root / "report.html").write_text("<html></html>")  # type: ignore[union-attr]
    with pytest.raises(KeyboardInterrupt):
        finish(run, tmp_path, [], 2)
    root = run.bundle.root  # type: ignore[union-attr]
    assert verify_bundle(root).ok and (root / "verdict.json").is_file()
    steps = (root / "steps.log").read_text()
    assert "interrupted (Ctrl-C) while writing report.png; sealing the bundle anyway" in steps
    assert "attestation.intoto.json not written: the run was interrupted" in steps


def test_an_internal_error_while_the_end_is_written_still_seals_the_bundle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gonogo.config import EnvSettings
    from gonogo.run import Run, RunEnvs
    from gonogo.run.writers import finish

    comms = importlib.import_module(
        "gonogo.day.comms"
    )  # as above: the module run/writers.py will use

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("a bug in a writer")

    monkeypatch.setattr(comms, "write_all", broken)
    green = EnvSettings(name="green", base_url="https://green.example.com", production=False)
    run = Run(envs=RunEnvs(all=[green]), bundle=Bundle.create(tmp_path, ["green"]))
    with pytest.raises(RuntimeError, match="a bug in a writer"):
        finish(run, tmp_path, [], 1)
    root = run.bundle.root  # type: ignore[union-attr]
    assert verify_bundle(root).ok
    assert (root / "verdict.json").is_file() and (root / ATTESTATION_FILE).is_file()
    steps = (root / "steps.log").read_text()
    assert (
        "comms/ not written: internal error RuntimeError: a bug in a writer; sealing the "
        "bundle anyway (please report this)" in steps
    )


CRASHING_HOOK = """
import pytest

def pytest_runtest_logreport(report):
    if report.when == "call" and "test_first" in report.nodeid:
        raise RuntimeError("a plugin's bug")
"""

TWO_CHECKS = """
import pytest

@pytest.mark.smoke
def test_first(env):
    pass

@pytest.mark.smoke
def test_second(env):
    pass
"""


def test_a_run_that_crashes_is_sealed_and_never_go(
    pytester: pytest.Pytester, make_envs, monkeypatch
) -> None:
    """test_second never runs: what passed before the crash is not a GO."""
    monkeypatch.setenv("GONOGO_GREEN_TOKEN", "green-token-0001")
    make_envs("green")
    (pytester.path / "environments.toml").write_text(
        (pytester.path / "environments.toml").read_text() + 'required_gates = ["smoke"]\n'
    )
    pytester.makeconftest(CRASHING_HOOK)
    pytester.makepyfile(TWO_CHECKS)
    result = pytester.runpytest_subprocess("--env", "green")
    assert "INTERNALERROR" in result.stdout.str() + result.stderr.str()
    bundle = only_bundle(pytester.path)
    assert verify_bundle(bundle).ok
    verdict = json.loads((bundle / "verdict.json").read_text())
    assert verdict["decision"] == "INCOMPLETE"
    assert {"check": "(the rest of the run)", "why": "the run ended with an internal error"} in (
        verdict["not_run"]
    )
    assert gonogo(["verdict", str(bundle)]) == 2


def _p256(tmp_path: Path) -> tuple[str, Path]:
    """A fresh ECDSA P-256 key: its private PEM, and its public PEM's path."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = tmp_path / "cosign.pub"
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


SIGNED = '\n[environments.green.evidence]\nsigning_key_env = "GONOGO_SIGNING_KEY"\n'


def test_a_signed_bundle_catches_a_consistent_rewrite(
    pytester: pytest.Pytester, make_envs, monkeypatch, tmp_path: Path, capsys
) -> None:
    """Rewriting a capture and bundle.json together passes the file check; the signature
    over bundle.json is what catches it."""
    private, public = _p256(tmp_path)
    (tmp_path / "other").mkdir()
    _, other_public = _p256(tmp_path / "other")
    monkeypatch.setenv("GONOGO_GREEN_TOKEN", "green-token-0001")
    monkeypatch.setenv("GONOGO_SIGNING_KEY", private)
    make_envs("green", extra=SIGNED)
    pytester.makepyfile(TWO_CHECKS)
    result = pytester.runpytest_subprocess("--env", "green")
    bundle = only_bundle(pytester.path)
    assert "signed with the key in GONOGO_SIGNING_KEY: attestation.intoto.dsse.json" in (
        result.stdout.str()
    )
    assert "BEGIN PRIVATE KEY" not in "".join(
        p.read_text(errors="replace") for p in pytester.path.rglob("*") if p.is_file()
    )
    capsys.readouterr()
    assert gonogo(["verify-bundle", str(bundle), "--key", str(public)]) == 0
    assert capsys.readouterr().out.endswith(f"; signature verified with {public}\n")
    assert gonogo(["verify-bundle", str(bundle), "--key", str(other_public)]) == 1
    assert "the signature does not verify with" in capsys.readouterr().out
    # The rewrite: a capture changed, and bundle.json re-listed to match it.
    steps = bundle / "steps.log"
    steps.write_text(steps.read_text().replace("PASSED", "PASSED (edited)"))
    manifest = json.loads((bundle / "bundle.json").read_text())
    for entry in manifest["files"]:
        if entry["path"] == "steps.log":
            entry["sha256"] = hashlib.sha256(steps.read_bytes()).hexdigest()
            entry["size"] = steps.stat().st_size
    (bundle / "bundle.json").write_text(json.dumps(manifest, indent=2) + "\n")
    assert gonogo(["verify-bundle", str(bundle)]) == 0  # the files agree with bundle.json
    capsys.readouterr()
    assert gonogo(["verify-bundle", str(bundle), "--key", str(public)]) == 1
    out = capsys.readouterr().out
    assert "the signature covers another bundle.json" in out
    assert "bundle.json was rewritten after the run signed it" in out


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("not a key", "GONOGO_SIGNING_KEY must hold an unencrypted PEM ECDSA P-256 private key"),
        (None, "the bundle signing key variable GONOGO_SIGNING_KEY is not set"),
    ],
    ids=["garbage", "unset"],
)
def test_a_signing_key_that_cannot_sign_stops_the_run_at_once(
    pytester: pytest.Pytester, make_envs, monkeypatch, key: str | None, says: str
) -> None:
    monkeypatch.setenv("GONOGO_GREEN_TOKEN", "green-token-0001")
    if key is None:
        monkeypatch.delenv("GONOGO_SIGNING_KEY", raising=False)
    else:
        monkeypatch.setenv("GONOGO_SIGNING_KEY", key)
    make_envs("green", extra=SIGNED)
    pytester.makepyfile(TWO_CHECKS)
    result = pytester.runpytest_subprocess("--env", "green")
    assert result.ret == 4
    assert says in result.stderr.str() and "Traceback" not in result.stderr.str()


def test_an_ed25519_key_is_named_as_the_wrong_kind() -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from gonogo.errors import ConfigError
    from gonogo.supplychain.signing import load_private_key

    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ConfigError, match=r"P-256 private key.*\(it is another kind of key\)"):
        load_private_key(pem.decode(), "K")


def test_verify_bundle_with_a_key_on_an_unsigned_bundle_says_unsigned(
    sealed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, public = _p256(tmp_path)
    assert gonogo(["verify-bundle", str(sealed), "--key", str(public)]) == 1
    assert "attestation.intoto.dsse.json; the bundle is unsigned" in capsys.readouterr().out
    assert gonogo(["verify-bundle", str(sealed), "--key", str(tmp_path / "nope.pub")]) == 2
    assert "--key" in capsys.readouterr().err


def test_gonogo_verdict_verifies_a_signed_bundle_before_it_reads_a_verdict(
    pytester: pytest.Pytester, make_envs, monkeypatch, tmp_path: Path, capsys
) -> None:
    """bundle.json and verdict.json both edited from NO-GO to GO, the file list rewritten to
    match: the files agree, but no verdict is read until the signature holds (exit 3)."""
    private, public = _p256(tmp_path)
    monkeypatch.setenv("GONOGO_GREEN_TOKEN", "green-token-0001")
    monkeypatch.setenv("GONOGO_SIGNING_KEY", private)
    make_envs("green", extra=SIGNED)
    pytester.makepyfile("def test_bad(env):\n    assert False, 'expected 1; got 2'\n")
    pytester.runpytest_subprocess("--env", "green").assert_outcomes(failed=1)
    bundle = only_bundle(pytester.path)
    capsys.readouterr()
    assert gonogo(["verdict", str(bundle), "--key", str(public)]) == 1
    assert gonogo(["verdict", str(bundle)]) == 3
    assert "is signed (attestation.intoto.dsse.json): pass --key PUB" in capsys.readouterr().err
    verdict = json.loads((bundle / "verdict.json").read_text())
    (bundle / "verdict.json").write_text(
        json.dumps({**verdict, "decision": "GO", "failing": [], "exit_code": 0})
    )
    manifest = json.loads((bundle / "bundle.json").read_text())
    for test in manifest["tests"]:
        test["outcome"] = "passed"
    for entry in manifest["files"]:
        if entry["path"] == "verdict.json":
            entry["sha256"] = hashlib.sha256((bundle / "verdict.json").read_bytes()).hexdigest()
            entry["size"] = (bundle / "verdict.json").stat().st_size
    (bundle / "bundle.json").write_text(json.dumps(manifest, indent=2) + "\n")
    assert gonogo(["verify-bundle", str(bundle)]) == 0  # the files agree with bundle.json
    capsys.readouterr()
    assert gonogo(["verdict", str(bundle), "--key", str(public)]) == 3
    err = capsys.readouterr().err
    assert "the signature covers another bundle.json" in err and len(err.splitlines()) == 1
    assert gonogo(["verdict", str(bundle)]) == 3
