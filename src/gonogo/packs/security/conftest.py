"""The security pack's shared fixtures: the Rego policies folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from gonogo.env import Environment

SHIPPED = Path(__file__).parent / "policies"


@pytest.fixture
def policies(env: Environment, request: pytest.FixtureRequest) -> list[Path]:
    """The shipped policies, and the project's: [security] policies, else its policies/
    folder when there is one. A team adds a rule beside gonogo's, never instead of them."""
    configured = env.settings.security.policies
    own = Path(configured) if configured else Path(request.config.rootpath) / "policies"
    return [SHIPPED, *([own] if configured or own.is_dir() else [])]
