"""T+30 "Status page: Operational; lift maintenance banner", read from the page itself.

Atlassian Statuspage's API v1, as its vendor documents it:

- `GET {api_url}/pages/{page_id}/components`: a list of components, each with `id`,
  `name` and `status`, one of operational, under_maintenance, degraded_performance,
  partial_outage, major_outage;
- `GET {api_url}/pages/{page_id}/incidents/active_maintenance`: the maintenances in
  progress, each an incident with `name`, `status` (in_progress, verifying) and
  `components`. Any of them puts the maintenance banner on the page.

Authenticated with `Authorization: OAuth KEY`. The API allows one request a second per
key; the check makes two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gonogo.checks import body, short
from gonogo.errors import TargetError

if TYPE_CHECKING:
    from gonogo.env import Environment

OPERATIONAL = "operational"


@dataclass
class Page:
    where: str
    component: dict[str, Any] | None
    components: list[dict[str, Any]]
    maintenances: list[dict[str, Any]]


def _list(client: Any, path: str) -> list[dict[str, Any]]:
    reply = client.get(path)
    data = body(reply)
    if reply.status_code != 200 or not isinstance(data, list):
        raise TargetError(
            f"Statuspage {client.url(path)} answered {reply.status_code} {short(reply.text)}, "
            "not a list; check [statuspage] api_url, page_id and the key in token_env"
        )
    return [item for item in data if isinstance(item, dict)]


def read(env: Environment) -> Page:
    table = env.settings.require("statuspage", "the status page")
    client = env.client(table.api_url, env.statuspage_key, auth_scheme="OAuth")
    base = f"/pages/{table.page_id}"
    components = _list(client, f"{base}/components")
    maintenances = _list(client, f"{base}/incidents/active_maintenance")
    found = next((c for c in components if table.component in (c.get("id"), c.get("name"))), None)
    return Page(client.url(base), found, components, maintenances)


def problems(page: Page, component: str) -> list[str]:
    found = []
    if page.component is None:
        names = ", ".join(str(c.get("name")) for c in page.components) or "none"
        found.append(f"no component '{component}' on the page (it has: {names})")
    elif page.component.get("status") != OPERATIONAL:
        found.append(f"'{page.component.get('name')}' is {page.component.get('status')}")
    for maintenance in page.maintenances:
        found.append(
            f"maintenance '{maintenance.get('name')}' is {maintenance.get('status')}: its "
            "banner is still on the page"
        )
    return found
