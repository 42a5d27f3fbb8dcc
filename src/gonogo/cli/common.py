"""What every command shares: exit codes, the parser that says a usage error in one line, the
plugin's options added as a command takes them, and opening a command's own bundle."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from gonogo.config import EnvSettings, load_env_file, resolve_env_file
from gonogo.errors import ConfigError
from gonogo.options import Option

EXIT_OK = 0
EXIT_BAD = 1
EXIT_USAGE = 2
EXIT_VERDICT_USAGE = 3  # gonogo verdict: 0, 1 and 2 are verdicts; every other outcome is 3


class Parser(argparse.ArgumentParser):
    usage_exit = EXIT_USAGE

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(self.usage_exit, f"gonogo: {message} (see gonogo --help)\n")


def add_option(
    parser: argparse.ArgumentParser,
    option: Option,
    *,
    dest: str,
    many: bool | None = None,
    required: bool = False,
) -> None:
    """One of the plugin's options (gonogo.options), as this command takes it."""
    parser.add_argument(option.flag, **option.arguments(many=many, required=required, dest=dest))


def interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def env_settings(args: Any) -> EnvSettings:
    """The env --env names, from the file --env-file (or its default) names."""
    return load_env_file(resolve_env_file(args.env_file, Path.cwd())).get(args.env)


def sandbox_faults(settings: Any, values: list[str]) -> dict[str, str | None]:
    """--fault for a command that opens one env: parsed, and only for the local one."""
    from gonogo.sandbox import faults as fault_registry

    chosen = fault_registry.parse_all(values)
    if chosen and not settings.sandbox:
        raise ConfigError(f"--fault applies only to a sandbox env; {settings.name} is not one")
    return chosen


def command_bundle(settings: Any, evidence_dir: str | None) -> Any:
    """The run folder of a command that opens one env (watch, rollback): the secrets'
    warnings on stderr and in steps.log, and SIGTERM ending it as Ctrl-C does, so the
    stack stops and the bundle is sealed."""
    import signal

    from gonogo.evidence import Bundle

    warnings = settings.register_secrets()
    for warning in warnings:
        print(warning, file=sys.stderr)
    bundle = Bundle.create(Path(evidence_dir or "reports"), [settings.name])
    for warning in warnings:
        bundle.log(warning)
    signal.signal(signal.SIGTERM, interrupt)
    return bundle
