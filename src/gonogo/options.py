"""Every command-line option of gonogo, declared once for the pytest plugin and the CLI.

An option's flag, metavar and meaning are the same wherever it is read, so a release
manager who learns `--fault` from `gonogo sandbox up --help` reads the same words in
`pytest --help`. The plugin adds all of `PYTEST_OPTIONS` to its group as `--gonogo-*`,
with the short flag as an alias where the project has not taken it; a CLI command adds the
ones it takes by their short flag, as one value where the command acts on one env
(`required`, `many`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gonogo.vocabulary import DRILLS, EXCEPTIONS_FILE, RUN_KINDS


@dataclasses.dataclass(frozen=True)
class Option:
    flag: str
    dest: str  # pytest's: config.getoption(dest); the CLI names its own attribute
    help: str
    metavar: str | None = None
    many: bool = False  # repeatable; `many_help` says how
    many_help: str = ""
    switch: bool = False  # store_true
    choices: tuple[str, ...] | None = None

    @property
    def prefixed(self) -> str:
        """pytest's name for it: `--gonogo-env`; the short `--env` is an alias where free."""
        return "--gonogo-" + self.flag.removeprefix("--")

    def arguments(
        self, *, many: bool | None = None, required: bool = False, dest: str | None = None
    ) -> dict[str, Any]:
        """The keyword arguments for argparse's add_argument or pytest's addoption."""
        repeat = self.many if many is None else many
        kwargs: dict[str, Any] = {"dest": dest or self.dest}
        help = self.help + (self.many_help if repeat else "")
        if self.switch:
            return {**kwargs, "action": "store_true", "help": help}
        if repeat:
            kwargs |= {"action": "append", "default": []}
        else:
            kwargs["default"] = None
        if required:
            kwargs["required"] = True
        if self.choices is not None:
            kwargs["choices"] = list(self.choices)
        if self.metavar is not None:
            kwargs["metavar"] = self.metavar
        return {**kwargs, "help": help}


ENV = Option(
    "--env",
    "gonogo_envs",
    "the environment, by its name in the env file",
    metavar="NAME",
    many=True,
    many_help="; repeat (or comma-separate) to run every check once per env",
)
ENV_FILE = Option(
    "--env-file",
    "gonogo_env_file",
    "environments file (default: $GONOGO_ENV_FILE, else environments.toml in the rootdir "
    "or, for gonogo, the current folder)",
    metavar="PATH",
)
FAULT = Option(
    "--fault",
    "gonogo_faults",
    "sandbox envs only: start the local environment with this fault (list them with "
    "`gonogo sandbox faults`)",
    metavar="NAME[=VALUE]",
    many=True,
    many_help="; repeatable",
)
DIALECT = Option(
    "--dialect",
    "gonogo_dialects",
    "sandbox envs only: the local environment speaks as another stack does, healthy (list "
    "them with `gonogo sandbox dialects`)",
    metavar="NAME",
    many=True,
    many_help="; repeatable or comma-separated",
)
EVIDENCE_DIR = Option(
    "--evidence-dir",
    "gonogo_evidence_dir",
    "where run folders are written (default: reports/ in the rootdir, or for gonogo the "
    "current folder)",
    metavar="DIR",
)

PYTEST_OPTIONS: tuple[Option, ...] = (
    ENV,
    ENV_FILE,
    FAULT,
    DIALECT,
    Option(
        "--drill",
        "gonogo_drills",
        f"run an opt-in drill ({', '.join(DRILLS)}); never part of a default run",
        metavar="NAME",
        many=True,
    ),
    Option(
        "--expect-weights",
        "gonogo_expect_weights",
        "the route weights the edge must declare and serve now, like blue=10,green=90 "
        "(test_route_weights; a cutover step passes its own). On the local env the edge "
        "starts at these weights, as if the flip was made",
        metavar="SLOT=PCT,...",
    ),
    Option(
        "--expect-shadow",
        "gonogo_expect_shadow",
        "the share of requests the edge must mirror to green now, in percent "
        "(test_shadow_traffic; the cutover's T-40 passes its own). On the local env the edge "
        "starts mirroring that share",
        metavar="PCT",
    ),
    Option(
        "--expect-operational",
        "gonogo_expect_operational",
        "the status page must read Operational for the env's component, with no maintenance "
        "banner, now (test_status_page_operational; the cutover's T+30 passes it)",
        switch=True,
    ),
    Option(
        "--freeze-since",
        "gonogo_freeze_since",
        "when the change freeze began, with its offset (2026-12-01T01:00-07:00): "
        "test_no_rollout_during_freeze judges rollouts since then (a cutover step after T-60 "
        "passes the day's)",
        metavar="TIME",
    ),
    Option(
        "--allow-drill",
        "gonogo_allow_drill",
        "allow --drill against an env with production = true",
        switch=True,
    ),
    Option(
        "--exceptions-file",
        "gonogo_exceptions_file",
        f"policy exceptions table (default: {EXCEPTIONS_FILE} in the rootdir)",
        metavar="PATH",
    ),
    Option(
        "--release",
        "gonogo_release",
        "the release's evidence folder (migrations/, data-ops.md, graph-schema.json, ...); "
        "overrides the env's `release`",
        metavar="DIR",
    ),
    Option(
        "--announce",
        "gonogo_announce",
        "post that message (rendered into the bundle's comms/ every run) to the env's "
        "webhook ([comms] webhook_env) when the run ends",
        choices=RUN_KINDS,
    ),
    Option(
        "--load-workers",
        "gonogo_load_workers",
        "local Locust worker processes per load plan (default: the env's [load] workers, 1)",
        metavar="N",
    ),
    Option(
        "--load-summary-export",
        "gonogo_load_summary_export",
        "also write each load plan's result in k6's --summary-export JSON shape, as "
        "DIR/<env>-<plan>.json (for tools that already read k6's)",
        metavar="DIR",
    ),
    Option(
        "--allow-load",
        "gonogo_allow_load",
        "allow load plans (-m slo) against an env with production = true",
        switch=True,
    ),
    EVIDENCE_DIR,
    Option(
        "--verdict-exit",
        "gonogo_verdict_exit",
        "exit with the verdict's code instead of pytest's: 0 GO (with exceptions too), 1 NO-GO, "
        "2 INCOMPLETE (a required check that did not run), as `gonogo verdict` does",
        switch=True,
    ),
)

# The options whose value is a path, which pytest may take for a test path when separate.
PATH_OPTIONS = tuple(
    flag
    for o in PYTEST_OPTIONS
    if o.metavar in ("PATH", "DIR") and not o.many
    for flag in (o.flag, o.prefixed)
)
