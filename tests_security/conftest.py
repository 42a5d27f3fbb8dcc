"""The security pack's shared fixtures: the Rego policies folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from gonogo.env import Environment


@pytest.fixture
def policies(env: Environment, request: pytest.FixtureRequest) -> Path:
    """[security] policies, else the project's policies/ folder."""
    configured = env.settings.security.policies
    return Path(configured) if configured else Path(request.config.rootpath) / "policies"
