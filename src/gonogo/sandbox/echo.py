"""A server whose latency is known: the yardstick for the load engine's own accuracy.

    python -m gonogo.sandbox.echo PORT DELAY_MS [--jitter-ms J] [--stall-at S --stall-ms M]

GET /api/ping answers after DELAY_MS (plus a uniform 0..J ms), measured by the
server itself; from --stall-at seconds after the first request, for --stall-ms,
every request is held until the stall ends (a server that freezes: the case
coordinated omission hides). The true latencies the server imposed are at
GET /__truth (the server's own list, in ms), so a benchmark can compare.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


def build(delay_ms: float, jitter_ms: float, stall_at: float | None, stall_ms: float) -> Starlette:
    state: dict[str, float | None] = {"first": None}
    truth: list[float] = []

    async def ping(request: Request) -> JSONResponse:
        now = time.monotonic()
        if state["first"] is None:
            state["first"] = now
        wait = (delay_ms + random.uniform(0, jitter_ms)) / 1000.0  # noqa: S311
        if stall_at is not None:
            start = (state["first"] or now) + stall_at
            end = start + stall_ms / 1000.0
            if start <= now < end:
                wait = max(wait, end - now)
        await asyncio.sleep(wait)
        truth.append((time.monotonic() - now) * 1000.0)
        return JSONResponse({"ok": True})

    async def get_truth(request: Request) -> JSONResponse:
        return JSONResponse(truth)

    return Starlette(routes=[Route("/api/ping", ping), Route("/__truth", get_truth)])


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m gonogo.sandbox.echo")
    parser.add_argument("port", type=int)
    parser.add_argument("delay_ms", type=float)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--stall-at", type=float, default=None)
    parser.add_argument("--stall-ms", type=float, default=0.0)
    args = parser.parse_args()
    app = build(args.delay_ms, args.jitter_ms, args.stall_at, args.stall_ms)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
