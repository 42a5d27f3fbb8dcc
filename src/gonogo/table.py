"""The base of every settings table: strict, frozen, and refusing secrets written inline.

Shared by config/ (the env tables) and config/load.py (load plans), which
sit side by side at the bottom of the import graph; neither may import the
other's internals.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_LOOKING_KEYS = {"token", "password", "secret", "api_key", "bearer"}

VarName = Annotated[str, Field(description="the NAME of an environment variable")]


def check_var_name(value: str | None) -> str | None:
    if value is not None and not _VAR_NAME.match(value):
        # Do not echo the value: someone may have pasted the secret itself here.
        raise ValueError(
            "must be the NAME of an environment variable (like GONOGO_GREEN_TOKEN), "
            "not the secret itself"
        )
    return value


class Table(BaseModel):
    """Unknown keys are errors: a typo silently disabling a check is worse than a refusal."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _no_inline_secrets(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if isinstance(key, str) and key.lower() in _SECRET_LOOKING_KEYS:
                    raise ValueError(
                        f"'{key}' holds a secret in the file; secrets come only from "
                        f'environment variables: set {key}_env = "VARIABLE" and export it'
                    )
        return data
