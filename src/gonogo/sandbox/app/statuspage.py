"""The env's public status page, as Atlassian Statuspage's API v1 serves it (recorded).

No Statuspage runs here. Two of its reads are answered, shaped as the vendor documents
them (https://developer.statuspage.io): the page's components and its maintenances in
progress, under `Authorization: OAuth KEY` (here, a key the sandbox minted). After
T+30 the page reads Operational with no maintenance; with `status-degraded` the gateway's
component is degraded_performance and the cutover's maintenance is still in progress, its
banner up.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from gonogo.sandbox.app.security import AuthFailed, verify
from gonogo.sandbox.tokens import AUDIENCE, ISSUER

PAGE_ID = "kctbh9vrtdwd"
COMPONENT = "IntelGraph API"
_AT = "2026-11-02T09:00:00.000Z"


def _component(cid: str, name: str, position: int, status: str) -> dict[str, Any]:
    return {
        "id": cid,
        "page_id": PAGE_ID,
        "group_id": None,
        "created_at": _AT,
        "updated_at": _AT,
        "group": False,
        "name": name,
        "description": None,
        "position": position,
        "status": status,
        "showcase": True,
        "only_show_if_degraded": False,
        "automation_email": f"component+{cid}@notifications.statuspage.io",
        "start_date": "2026-11-02",
    }


def _maintenance() -> dict[str, Any]:
    return {
        "id": "p31zjtct2jer",
        "components": [_component("8kbf7d35c070", COMPONENT, 1, "under_maintenance")],
        "created_at": _AT,
        "impact": "maintenance",
        "impact_override": None,
        "incident_updates": [],
        "monitoring_at": None,
        "name": "IntelGraph v3 cutover",
        "page_id": PAGE_ID,
        "postmortem_body": None,
        "resolved_at": None,
        "scheduled_auto_completed": True,
        "scheduled_auto_in_progress": True,
        "scheduled_for": _AT,
        "scheduled_remind_prior": False,
        "scheduled_until": "2026-11-02T11:00:00.000Z",
        "shortlink": "http://stspg.io/p31zjtct2jer",
        "started_at": _AT,
        "status": "in_progress",
        "updated_at": _AT,
    }


def mount(app: FastAPI, public_key: bytes, degraded: Callable[[], bool]) -> None:
    base = "/statuspage/v1/pages/{page_id}"

    def refused(request: Request, page_id: str) -> JSONResponse | None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        try:
            verify(key if scheme == "OAuth" else None, public_key, ISSUER, AUDIENCE)
        except AuthFailed:
            return JSONResponse({"error": "Could not authenticate"}, status_code=401)
        if page_id != PAGE_ID:
            return JSONResponse(
                {"error": "The requested resource could not be found."}, status_code=404
            )
        return None

    @app.get(f"{base}/components")
    async def components(page_id: str, request: Request) -> Any:
        if (answer := refused(request, page_id)) is not None:
            return answer
        status = "degraded_performance" if degraded() else "operational"
        return [
            _component("8kbf7d35c070", COMPONENT, 1, status),
            _component("vtnh60py4yd7", "IntelGraph Stream", 2, "operational"),
        ]

    @app.get(f"{base}/incidents/active_maintenance")
    async def active_maintenance(page_id: str, request: Request) -> Any:
        if (answer := refused(request, page_id)) is not None:
            return answer
        return [_maintenance()] if degraded() else []
