"""The `gonogo` command: the same core as the pytest plugin, for work outside a test run.

    gonogo init [--ci github|gitlab]    write environments.toml, the exceptions table,
                                        cutover.toml and checks/ into a repository
    gonogo envs [--env-file PATH]       list the environments and what each configures
    gonogo verify-bundle DIR            check every file of a bundle against bundle.json
    gonogo verdict DIR                  re-judge GO / NO-GO from a bundle (exit 0 GO, 1 NO-GO,
                                        2 INCOMPLETE, 3 usage error)
    gonogo sandbox up [--fault F]       run the local environment in the foreground
    gonogo sandbox faults               list the faults it can inject
    gonogo sandbox dialects             list the ways it can speak as another stack does
    gonogo watch --env NAME --for 60m   evaluate the rollback triggers every interval
                                        (exit 0 quiet, 5 a page trigger fired: roll back)
    gonogo rules --env NAME             the same triggers as Prometheus alerting rules
    gonogo load import-k6 SCRIPT        a k6 script's options as a gonogo load plan (TOML)

Exit codes: 0 success; 1 the thing checked is bad (a tampered bundle);
2 bad input (a usage error, an unreadable file), with one line saying why.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from gonogo import __version__
from gonogo.cli import bundles, cutover, init, load, loadworker, rollback, sandbox, watch
from gonogo.cli.common import EXIT_USAGE, EXIT_VERDICT_USAGE, Parser
from gonogo.errors import GonogoError


def parser() -> Parser:
    """Every command, each added by the module that runs it (in `gonogo --help`'s order)."""
    top = Parser(prog="gonogo", description="Release verification for IntelGraph.")
    top.add_argument("--version", action="version", version=f"gonogo {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    init.add_init(sub)
    bundles.add_envs(sub)
    bundles.add_verify(sub)
    bundles.add_verdict(sub)
    sandbox.add_sandbox(sub)
    watch.add_watch(sub)
    load.add_load(sub)
    loadworker.add_worker(sub)
    rollback.add_rollback(sub)
    cutover.add_cutover(sub)
    watch.add_rules(sub)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args, extra = parser().parse_known_args(argv)
    if extra:
        unknown = " ".join(extra)
        print(f"gonogo: unrecognized arguments: {unknown} (see gonogo --help)", file=sys.stderr)
        return EXIT_VERDICT_USAGE if args.command == "verdict" else EXIT_USAGE
    try:
        code: int = args.handler(args)
        return code
    except GonogoError as exc:
        print(f"gonogo: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("gonogo: interrupted", file=sys.stderr)
        return 130
