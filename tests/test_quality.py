"""The standards CI holds the code to: ruff clean, formatted, mypy --strict clean.

Run as tests so the README's one test command enforces them too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SOURCES = [
    "src",
    "tests",
    "benchmarks",
    "conftest.py",
]


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed; install the dev group: pip install -e . --group dev")
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)


def test_ruff_lint() -> None:
    done = _run(_tool("ruff"), "check", "--no-cache", "--output-format", "concise", *SOURCES)
    assert done.returncode == 0, done.stdout + done.stderr


def test_ruff_format() -> None:
    done = _run(_tool("ruff"), "format", "--no-cache", "--check", *SOURCES)
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict() -> None:
    done = _run(_tool("mypy"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_layers_of_the_architecture_hold() -> None:
    """import-linter's contracts (pyproject.toml [tool.importlinter]): the layers of
    docs/architecture.md, nothing but run/cli/plugin importing the sandbox, the load
    engine's children free of pytest. An upward import fails here, naming the line."""
    done = _run(_tool("lint-imports"), "--no-cache")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout, done.stdout[-2000:]


def test_no_module_import_cycles() -> None:
    """No two of gonogo's modules import each other, directly or around a loop (imports
    inside functions and under TYPE_CHECKING count too: they hide a cycle, not remove it)."""
    grimp = pytest.importorskip("grimp", reason="grimp comes with import-linter (the dev group)")
    graph = grimp.build_graph("gonogo")
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    assert cycles == [], f"import cycles: {cycles}"


def test_an_upward_import_breaks_the_layers(tmp_path: Path) -> None:
    """The contracts are not vacuous: the package copied with one upward import added
    (the bottom layer's times.py importing the CLI) is refused, naming that import."""
    shutil.copytree(REPO / "src", tmp_path / "src")
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    times = tmp_path / "src" / "gonogo" / "times.py"
    times.write_text(times.read_text() + "\nimport gonogo.cli  # noqa: E402\n")
    done = subprocess.run(
        [_tool("lint-imports"), "--no-cache"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path / "src")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode != 0, done.stdout[-2000:]
    assert "BROKEN" in done.stdout and "gonogo.times -> gonogo.cli" in done.stdout, done.stdout


def test_the_cli_and_the_plugin_say_each_shared_option_the_same() -> None:
    """gonogo.options declares each option once: `pytest --help` and every `gonogo`
    command that takes it show its flag, metavar and the same words."""
    from gonogo.options import PYTEST_OPTIONS

    def flat(text: str) -> str:
        return " ".join(text.split())

    plugin = flat(_run(sys.executable, "-m", "pytest", "--help", "-p", "no:cacheprovider").stdout)
    shared = {"--env": ["watch", "rollback", "rules", "cutover plan"],
              "--env-file": ["envs", "watch", "rollback", "rules", "cutover run"],
              "--fault": ["sandbox up", "watch", "rollback", "cutover run"],
              "--dialect": ["sandbox up", "watch"],
              "--evidence-dir": ["watch", "rollback"]}  # fmt: skip
    for option in PYTEST_OPTIONS:
        assert flat(option.arguments()["help"]) in plugin, option.flag
        for command in shared.get(option.flag, []):
            done = _run(sys.executable, "-m", "gonogo.cli", *command.split(), "--help")
            text = flat(done.stdout)
            assert f"{option.flag} {option.metavar}" in text, (command, option.flag)
            assert flat(option.help) in text, (command, option.flag)


# Long because they are tables, not because they do much; each says so in its docstring.
DECLARATIVE = {
    ("src/gonogo/watch/triggers.py", "default_triggers"): "the rollback triggers, one entry each",
    (
        "src/gonogo/load/plan.py",
        "_builtin_tables",
    ): "the built-in plans as the env file writes them",
    (
        "src/gonogo/sandbox/app/gql.py",
        "_build",
    ): "the sandbox gateway's schema, as strawberry types",
}
MAX_FUNCTION_LINES = 80
MAX_MODULE_LINES = 500


def test_no_module_or_function_outgrows_its_limit() -> None:
    """#30: a module over 500 lines or a function over 80 is split by what it does; the
    declarative tables above are the only exceptions, each with its reason."""
    import ast

    too_long = []
    for path in sorted((REPO / "src").rglob("*.py")):
        text = path.read_text()
        name = str(path.relative_to(REPO))
        if text.count("\n") > MAX_MODULE_LINES:
            too_long.append(f"{name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES and (name, node.name) not in DECLARATIVE:
                    too_long.append(f"{name}:{node.lineno} {node.name}: {length} lines")
    assert not too_long, "\n".join(too_long)


def test_package_imports_without_pytest() -> None:
    """Everything but the plugin is usable from the CLI and other tools."""
    code = (
        "import sys, builtins\n"
        "real = builtins.__import__\n"
        "def guard(name, *a, **k):\n"
        "    if name == 'pytest' or name.startswith('_pytest'):\n"
        "        raise ImportError('pytest imported by ' + name)\n"
        "    return real(name, *a, **k)\n"
        "builtins.__import__ = guard\n"
        "import gonogo.config, gonogo.evidence, gonogo.env, gonogo.cli, gonogo.redact\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_every_error_is_drawn_in_the_tree() -> None:
    """errors.py's docstring is the map of what gonogo raises on purpose; a subclass
    defined anywhere in the package must appear in it."""
    code = (
        "import importlib, pkgutil, gonogo, gonogo.errors as e\n"
        "skip = ('gonogo.load.child', 'gonogo.sandbox.app')\n"
        "for m in pkgutil.walk_packages(gonogo.__path__, 'gonogo.'):\n"
        "    if not m.name.startswith(skip) and not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "def walk(c):\n"
        "    for s in c.__subclasses__():\n"
        "        yield s\n"
        "        yield from walk(s)\n"
        "doc = e.__doc__ or ''\n"
        "print(sorted({c.__name__ for c in walk(e.GonogoError) if c.__name__ not in doc}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]", f"not drawn in errors.py's tree: {done.stdout.strip()}"
