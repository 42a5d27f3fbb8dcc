"""The words every layer shares: packs, gates, drills, durations, and shared defaults.

Each is spelled once, here, at the bottom of the import graph, so that the
config, the verdict, the watch, the load engine, the plugin and the CLI all
read the same list. A pack added here is a marker, a gate, a default required
gate and a row of the HTML gate table at once; a default changed here changes
every place that reads it (the watch's trigger window is the config's default).
"""

from __future__ import annotations

import re

from gonogo.errors import ConfigError

# folder of gonogo/packs -> (marker, what `-m MARKER` runs); a check's folder is its pack.
PACKS: dict[str, tuple[str, str]] = {
    "smoke": ("smoke", "cutover smoke and functional smokes (pytest -m smoke --env=NAME)"),
    "slo": ("slo", "load canaries and SLO thresholds (pytest -m slo --env=NAME)"),
    "security": ("security", "signatures, attestations, pinning, scans, guards"),
    "dataops": ("dataops", "migrations, graph schema, recovery markers, stream integrity"),
}
# The Go/No-Go gates: the release checklist's A, B, C and one per pack.
PACK_GATES: tuple[str, ...] = tuple(marker for marker, _ in PACKS.values())
GATES: dict[str, str] = {
    "A": "CI hygiene: release evidence complete, signatures and attestations verify",
    "B": "drift and policy: digest pinning, Rego",
    "C": "performance budgets: canary thresholds, Lighthouse",
    "smoke": "cutover smoke",
    "slo": "SLO and load",
    "security": "security",
    "dataops": "data operations",
}
GATE_NAMES: tuple[str, ...] = tuple(GATES)
assert set(PACK_GATES) <= set(GATES), "every pack is a gate"

# The policy exceptions table, relative to the rootdir (its header: docs/policy-exceptions.md).
EXCEPTIONS_FILE = "docs/policy-exceptions.md"
# What a run may post when it ends (--announce); the comms templates of the same names.
RUN_KINDS = ("go-no-go", "post-deploy")

# Opt-in drills: they change the env, so a run includes one only when asked (--drill NAME).
DRILLS: dict[str, str] = {
    "write-freeze": "freeze writes, prove CreateNote is refused, lift the freeze",
}

# How long a rollback trigger's condition must hold before it fires (Prometheus `for:`).
TRIGGER_FOR_S = 600.0

_DURATION = re.compile(
    r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$"
)
_SECONDS = re.compile(r"^\d+(?:\.\d+)?$")


def parse_duration(value: str, option: str | None = None) -> float:
    """k6's duration strings ("2m", "1m30s", "500ms", "1h"), or plain seconds, in seconds.

    One grammar for the env file (a pydantic validator: ValueError) and for
    command-line options (`option` names the flag: ConfigError, and the value
    must be more than zero, since a watch "for 0s" is a typo, not a request).
    """
    text = value.strip() if isinstance(value, str) else ""
    match = _DURATION.match(text)
    if _SECONDS.match(text):
        seconds = float(text)
    elif text and match is not None and any(match.groups()):
        h, m, s, ms = (float(g) if g else 0.0 for g in match.groups())
        seconds = h * 3600 + m * 60 + s + ms / 1000
    elif option is not None:
        raise ConfigError(f"{option} {value!r}: give a duration like 90s, 10m, 1h or 1h30m")
    else:
        raise ValueError(f'\'{value}\' is not a duration; write it like "30s", "2m" or "500ms"')
    if option is not None and seconds <= 0:
        raise ConfigError(f"{option} {value!r}: must be more than zero")
    return seconds
