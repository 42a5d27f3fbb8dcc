"""gonogo's pytest plugin as pytest loads it (`pytest11`): into every run of the venv.

gonogo is installed into the team's own repository, beside its other plugins and its unit
tests, so a run that does not ask for gonogo pays for it only an option group, two ini keys
and the markers a check may carry:

- gonogo's options are `--gonogo-*`. Each short name (`--env`, `--fault` ...) is added as
  an alias only where nothing else declares it: a project whose conftest has its own `--env`
  keeps it, and gonogo says so in one line of the header when that flag is used.
- The hooks and fixtures of a run (gonogo.plugin.hooks: `env`, `http`, `release` ...) and
  the clients they import are registered only when a gonogo option is given.
- A gonogo run that names no paths collects the packs (gonogo/packs, or the ini's
  `gonogo_packs`) and the project's checks (`gonogo_checks`, default checks/), never the
  rest of the repository.
- Locust's own pytest plugin (a `--host` option, a `session` fixture) is blocked in
  gonogo's runs: gonogo drives Locust in child processes only.

Nothing here imports more than pytest and gonogo's bottom layer (tests/test_neighbour.py
holds the entry point to it), so `import gonogo.plugin` costs what benchmarks/import_time.py says.
"""

from __future__ import annotations

import importlib
from collections.abc import Generator

import pytest

from gonogo.layout import checks_folders, pack_of, packs_folder, under
from gonogo.options import PYTEST_OPTIONS, Option
from gonogo.plugin.options import needs_env
from gonogo.vocabulary import GATES, PACKS

# The short names another plugin or the project's conftest declared first.
CLASHES = pytest.StashKey[list[Option]]()
HOOKS_PLUGIN = "gonogo-run"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gonogo", "gonogo release verification")
    for option in PYTEST_OPTIONS:
        group.addoption(option.prefixed, **option.arguments())
    parser.addini(
        "gonogo_packs",
        "the folder of gonogo's packs to run (default: the installed ones)",
        type="paths",
    )
    parser.addini(
        "gonogo_checks",
        "the project's own check folders, collected beside the packs when a gonogo run names "
        "no paths (default: checks/ in the rootdir, when there is one)",
        type="paths",
    )


def _declared(parser: pytest.Parser) -> set[str]:
    """Every option string declared so far, by pytest, plugins and initial conftests."""
    return {name for group in parser._groups for option in group.options for name in option.names()}


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: pytest.Parser, args: list[str]
) -> Generator[None, None, None]:
    """The short aliases, once the project's initial conftests have declared theirs."""
    result = yield
    taken = _declared(parser)
    group = parser.getgroup("gonogo")
    clashes: list[Option] = []
    for option in PYTEST_OPTIONS:
        if option.flag in taken:
            clashes.append(option)
            continue
        arguments = option.arguments()
        arguments["help"] = f"short for {option.prefixed}"
        group.addoption(option.flag, **arguments)
    early_config.stash[CLASHES] = clashes
    return result


def asked(config: pytest.Config) -> bool:
    """Whether this run asks for gonogo: any of its options given."""
    return any(config.getoption(o.dest) not in (None, False, []) for o in PYTEST_OPTIONS)


def _markers(config: pytest.Config) -> None:
    for marker, description in PACKS.values():
        config.addinivalue_line("markers", f"{marker}: {description}")
    config.addinivalue_line(
        "markers", "drill(name): an opt-in drill, run only with --drill NAME (it changes the env)"
    )
    config.addinivalue_line(
        "markers",
        "gate(name): the Go/No-Go gate a check belongs to (" + ", ".join(GATES) + "); "
        "default: its pack",
    )
    config.addinivalue_line(
        "markers",
        "load(plan=None, thresholds=None, scenarios=None): the check sends load or writes "
        "beyond the smoke's single requests (a production env needs --allow-load); with a "
        "plan, judge its `threshold` items (the env's [load.plans], else a built-in: canary, "
        "api, graph)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    _markers(config)
    if not asked(config) or config.pluginmanager.has_plugin(HOOKS_PLUGIN):
        return
    config.pluginmanager.set_blocked("locust")
    # Through sys.modules, as every lazy import of the run's modules goes.
    hooks = importlib.import_module("gonogo.plugin.hooks")
    config.pluginmanager.register(hooks, HOOKS_PLUGIN)


def pytest_report_header(config: pytest.Config) -> list[str]:
    """One line when a short name that is not gonogo's was used: whose it is, and gonogo's."""
    given = [str(a).split("=")[0] for a in config.invocation_params.args]
    used = [o for o in config.stash.get(CLASHES, []) if o.flag in given]
    if not used:
        return []
    pairs = ", ".join(f"{o.flag} (gonogo's is {o.prefixed})" for o in used)
    return [f"gonogo: this project declares {pairs} itself; gonogo read none of them"]


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """A run that collected gonogo's checks without asking for gonogo is a usage error, in
    one line, rather than one "fixture 'env' not found" per check."""
    config = session.config
    if asked(config) or getattr(config, "workerinput", None) is not None:
        return
    packs = packs_folder(config.getini("gonogo_packs"))
    checks = checks_folders(config.getini("gonogo_checks"), config.rootpath)
    # Every pytest run of the venv comes here: each file is looked at once, not each item.
    files = {item.path for item in session.items}
    gonogos = {f for f in files if pack_of(f, packs) is not None or under(f, checks)}
    needing = [item.nodeid for item in session.items if item.path in gonogos]
    if needing:
        raise pytest.UsageError(needs_env(config, needing))


__all__ = [
    "asked",
    "pytest_addoption",
    "pytest_collection_finish",
    "pytest_configure",
    "pytest_load_initial_conftests",
    "pytest_report_header",
]
