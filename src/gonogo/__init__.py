"""gonogo: release verification for the IntelGraph platform, as pytest.

Layers import downward only (docs/architecture.md draws them; import-linter's contracts in
pyproject.toml hold them, run by tests/test_quality.py):

    plugin/, cli/              entry points: wire options, fixtures and commands
    run/, day/, watch/,        the run and its verdict, the cutover day, the watch, the
    load/, supplychain/, ...   engines (a folder per part of the command center)
    checks.py, evidence.py,    what checks share, the bundle, an env and its clients
    env.py, clients/, ...
    config/, vocabulary.py,    environments.toml -> settings, the shared words, the
    errors.py, redact.py, ...  exception tree, secret masking, the time
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gonogo")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0+unknown"
