"""gonogo's command-line options, and the checks on them that pytest cannot make itself.

Options are declared here and read into a `Run` by gonogo.plugin.session; two
usage errors that concern options alone are raised here: a bad --load-workers,
and a path option written so that pytest took its value for a test path.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gonogo.comms import RUN_KINDS
from gonogo.verdict import EXCEPTIONS_FILE
from gonogo.vocabulary import DRILLS


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gonogo", "gonogo release verification")
    group.addoption(
        "--env",
        action="append",
        dest="gonogo_envs",
        default=[],
        metavar="NAME",
        help="environment to verify, from the env file; repeat (or comma-separate) "
        "to run every check once per env",
    )
    group.addoption(
        "--env-file",
        dest="gonogo_env_file",
        default=None,
        metavar="PATH",
        help="environments file (default: $GONOGO_ENV_FILE, else environments.toml in the rootdir)",
    )
    group.addoption(
        "--fault",
        action="append",
        dest="gonogo_faults",
        default=[],
        metavar="NAME[=VALUE]",
        help="sandbox envs only: start the local environment with this fault; repeatable "
        "(list them with `gonogo sandbox faults`)",
    )
    group.addoption(
        "--dialect",
        action="append",
        dest="gonogo_dialects",
        default=[],
        metavar="NAME",
        help="sandbox envs only: the local environment speaks as another stack does (healthy); "
        "repeatable or comma-separated (list them with `gonogo sandbox dialects`)",
    )
    group.addoption(
        "--drill",
        action="append",
        dest="gonogo_drills",
        default=[],
        metavar="NAME",
        help=f"run an opt-in drill ({', '.join(DRILLS)}); never part of a default run",
    )
    group.addoption(
        "--expect-weights",
        dest="gonogo_expect_weights",
        default=None,
        metavar="SLOT=PCT,...",
        help="the route weights the edge must declare and serve now, like blue=10,green=90 "
        "(test_route_weights; a cutover step passes its own). On the local env the edge "
        "starts at these weights, as if the flip was made",
    )
    group.addoption(
        "--allow-drill",
        action="store_true",
        dest="gonogo_allow_drill",
        help="allow --drill against an env with production = true",
    )
    group.addoption(
        "--exceptions-file",
        dest="gonogo_exceptions_file",
        default=None,
        metavar="PATH",
        help=f"policy exceptions table (default: {EXCEPTIONS_FILE} in the rootdir)",
    )
    group.addoption(
        "--release",
        dest="gonogo_release",
        default=None,
        metavar="DIR",
        help="the release's evidence folder (migrations/, data-ops.md, graph-schema.json, ...); "
        "overrides the env's `release`",
    )
    group.addoption(
        "--announce",
        dest="gonogo_announce",
        default=None,
        choices=list(RUN_KINDS),
        help="post that message (rendered into the bundle's comms/ every run) to the env's "
        "webhook ([comms] webhook_env) when the run ends",
    )
    group.addoption(
        "--load-workers",
        dest="gonogo_load_workers",
        default=None,
        metavar="N",
        help="local Locust worker processes per load plan (default: the env's [load] workers, 1)",
    )
    group.addoption(
        "--load-summary-export",
        dest="gonogo_load_summary_export",
        default=None,
        metavar="DIR",
        help="also write each load plan's result in k6's --summary-export JSON shape, as "
        "DIR/<env>-<plan>.json (for tools that already read k6's)",
    )
    group.addoption(
        "--allow-load",
        action="store_true",
        dest="gonogo_allow_load",
        help="allow load plans (-m slo) against an env with production = true",
    )
    group.addoption(
        "--evidence-dir",
        dest="gonogo_evidence_dir",
        default=None,
        metavar="DIR",
        help="where run folders are written (default: reports/ in the rootdir)",
    )


def load_workers(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        workers = int(value)
        if not 1 <= workers <= 64:
            raise ValueError
    except ValueError:
        raise pytest.UsageError(
            f"--load-workers takes a number of processes from 1 to 64, like --load-workers 2 "
            f"(got {value!r})"
        ) from None
    return workers


def _rootdir_without_our_values(config: pytest.Config) -> Path | None:
    """The rootdir pytest would have chosen had it known our options take values."""
    try:
        from _pytest.config.findpaths import determine_setup
    except ImportError:  # pragma: no cover - a pytest without it: skip the check
        return None
    user_paths = list(config.args) if config.args_source == pytest.Config.ArgsSource.ARGS else []
    try:
        rootpath = determine_setup(
            inifile=config.option.inifilename,
            override_ini=config.option.override_ini,
            args=user_paths,
            rootdir_cmd_arg=config.option.rootdir or None,
            invocation_dir=config.invocation_params.dir,
        )[0]
    except Exception:  # pragma: no cover - a changed private API: skip the check
        return None
    return Path(rootpath)


# The options whose value is a path, which pytest may take for a test path when separate.
PATH_OPTIONS = ("--evidence-dir", "--env-file", "--release", "--load-summary-export")


def check_rootdir(config: pytest.Config) -> None:
    """Refuse the one way a path option silently breaks a run.

    pytest picks its rootdir (and so its config file) before plugins add their
    options, so in `--evidence-dir DIR` the DIR looks like a test path; if it
    exists outside the project, the rootdir moves and the project's settings are
    not loaded. `--evidence-dir=DIR` is read correctly.
    """
    args = list(config.invocation_params.args)
    separate = [
        (flag, args[i + 1])
        for i, flag in enumerate(args[:-1])
        if flag in PATH_OPTIONS and not args[i + 1].startswith("-")
    ]
    if not separate:
        return
    expected = _rootdir_without_our_values(config)
    if expected is None or expected == config.rootpath:
        return
    flag, value = separate[0]
    raise pytest.UsageError(
        f"pytest took its rootdir from {flag}'s value ({value}), because it "
        f"reads gonogo's options only after choosing one; write {flag}={value}"
    )
