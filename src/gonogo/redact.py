"""Keep secrets out of everything gonogo writes.

Two nets, because one is not enough at 3 a.m.:

1. Known values: every secret gonogo reads (bearer tokens, passwords, the
   sandbox's minted tokens) is registered here the moment it is read, and
   every later write replaces it, in plain and URL-encoded form, and in the
   form it is sent in (a Basic credential's base64: `add_basic`).
2. Shapes: anything that looks like a bearer or Basic credential, a JWT, or a
   password inside a URL is masked even if nobody registered it, so a token
   a server echoes back, or one copied into a test by hand, is caught too.

The process-wide instance `REDACTOR` is what the evidence bundle, the pytest
plugin (reports, captured output, the HTML and JUnit files) and the CLI use.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import urllib.parse
from typing import Any

MASK = "[REDACTED]"

# Shorter values would mask ordinary words wherever they occur inside others; no real token
# or password is this short. A shorter one is still masked, but only where it stands alone
# (not inside a longer word), and the run warns at its start (`short_secret_warning`).
MIN_SECRET_LENGTH = 6


def _basic(match: re.Match[str]) -> str:
    """`Basic <base64 of user:password>` masked; "basic checks" and other prose kept: the
    word after "Basic" is masked only when it decodes to a user:password pair."""
    try:
        pair = base64.b64decode(match.group(2), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return match.group(0)
    return match.group(1) + MASK if ":" in pair else match.group(0)


_SHAPES: list[tuple[re.Pattern[str], Any]] = [
    # A JWT: three base64url parts, the first two JSON objects ("eyJ").
    (re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"), MASK),
    # Authorization: Bearer <anything token-like>
    (re.compile(r"(?i)(\bbearer\s+)[A-Za-z0-9._~+/=-]{6,}"), r"\1" + MASK),
    # Authorization: Basic <base64 of user:password> (RFC 7617)
    (re.compile(r"(?i)(\bbasic\s+)([A-Za-z0-9+/]{4,}={0,2})"), _basic),
    # scheme://user:password@host
    (re.compile(r"(://[^:/@\s]+:)[^@\s/]+@"), r"\1" + MASK + "@"),
]

# Keys whose values are secret whatever they hold, in JSON-like captures.
_SECRET_KEYS = re.compile(
    r"(?i)^(authorization|password|passwd|secret|token|access_token|api_key)$"
)


class Redactor:
    """Masks registered secret values and secret-shaped strings."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self._ordered: list[str] = []
        self._short: set[str] = set()
        self._short_pattern: re.Pattern[str] | None = None

    def add(self, value: str | None) -> None:
        """Register a secret value (a short one is masked only where it stands alone)."""
        if not value:
            return
        if len(value) < MIN_SECRET_LENGTH:
            with self._lock:
                if value not in self._short:
                    self._short.add(value)
                    alternatives = "|".join(
                        re.escape(v) for v in sorted(self._short, key=len, reverse=True)
                    )
                    self._short_pattern = re.compile(
                        rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])"
                    )
            return
        forms = {value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value)}
        with self._lock:
            new = forms - self._values
            if new:
                self._values |= new
                # Longest first, so a secret containing another is masked whole.
                self._ordered = sorted(self._values, key=len, reverse=True)

    def add_basic(self, user: str, password: str) -> str:
        """Register a Basic credential in every form it is sent in (RFC 7617: the base64 of
        user:password, which contains neither value as text); returns the header's value."""
        self.add(password)
        encoded = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        self.add(encoded)
        return f"Basic {encoded}"

    @property
    def known(self) -> int:
        return len(self._values)

    def text(self, text: str) -> str:
        for value in self._ordered:
            if value in text:
                text = text.replace(value, MASK)
        for pattern, replacement in _SHAPES:
            text = pattern.sub(replacement, text)
        if self._short_pattern is not None:  # after the shapes, which see whole credentials
            text = self._short_pattern.sub(MASK, text)
        return text

    def data(self, data: bytes) -> bytes:
        """Redact bytes that are text; binary content (images) passes through untouched."""
        try:
            decoded = data.decode("utf-8")
        except UnicodeDecodeError:
            return data
        cleaned = self.text(decoded)
        return data if cleaned == decoded else cleaned.encode("utf-8")

    def obj(self, value: Any) -> Any:
        """Redact a JSON-like structure: secret-named keys are masked whole."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {
                k: (MASK if isinstance(k, str) and _SECRET_KEYS.match(k) and v else self.obj(v))
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.obj(v) for v in value]
        return value

    def contains_secret(self, text: str) -> bool:
        if self._short_pattern is not None and self._short_pattern.search(text):
            return True
        return any(value in text for value in self._ordered)


def short_secret_warning(env: str, variable: str, value: str) -> str | None:
    """The warning for a secret too short to mask safely, naming the variable, never the value."""
    if not value or len(value) >= MIN_SECRET_LENGTH:
        return None
    return (
        f"gonogo: warning: env '{env}': {variable} holds only {len(value)} character(s); it is "
        "masked only where it stands alone in the evidence (a real token or password is "
        f"at least {MIN_SECRET_LENGTH}); set a real secret"
    )


REDACTOR = Redactor()
