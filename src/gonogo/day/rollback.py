"""The seed's rollback macro as a command that checks every step before the next.

The macro was five lines of bash: flip the route to blue, freeze writes,
broadcast, check blue, unfreeze. Each line trusted the one before. Here each
step is verified the way the IC would ask for it:

    route     weights to blue 100: declared (read back from the edge), then
              observed (probes through the public URL, every one answered by blue)
    freeze    the write freeze is on, and proved: a CreateNote is refused
    notify    the rollback notice posted to the war room's webhook
    verify    blue's readyz (every dependency ok) and the smoke's reads
              (healthz, the persisted health query), through the public URL
    unfreeze  the freeze lifted, and proved: a CreateNote succeeds

A failed step stops the rollback: the result says what state the system was
left in and, for that step and each one after it, the macro's command to do
it by hand. The notice is the exception: a war room webhook that is down must
not leave writes frozen, so a failed post is recorded and the steps go on.

Everything is timed (the macro's "ETA 5 min", measured) and recorded in an
evidence bundle, requests included.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from gonogo.checks import short, write_freeze, write_refused
from gonogo.config import EnvSettings
from gonogo.config.day import EdgeSettings
from gonogo.day import edge
from gonogo.errors import ConfigError, GonogoError, TargetError

if TYPE_CHECKING:
    from gonogo.clients.http import HttpClient
    from gonogo.env import Environment
    from gonogo.evidence import Bundle

STEPS = ("route", "freeze", "notify", "verify", "unfreeze")
SETTLE_POLL_S = 1.0


@dataclass
class StepOutcome:
    step: str
    ok: bool
    said: str
    started: str
    seconds: float
    warning: bool = False  # recorded, but the rollback went on (the notice)


@dataclass
class Result:
    env: str
    to: str
    started: str
    steps: list[StepOutcome] = field(default_factory=list)
    seconds: float = 0.0
    left: str = ""  # the state the system was left in, when a step failed
    manual: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(s.ok or s.warning for s in self.steps) and len(self.steps) == len(STEPS)

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


class StepFailed(TargetError):
    """One step's verification failed; the message is what was expected and what came."""


def check_consent(settings: EnvSettings, confirm: str | None) -> None:
    """Production needs its own name typed again: a rollback moves every user's traffic."""
    if settings.production and confirm != settings.name:
        raise ConfigError(
            f"env '{settings.name}' is production: a rollback moves its traffic and freezes "
            f"its writes; add --confirm {settings.name} if that is really intended "
            "(--dry-run shows the steps)"
        )


def edge_settings(settings: EnvSettings) -> EdgeSettings:
    """The env's [edge]; the local env's own until its stack fills the address in."""
    if settings.edge is not None:
        return settings.edge
    if settings.sandbox:
        return EdgeSettings()
    raise ConfigError(
        f"env '{settings.name}' has no [edge]: a rollback moves traffic through it; add "
        f"[environments.{settings.name}.edge] (kind, name, services, slot_header)"
    )


def target_weights(settings: EnvSettings, to: str) -> dict[str, float]:
    table = edge_settings(settings)
    if to not in table.services:
        raise ConfigError(
            f"--to {to}: not a slot of env '{settings.name}'s edge; [edge] services names "
            f"{', '.join(table.services)}"
        )
    return {slot: 100.0 if slot == to else 0.0 for slot in table.services}


