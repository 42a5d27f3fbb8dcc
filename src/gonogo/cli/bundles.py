"""`gonogo envs`, `verify-bundle` and `verdict`: reading an env file and a sealed bundle back."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gonogo.cli.common import (
    EXIT_BAD,
    EXIT_OK,
    EXIT_VERDICT_USAGE,
    add_option,
)
from gonogo.config import load_env_file, resolve_env_file
from gonogo.errors import BundleError, ConfigError, GonogoError
from gonogo.evidence import verify_bundle
from gonogo.options import ENV_FILE
from gonogo.vocabulary import GATE_NAMES


def add_envs(sub: Any) -> None:
    envs = sub.add_parser("envs", help="list the environments in the env file")
    add_option(envs, ENV_FILE, dest="env_file")
    envs.set_defaults(handler=_envs)


def add_verify(sub: Any) -> None:
    verify = sub.add_parser("verify-bundle", help="check a bundle's files against its bundle.json")
    verify.add_argument(
        "bundle", metavar="DIR", help="a run folder, like reports/green/20261123T010203Z"
    )
    _signature_options(verify, "too")
    verify.set_defaults(handler=_verify)


def add_verdict(sub: Any) -> None:
    verdict = sub.add_parser(
        "verdict", help="re-judge a bundle's GO / NO-GO from its recorded results, offline"
    )
    # 0, 1 and 2 are verdicts (GO, NO-GO, INCOMPLETE); a usage error must not look like one.
    verdict.usage_exit = 3
    verdict.add_argument("bundle", metavar="DIR", help="a run folder with bundle.json")
    verdict.add_argument(
        "--exceptions-file",
        metavar="PATH",
        help="judge with this exceptions table instead of the bundle's copy",
    )
    _signature_options(verdict, "before the verdict is read (a signed bundle needs one)")
    verdict.set_defaults(handler=_verdict)


def _signature_options(parser: argparse.ArgumentParser, when: str) -> None:
    """--key, --identity and --issuer: the run's signature, checked the same way by
    verify-bundle and verdict."""
    parser.add_argument(
        "--key",
        metavar="PUB",
        help=f"verify the run's signature (attestation.intoto.dsse.json) with this PEM ECDSA "
        f"P-256 public key, and that it covers this bundle.json, {when}",
    )
    parser.add_argument("--identity", help="keyless: the signer's identity (with --issuer)")
    parser.add_argument("--issuer", help="keyless: the signer's OIDC issuer (with --identity)")


def _envs(args: argparse.Namespace) -> int:
    env_file = load_env_file(resolve_env_file(args.env_file, Path.cwd()))
    print(f"{env_file.path}:")
    for name in env_file.names:
        s = env_file.get(name)
        where = "local sandbox" if s.sandbox else s.base_url
        parts = [
            t for t in ("graph", "stream", "cluster", "prometheus") if getattr(s, t) is not None
        ]
        kind = "production" if s.production else "non-production"
        tables = ", ".join(parts) if parts else "http only"
        print(f"  {name:<10} {where}  [{kind}; {tables}]")
    return EXIT_OK


def _verify(args: argparse.Namespace) -> int:
    """Files against bundle.json; with --key (or --identity/--issuer), the run's signature
    over bundle.json first, so a consistent rewrite of both is caught."""
    from gonogo.evidence import load_manifest

    root = Path(args.bundle)
    load_manifest(root)  # a folder that is no bundle is said first, whatever else was asked
    try:
        signed = _signature(root, args)
    except BundleError as exc:
        print(f"signature: {exc}")
        print(f"bundle NOT intact: its signature does not hold in {args.bundle}", file=sys.stderr)
        return EXIT_BAD
    if not signed:
        present = _signed_with(root)
        signed = (
            f"; signed ({present}): pass --key PUB or --identity/--issuer to check it"
            if present
            else "; unsigned"
        )
    result = verify_bundle(root)
    if result.ok:
        print(f"bundle intact: {result.checked} files match {args.bundle}/bundle.json{signed}")
        return EXIT_OK
    for line in result.lines():
        print(line)
    print(f"bundle NOT intact: {result.problems} problem(s) in {args.bundle}", file=sys.stderr)
    return EXIT_BAD


def _signed_with(root: Path) -> str | None:
    """The bundle's signature file, if it has one."""
    from gonogo.supplychain import signing

    present = [f for f in (signing.KEYED_FILE, signing.KEYLESS_FILE) if (root / f).is_file()]
    return present[0] if present else None


