"""Checks several tables share: a URL that may be written in the file."""

from __future__ import annotations

import re
import urllib.parse


def plain_url(
    value: str | None,
    example: str = "https://host.example.com",
    where: str = "a *_env variable",
) -> str | None:
    """An http(s) URL with no credentials in it (user:password@, or a query string, which is
    where access tokens end up): those belong in a *_env variable, never in the file."""
    if value is None:
        return None
    if not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"must be an http:// or https:// URL, like {example}")
    try:
        parts = urllib.parse.urlsplit(value)
        parts.port  # noqa: B018 - raises on a port that is not a number or out of range
    except ValueError as exc:
        raise ValueError(f"is not a valid URL ({exc}), like {example}") from None
    if not parts.hostname:
        raise ValueError(f"has no host name, like {example}")
    if re.match(r"^https?://[^/\s]*@", value):
        raise ValueError(f"must not carry credentials; put the token in {where}")
    if "?" in value or "#" in value:
        raise ValueError(
            f"must not carry a query string (access tokens end up there); put the token in {where}"
        )
    return value
