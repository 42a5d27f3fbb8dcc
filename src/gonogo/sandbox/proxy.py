"""The Bolt proxy in front of FalkorDB for gonogo's own clients: GOODBYE kept from the server,
and, with the `graph-slow` fault, every answer late.

    python -m gonogo.sandbox.proxy LISTEN_PORT TARGET_HOST:PORT DELAY_MS

FalkorDB's Bolt listener drops the handshake of the next connection it accepts after a
client said GOODBYE: measured here, 4 threads each opening and closing 60 drivers saw 120
handshakes time out (every second connection, 5 s each); through this proxy, which passes
everything but GOODBYE messages (the client's close still closes the server's connection),
none did. Real Neo4j has no such bug, so this stays in the local environment: the graph
checks and the graph load plan reach FalkorDB through it, and the app's own pooled
connections no longer meet a dropped handshake after a check's GOODBYE.

`graph-slow` adds DELAY_MS to every answer: a Cypher canary meets a graph that really
answers late, over the real protocol (the app's own latency fault is graph-latency).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys

HANDSHAKE = 20  # the magic and four proposed versions
GOODBYE = b"\xb0\x02"  # a struct with no fields, tag 0x02
MANIFEST = b"\x00\x00\x01\xff"  # Bolt 5.7's manifest negotiation: framing unknown here


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


async def _without_goodbye(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Client to server after the handshake, message by message (Bolt's chunks: size,
    data, ..., 00 00), with every GOODBYE left out."""
    try:
        message, raw = b"", b""
        while True:
            header = await reader.readexactly(2)
            size = int.from_bytes(header, "big")
            raw += header
            if size:
                data = await reader.readexactly(size)
                raw, message = raw + data, message + data
                continue
            if message != GOODBYE:
                writer.write(raw)
                await writer.drain()
            message, raw = b"", b""
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
        try:  # the handshake: the client's proposals, the server's choice
            proposal = await asyncio.wait_for(client_r.readexactly(HANDSHAKE), 10)
            server_w.write(proposal)
            await server_w.drain()
            chosen = await asyncio.wait_for(server_r.readexactly(4), 10)
            client_w.write(chosen)
            await client_w.drain()
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            for writer in (client_w, server_w):
                with contextlib.suppress(Exception):
                    writer.close()
            return
        # A manifest negotiation (Bolt 5.7+) frames what follows differently: pass it as is.
        upstream = (
            _pipe(client_r, server_w, 0.0)
            if chosen == MANIFEST
            else _without_goodbye(client_r, server_w)
        )
        await asyncio.gather(upstream, _pipe(server_r, client_w, delay))

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
