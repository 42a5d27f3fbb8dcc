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


def __getattr__(name: str) -> str:
    """`__version__` on first use: importlib.metadata scans the venv's distributions (~50 ms),
    a cost the plugin's entry point would otherwise add to every pytest run of the venv."""
    if name != "__version__":
        raise AttributeError(f"module 'gonogo' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("gonogo")
    except PackageNotFoundError:  # running from a source tree without an install
        found = "0+unknown"
    globals()["__version__"] = found
    return found