def _signature(root: Path, args: argparse.Namespace) -> str:
    """Check the bundle's signature as --key or --identity/--issuer ask; what was checked
    ("" when nothing was asked). BundleError when it does not hold."""
    from gonogo.supplychain import signing

    if bool(args.identity) != bool(args.issuer):
        raise ConfigError("--identity and --issuer go together (the keyless signer's identity)")
    if args.key:
        signing.verify_keyed(root, Path(args.key))
        return f"; signature verified with {args.key}"
    if args.identity:
        from gonogo.supplychain.signatures import verify_bundle_keyless

        verify_bundle_keyless(root, args.identity, args.issuer)
        return f"; signature verified for {args.identity}"
    return ""


def _verdict(args: argparse.Namespace) -> int:
    """Exit 0/1/2 only for a verdict; a damaged bundle, a bad option or a recomputed verdict
    that contradicts the recorded one is 3, with one line (never the NO-GO code)."""
    try:
        return _judge_bundle(args)
    except GonogoError as exc:
        print(f"gonogo: {exc}", file=sys.stderr)
        return EXIT_VERDICT_USAGE


def _judge_bundle(args: argparse.Namespace) -> int:
    import datetime as dt
    import json

    from gonogo.evidence import load_manifest
    from gonogo.run.verdict import given_table, judge, load_exceptions

    root = Path(args.bundle)
    manifest = load_manifest(root)
    # A verdict is read only from a bundle that verifies: its files, then its signature.
    intact = verify_bundle(root)
    if not intact.ok:
        raise BundleError(
            f"{root} does not match its bundle.json ({'; '.join(intact.lines()[:3])}); its "
            f"verdict cannot be trusted (gonogo verify-bundle {root} lists every change)"
        )
    signed_with = _signed_with(root)
    if not _signature(root, args) and signed_with:
        raise BundleError(
            f"{root} is signed ({signed_with}): pass --key PUB (or --identity and --issuer) so "
            "the signature is checked before its verdict is trusted"
        )
    tests = manifest.get("tests")
    run = manifest.get("run")
    if not isinstance(tests, list) or not all(
        isinstance(t, dict) and isinstance(t.get("nodeid"), str) and "outcome" in t for t in tests
    ):
        raise BundleError(
            f"{root}/bundle.json: 'tests' is not a list of results with nodeid and outcome; "
            "the bundle is damaged (gonogo verify-bundle says what changed)"
        )
    finished = str(run.get("finished") or "") if isinstance(run, dict) else ""
    try:
        run_day = dt.datetime.fromisoformat(finished.replace("Z", "+00:00")).date()
    except ValueError:
        raise BundleError(f"{root}/bundle.json has no valid run.finished time") from None
    # The bundle's copy of the table as the run judged with it, unless another is given.
    copy = root / "policy-exceptions.md"
    table = given_table(args.exceptions_file) if args.exceptions_file else copy
    packs = manifest.get("packs") or []
    if not isinstance(packs, list) or not all(isinstance(p, str) for p in packs):
        raise BundleError(f"{root}/bundle.json: 'packs' is not a list of check names")
    exceptions = load_exceptions(table, [*(t["nodeid"] for t in tests), *packs], run_day)
    required = manifest.get("required_gates") or list(GATE_NAMES)
    if not isinstance(required, list) or not all(isinstance(g, str) for g in required):
        raise BundleError(f"{root}/bundle.json: 'required_gates' is not a list of gate names")
    status = run.get("exit_status") if isinstance(run, dict) else None
    verdict = judge(
        tests, required, exceptions, finished, status if isinstance(status, int) else None
    )
    recorded = None
    if args.exceptions_file is None and (root / "verdict.json").exists():
        try:
            recorded = json.loads((root / "verdict.json").read_text()).get("decision")
        except (OSError, ValueError, AttributeError):
            raise BundleError(
                f"{root}/verdict.json is not the verdict a run writes (unreadable JSON); "
                "the bundle is damaged (gonogo verify-bundle says what changed)"
            ) from None
    print(verdict.summary())
    for item in verdict.not_run[:20]:
        print(f"  not run: {item['check']} ({item['why']})")
    for nodeid in verdict.failing[:20]:
        print(f"  failing: {nodeid}")
    for row in verdict.invalid_exceptions:
        print(
            f"  invalid exception {row['id'] or '?'} ({row['link']}): {'; '.join(row['problems'])}"
        )
    if recorded is not None and recorded != verdict.decision:
        raise BundleError(
            f"the run recorded {recorded}, but its recorded results judge {verdict.decision}: "
            f"the bundle changed after the run (gonogo verify-bundle {root})"
        )
    return verdict.exit_code
