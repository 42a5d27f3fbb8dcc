"""The route in front of blue and green: its weights as declared, as observed, and changed.

The seed's macro flipped traffic by editing Traefik's service-weights
annotation and trusting it. A declared weight is only what the edge was told;
what the IC needs is what users get. So weights are read two ways:

- declared: the Ingress's annotation (Traefik's format: one `service: N%` line
  per service; services of the route it does not list share what is left
  equally), or a weighted TraefikService (integer weights, relative);
- observed: N probes to the public URL, each answer naming its slot.

The observed share must sit within a binomial tolerance of the declared one:
Z_TOLERANCE standard deviations, so a healthy edge (weighted round robin, or a
random pick) is a false alarm less than once in ten thousand steps, while a
route left at 100/0 when 10/90 was declared is off by far more. A declared 0
or 100 % allows no answer from the other slot at all.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import yaml

from gonogo.config.day import EdgeSettings
from gonogo.errors import ConfigError, GonogoError, TargetError
from gonogo.series import Selector, parse_selector

if TYPE_CHECKING:
    from gonogo.clients.http import HttpClient
    from gonogo.env import Environment

Z_TOLERANCE = 4.0
MAX_PROBE_FAILURES = 5
_NUMBER = re.compile(r"[0-9]+(?:\.[0-9]+)?")


class EdgeError(TargetError):
    """The edge's weights cannot be read or changed as declared (one line, the fix in it)."""


