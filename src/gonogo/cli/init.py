"""`gonogo init`: the files a team's repository needs to run gonogo, each commented.

Nothing is overwritten unless asked (`--force`): a repository that already has an
environments.toml keeps it, and the command names every file it left alone, so a second
`gonogo init --ci github` adds the workflow and touches nothing else.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from gonogo.cli.common import EXIT_BAD, EXIT_OK
from gonogo.vocabulary import EXCEPTIONS_FILE

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
# target (relative to the folder) -> template (relative to templates/)
FILES = {
    "environments.toml": "init/environments.toml",
    EXCEPTIONS_FILE: "init/policy-exceptions.md",
    "cutover.toml": "cutover/cutover.toml",
    "checks/test_example.py": "init/checks/test_example.py",
}
CI = {
    "github": (".github/workflows/gonogo.yml", "ci/github.yml"),
    "gitlab": (".gitlab-ci.yml", "ci/gitlab-ci.yml"),
}


def add_init(sub: Any) -> None:
    command = sub.add_parser(
        "init",
        help="write environments.toml, the exceptions table, cutover.toml and checks/ here",
        description="Write the files a repository needs to run gonogo, each commented: "
        + ", ".join(FILES)
        + "; with --ci, the CI job that gates on the verdict. Existing files are kept.",
    )
    command.add_argument(
        "folder", nargs="?", default=".", help="where to write (default: the current folder)"
    )
    command.add_argument(
        "--ci",
        choices=sorted(CI),
        help="also write the CI job: .github/workflows/gonogo.yml or .gitlab-ci.yml",
    )
    command.add_argument("--force", action="store_true", help="overwrite files that exist")
    command.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    wanted = dict(FILES)
    if args.ci:
        target, template = CI[args.ci]
        wanted[target] = template
    written: list[str] = []
    kept: list[str] = []
    for target, template in wanted.items():
        path = folder / target
        if path.exists() and not args.force:
            kept.append(target)
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes((TEMPLATES / template).read_bytes())
        except OSError as exc:
            print(
                f"gonogo init: cannot write {path}: {exc.strerror}; choose a writable folder "
                "(gonogo init FOLDER)"
            )
            return EXIT_BAD
        written.append(target)
    if written:
        print(f"gonogo init: wrote {', '.join(written)} in {folder.resolve()}")
    if kept:
        print(f"gonogo init: kept {', '.join(kept)} (they exist; --force overwrites them)")
    print(
        "gonogo init: next, fill in environments.toml's staging env, then: "
        "pytest -m smoke --gonogo-env local (needs gonogo[sandbox]) or --gonogo-env staging"
    )
    return EXIT_OK
