"""The usage errors about gonogo's options that pytest cannot raise itself.

Options are declared in gonogo.options (the CLI shares them), added and read into a `Run`
by gonogo.plugin.session; the usage errors that concern options alone are said here: a
bad --load-workers, a path option written so that pytest took its value for a test path,
and checks selected without --gonogo-env.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gonogo.options import PATH_OPTIONS


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


def needs_env(config: pytest.Config, needing: list[str]) -> str:
    """The one line for checks selected without an env, naming the envs there are."""
    from gonogo.config import load_env_file, resolve_env_file
    from gonogo.errors import ConfigError

    try:
        given = config.getoption("gonogo_env_file")
        names = load_env_file(resolve_env_file(given, config.rootpath)).names
        known = ", ".join(names)
    except ConfigError:
        known = "see your environments.toml"
    shown = ", ".join(needing[:3]) + (f" and {len(needing) - 3} more" if len(needing) > 3 else "")
    return (
        f"{len(needing)} selected check(s) need an environment ({shown}); "
        f"pass --gonogo-env NAME (known: {known})"
    )