def parse_expected(text: str, option: str = "--expect-weights") -> dict[str, float]:
    """`blue=10,green=90` -> {"blue": 10.0, "green": 90.0}; percentages summing to 100."""
    weights: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        slot, sep, value = part.partition("=")
        try:
            weights[slot.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not slot.strip() or not 0 <= weights.get(slot.strip(), -1) <= 100:
            raise ConfigError(
                f"{option} {text!r}: each slot is NAME=PERCENT (0-100), like blue=10,green=90"
            )
    if len(weights) < 2 or abs(sum(weights.values()) - 100) > 0.01:
        raise ConfigError(
            f"{option} {text!r}: name both slots, with percentages that sum to 100 "
            "(blue=10,green=90)"
        )
    return weights


def parse_annotation(text: str, route_services: list[str]) -> dict[str, float]:
    """Traefik's service-weights annotation as percentages per service.

    Read as Traefik reads it: YAML (block or flow form, `{blue: 10%, green: 90%}`, comments
    included), each value a percentage with or without '%'. Services of the route that the
    annotation leaves out share the rest equally, as Traefik does; a total over 100 % is
    refused.
    """
    form = "a YAML mapping of 'service: N%', one per line"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" line {where.line + 1}" if where is not None else ""
        raise EdgeError(
            f"service-weights{line} is not YAML ({_problem(exc)}); write {form}"
        ) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise EdgeError(f"service-weights {text.strip()!r} is not {form}")
    listed: dict[str, float] = {}
    for service, value in data.items():
        weight = _percent(value)
        if weight is None:
            raise EdgeError(
                f"service-weights {service}: {value!r} is not a percentage like 10% ({form})"
            )
        listed[str(service)] = weight
    total = sum(listed.values())
    if total > 100.0001:
        raise EdgeError(f"service-weights add up to {total:g} %, over 100 %: {listed}")
    rest = [s for s in route_services if s not in listed]
    share = (100 - total) / len(rest) if rest else 0.0
    return {**listed, **{s: share for s in rest}}


def _percent(value: Any) -> float | None:
    """10, 10.5, "10%", "10.5 %" -> the number; anything else (a bool, a list, -5) -> None."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    text = str(value).strip().removesuffix("%").strip()
    if not _NUMBER.fullmatch(text):
        return None
    return float(text)


def _problem(exc: yaml.YAMLError) -> str:
    return str(getattr(exc, "problem", None) or exc).splitlines()[0]


def format_annotation(by_service: dict[str, float]) -> str:
    """Weights as Traefik's service-weights annotation: one `service: N%` line each."""
    return "".join(f"{service}: {weight:g}%\n" for service, weight in by_service.items())


def traefik_shares(services: list[dict[str, Any]]) -> dict[str, float]:
    """A weighted TraefikService's services as percentages (its weights are relative
    integers, 1 when left out)."""
    total = sum(int(svc.get("weight", 1)) for svc in services)
    return {
        str(svc.get("name")): 100.0 * int(svc.get("weight", 1)) / total if total else 0.0
        for svc in services
    }


def namespace(settings: Any) -> str | None:
    """The edge's namespace: [edge] namespace, else [cluster]'s (an EnvSettings)."""
    edge = settings.edge
    if edge is not None and edge.namespace:
        return str(edge.namespace)
    return settings.cluster.namespace if settings.cluster else None


def _route_services(ingress: dict[str, Any]) -> list[str]:
    names: list[str] = []
    for rule in (ingress.get("spec") or {}).get("rules") or []:
        for path in ((rule or {}).get("http") or {}).get("paths") or []:
            name = (((path or {}).get("backend") or {}).get("service") or {}).get("name")
            if name and name not in names:
                names.append(name)
    return names


@dataclass
class Declared:
    """Percent per slot, as the edge declares it, and where that was read."""

    weights: dict[str, float]
    source: str
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class Observed:
    counts: Counter[str]
    samples: int
    failures: list[str]


class Edge:
    """One env's edge: its objects read and patched through [cluster] (the kubernetes
    client), its traffic probed through the env's own HTTP client (so every probe is in
    requests.jsonl)."""

    def __init__(self, env: Environment) -> None:
        settings: EdgeSettings = env.settings.require("edge", "the edge in front of blue and green")
        self.env = env
        self.settings: EdgeSettings = settings
        self.slot_of = {svc: slot for slot, svc in settings.services.items()}

    @cached_property
    def public(self) -> HttpClient:
        """The URL users reach ([edge] public_url, else base_url): one client for every
        probe (a rollback probes it again each second until the traffic has moved)."""
        if self.settings.public_url:
            return self.env.client(self.settings.public_url, self.env.token)
        return self.env.http

    @property
    def where(self) -> str:
        s = self.settings
        ns = namespace(self.env.settings) or ""
        if s.kind == "ingress":
            return f"ingress {ns}/{s.name} annotation {s.annotation}"
        return f"traefikservices.{s.group} {ns}/{s.name}"

    def declared(self) -> Declared:
        s = self.settings
        if s.kind == "ingress":
            ingress = self.env.cluster.ingress(s.name, s.namespace)
            annotation = ((ingress.get("metadata") or {}).get("annotations") or {}).get(
                s.annotation
            )
            if annotation is None:
                raise EdgeError(
                    f"{self.where}: no such annotation, so the route sends traffic by its own "
                    "default; set it (gonogo rollback does) or check [edge] annotation"
                )
            per_service = parse_annotation(annotation, _route_services(ingress))
            raw = {"annotation": annotation}
        else:
            obj = self.env.cluster.custom(s.group, "traefikservices", s.name, s.namespace)
            services = ((obj.get("spec") or {}).get("weighted") or {}).get("services") or []
            if not services:
                raise EdgeError(f"{self.where}: no spec.weighted.services, so no weights")
            per_service = traefik_shares(services)
            raw = {"services": services}
        weights = {slot: per_service.get(svc, 0.0) for slot, svc in s.services.items()}
        others = {k: v for k, v in per_service.items() if k not in self.slot_of and v > 0}
        if others:
            raise EdgeError(
                f"{self.where}: weights go to services that are not a slot ({others}); "
                f"[edge] services names {dict(s.services)}"
            )
        return Declared(weights, self.where, raw)

    def probe(
        self,
        path: str,
        n: int,
        *,
        auth: bool,
        problem: Callable[[Any], str | None] = lambda reply: None,
    ) -> tuple[list[Any], list[str]]:
        """N requests to the public URL: the good answers, and what failed (no answer, or
        the `problem` an answer has). Bounded: 200 timeouts would be an hour, so it stops
        after MAX_PROBE_FAILURES."""
        replies: list[Any] = []
        failures: list[str] = []
        for _ in range(n):
            if len(failures) >= MAX_PROBE_FAILURES:
                failures.append(f"stopped after {MAX_PROBE_FAILURES} probes failed")
                break
            try:
                reply = self.public.get(path, auth=auth)
            except GonogoError as exc:
                failures.append(str(exc))
                continue
            said = problem(reply)
            if said is None:
                replies.append(reply)
            else:
                failures.append(said)
        return replies, failures

    def observe(self, samples: int | None = None) -> Observed:
        """N probes to the public URL; each answer's slot from the header or body field."""
        s = self.settings
        n = samples or s.samples
        source = f"header {s.slot_header}" if s.slot_header else f"field {s.slot_field}"

        def unnamed(reply: Any) -> str | None:
            if self.slot_of_reply(reply) is None:
                return f"HTTP {reply.status_code} named no slot ({source})"
            return None

        replies, failures = self.probe(s.probe_path, n, auth=False, problem=unnamed)
        counts: Counter[str] = Counter(str(self.slot_of_reply(reply)) for reply in replies)
        return Observed(counts, n, failures)

    def green_series(self) -> tuple[Selector, str]:
        """Green's request series ([metrics] requests, narrowed by [edge] green_match) and
        the label naming the status code: what the shadow and error-spike checks count."""
        mapping = self.env.signals.mapping("requests")
        if mapping.series is None:
            raise ConfigError(
                "the edge's checks read [metrics] requests as a series (they compare two "
                'scrapes of green); map it with series = "metric{label=...}" rather than promql'
            )
        series = mapping.series
        match = self.settings.green_match.strip()
        for matcher in parse_selector(f"x{{{match}}}").matchers if match else ():
            series = series.and_label(matcher.label, matcher.op, matcher.value)
        return series, mapping.status_label

    def slot_of_reply(self, reply: Any) -> str | None:
        s = self.settings
        value: Any = None
        if s.slot_header:
            value = reply.headers.get(s.slot_header)
        if value is None and s.slot_field:
            try:
                body = reply.json()
            except ValueError:
                body = None
            for part in s.slot_field.split("."):
                body = body.get(part) if isinstance(body, dict) else None
            value = body
        if value is None:
            return None
        text = str(value).strip()
        return self.slot_of.get(text, text)

    def set(self, weights: dict[str, float]) -> None:
        """Declare new weights the way the seed's macro did (the annotation), or on the
        TraefikService; integers, since TraefikService weights are."""
        s = self.settings
        unknown = sorted(set(weights) - set(s.services))
        if unknown:
            raise ConfigError(
                f"unknown slot(s) {', '.join(unknown)}; [edge] services names "
                f"{', '.join(s.services)}"
            )
        if s.kind == "ingress":
            text = format_annotation({s.services[slot]: w for slot, w in weights.items()})
            self.env.cluster.patch_ingress(
                s.name, {"metadata": {"annotations": {s.annotation: text}}}, s.namespace
            )
            return
        obj = self.env.cluster.custom(s.group, "traefikservices", s.name, s.namespace)
        services = ((obj.get("spec") or {}).get("weighted") or {}).get("services") or []
        by_service = {s.services[slot]: round(w) for slot, w in weights.items()}
        changed = [{**svc, "weight": by_service.get(svc.get("name"), 0)} for svc in services]
        self.env.cluster.patch_custom(
            s.group,
            "traefikservices",
            s.name,
            {"spec": {"weighted": {"services": changed}}},
            s.namespace,
        )


def tolerance(percent: float, samples: int) -> float:
    """The allowed distance, in answers, between observed and expected counts."""
    p = percent / 100.0
    return Z_TOLERANCE * math.sqrt(samples * p * (1 - p))


def compare(expected: dict[str, float], observed: Observed) -> list[str]:
    """Every slot whose observed share is outside its tolerance, said with numbers."""
    problems: list[str] = []
    answered = sum(observed.counts.values())
    for slot, percent in expected.items():
        want = answered * percent / 100.0
        got = observed.counts[slot]
        allowed = tolerance(percent, answered)
        if abs(got - want) > allowed:
            share = 100.0 * got / answered if answered else 0.0
            problems.append(
                f"{slot} answered {got}/{answered} ({share:.1f} %), expected {percent:g} % "
                f"(±{allowed:.0f} answers)"
            )
    strangers = sorted(set(observed.counts) - set(expected))
    if strangers:
        problems.append(
            "answers from unknown slot(s) "
            + ", ".join(f"{s} ({observed.counts[s]})" for s in strangers)
        )
    return problems


def mismatch(expected: dict[str, float], declared: Declared) -> list[str]:
    return [
        f"{slot} declared {declared.weights.get(slot, 0.0):g} %, expected {percent:g} %"
        for slot, percent in expected.items()
        if abs(declared.weights.get(slot, 0.0) - percent) > 0.5
    ]


def describe(weights: dict[str, float]) -> str:
    return "/".join(f"{slot} {w:g}" for slot, w in weights.items())
