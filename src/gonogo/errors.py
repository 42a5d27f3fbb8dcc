"""Every error gonogo raises on purpose, in one tree.

A release manager at 3 a.m. reads these as one line each, so every error
carries the context needed to act: which env, which file or variable, which
URL, and what to do about it. The plugin turns them into one-line pytest
outcomes instead of tracebacks; the CLI prints them and exits non-zero.

    GonogoError
    ├── ConfigError              the user's input is wrong: fix it and run again
    │   ├── EnvFileError         environments.toml missing, malformed or invalid
    │   ├── UnknownEnvironment   --env names no table in the file
    │   ├── MissingSecret        the variable named by token_env / password_env is unset
    │   ├── ReleaseError         (release.py) a release file is missing or malformed
    │   ├── PlanError            (load/plan.py) a load plan or threshold cannot be judged
    │   ├── LoadRefused          (load/session.py) load aimed at production without consent
    │   ├── CutoverError         (cutover.py) a timeline or day record unusable, a step refused
    │   └── UnmappedSignal       (signals.py) a [metrics] signal the deployment exports nowhere
    ├── NotConfigured            the env has no table for a component a check needs (a skip)
    ├── NotApplicable            the check cannot apply to this env (Neo4j-only on FalkorDB)
    ├── TargetError              the environment under test misbehaved
    │   ├── Unreachable          a connection or a timeout, with the URL and the limit
    │   ├── TooLarge             a response body over [limits] max_body_mb
    │   ├── BadAnswer            an answer that cannot be read (a body that does not decode)
    │   ├── SignatureError       (supplychain/signatures.py) a signature did not verify
    │   ├── EdgeError            (edge.py) the route's weights cannot be read or set
    │   ├── LayoutError          (audit.py) the audit log is not laid out as [security.audit] says
    │   └── StepFailed           (rollback.py) a rollback step's verification failed
    ├── LoadError                (load/engine.py) the load run itself failed
    │   └── GeneratorSaturated   (load/engine.py) a verdict turns on the generator's busy seconds
    ├── SandboxError             the local reference environment could not start
    └── BundleError              an evidence bundle cannot be read

A subclass defined beside the code that raises it is drawn here with its
module; tests/test_quality.py fails when one is missing from the drawing.

Nothing here imports pytest: the package is usable from the CLI and from
other tools. Messages never include secret values, only variable names.
"""

from __future__ import annotations


class GonogoError(Exception):
    """The root: anything gonogo reports as a one-line cause rather than a crash."""


class ConfigError(GonogoError):
    """The input is wrong (file, option, variable); the message says how to fix it."""


class EnvFileError(ConfigError):
    """environments.toml cannot be used as it is."""


class UnknownEnvironment(ConfigError):
    """--env names an environment the file does not define."""

    def __init__(self, name: str, known: list[str], path: str) -> None:
        import difflib

        self.name = name
        self.known = known
        near = difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean '{near[0]}'? " if near else ""
        listed = ", ".join(known) if known else "(none)"
        super().__init__(f"unknown env '{name}' in {path}: {hint}known envs: {listed}")


class MissingSecret(ConfigError):
    """A secret's variable is unset; the message names the variable, never a value."""

    def __init__(self, env: str, variable: str | None, purpose: str, key: str) -> None:
        self.env = env
        self.variable = variable
        if variable is None:  # the file names no variable at all
            super().__init__(
                f"env '{env}' names no variable for the {purpose}; add {key} = \"NAME\" to "
                f"[environments.{env}] and export NAME=... before the run"
            )
            return
        super().__init__(
            f"env '{env}': the {purpose} variable {variable} is not set; "
            f"export {variable}=... before the run (named by {key} in the env file)"
        )


class NotConfigured(GonogoError):
    """A check needs a component the env does not describe; the run skips it."""

    def __init__(self, env: str, table: str, what: str, fix: str | None = None) -> None:
        self.env = env
        self.table = table
        if fix is not None:  # not a missing table but a missing part of one, or of a release
            super().__init__(f"env '{env}': {what} not checked ({fix})")
            return
        super().__init__(
            f"env '{env}' has no [{table}] table: {what} not checked "
            f"(add [environments.{env}.{table}] to the env file to enable it)"
        )


class NotApplicable(GonogoError):
    """The check does not apply to this env by its nature, not by a missing setting.

    Reported as "n/a" (a skip in JUnit): the verdict counts it as accounted for,
    and the report says why, so it is never mistaken for a pass.
    """

    def __init__(self, why: str) -> None:
        super().__init__(f"not applicable: {why}")


class TargetError(GonogoError):
    """The environment under test did not behave; this is a finding, not a bug."""


class Unreachable(TargetError):
    """A request could not complete: names the URL, the time limit and the cause."""

    def __init__(self, url: str, timeout_s: float, cause: BaseException | str) -> None:
        self.url = url
        self.timeout_s = timeout_s
        reason = cause if isinstance(cause, str) else f"{type(cause).__name__}: {cause}"
        self.reason = reason
        super().__init__(
            f"cannot reach {url} within {timeout_s:g} s ({reason}); "
            "check that the env's address is right and the service is up"
        )


class TooLarge(TargetError):
    """A body over the cap: the check that needed it fails, and nothing huge is kept."""

    def __init__(self, url: str, status: int, max_body_mb: float) -> None:
        self.url = url
        self.status = status
        self.recorded = f"body truncated at {max_body_mb:g} MB ([limits] max_body_mb)"
        super().__init__(
            f"{url} answered {status} with a body over {max_body_mb:g} MB; read no further "
            f"(truncated at {max_body_mb:g} MB); if that size is expected, raise "
            "[limits] max_body_mb in the env file"
        )


class BadAnswer(TargetError):
    """The server answered, but not in a form that can be read: a gzip body that is not
    gzip, a transport error httpx raises past the connection. A finding about the target,
    like Unreachable, never a traceback."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"{url} answered in a form that cannot be read ({reason})")


class SandboxError(GonogoError):
    """A component of the local reference environment failed to start or answer."""


class BundleError(GonogoError):
    """An evidence bundle is missing, unreadable or not a gonogo bundle."""
