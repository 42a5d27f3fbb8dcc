"""The `gonogo` command: the same core as the pytest plugin, for work outside a test run.

    gonogo envs [--env-file PATH]       list the environments and what each configures
    gonogo verify-bundle DIR            check every file of a bundle against bundle.json

Exit codes: 0 success; 1 the thing checked is bad (a tampered bundle);
2 bad input (a usage error, an unreadable file), with one line saying why.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from gonogo import __version__
from gonogo.config import load_env_file, resolve_env_file
from gonogo.errors import GonogoError
from gonogo.evidence import verify_bundle

EXIT_OK = 0
EXIT_BAD = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"gonogo: {message} (see gonogo --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gonogo", description="Release verification for IntelGraph.")
    parser.add_argument("--version", action="version", version=f"gonogo {__version__}")
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )

    envs = sub.add_parser("envs", help="list the environments in the env file")
    envs.add_argument(
        "--env-file", metavar="PATH", help="default: $GONOGO_ENV_FILE or ./environments.toml"
    )

    verify = sub.add_parser("verify-bundle", help="check a bundle's files against its bundle.json")
    verify.add_argument(
        "bundle", metavar="DIR", help="a run folder, like reports/green/20261123T010203Z"
    )
    return parser


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
    result = verify_bundle(Path(args.bundle))
    if result.ok:
        print(f"bundle intact: {result.checked} files match {args.bundle}/bundle.json")
        return EXIT_OK
    for line in result.lines():
        print(line)
    problems = len(result.missing) + len(result.added) + len(result.changed)
    print(f"bundle NOT intact: {problems} problem(s) in {args.bundle}", file=sys.stderr)
    return EXIT_BAD


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    handlers = {"envs": _envs, "verify-bundle": _verify}
    try:
        return handlers[args.command](args)
    except GonogoError as exc:
        print(f"gonogo: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("gonogo: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