def manual_commands(settings: EnvSettings, to: str, public_url: str | None) -> dict[str, str]:
    """The seed macro's line for each step, filled in from the env's settings."""
    table = edge_settings(settings)
    ns = edge.namespace(settings) or "NAMESPACE"
    weights = target_weights(settings, to)
    url = (public_url or settings.base_url or "$PUBLIC_URL").rstrip("/")
    freeze = f"{url}{settings.api_path}{settings.smoke.write_freeze_path}"
    if table.kind == "ingress":
        # One line a service: bash's $'...' keeps the newlines on one command line.
        value = edge.format_annotation({table.services[s]: w for s, w in weights.items()})
        value = value.replace("\n", "\\n")
        route = (
            f"kubectl -n {ns} annotate ingress {table.name} --overwrite "
            f"{table.annotation}=$'{value}'"
        )
    else:
        services = [{"name": table.services[s], "weight": round(w)} for s, w in weights.items()]
        patch = json.dumps({"spec": {"weighted": {"services": services}}})
        route = (
            f"kubectl -n {ns} patch traefikservices.{table.group} {table.name} --type merge "
            f"-p {shlex.quote(patch)}"
        )
    auth = '-H "Authorization: Bearer $ADMIN_TOKEN"'
    hook = settings.comms.webhook_env or "WEBHOOK_URL"
    return {
        "route": route,
        "freeze": f'curl -fsS -X POST {auth} "{freeze}?enable=true"',
        "notify": (
            "curl -fsS -X POST -H 'Content-Type: application/json' "
            f'-d \'{{"text":"IntelGraph rollback: {settings.name} to {to}"}}\' "${hook}"'
        ),
        "verify": f'curl -fsS "{url}{settings.ready_path}"',
        "unfreeze": f'curl -fsS -X POST {auth} "{freeze}?enable=false"',
    }


