"""What the plugin's modules share: the run's StashKeys, the xdist hand-over keys, and how
an item says which env and gate it belongs to."""

from __future__ import annotations

import pytest

from gonogo.evidence import Captures
from gonogo.load.session import PlanBook
from gonogo.run import Run

# The controller hands these to each xdist worker in `workerinput`.
WORKER_BUNDLE_KEY = "gonogo_bundle"
WORKER_SANDBOX_KEY = "gonogo_sandbox"
WORKER_ENV_FILE_KEY = "gonogo_env_file"

RUN = pytest.StashKey[Run]()
CAPTURES_KEY = pytest.StashKey[Captures]()
LOAD_WORKERS = pytest.StashKey[int | None]()
PLANS = pytest.StashKey[PlanBook]()

ENV_PARAM = "_gonogo_env_name"  # the private fixture --env parametrizes


def item_env(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None:
        return None
    value = callspec.params.get(ENV_PARAM)
    return value if isinstance(value, str) else None


def explicit_gate(item: pytest.Item) -> str | None:
    """The item's own `gate` marker, as recorded; its gate in the verdict (the marker, else
    its pack) is verdict.gate_of's to say."""
    gate = item.get_closest_marker("gate")
    return str(gate.args[0]) if gate is not None and gate.args else None
