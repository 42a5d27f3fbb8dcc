"""gonogo: release verification for the IntelGraph platform, as pytest.

Layers import downward only (see docs/architecture.md):

    plugin.py, cli.py          entry points: wire options, fixtures and commands
    verdict.py                 gates and the GO / NO-GO decision
    evidence.py                the bundle, captures, hashes
    env.py, clients/           talking to an environment
    config.py                  environments.toml -> settings
    errors.py, redact.py       the exception tree, secret masking
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gonogo")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0+unknown"
