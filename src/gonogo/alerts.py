"""The deployment's firing alerts, read where its monitoring keeps them.

The bash smoke's acceptance says "no critical alerts raised" and leaves the reading to a
person. Two places answer it as their own ecosystems mean it:

- Alertmanager's API v2 (`GET /api/v2/alerts?active=true&silenced=false&inhibited=false`,
  one `filter` per matcher): what the war room would be paged for. A silenced or
  inhibited alert is not counted, as Alertmanager does not notify for it.
- Prometheus's `ALERTS{alertstate="firing", ...}`: every rule that fires, before any
  routing. A pending alert (its `for` not yet held) is not firing.

Which alerts count is `[alerts] selector` (default `severity=~"critical|page"`): an
always-firing Watchdog, or a warning, never stops a cutover.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gonogo.env import Environment
from gonogo.errors import NotConfigured, TargetError

# Labels that say how an alert is kept, not what it is.
_BOOKKEEPING = {"__name__", "alertstate"}


@dataclass
class Firing:
    source: str  # "Alertmanager http://...:9093" or "Prometheus http://...:9090"
    query: str  # what was asked, as a person would type it
    alerts: list[dict[str, str]] = field(default_factory=list)  # each alert's labels
    answer: Any = None  # the answer as it came, for the evidence

    def names(self) -> list[str]:
        """Each alert as `AlertName{label="value", ...}`, sorted: the message's list."""
        out = []
        for labels in self.alerts:
            name = labels.get("alertname", "(no alertname)")
            rest = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "alertname")
            out.append(f"{name}{{{rest}}}" if rest else name)
        return sorted(out)


def firing(env: Environment) -> Firing:
    """The alerts matching [alerts] selector that fire now, from Alertmanager when the env
    names one, else from Prometheus; NotConfigured when it names neither."""
    settings = env.settings.alerts
    if settings.alertmanager_url:
        return _alertmanager(env, settings.alertmanager_url, settings.matchers())
    if env.settings.prometheus is not None:
        query = f'ALERTS{{alertstate="firing",{settings.selector}}}'
        result = env.metrics.promql(query)
        alerts = [
            {k: str(v) for k, v in (each.get("metric") or {}).items() if k not in _BOOKKEEPING}
            for each in result
        ]
        return Firing(f"Prometheus {env.settings.prometheus.url}", query, alerts, result)
    raise NotConfigured(
        env.name,
        "alerts",
        "firing alerts",
        "it names no Alertmanager ([alerts] alertmanager_url) and no [prometheus] url to read "
        "ALERTS from; set one of them",
    )


def _alertmanager(env: Environment, url: str, matchers: list[str]) -> Firing:
    client = env.client(url)
    params = [("active", "true"), ("silenced", "false"), ("inhibited", "false")]
    params += [("filter", m) for m in matchers]
    response = client.get("/api/v2/alerts", params=params)
    where = client.url("/api/v2/alerts")
    if response.status_code != 200:
        raise TargetError(
            f"GET {where} answered {response.status_code}, expected 200 with the active "
            f"alerts: {response.text[:200]}"
        )
    try:
        body = response.json()
    except ValueError:
        body = None
    shaped = isinstance(body, list) and all(
        isinstance(a, dict) and isinstance(a.get("labels"), dict) for a in body
    )
    if not shaped:
        raise TargetError(
            f"GET {where} answered {response.text[:120]!r}, not Alertmanager's API v2 list "
            'of alerts (each with "labels"); is [alerts] alertmanager_url Alertmanager?'
        )
    alerts = [{k: str(v) for k, v in a["labels"].items()} for a in body]
    query = f"GET {where}?active=true&silenced=false&inhibited=false filter={matchers}"
    return Firing(f"Alertmanager {url}", query, alerts, body)
