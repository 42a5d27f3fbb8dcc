"""One verification run, in three parts that each do one thing.

- `envs.RunEnvs`: the session's envs (settings, sandboxes) and how a check opens one;
  `envs.opened` is the CLI's way to the same `Environment.open`.
- `outcomes.Outcomes`: every report folded into its test's entry, what the selection left
  out, and the verdict judged from them.
- `writers`: what the run leaves behind, each writer one small object called in a declared
  order (`writers.WRITERS`), the seal last and the signature beside it.

`Run` only holds the three together with the bundle, for the plugin's stash (`plugin.state.RUN`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

from gonogo.evidence import Bundle
from gonogo.run.envs import RunEnvs, SandboxRun, opened
from gonogo.run.outcomes import Outcomes, message
from gonogo.times import utcnow

__all__ = ["Outcomes", "Run", "RunEnvs", "SandboxRun", "message", "opened"]


@dataclasses.dataclass
class Run:
    envs: RunEnvs = dataclasses.field(default_factory=RunEnvs)
    outcomes: Outcomes = dataclasses.field(default_factory=Outcomes)
    bundle: Bundle | None = None
    is_worker: bool = False
    started: dt.datetime = dataclasses.field(default_factory=utcnow)
    # The user's own --junitxml / --html, copied into the bundle at the end.
    user_junit: str | None = None
    user_html: str | None = None
    # --announce KIND: post that message to the env's webhook at the end of the run.
    announce: str | None = None
    # Said at the start and kept in steps.log (a secret too short to mask safely).
    warnings: list[str] = dataclasses.field(default_factory=list)
    # --verdict-exit: pytest's exit code becomes the verdict's (0 GO, 1 NO-GO, 2 INCOMPLETE).
    verdict_exit: bool = False
    load_announced: bool = False  # the load targets were printed (once, before any load)
    # Where the sealed bundle is, and how it was signed: said with its path at the end.
    sealed: Path | None = None
    signed: str | None = None