class Rollback:
    """One rollback of `env` to the slot `to`, recorded into `bundle`."""

    def __init__(
        self,
        env: Environment,
        to: str,
        bundle: Bundle,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        say: Callable[[str], None] = print,
    ) -> None:
        self.env = env
        self.to = to
        self.bundle = bundle
        self.weights = target_weights(env.settings, to)
        self.route = edge.Edge(env)
        self.public: HttpClient = self.route.public
        self.monotonic = monotonic
        self.sleep = sleep
        self.now = now
        self.say = say

    # -- the steps ------------------------------------------------------------------

    def step_route(self) -> str:
        self.route.set(self.weights)
        declared = self.route.declared()
        wrong = edge.mismatch(self.weights, declared)
        if wrong:
            raise StepFailed(
                f"expected {declared.source} to declare {edge.describe(self.weights)} after the "
                f"patch; got {'; '.join(wrong)}"
            )
        deadline = self.monotonic() + self.route.settings.settle_s
        while True:
            observed = self.route.observe()
            problems = observed.failures[:1] + edge.compare(self.weights, observed)
            self.save(
                "route_observed.json", {"by_slot": dict(observed.counts), "problems": problems}
            )
            if not problems:
                return (
                    f"declared {edge.describe(declared.weights)}; observed "
                    f"{observed.counts[self.to]}/{observed.samples} answered by {self.to}"
                )
            if self.monotonic() >= deadline:
                raise StepFailed(
                    f"expected all traffic on {self.to} within "
                    f"{self.route.settings.settle_s:g} s of the change; got "
                    f"{'; '.join(problems)} (declared {edge.describe(declared.weights)})"
                )
            self.sleep(SETTLE_POLL_S)

    def _graphql(self) -> Any:
        """GraphQL through the public URL: what users reach, so blue once the route moved."""
        from gonogo.clients.graphql import GraphQLClient

        s = self.env.settings
        return GraphQLClient(self.public, s.graphql_path, s.graphql.persisted, s.graphql.method)

    def _write(self) -> Any:
        create = self.env.settings.operations.create_note
        return create, self._graphql().persisted(
            create, {create.var("text"): f"rollback {uuid.uuid4()}"}, write=True
        )

    def _freeze_then_write(self, enable: bool, capture: str) -> tuple[Any, Any, str]:
        """Switch the freeze, then try a CreateNote: the write that proves the switch."""
        code = write_freeze(self.env, enable, self.public)
        if code != 200:
            action = "enabling" if enable else "lifting"
            raise StepFailed(f"expected 200 from {action} the write freeze; got {code}")
        create, result = self._write()
        return create, result, self.save(capture, result.as_capture())

    def step_freeze(self) -> str:
        create, result, path = self._freeze_then_write(True, "freeze_write.json")
        if not write_refused(result, create):
            raise StepFailed(
                f"expected CreateNote refused while writes are frozen; got it accepted "
                f"({short(str(result.body))}); capture: {path}"
            )
        return "write freeze on; CreateNote refused"

    def step_notify(self) -> str:
        from gonogo.day import comms

        text = comms.render(
            "rollback-notice",
            {
                "env": self.env.name,
                "to": self.to,
                "weights": edge.describe(self.weights),
                "started": self.result.started,
                "evidence": str(self.bundle.root),
            },
            self._templates(),
        )
        said = comms.send(self.env.settings, text, self.bundle.request_log(self.env.name))
        self.save("rollback_notice.txt", text)
        if said != "posted to the webhook":
            raise StepFailed(said)
        return said

    def _templates(self) -> Any:
        from pathlib import Path

        folder = self.env.settings.comms.templates
        return Path(folder) if folder else None

    def step_verify(self) -> str:
        s = self.env.settings
        seen: list[str] = []
        for path in (s.ready_path, s.health_path):
            reply = self.public.get(path, auth=False)
            slot = self.route.slot_of_reply(reply)
            self.save(
                f"verify{path.replace('/', '_')}.json",
                {"status": reply.status_code, "slot": slot, "body": reply.text[:4000]},
            )
            if reply.status_code != 200 or slot not in (self.to, None):
                raise StepFailed(
                    f"expected {path} 200 from {self.to}; got {reply.status_code} from "
                    f"{slot or 'an unnamed slot'}: {short(reply.text)}"
                )
            seen.append(f"{path} 200")
        health = self._graphql().persisted(s.operations.health)
        if not health.ok:
            raise StepFailed(
                f"expected the persisted health query answered on {self.to}; got "
                f"{short(str(health.body))}"
            )
        return ", ".join(seen) + ", persisted health query ok"

    def step_unfreeze(self) -> str:
        _, result, path = self._freeze_then_write(False, "unfreeze_write.json")
        if not result.ok:
            raise StepFailed(
                f"expected CreateNote to succeed once the freeze is lifted; got "
                f"{short(str(result.body))}; capture: {path}"
            )
        return "write freeze lifted; CreateNote accepted"

    # -- the run ----------------------------------------------------------------------

    def save(self, name: str, content: Any) -> str:
        return self.bundle.relative(self.bundle.save(self.env.name, f"rollback/{name}", content))

    def run(self) -> Result:
        t0 = self.monotonic()
        self.result = Result(self.env.name, self.to, self.now().isoformat())
        manual = manual_commands(self.env.settings, self.to, self.route.settings.public_url)
        for name in STEPS:
            started, s0 = self.now().isoformat(), self.monotonic()
            self.say(f"gonogo rollback {name}: started")
            interrupted = False
            try:
                said = getattr(self, f"step_{name}")()
                ok = True
            except GonogoError as exc:
                said, ok = str(exc), False
            except KeyboardInterrupt:
                said, ok = "interrupted (Ctrl-C or SIGTERM) during the step", False
                interrupted = True
            except Exception as exc:
                # A bug of gonogo's must not leave writes frozen without a word: the step is
                # failed, and the state left and the commands that remain are said as for any.
                said, ok = f"internal error {type(exc).__name__}: {exc} (please report this)", False
            took = round(self.monotonic() - s0, 3)
            # A notice that did not go out is a warning; an interrupt stops wherever it comes.
            warning = not ok and name == "notify" and not interrupted
            outcome = StepOutcome(name, ok, said, started, took, warning=warning)
            self.result.steps.append(outcome)
            word = "ok" if ok else "WARNING" if outcome.warning else "FAILED"
            line = f"{name}: {word} in {outcome.seconds:.1f} s: {said}"
            self.bundle.log(f"rollback {line}")
            self.say(f"gonogo rollback {line}")
            if not ok and not outcome.warning:
                self.result.left = left_in(name)
                remaining = STEPS[STEPS.index(name) :]
                self.result.manual = [f"{step}: {manual[step]}" for step in remaining]
                break
        self.result.seconds = round(self.monotonic() - t0, 3)
        self.bundle.save(self.env.name, "rollback.json", self.result.as_json())
        return self.result


def left_in(failed: str) -> str:
    """The state the system is in when `failed` did not complete (the IC's first question)."""
    return {
        "route": "traffic NOT moved (see the observed weights); writes not frozen",
        "freeze": "traffic on the rollback target; writes NOT frozen (the freeze did not hold)",
        "notify": "traffic on the rollback target; writes FROZEN; the war room NOT told",
        "verify": "traffic on the rollback target, which is not healthy; writes FROZEN",
        "unfreeze": "traffic on the rollback target, healthy; writes still FROZEN",
    }[failed]
