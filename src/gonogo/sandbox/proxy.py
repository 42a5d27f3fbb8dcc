"""A TCP proxy that delays every answer: a slow graph server, seen from outside.

    python -m gonogo.sandbox.proxy LISTEN_PORT TARGET_HOST:PORT DELAY_MS

The `graph-slow` fault puts this in front of FalkorDB's Bolt port for
gonogo's own clients (the graph load plan, the graph checks), so a Cypher
canary meets a graph that really answers late, over the real protocol.
The app keeps its direct connection: its own latency fault is graph-latency.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    try:
        while chunk := await reader.read(65536):
            if delay:
                await asyncio.sleep(delay)
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


async def _serve(port: int, host: str, target_port: int, delay: float) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            server_r, server_w = await asyncio.wait_for(
                asyncio.open_connection(host, target_port), timeout=5
            )
        except (OSError, TimeoutError):
            client_w.close()
            return
        await asyncio.gather(_pipe(client_r, server_w, 0.0), _pipe(server_r, client_w, delay))

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    port, target, delay_ms = int(argv[0]), argv[1], float(argv[2])
    host, _, target_port = target.rpartition(":")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(port, host, int(target_port), delay_ms / 1000.0))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
