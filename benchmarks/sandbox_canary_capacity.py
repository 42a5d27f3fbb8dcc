"""Does the local environment sustain the seed canary with p95 well under 150 ms?

    python benchmarks/sandbox_canary_capacity.py [--seconds 30] [--runs 3]

Open model (as k6's constant-arrival-rate): each request starts on its schedule
whatever the server does, and its latency is measured from that intended start,
so a stalling server cannot hide behind a slow generator. Per run, side by side:
- gateway: GET /api/ping with a token, 50 req/s
- gql:     persisted health query, 20 req/s
- peer:    GET /healthz (no auth, no work), 50 req/s: the floor of this machine
Prints p50/p95/p99, errors and achieved rate per scenario, medians over runs, and
the gateway/peer p95 ratio. The generator runs in this process, the app in its own.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from dataclasses import dataclass, field

import httpx

from gonogo.checks import percentile
from gonogo.sandbox.stack import Stack


@dataclass
class Scenario:
    name: str
    rate: float
    method: str
    path: str
    body: dict[str, object] | None = None
    auth: bool = True
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    late_starts: int = 0


async def drive(client: httpx.AsyncClient, s: Scenario, seconds: float, t0: float) -> None:
    tasks = []
    n = int(s.rate * seconds)
    for i in range(n):
        intended = t0 + i / s.rate
        delay = intended - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -0.005:
            s.late_starts += 1
        tasks.append(asyncio.create_task(one(client, s, intended)))
    await asyncio.gather(*tasks)


async def one(client: httpx.AsyncClient, s: Scenario, intended: float) -> None:
    try:
        r = await client.request(
            s.method, s.path, json=s.body, headers=None if s.auth else {"Authorization": ""}
        )
        ok = r.status_code == 200 and (s.body is None or "errors" not in r.json())
    except httpx.HTTPError:
        ok = False
    s.latencies_ms.append((time.perf_counter() - intended) * 1000.0)
    if not ok:
        s.errors += 1


async def run_once(base_url: str, token: str, seconds: float) -> list[Scenario]:
    scenarios = [
        Scenario("gateway", 50, "GET", "/api/ping"),
        Scenario("gql", 20, "POST", "/graphql", {"id": "op:healthQuery:v1"}),
        Scenario("peer", 50, "GET", "/healthz", auth=False),
    ]
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=100)
    async with httpx.AsyncClient(
        base_url=base_url, timeout=10, limits=limits, headers={"Authorization": f"Bearer {token}"}
    ) as client:
        t0 = time.perf_counter() + 0.2
        await asyncio.gather(*(drive(client, s, seconds, t0) for s in scenarios))
    return scenarios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    p95: dict[str, list[float]] = {"gateway": [], "gql": [], "peer": []}
    with Stack() as info:
        token = info.token()
        for i in range(args.runs):
            results = asyncio.run(run_once(info.base_url, token, args.seconds))
            for s in results:
                lat = s.latencies_ms
                p95[s.name].append(percentile(lat, 95))
                rate = len(lat) / args.seconds
                print(
                    f"run {i + 1} {s.name:<8} n={len(lat)} achieved={rate:.1f}/s "
                    f"p50={percentile(lat, 50):.1f} p95={percentile(lat, 95):.1f} "
                    f"p99={percentile(lat, 99):.1f} ms "
                    f"errors={s.errors} late_starts={s.late_starts}",
                    flush=True,
                )
    med = {k: statistics.median(v) for k, v in p95.items()}
    print(
        f"\nmedian p95 over {args.runs} runs of {args.seconds:g} s: "
        + ", ".join(f"{k} {v:.1f} ms" for k, v in med.items())
    )
    print(
        f"gateway/peer p95 ratio {med['gateway'] / med['peer']:.2f}x; "
        f"target gateway p95 well under 150 ms: {med['gateway'] < 75}"
    )


if __name__ == "__main__":
    main()
