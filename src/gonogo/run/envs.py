"""The session's envs: the settings --env named, how a check opens one, and the sandboxes.

Kept apart from the outcomes and the writers because it is the one part both the plugin
and the CLI use: `opened` is how the CLI opens an env, `RunEnvs.open` how a check does,
and both end in `Environment.open`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gonogo.clients.http import RequestSink
from gonogo.config import EnvFile, EnvSettings
from gonogo.env import Environment, filled
from gonogo.errors import SandboxError
from gonogo.evidence import Bundle


@dataclasses.dataclass
class SandboxRun:
    """A sandbox env's stack for this run: started on the controller, described to workers."""

    info: Any = None  # gonogo.sandbox.info.StackInfo, imported only when a sandbox runs
    error: str | None = None
    stack: Any = None  # the Stack itself, on the process that owns the children

    def to_json(self) -> str:
        return json.dumps(
            {"info": self.info.model_dump() if self.info else None, "error": self.error}
        )

    @classmethod
    def from_json(cls, text: str) -> SandboxRun:
        data = json.loads(text)
        if not data["info"]:
            return cls(error=data["error"])
        from gonogo.sandbox.info import StackInfo

        return cls(info=StackInfo.model_validate(data["info"]), error=data["error"])


@dataclasses.dataclass
class RunEnvs:
    """What --env (and --release, --fault, --dialect, --expect-weights) made of the run."""

    all: list[EnvSettings] = dataclasses.field(default_factory=list)
    env_file: EnvFile | None = None
    faults: dict[str, str | None] = dataclasses.field(default_factory=dict)
    dialects: list[str] = dataclasses.field(default_factory=list)
    # --expect-weights: what test_route_weights expects, and where a local edge starts.
    expected_weights: dict[str, float] | None = None
    freeze_since: dt.datetime | None = None  # --freeze-since
    # --expect-shadow: the share test_shadow_traffic expects mirrored, and a local edge's.
    expected_shadow: float | None = None
    # --expect-operational: test_status_page_operational judges the page (T+30 on).
    expected_operational: bool = False
    sandboxes: dict[str, SandboxRun] = dataclasses.field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.all]

    @property
    def required_gates(self) -> list[str]:
        gates: list[str] = []
        for settings in self.all:
            gates += [g for g in settings.required_gates if g not in gates]
        return gates

    def declared(self, name: str) -> EnvSettings:
        """The env's settings as the env file (and --release) gave them."""
        return next(s for s in self.all if s.name == name)

    def settings(self, name: str) -> EnvSettings:
        """The env's settings as its checks see them: a running sandbox's addresses filled in."""
        sandbox = self.sandboxes.get(name)
        return filled(self.declared(name), sandbox.info if sandbox is not None else None)

    def open(self, name: str, bundle: Bundle | None) -> Environment:
        """The env for this run's checks, its requests recorded into the bundle."""
        settings = self.declared(name)
        info = None
        if settings.sandbox:
            sandbox = self.sandboxes.get(name)
            if sandbox is None or sandbox.info is None:
                cause = sandbox.error if sandbox is not None else "it was not started for this run"
                raise SandboxError(f"env '{name}': the local environment is not up: {cause}")
            info = sandbox.info
        return Environment.open(settings, info, sink(bundle, name))

    def start_sandboxes(self, bundle: Bundle) -> None:
        """One stack per sandbox env, logs into the bundle; a failure is kept, not raised,
        so each check of that env errors with its one-line cause."""
        for settings in self.all:
            if not settings.sandbox:
                continue
            # Only here: a plain install (no sandbox extra) never imports the sandbox's stack.
            from gonogo.sandbox.stack import Stack

            stack = Stack(
                faults=self.faults,
                logs=bundle.root / "sandbox" / settings.name,
                dialects=self.dialects,
                edge_weights=self.expected_weights,
                mirror_percent=self.expected_shadow or 0.0,
                # Blue and the edge cost a second app's start: only for a run that reads them.
                edge=self.expected_weights is not None
                or self.expected_shadow is not None
                or settings.slot == "blue",
            )
            sandbox = SandboxRun(stack=stack)
            self.sandboxes[settings.name] = sandbox
            try:
                sandbox.info = stack.start()
            except SandboxError as exc:
                sandbox.error = str(exc)
                bundle.log(f"sandbox {settings.name} failed to start: {exc}")
                continue
            faults = ", ".join(sorted(self.faults)) or "none"
            faults += f"; dialects: {', '.join(self.dialects) or 'none'}"
            pids = ", ".join(f"{name}={pid}" for name, pid in sandbox.info.pids.items())
            bundle.log(
                f"sandbox {settings.name} up in {sandbox.info.startup_s['total']:.2f} s at "
                f"{sandbox.info.base_url}; faults: {faults}; pids: {pids}"
            )

    def stop_sandboxes(self, bundle: Bundle | None) -> None:
        for name, sandbox in self.sandboxes.items():
            if sandbox.stack is not None:
                sandbox.stack.stop()
                sandbox.stack = None
                if bundle is not None:
                    bundle.log(f"sandbox {name} stopped")


def sink(bundle: Bundle | None, name: str) -> RequestSink | None:
    """Every request made for the env, one line each in its captures' requests.jsonl."""
    return bundle.request_log(name) if bundle is not None else None


@contextlib.contextmanager
def opened(
    settings: EnvSettings,
    *,
    faults: dict[str, str | None] | None = None,
    logs: Path | None = None,
    on_request: RequestSink | None = None,
    dialects: list[str] | None = None,
    edge: bool = False,
) -> Iterator[Environment]:
    """An env opened outside a pytest run (`gonogo watch`, `gonogo sandbox up`); `edge`:
    a sandbox starts its blue slot and edge too (`gonogo rollback`, `sandbox up`).

    A sandbox env's stack starts here and stops on every way out (an error,
    Ctrl-C, SIGTERM turned into KeyboardInterrupt), as the plugin's does.
    """
    stack = None
    try:
        info = None
        if settings.sandbox:
            from gonogo.sandbox import require

            require(settings.name)
            from gonogo.sandbox.stack import Stack

            stack = Stack(
                faults=faults or {},
                logs=logs,
                dialects=dialects,
                edge=edge or settings.slot == "blue",
            )
            info = stack.start()
        env = Environment.open(settings, info, on_request)
        try:
            yield env
        finally:
            env.close()
    finally:
        if stack is not None:
            stack.stop()
