"""A team's k6 script read as a gonogo load plan: `gonogo load import-k6 script.js`.

The script is parsed as JavaScript (esprima, an ECMAScript parser), never matched with
patterns, so `options` written across lines, with comments, trailing commas or constants
read the same. What carries over: the scenarios of k6's open model (constant- and
ramping-arrival-rate: rate, timeUnit, duration, stages, startRate, preAllocatedVUs, maxVUs,
gracefulStop, tags), each scenario's requests as its `exec` function makes them (http.get,
and a persisted GraphQL operation posted as JSON), and the thresholds (strings and the
`{threshold, abortOnFail}` form). What cannot (a function's logic, `sleep` in an open
model, `check`, other executors, options gonogo has no word for) is listed, one line each,
so nothing is dropped silently.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from gonogo.errors import ConfigError
from gonogo.load.metrics import METRICS
from gonogo.load.threshold import PlanError, parse_threshold

OPEN_EXECUTORS = ("constant-arrival-rate", "ramping-arrival-rate")
# k6's scenario keys -> the plan's (config/load.py LoadScenario).
SCENARIO_KEYS = {
    "executor": "executor",
    "rate": "rate",
    "timeUnit": "time_unit",
    "duration": "duration",
    "startRate": "start_rate",
    "stages": "stages",
    "preAllocatedVUs": "pre_allocated",
    "maxVUs": "max_concurrency",
    "gracefulStop": "graceful_stop",
    "tags": "tags",
}
HTTP_METHODS = {"get": "GET", "post": "POST", "put": "PUT", "patch": "PATCH", "del": "DELETE"}


class _Opaque:
    """A value the script computes at run time (a call, a variable of its own)."""

    def __init__(self, what: str) -> None:
        self.what = what


@dataclass
class Imported:
    plan: dict[str, Any]  # [load.plans.NAME]: scenarios and thresholds
    left: list[str] = field(default_factory=list)  # what did not carry over, one line each


def _node_type(node: Any) -> str:
    return str(getattr(node, "type", ""))


class _Script:
    def __init__(self, source: str, name: str) -> None:
        import esprima

        self.name = name
        try:
            self.tree = esprima.parseModule(source, {"loc": True})
        except esprima.Error as exc:
            raise ConfigError(
                f"{name}: not JavaScript k6 can run ({exc}); fix the script"
            ) from None
        self.consts: dict[str, Any] = {}
        self.functions: dict[str, Any] = {}
        self.options: Any = None
        for statement in self.tree.body:
            self._top(statement)

    def _top(self, statement: Any) -> None:
        kind = _node_type(statement)
        declaration = statement
        if kind == "ExportNamedDeclaration":
            declaration = statement.declaration
        elif kind == "ExportDefaultDeclaration":
            self.functions["default"] = statement.declaration
            return
        if declaration is None:
            return
        if _node_type(declaration) == "FunctionDeclaration":
            self.functions[declaration.id.name] = declaration
        elif _node_type(declaration) == "VariableDeclaration":
            for item in declaration.declarations:
                if _node_type(item.id) != "Identifier" or item.init is None:
                    continue
                if item.id.name == "options":
                    self.options = item.init
                else:
                    self.consts[item.id.name] = self.value(item.init)

    def value(self, node: Any, scope: dict[str, Any] | None = None) -> Any:
        """A literal, an object or array of literals, a known constant, `__ENV.X || default`
        (its default), or a template of those; anything else is _Opaque."""
        if scope is not None:
            saved, self.consts = self.consts, scope
            try:
                return self.value(node)
            finally:
                self.consts = saved
        kind = _node_type(node)
        if kind == "Literal":
            return node.value
        if kind == "ObjectExpression":
            out: dict[str, Any] = {}
            for prop in node.properties:
                key = prop.key.name if _node_type(prop.key) == "Identifier" else prop.key.value
                out[str(key)] = self.value(prop.value)
            return out
        if kind == "ArrayExpression":
            return [self.value(e) for e in node.elements]
        if kind == "UnaryExpression" and node.operator == "-":
            inner = self.value(node.argument)
            return -inner if isinstance(inner, int | float) else _Opaque("-(...)")
        if kind == "Identifier":
            return self.consts.get(node.name, _Opaque(node.name))
        if kind == "LogicalExpression" and node.operator == "||":
            return self.value(node.right)
        if kind == "TemplateLiteral":
            parts: list[Any] = []
            for i, quasi in enumerate(node.quasis):
                parts.append(quasi.value.cooked)
                if i < len(node.expressions):
                    parts.append(self.value(node.expressions[i]))
            return parts if any(isinstance(p, _Opaque) for p in parts) else "".join(parts)
        if kind == "BinaryExpression" and node.operator == "+":
            left, right = self.value(node.left), self.value(node.right)
            if isinstance(left, str) and isinstance(right, str):
                return left + right
        if kind == "CallExpression" and _callee(node) == "JSON.stringify" and node.arguments:
            return {"json": self.value(node.arguments[0])}
        return _Opaque(kind)


def _callee(node: Any) -> str:
    callee = node.callee
    if _node_type(callee) == "Identifier":
        return str(callee.name)
    if _node_type(callee) == "MemberExpression" and _node_type(callee.object) == "Identifier":
        return f"{callee.object.name}.{getattr(callee.property, 'name', '?')}"
    return "?"


def _calls(node: Any) -> list[Any]:
    """Every call in a function body, in source order."""
    found: list[Any] = []

    def walk(item: Any) -> None:
        if isinstance(item, list):
            for element in item:
                walk(element)
            return
        if not hasattr(item, "type"):
            return
        if _node_type(item) == "CallExpression":
            found.append(item)
        for key, child in vars(item).items():
            if key not in ("type", "loc", "range"):
                walk(child)

    walk(node)
    return found


def _path(url: Any) -> str | None:
    """The request's path: an absolute URL's, or what follows a leading base constant."""
    if isinstance(url, str):
        parsed = urlparse(url)
        return (parsed.path or "/") + (f"?{parsed.query}" if parsed.query else "")
    if isinstance(url, list) and url and url[0] == "" and len(url) >= 3:
        rest = url[2:]
        if all(isinstance(p, str) for p in rest):
            text = "".join(rest)
            return text if text.startswith("/") else None
    return None


def _requests(script: _Script, function: str, left: list[str]) -> list[dict[str, Any]]:
    body = script.functions.get(function)
    if body is None:
        left.append(f"exec {function}(): no such exported function in {script.name}")
        return []
    # The function's own constants (`const payload = JSON.stringify({...})`), over the module's.
    scope = dict(script.consts)
    for statement in body.body.body:
        if _node_type(statement) == "VariableDeclaration":
            for item in statement.declarations:
                if _node_type(item.id) == "Identifier" and item.init is not None:
                    scope[item.id.name] = script.value(item.init, scope)
    requests: list[dict[str, Any]] = []
    for call in _calls(body.body):
        name = _callee(call)
        line = call.loc.start.line
        method = HTTP_METHODS.get(name.removeprefix("http.")) if name.startswith("http.") else None
        if method is not None:
            request = _request(script, method, call, left, f"{function}() line {line}", scope)
            if request is not None:
                requests.append(request)
        elif name == "sleep":
            left.append(
                f"sleep() in {function}() line {line}: not carried; in an arrival-rate scenario "
                "iterations start on schedule, a sleep only holds a VU"
            )
        elif name == "check":
            left.append(
                f"check() in {function}() line {line}: not carried; a failed response counts in "
                "http_req_failed, which a threshold judges"
            )
        elif name not in ("JSON.stringify",):
            left.append(
                f"{name}() in {function}() line {line}: the function's logic is not carried"
            )
    return requests


def _request(
    script: _Script, method: str, call: Any, left: list[str], where: str, scope: dict[str, Any]
) -> dict[str, Any] | None:
    args = [script.value(a, scope) for a in call.arguments]
    path = _path(args[0]) if args else None
    if path is None:
        left.append(f"http.{method.lower()} in {where}: its URL is computed; not carried")
        return None
    if method == "GET":
        segment = path.split("?")[0].rstrip("/").rsplit("/", 1)[-1] or "root"
        return {"name": segment, "kind": "http", "path": path}
    body = args[1] if len(args) > 1 else None
    document = body.get("json") if isinstance(body, dict) else None
    if isinstance(document, dict) and isinstance(document.get("id"), str):
        operation = document["id"]
        variables = document.get("variables") if isinstance(document.get("variables"), dict) else {}
        request: dict[str, Any] = {"name": operation, "kind": "graphql", "operation": operation}
        if variables:
            request["variables"] = variables
        return request
    left.append(
        f"http.{method.lower()} {path} in {where}: a body other than a persisted GraphQL "
        "operation ({id, variables}) is not carried"
    )
    return None


def _scenario(script: _Script, name: str, table: Any, left: list[str]) -> dict[str, Any] | None:
    if not isinstance(table, dict):
        left.append(f"scenario {name}: not an object literal; not carried")
        return None
    executor = table.get("executor")
    if executor not in OPEN_EXECUTORS:
        left.append(
            f"scenario {name}: executor {executor!r} is not carried (gonogo's plans are k6's open "
            f"model: {', '.join(OPEN_EXECUTORS)})"
        )
        return None
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key == "exec":
            continue
        target = SCENARIO_KEYS.get(key)
        if target is None or isinstance(value, _Opaque):
            left.append(f"scenario {name}: {key} is not carried")
            continue
        out[target] = value
    function = table.get("exec", "default")
    requests = _requests(script, str(function), left)
    if not requests:
        left.append(f"scenario {name}: {function}() makes no request gonogo can send; dropped")
        return None
    out["requests"] = requests
    return out


def _thresholds(options: dict[str, Any], left: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for key, listed in (options.get("thresholds") or {}).items():
        for item in listed if isinstance(listed, list) else [listed]:
            expression = item.get("threshold") if isinstance(item, dict) else item
            if isinstance(item, dict) and item.get("abortOnFail"):
                left.append(
                    f"threshold {key}: abortOnFail is not carried; gonogo judges a plan when it "
                    "ends (bound the plan's duration instead)"
                )
            try:
                parsed = parse_threshold(str(key), str(expression))
            except PlanError as exc:
                left.append(f"threshold {key}: {exc}")
                continue
            if parsed.metric not in METRICS:
                left.append(
                    f"threshold {key}: k6's {parsed.metric} is not a metric gonogo measures "
                    f"({', '.join(sorted(METRICS))}); not carried"
                )
                continue
            out.setdefault(str(key), []).append(parsed.expression)
    return out


def import_k6(path: Path) -> Imported:
    """The plan a k6 script's options describe, and what did not carry over."""
    try:
        source = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the k6 script {path}: {exc}") from None
    script = _Script(source, str(path))
    if script.options is None:
        raise ConfigError(
            f"{path}: no `export const options = {{...}}`; a k6 script states its plan there"
        )
    options = script.value(script.options)
    if not isinstance(options, dict):
        raise ConfigError(f"{path}: options is computed, not an object literal; write it as one")
    left: list[str] = []
    for key in options:
        if key not in ("scenarios", "thresholds"):
            left.append(
                f"options.{key} is not carried (gonogo's plans are scenarios and thresholds)"
            )
    scenarios: dict[str, Any] = {}
    for name, table in (options.get("scenarios") or {}).items():
        converted = _scenario(script, str(name), table, left)
        if converted is not None:
            scenarios[str(name)] = converted
    if not scenarios:
        raise ConfigError(
            f"{path}: no scenario gonogo can run ({'; '.join(left) or 'options has no scenarios'})"
        )
    return Imported({"scenarios": scenarios, "thresholds": _thresholds(options, left)}, left)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    raise TypeError(type(value))


def _key(key: str) -> str:
    bare = key.replace("_", "").replace("-", "").isalnum()
    return key if bare else json.dumps(key)


def to_toml(imported: Imported, env: str, name: str, source: str) -> str:
    """The plan as the env file writes it, under [environments.ENV.load.plans.NAME]."""
    base = f"environments.{_key(env)}.load.plans.{_key(name)}"
    lines = [f"# Imported from {source} by gonogo load import-k6."]
    lines += [f"# left out: {line}" for line in imported.left]
    for scenario, table in imported.plan["scenarios"].items():
        lines += ["", f"[{base}.scenarios.{_key(scenario)}]"]
        lines += [f"{_key(k)} = {_toml(v)}" for k, v in table.items()]
    if imported.plan["thresholds"]:
        lines += ["", f"[{base}.thresholds]"]
        lines += [f"{_key(k)} = {_toml(v)}" for k, v in imported.plan["thresholds"].items()]
    return "\n".join(lines) + "\n"
